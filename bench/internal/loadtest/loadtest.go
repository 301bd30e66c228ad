// Package loadtest drives HTTP load at loopback targets for the bench
// commands, with vegeta's attacker (github.com/tsenart/vegeta/v12) doing
// the sending and the pacing. What it adds is what a benchmark here needs
// and vegeta leaves to its caller: a loopback-only target and dialer, a
// fixed number of keep-alive connections, a warm-up and a measurement
// window, a run that ends on time even against a server that hangs, and
// open-loop latency free of coordinated omission.
//
// Run starts Config.Connections vegeta workers (and never more) over one
// transport allowed that many connections, so each worker in effect keeps
// one keep-alive connection. With Config.Rate zero it is a closed loop:
// each worker sends its next request when the previous response has been
// read. With Config.Rate set, vegeta's constant pacer schedules request n
// at n/Rate after the start, whatever the responses do, and the latency is
// measured from that scheduled time (see Result.Latency).
//
// Accounting:
//   - a request counts if it completes (its response read, or its error
//     returned) inside the measurement window [start+Warmup,
//     start+Warmup+Duration], or until the context is cancelled; requests
//     completing in the warm-up are not counted;
//   - requests still in flight when the window closes are aborted (their
//     connections are closed) and not counted, so Run returns shortly after
//     the window ends;
//   - a response whose status differs from ExpectStatus, and any transport
//     error, counts as an error; latency percentiles cover successful
//     (expected-status) responses only.
package loadtest

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Config describes one load run.
type Config struct {
	// URL is the target; it must point at a loopback host.
	URL string
	// Method defaults to GET, or POST when Body is non-empty.
	Method string
	// Header is sent with every request. A "Host" entry sets the request's
	// Host (virtual host) instead of a header field.
	Header http.Header
	// Body is sent with every request (nil for none).
	Body []byte

	// Connections is the number of workers and of keep-alive connections.
	// Default 32.
	Connections int
	// Duration is the length of the measurement window. Default 10s.
	Duration time.Duration
	// Warmup runs before the measurement window and is not counted.
	Warmup time.Duration
	// ExpectStatus is the status code counted as success. Default 200.
	ExpectStatus int
	// Label is free text copied into the Result.
	Label string
	// InsecureTLS skips certificate verification for https targets (the
	// target is loopback anyway).
	InsecureTLS bool
	// Rate, when > 0, paces the run open-loop at this many requests per
	// second in total (rounded to a whole number), the latency then being
	// measured from each request's scheduled send time. Zero sends as fast
	// as responses come back (closed loop).
	Rate float64
}

// Result is the outcome of a run.
type Result struct {
	Label       string
	URL         string
	Method      string
	Connections int
	// Rate is the paced rate in requests per second; 0 for a closed loop.
	Rate   float64
	Warmup time.Duration

	// Elapsed is the actual measurement window (shorter than Duration when
	// the context was cancelled).
	Elapsed time.Duration
	// Requests counts every request completed in the window: successes,
	// unexpected statuses and transport errors.
	Requests  int64
	Successes int64
	// Errors = StatusErrors + TransportErrors.
	Errors          int64
	StatusErrors    int64
	TransportErrors int64
	// RPS is Requests / Elapsed.
	RPS float64
	// BytesRead is the total of response body bytes read in the window.
	BytesRead int64
	// StatusCounts maps status code to count (window only).
	StatusCounts map[int]int64
	// ErrorSamples holds up to 5 distinct error kinds with their counts.
	ErrorSamples []ErrorSample
	// Dials is the number of TCP connections opened during the whole run,
	// warm-up included: at most Connections when the server keeps them
	// alive. (One dialed while the run was being stopped is closed at once
	// and not counted.)
	Dials int64
	// MaxOpen is the most connections open at once: at most Connections.
	MaxOpen int64

	// Latency of successful requests: in a closed loop, from when a worker
	// started the request to when it had read the response; paced, from
	// the request's scheduled send time (vegeta's pacer: the start of the
	// run plus (n+1)/Rate for the request numbered n, counting from 0), so
	// that a request sent late, because every connection was busy or the
	// pacer or the worker waited for a core, is charged the wait (no
	// coordinated omission).
	Latency Latency
	// ServiceTime is the latency of the same requests as vegeta reports it:
	// from when a worker started the request. Paced, the difference with
	// Latency is the time requests waited to be sent; in a closed loop the
	// two are equal.
	ServiceTime Latency
}

