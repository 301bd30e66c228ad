// Package loadgen is a small closed-loop HTTP load generator for loopback
// targets.
//
// Run starts Config.Connections workers. Each worker owns exactly one
// keep-alive connection (a dedicated http.Transport limited to one connection)
// and loops: send request, read the whole response body, record the latency.
// There are no per-request goroutines; the request object is reused and
// latencies go into fixed per-worker histograms merged at the end, so the
// generator stays cheap next to the server under test.
//
// Accounting:
//   - requests completing during the warmup are not counted;
//   - a request counts if it completes inside the measurement window
//     [start+Warmup, start+Warmup+Duration] (or until MaxRequests is reached or
//     the context is cancelled);
//   - requests still in flight when the window closes are aborted and not
//     counted, so Run always returns shortly after the window ends;
//   - a response whose status differs from ExpectStatus, and any transport
//     error, counts as an error; latency percentiles cover successful
//     (expected-status) responses only.
//
// Only loopback targets are accepted (see CheckLoopbackURL), and the dialer
// refuses to connect anywhere else.
package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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

	// Connections is the number of workers, each with its own keep-alive
	// connection. Default 32.
	Connections int
	// Duration is the length of the measurement window. Default 10s.
	Duration time.Duration
	// Warmup runs before the measurement window and is not counted.
	// Zero means no warmup (the flag front end defaults it to 1s).
	Warmup time.Duration
	// ExpectStatus is the status code counted as success. Default 200.
	ExpectStatus int
	// MaxRequests, when > 0, stops the run after that many counted requests
	// (the duration still bounds the run).
	MaxRequests int64
	// Label is free text copied into the Result.
	Label string
	// InsecureTLS skips certificate verification for https targets (the
	// target is loopback anyway).
	InsecureTLS bool
	// Rate, when > 0, paces the run open-loop at this many requests per
	// second in total, spread evenly over the connections. Latency is then
	// measured from each request's scheduled start (no coordinated
	// omission), so it shows per-request cost rather than the queueing of
	// a saturated closed loop. Zero sends as fast as responses come back.
	Rate float64
}

// Result is the outcome of a run.
type Result struct {
	Label       string
	URL         string
	Method      string
	Connections int
	Warmup      time.Duration

	// Elapsed is the actual measurement window (shorter than Duration when
	// MaxRequests was reached or the context was cancelled).
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
	// warmup included. With a keep-alive server it equals Connections.
	Dials int64

	// Latency of successful requests.
	Latency Latency
}

// Latency summarises the latency distribution of successful requests.
// Percentiles come from a log-linear histogram (relative error < 0.4%);
// Min, Max and Mean are exact.
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
	// errorBackoff is how long a worker pauses after a transport error, so a
	// dead target is not hammered in a tight loop.
	errorBackoff = 10 * time.Millisecond
)

// bodySource yields the request body for a worker's next request. Today only
// staticBody exists; a -body-template mode would add an implementation that
// renders per-request bodies (e.g. into a per-worker buffer) from seq.
type bodySource interface {
	next(worker int, seq uint64) []byte
}

type staticBody []byte

func (b staticBody) next(int, uint64) []byte { return b }

// reqBody is the per-request body reader; one small allocation per request.
// A fresh reader is used each time because the transport may close (and,
// if the server answered early, still read) the body after RoundTrip returns.
type reqBody struct{ bytes.Reader }

func (*reqBody) Close() error { return nil }