// Latency summarises a latency distribution. Percentiles come from
// vegeta's t-digest estimator; Min, Max and Mean are exact.
type Latency struct {
	Min, Mean, P50, P90, P99, P999, Max time.Duration
}

// ErrorSample describes one kind of error: an unexpected status with the
// start of its body, or a transport error (Status 0, Err set).
type ErrorSample struct {
	Status int
	Body   string
	Err    string
	Count  int64
}

const (
	maxErrorSamples = 5
	snippetLen      = 120
)

func (c *Config) normalize() error {
	if c.Connections == 0 {
		c.Connections = 32
	}
	if c.Connections < 0 {
		return fmt.Errorf("loadtest: connections must be positive, got %d", c.Connections)
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Duration < 0 {
		return fmt.Errorf("loadtest: duration must be positive, got %v", c.Duration)
	}
	if c.Warmup < 0 {
		return fmt.Errorf("loadtest: warmup must not be negative, got %v", c.Warmup)
	}
	if c.ExpectStatus == 0 {
		c.ExpectStatus = http.StatusOK
	}
	if c.ExpectStatus < 100 || c.ExpectStatus > 599 {
		return fmt.Errorf("loadtest: expected status %d out of range", c.ExpectStatus)
	}
	if c.Rate < 0 || c.Rate > math.MaxInt32 {
		return fmt.Errorf("loadtest: rate %v out of range", c.Rate)
	}
	c.Rate = math.Round(c.Rate)
	if c.Method == "" {
		c.Method = http.MethodGet
		if len(c.Body) > 0 {
			c.Method = http.MethodPost
		}
	}
	return nil
}

// Run executes the load test described by cfg and blocks until it is over:
// after Warmup+Duration, or when ctx is cancelled, whichever comes first.
// It refuses non-loopback targets.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.normalize(); err != nil {
		return Result{}, err
	}
	if _, err := CheckLoopbackURL(cfg.URL); err != nil {
		return Result{}, err
	}

	conns := &connTracker{}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	tr := &http.Transport{
		Proxy:               nil, // never route through an environment proxy
		DialContext:         conns.dial,
		MaxConnsPerHost:     cfg.Connections,
		MaxIdleConns:        cfg.Connections,
		MaxIdleConnsPerHost: cfg.Connections,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // no implicit gzip: measure the raw exchange
		Protocols:           protocols,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	if cfg.InsecureTLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: dropVegetaHeaders{tr},
		// Redirects are answers like any other, never followed. No
		// Timeout: the run ends requests in flight by closing their
		// connections, which costs nothing per request.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	attacker := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(uint64(cfg.Connections)),
		vegeta.MaxWorkers(uint64(cfg.Connections)),
	)
	target := vegeta.NewStaticTargeter(vegeta.Target{
		Method: cfg.Method, URL: cfg.URL, Body: cfg.Body, Header: cfg.Header,
	})
	var pacer vegeta.ConstantPacer // the zero value: as fast as the workers go
	if cfg.Rate > 0 {
		pacer = vegeta.ConstantPacer{Freq: int(cfg.Rate), Per: time.Second}
	}

	// began is taken just before vegeta takes its own start time, which
	// the pacer's schedule counts from, so schedule(n) is at most a few
	// hundred nanoseconds early: a request's latency is never
	// understated.
	began := time.Now()
	w := &window{start: began.Add(cfg.Warmup)}
	w.end = w.start.Add(cfg.Duration)
	stop := func() {
		w.close(time.Now())
		attacker.Stop()
		conns.closeAll()
	}
	endTimer := time.AfterFunc(time.Until(w.end), stop)
	defer endTimer.Stop()
	stopWatch := context.AfterFunc(ctx, stop)
	defer stopWatch()
	results := attacker.Attack(target, pacer, cfg.Warmup+cfg.Duration, cfg.Label)

	agg := aggregate{cfg: cfg, statuses: make(map[int]int64)}
	if cfg.Rate > 0 {
		agg.interval = time.Duration(pacer.Per.Nanoseconds() / int64(pacer.Freq))
		agg.began = began
	}
	for r := range results {
		if end := r.End(); end.Before(w.start) || !w.counts(end) {
			continue
		}
		agg.add(r)
	}
	// Every worker has returned: stop may not have run (the attack ended
	// on its own, before the window's end), or have run only in part.
	endTimer.Stop()
	stopWatch()
	stop()
	dials, maxOpen := conns.dialed()
	res := agg.result(dials, w.elapsed())
	res.MaxOpen = maxOpen
	return res, nil
}

// window is the measurement window; its end moves earlier when the run is
// cut short.
type window struct {
	start, end time.Time
	mu         sync.Mutex
	stoppedAt  time.Time // zero until close
}