func (c *Config) normalize() error {
	if c.Connections == 0 {
		c.Connections = 32
	}
	if c.Connections < 0 {
		return fmt.Errorf("loadgen: connections must be positive, got %d", c.Connections)
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Duration < 0 {
		return fmt.Errorf("loadgen: duration must be positive, got %v", c.Duration)
	}
	if c.Warmup < 0 {
		return fmt.Errorf("loadgen: warmup must not be negative, got %v", c.Warmup)
	}
	if c.ExpectStatus == 0 {
		c.ExpectStatus = http.StatusOK
	}
	if c.ExpectStatus < 100 || c.ExpectStatus > 599 {
		return fmt.Errorf("loadgen: expected status %d out of range", c.ExpectStatus)
	}
	if c.MaxRequests < 0 {
		return fmt.Errorf("loadgen: max requests must not be negative")
	}
	if c.Method == "" {
		c.Method = http.MethodGet
		if len(c.Body) > 0 {
			c.Method = http.MethodPost
		}
	}
	return nil
}

// runner is the state shared by all workers of one run.
type runner struct {
	cfg          Config
	ctx          context.Context // cancelled when the run must stop
	measureStart time.Time
	end          time.Time
	body         bodySource

	stopped  atomic.Bool
	stopOnce sync.Once
	stopAt   time.Time // guarded by stopOnce; read after all workers exit
	cancel   context.CancelFunc
	counted  atomic.Int64 // only used when MaxRequests > 0
	dials    atomic.Int64
}

// finish stops the run; t is the end of the measurement window.
func (r *runner) finish(t time.Time) {
	r.stopOnce.Do(func() {
		r.stopAt = t
		r.stopped.Store(true)
		r.cancel()
	})
}

type worker struct {
	id   int
	r    *runner
	tr   *http.Transport
	req  *http.Request
	buf  []byte
	snip []byte
	// curBody is the body of the request in flight, for getBody.
	curBody []byte
	getBody func() (io.ReadCloser, error)

	hist            histogram
	requests        int64
	successes       int64
	statusErrors    int64
	transportErrors int64
	bytesRead       int64
	statuses        [600]int64
	samples         []ErrorSample
}

// Run executes the load test described by cfg and blocks until it is over:
// after Warmup+Duration, after MaxRequests counted requests, or when ctx is
// cancelled, whichever comes first. It refuses non-loopback targets.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.normalize(); err != nil {
		return Result{}, err
	}
	u, err := CheckLoopbackURL(cfg.URL)
	if err != nil {
		return Result{}, err
	}

	start := time.Now()
	r := &runner{
		cfg:          cfg,
		measureStart: start.Add(cfg.Warmup),
		body:         staticBody(cfg.Body),
	}
	r.end = r.measureStart.Add(cfg.Duration)
	r.ctx, r.cancel = context.WithDeadline(ctx, r.end)
	defer r.cancel()
	// Cancellation by the caller ends the window early. r.ctx is derived
	// from ctx, so the workers may see the cancellation (and Run get past
	// wg.Wait) before this function has run: see below.
	stopWatch := context.AfterFunc(ctx, func() { r.finish(time.Now()) })
	defer stopWatch()

	dialer := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   loopbackOnlyControl,
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err == nil {
			r.dials.Add(1)
		}
		return c, err
	}

	workers := make([]*worker, cfg.Connections)
	for i := range workers {
		w, err := newWorker(i, r, u.String(), dial)
		if err != nil {
			return Result{}, err
		}
		workers[i] = w
	}

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(w.run)
	}
	wg.Wait()
	// ctx's cancellation reaches r.ctx and the AfterFunc in no set order:
	// the workers can all have returned before the AfterFunc has started,
	// and stopWatch then keeps it from ever running. ctx.Err is set before
	// either is told, so it says whether the caller cut the run short;
	// finish runs once, so this waits for an AfterFunc already under way,
	// or stops the window now.
	stopWatch()
	if ctx.Err() != nil {
		r.finish(time.Now())
	}
	for _, w := range workers {
		w.tr.CloseIdleConnections()
	}

	windowEnd := r.end
	// stopAt is written before stopped is set, so reading it after observing
	// stopped == true is race-free.
	if r.stopped.Load() && r.stopAt.Before(windowEnd) {
		windowEnd = r.stopAt
	}
	return r.result(workers, windowEnd.Sub(r.measureStart)), nil
}

func newWorker(id int, r *runner, target string, dial func(context.Context, string, string) (net.Conn, error)) (*worker, error) {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	tr := &http.Transport{
		Proxy:               nil, // never route through an environment proxy
		DialContext:         dial,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // no implicit gzip: measure the raw exchange
		Protocols:           protocols,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	if r.cfg.InsecureTLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}

	req, err := http.NewRequestWithContext(r.ctx, r.cfg.Method, target, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: building request: %w", err)
	}
	req.Header = r.cfg.Header.Clone()
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	req.Header.Del("Host")
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "gatehouse-bench-load")
	}
	w := &worker{
		id:   id,
		r:    r,
		tr:   tr,
		req:  req,
		buf:  make([]byte, 32<<10),
		snip: make([]byte, 0, snippetLen),
	}
	// The transport calls GetBody (within RoundTrip) to resend the body when
	// it retries on a connection the server had closed.
	w.getBody = func() (io.ReadCloser, error) {
		b := new(reqBody)
		b.Reset(w.curBody)
		return b, nil
	}
	return w, nil
}

func (w *worker) run() {
	r := w.r
	req := w.req
	limit := r.cfg.MaxRequests
	var seq uint64
	var interval time.Duration
	var next time.Time
	if r.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(r.cfg.Connections) / r.cfg.Rate)
		// Stagger the workers over one interval.
		next = time.Now().Add(interval * time.Duration(w.id) / time.Duration(r.cfg.Connections))
	}
	for !r.stopped.Load() {
		if !time.Now().Before(r.end) {
			return
		}
		var scheduled time.Time
		if interval > 0 {
			scheduled = next
			next = next.Add(interval)
			if d := time.Until(scheduled); d > 0 {
				time.Sleep(d)
			}
		}
		if body := r.body.next(w.id, seq); body != nil {
			w.curBody = body
			rb := new(reqBody)
			rb.Reset(body)
			req.Body = rb
			req.ContentLength = int64(len(body))
			req.GetBody = w.getBody
		}
		seq++

		t0 := time.Now()
		if !scheduled.IsZero() {
			t0 = scheduled
		}
		resp, err := w.tr.RoundTrip(req)
		if err != nil {
			if r.ctx.Err() != nil {
				return // aborted at the end of the run: not counted
			}
			w.transportError(time.Now(), err)
			continue
		}
		wantSnippet := resp.StatusCode != r.cfg.ExpectStatus
		n, rerr := w.drain(resp.Body, wantSnippet)
		resp.Body.Close()
		t1 := time.Now()
		if rerr != nil {
			if r.ctx.Err() != nil {
				return
			}
			w.transportError(t1, fmt.Errorf("reading body: %w", rerr))
			continue
		}
		if t1.Before(r.measureStart) {
			continue // warmup
		}
		if t1.After(r.end) || r.stopped.Load() {
			return
		}
		var k int64
		if limit > 0 {
			if k = r.counted.Add(1); k > limit {
				return
			}
		}
		w.requests++
		w.bytesRead += n
		if sc := resp.StatusCode; sc >= 0 && sc < len(w.statuses) {
			w.statuses[sc]++
		}
		if wantSnippet {
			w.statusErrors++
			w.addSample(resp.StatusCode, w.snip, "")
		} else {
			w.successes++
			w.hist.record(t1.Sub(t0))
		}
		if limit > 0 && k == limit {
			r.finish(t1)
			return
		}
	}
}