// close records t as the time the run stopped, the first time only.
func (w *window) close(t time.Time) {
	w.mu.Lock()
	if w.stoppedAt.IsZero() {
		w.stoppedAt = t
	}
	w.mu.Unlock()
}

// counts reports whether a request completed at t is inside the window,
// given that it did not complete before the window's start.
func (w *window) counts(t time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !t.After(w.end) && (w.stoppedAt.IsZero() || !t.After(w.stoppedAt))
}

func (w *window) elapsed() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := w.end
	if !w.stoppedAt.IsZero() && w.stoppedAt.Before(end) {
		end = w.stoppedAt
	}
	return max(end.Sub(w.start), 0)
}

// connTracker dials loopback connections and remembers them, so that the
// requests still in flight at the end of a run can be aborted by closing
// their connections.
type connTracker struct {
	mu     sync.Mutex
	conns  []net.Conn
	n      int64
	closed bool
	// open and maxOpen count the connections open now and at most: the
	// load's concurrency. net/http may replace a connection it closed
	// (Dials then exceeds the workers), never exceed its per-host limit.
	open, maxOpen int64
}

// trackedConn tells its tracker when it closes.
type trackedConn struct {
	net.Conn
	t    *connTracker
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		c.t.open--
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

var dialer = &net.Dialer{
	Timeout:   5 * time.Second,
	KeepAlive: 30 * time.Second,
	Control:   loopbackOnlyControl,
}

// dial refuses to connect once the run is over: a worker may still take
// up a request after the end (vegeta's pacer can hand out one more tick
// while it is being stopped).
func (c *connTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, net.ErrClosed
	}
	conn, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		conn.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: conn, t: c}
	c.conns = append(c.conns, tc)
	c.n++
	c.open++
	c.maxOpen = max(c.maxOpen, c.open)
	return tc, nil
}

func (c *connTracker) closeAll() {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	// Outside the lock: each Close takes it to count itself out.
	for _, conn := range conns {
		conn.Close()
	}
}

func (c *connTracker) dialed() (n, maxOpen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.maxOpen
}

// dropVegetaHeaders removes the X-Vegeta-Seq (and X-Vegeta-Attack) field
// vegeta's attacker adds to every request, so that what reaches the server
// is the configured request and nothing else, as with wrk. It edits the
// request in place, which http.RoundTripper's contract otherwise forbids:
// vegeta builds a fresh request for every hit and never reads it again.
type dropVegetaHeaders struct{ base http.RoundTripper }

func (d dropVegetaHeaders) RoundTrip(req *http.Request) (*http.Response, error) {
	delete(req.Header, "X-Vegeta-Seq")
	delete(req.Header, "X-Vegeta-Attack")
	return d.base.RoundTrip(req)
}

// aggregate accumulates the counted results of one run.
type aggregate struct {
	cfg Config
	// began and interval are the pacer's schedule: request n is due at
	// began + (n+1)·interval. interval is 0 in a closed loop.
	began    time.Time
	interval time.Duration

	requests, successes, statusErrors, transportErrors, bytesRead int64
	statuses                                                      map[int]int64
	samples                                                       []ErrorSample
	latency, service                                              vegeta.LatencyMetrics
}

// scheduled returns when vegeta's constant pacer sent, at the earliest,
// the request numbered seq: its (seq+1)-th tick.
func scheduled(began time.Time, interval time.Duration, seq uint64) time.Time {
	return began.Add(time.Duration(seq+1) * interval)
}

func (a *aggregate) add(r *vegeta.Result) {
	a.requests++
	if r.Code == 0 {
		// No response: vegeta has set Error.
		a.transportErrors++
		a.addSample(0, "", r.Error)
		return
	}
	a.statuses[int(r.Code)]++
	a.bytesRead += int64(r.BytesIn)
	if int(r.Code) != a.cfg.ExpectStatus {
		a.statusErrors++
		a.addSample(int(r.Code), string(r.Body[:min(len(r.Body), snippetLen)]), "")
		return
	}
	a.successes++
	a.service.Add(r.Latency)
	if a.interval == 0 {
		a.latency.Add(r.Latency)
		return
	}
	// vegeta's Result.Timestamp is when a worker took the request up, not
	// when the pacer meant it to be sent. Sequence numbers are given out
	// in the order workers take requests up, which can differ from the
	// ticks' order when two workers race; even then the latency so
	// measured is never below the service time (a request numbered n is
	// taken up after tick n was sent, so after its scheduled time).
	a.latency.Add(r.End().Sub(scheduled(a.began, a.interval, r.Seq)))
}

func (a *aggregate) addSample(status int, body, errText string) {
	for i := range a.samples {
		s := &a.samples[i]
		if s.Status == status && s.Err == errText && s.Body == body {
			s.Count++
			return
		}
	}
	// Keep more kinds than are reported, so that the most frequent ones
	// are reported even when rarer kinds came first.
	if len(a.samples) < 8*maxErrorSamples {
		a.samples = append(a.samples, ErrorSample{Status: status, Body: body, Err: errText, Count: 1})
	}
}

func (a *aggregate) result(dials int64, elapsed time.Duration) Result {
	res := Result{
		Label:           a.cfg.Label,
		URL:             a.cfg.URL,
		Method:          a.cfg.Method,
		Connections:     a.cfg.Connections,
		Rate:            a.cfg.Rate,
		Warmup:          a.cfg.Warmup,
		Elapsed:         elapsed,
		Requests:        a.requests,
		Successes:       a.successes,
		StatusErrors:    a.statusErrors,
		TransportErrors: a.transportErrors,
		Errors:          a.statusErrors + a.transportErrors,
		BytesRead:       a.bytesRead,
		StatusCounts:    a.statuses,
		Dials:           dials,
	}
	samples := slices.Clone(a.samples)
	slices.SortStableFunc(samples, func(x, y ErrorSample) int { return cmp.Compare(y.Count, x.Count) })
	res.ErrorSamples = samples[:min(len(samples), maxErrorSamples)]
	if elapsed > 0 {
		res.RPS = float64(res.Requests) / elapsed.Seconds()
	}
	if a.successes > 0 {
		res.Latency = summarize(a.latency, a.successes)
		res.ServiceTime = summarize(a.service, a.successes)
	}
	return res
}

// summarize reads the n latencies recorded in m.
func summarize(m vegeta.LatencyMetrics, n int64) Latency {
	return Latency{
		Min:  m.Min,
		Mean: m.Total / time.Duration(n),
		P50:  m.Quantile(0.50),
		P90:  m.Quantile(0.90),
		P99:  m.Quantile(0.99),
		P999: m.Quantile(0.999),
		Max:  m.Max,
	}
}

// String formats the result for humans.
func (res Result) String() string {
	var b strings.Builder
	if res.Label != "" {
		fmt.Fprintf(&b, "label:      %s\n", res.Label)
	}
	pace := "closed loop"
	if res.Rate > 0 {
		pace = fmt.Sprintf("paced at %.0f req/s", res.Rate)
	}
	fmt.Fprintf(&b, "target:     %s %s  (c=%d, %s, warmup %v, window %v)\n",
		res.Method, res.URL, res.Connections, pace, res.Warmup, res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "requests:   %d  (%.1f req/s, %.2f MB/s body)\n",
		res.Requests, res.RPS, float64(res.BytesRead)/1e6/max(res.Elapsed.Seconds(), 1e-9))
	fmt.Fprintf(&b, "errors:     %d  (status %d, transport %d)\n", res.Errors, res.StatusErrors, res.TransportErrors)
	fmt.Fprintf(&b, "conns:      %d opened for %d workers, at most %d at once\n", res.Dials, res.Connections, res.MaxOpen)
	if l := res.Latency; res.Successes > 0 {
		fmt.Fprintf(&b, "latency:    p50 %v  p90 %v  p99 %v  p99.9 %v  max %v  (min %v, mean %v)\n",
			fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.Max), fmtDur(l.Min), fmtDur(l.Mean))
		if s := res.ServiceTime; res.Rate > 0 {
			fmt.Fprintf(&b, "service:    p50 %v  p90 %v  p99 %v  (from when a worker sent the request)\n",
				fmtDur(s.P50), fmtDur(s.P90), fmtDur(s.P99))
		}
	} else {
		b.WriteString("latency:    n/a (no successful responses)\n")
	}
	codes := slices.Sorted(maps.Keys(res.StatusCounts))
	b.WriteString("statuses:   ")
	for _, sc := range codes {
		fmt.Fprintf(&b, "%d=%d ", sc, res.StatusCounts[sc])
	}
	b.WriteByte('\n')
	for _, s := range res.ErrorSamples {
		if s.Err != "" {
			fmt.Fprintf(&b, "  error x%d: %s\n", s.Count, s.Err)
		} else {
			fmt.Fprintf(&b, "  status %d x%d: body %q\n", s.Status, s.Count, s.Body)
		}
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	}
}