// drain reads the whole body into the worker's scratch buffer, keeping the
// first snippetLen bytes in w.snip when keep is set.
func (w *worker) drain(body io.Reader, keep bool) (int64, error) {
	w.snip = w.snip[:0]
	var total int64
	for {
		n, err := body.Read(w.buf)
		if keep && len(w.snip) < snippetLen {
			w.snip = append(w.snip, w.buf[:min(n, snippetLen-len(w.snip))]...)
		}
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (w *worker) transportError(now time.Time, err error) {
	r := w.r
	if !now.Before(r.measureStart) && !now.After(r.end) && !r.stopped.Load() {
		var k int64
		limit := r.cfg.MaxRequests
		if limit > 0 {
			if k = r.counted.Add(1); k > limit {
				return
			}
		}
		w.requests++
		w.transportErrors++
		w.addSample(0, nil, err.Error())
		if limit > 0 && k == limit {
			r.finish(now)
			return
		}
	}
	// Pause briefly (but never past the end of the run) before retrying.
	t := time.NewTimer(errorBackoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
	}
}

func (w *worker) addSample(status int, body []byte, errText string) {
	for i := range w.samples {
		s := &w.samples[i]
		if s.Status == status && s.Err == errText && s.Body == string(body) {
			s.Count++
			return
		}
	}
	if len(w.samples) < maxErrorSamples {
		w.samples = append(w.samples, ErrorSample{Status: status, Body: string(body), Err: errText, Count: 1})
	}
}

func (r *runner) result(workers []*worker, elapsed time.Duration) Result {
	res := Result{
		Label:        r.cfg.Label,
		URL:          r.cfg.URL,
		Method:       r.cfg.Method,
		Connections:  r.cfg.Connections,
		Warmup:       r.cfg.Warmup,
		Elapsed:      max(elapsed, 0),
		StatusCounts: make(map[int]int64),
		Dials:        r.dials.Load(),
	}
	var h histogram
	var samples []ErrorSample
	for _, w := range workers {
		h.merge(&w.hist)
		res.Requests += w.requests
		res.Successes += w.successes
		res.StatusErrors += w.statusErrors
		res.TransportErrors += w.transportErrors
		res.BytesRead += w.bytesRead
		for sc, n := range w.statuses {
			if n != 0 {
				res.StatusCounts[sc] += n
			}
		}
	next:
		for _, s := range w.samples {
			for i := range samples {
				if samples[i].Status == s.Status && samples[i].Body == s.Body && samples[i].Err == s.Err {
					samples[i].Count += s.Count
					continue next
				}
			}
			samples = append(samples, s)
		}
	}
	slices.SortStableFunc(samples, func(a, b ErrorSample) int { return cmp.Compare(b.Count, a.Count) })
	if len(samples) > maxErrorSamples {
		samples = samples[:maxErrorSamples]
	}
	res.ErrorSamples = samples
	res.Errors = res.StatusErrors + res.TransportErrors
	if res.Elapsed > 0 {
		res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	}
	res.Latency = Latency{
		Min:  time.Duration(h.min),
		Mean: h.mean(),
		P50:  h.quantile(0.50),
		P90:  h.quantile(0.90),
		P99:  h.quantile(0.99),
		P999: h.quantile(0.999),
		Max:  time.Duration(h.max),
	}
	return res
}

// String formats the result for humans.
func (res Result) String() string {
	var b strings.Builder
	if res.Label != "" {
		fmt.Fprintf(&b, "label:      %s\n", res.Label)
	}
	fmt.Fprintf(&b, "target:     %s %s  (c=%d, warmup %v, window %v)\n",
		res.Method, res.URL, res.Connections, res.Warmup, res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "requests:   %d  (%.1f req/s, %.2f MB/s body)\n",
		res.Requests, res.RPS, float64(res.BytesRead)/1e6/max(res.Elapsed.Seconds(), 1e-9))
	fmt.Fprintf(&b, "errors:     %d  (status %d, transport %d)\n", res.Errors, res.StatusErrors, res.TransportErrors)
	fmt.Fprintf(&b, "conns:      %d opened for %d workers\n", res.Dials, res.Connections)
	if l := res.Latency; res.Successes > 0 {
		fmt.Fprintf(&b, "latency:    p50 %v  p90 %v  p99 %v  p99.9 %v  max %v  (min %v, mean %v)\n",
			fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.Max), fmtDur(l.Min), fmtDur(l.Mean))
	} else {
		b.WriteString("latency:    n/a (no successful responses)\n")
	}
	codes := make([]int, 0, len(res.StatusCounts))
	for sc := range res.StatusCounts {
		codes = append(codes, sc)
	}
	slices.Sort(codes)
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
