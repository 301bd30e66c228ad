package loadtest

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// newServer starts an httptest server (it listens on 127.0.0.1) and counts
// the connections it accepts.
func newServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func checkConsistent(t *testing.T, res Result) {
	t.Helper()
	if res.Successes+res.StatusErrors+res.TransportErrors != res.Requests {
		t.Errorf("successes %d + status errors %d + transport errors %d != requests %d",
			res.Successes, res.StatusErrors, res.TransportErrors, res.Requests)
	}
	if res.Errors != res.StatusErrors+res.TransportErrors {
		t.Errorf("errors %d != status %d + transport %d", res.Errors, res.StatusErrors, res.TransportErrors)
	}
	var byStatus int64
	for _, n := range res.StatusCounts {
		byStatus += n
	}
	if byStatus != res.Requests-res.TransportErrors {
		t.Errorf("status counts sum to %d, want %d", byStatus, res.Requests-res.TransportErrors)
	}
	l := res.Latency
	if res.Successes > 0 {
		ordered := []time.Duration{l.Min, l.P50, l.P90, l.P99, l.P999, l.Max}
		for i := 1; i < len(ordered); i++ {
			if ordered[i] < ordered[i-1] {
				t.Errorf("latencies not ordered: min %v p50 %v p90 %v p99 %v p99.9 %v max %v",
					l.Min, l.P50, l.P90, l.P99, l.P999, l.Max)
				break
			}
		}
		if l.Min <= 0 || l.Mean < l.Min || l.Mean > l.Max {
			t.Errorf("bad min/mean/max: %v %v %v", l.Min, l.Mean, l.Max)
		}
	}
	if s := res.ServiceTime; res.Successes > 0 {
		// Paced, each request's latency is measured from its scheduled
		// send time, never after the time a worker sent it; in a closed
		// loop the two are the same.
		if s.Min > l.Min || s.Max > l.Max {
			t.Errorf("service time min %v max %v above latency min %v max %v", s.Min, s.Max, l.Min, l.Max)
		}
		if res.Rate == 0 && s != l {
			t.Errorf("closed loop: service time %+v differs from latency %+v", s, l)
		}
	}
	if res.Elapsed <= 0 && res.Requests > 0 {
		t.Errorf("elapsed %v with %d requests", res.Elapsed, res.Requests)
	}
}

func TestRunOK(t *testing.T) {
	const conns = 4
	body := `{"swapped":false}`
	srv, accepted := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	})
	res, err := Run(context.Background(), Config{
		URL:         srv.URL + "/x",
		Connections: conns,
		Duration:    300 * time.Millisecond,
		Warmup:      50 * time.Millisecond,
		Label:       "ok",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res)
	checkConsistent(t, res)
	if res.Requests == 0 {
		t.Fatal("no requests counted")
	}
	if res.Errors != 0 || res.Successes != res.Requests {
		t.Errorf("errors %d, successes %d of %d", res.Errors, res.Successes, res.Requests)
	}
	if res.StatusCounts[200] != res.Requests {
		t.Errorf("status 200 count %d, want %d", res.StatusCounts[200], res.Requests)
	}
	if res.BytesRead != res.Requests*int64(len(body)) {
		t.Errorf("bytes read %d, want %d", res.BytesRead, res.Requests*int64(len(body)))
	}
	if res.RPS <= 0 || res.Method != "GET" || res.Label != "ok" {
		t.Errorf("rps %v method %q label %q", res.RPS, res.Method, res.Label)
	}
	// At most one keep-alive connection per worker at a time. (net/http
	// may replace one it closed, so Dials can exceed the workers on a busy
	// machine; the concurrency cannot.)
	if res.Dials < 1 || res.MaxOpen < 1 || res.MaxOpen > conns {
		t.Errorf("client dialed %d connections, at most %d open at once; want 1 to %d open", res.Dials, res.MaxOpen, conns)
	}
	if n := accepted.Load(); n < res.Dials {
		t.Errorf("server accepted %d connections, the client dialed %d", n, res.Dials)
	}
}

func TestRunPaced(t *testing.T) {
	const conns = 2
	srv, accepted := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	res, err := Run(context.Background(), Config{
		URL:         srv.URL,
		Connections: conns,
		Rate:        200,
		Duration:    300 * time.Millisecond,
		Warmup:      50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res)
	checkConsistent(t, res)
	if res.Requests == 0 || res.Errors != 0 || res.Rate != 200 {
		t.Errorf("requests %d errors %d rate %v", res.Requests, res.Errors, res.Rate)
	}
	// The pacer bounds the count: 200/s over the whole run, warm-up
	// included, is at most 70 requests, whatever the machine's speed.
	if res.Requests > 70 {
		t.Errorf("paced at 200/s for 350 ms, %d requests counted", res.Requests)
	}
	if res.Dials < 1 || res.MaxOpen > conns || accepted.Load() < res.Dials {
		t.Errorf("dialed %d (at most %d open at once), server accepted %d, want 1 to %d open", res.Dials, res.MaxOpen, accepted.Load(), conns)
	}
}

func TestScheduled(t *testing.T) {
	began := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		seq  uint64
		want time.Duration
	}{{0, time.Millisecond}, {1, 2 * time.Millisecond}, {999, time.Second}} {
		if got := scheduled(began, time.Millisecond, c.seq).Sub(began); got != c.want {
			t.Errorf("scheduled(seq %d) = start + %v, want + %v", c.seq, got, c.want)
		}
	}
	// The same schedule as vegeta's pacer: tick n (n ticks already sent)
	// is due at (n+1) intervals, never sent before.
	p := vegeta.ConstantPacer{Freq: 1000, Per: time.Second}
	for _, n := range []uint64{0, 1, 999} {
		due := scheduled(began, time.Millisecond, n).Sub(began)
		if wait, _ := p.Pace(due-time.Microsecond, n); wait <= 0 {
			t.Errorf("pacer sends tick %d before %v", n, due)
		}
		if wait, _ := p.Pace(due, n); wait != 0 {
			t.Errorf("pacer waits %v at tick %d's due time %v", wait, n, due)
		}
	}
}

// TestLatencyFromSchedule checks the paced accounting on results made by
// hand: a request taken up late by a worker is charged the wait.
func TestLatencyFromSchedule(t *testing.T) {
	began := time.Now()
	a := aggregate{cfg: Config{ExpectStatus: 200}, began: began, interval: time.Millisecond, statuses: map[int]int64{}}
	// Request 4 was due at began+5ms, taken up at began+9ms, answered in 1ms.
	a.add(&vegeta.Result{Seq: 4, Code: 200, Timestamp: began.Add(9 * time.Millisecond), Latency: time.Millisecond})
	res := a.result(1, time.Second)
	if got, want := res.Latency.Max, 5*time.Millisecond; got != want {
		t.Errorf("latency %v, want %v (from the scheduled time)", got, want)
	}
	if got, want := res.ServiceTime.Max, time.Millisecond; got != want {
		t.Errorf("service time %v, want %v", got, want)
	}
}

func TestRunStatusErrors(t *testing.T) {
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if rand.IntN(3) == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "overloaded, try later")
			return
		}
		io.WriteString(w, "ok")
	})
	res, err := Run(context.Background(), Config{
		URL:         srv.URL,
		Connections: 3,
		Duration:    300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res)
	checkConsistent(t, res)
	if res.Requests == 0 || res.StatusErrors == 0 || res.Successes == 0 {
		t.Fatalf("requests %d, status errors %d, successes %d", res.Requests, res.StatusErrors, res.Successes)
	}
	if res.TransportErrors != 0 {
		t.Errorf("transport errors %d", res.TransportErrors)
	}
	if res.StatusCounts[503] != res.StatusErrors {
		t.Errorf("503 count %d != status errors %d", res.StatusCounts[503], res.StatusErrors)
	}
	if len(res.ErrorSamples) != 1 {
		t.Fatalf("want 1 error sample, got %+v", res.ErrorSamples)
	}
	s := res.ErrorSamples[0]
	if s.Status != 503 || s.Body != "overloaded, try later" || s.Count != res.StatusErrors {
		t.Errorf("bad sample %+v (status errors %d)", s, res.StatusErrors)
	}
}

func TestRunExpectOtherStatusAndBody(t *testing.T) {
	const payload = "grant_type=client_credentials"
	var bad atomic.Int64
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			// The client aborted this request when the run ended.
			return
		}
		user, pass, _ := r.BasicAuth()
		if r.Method != http.MethodPost || string(b) != payload || r.Host != "gw.example" ||
			r.Header.Get("X-Test") != "1" || user != "u" || pass != "p" {
			bad.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	h := http.Header{}
	h.Set("X-Test", "1")
	h.Set("Host", "gw.example")
	h.Set("Authorization", "Basic dTpw") // u:p
	res, err := Run(context.Background(), Config{
		URL:          srv.URL,
		Header:       h,
		Body:         []byte(payload),
		Connections:  2,
		Duration:     200 * time.Millisecond,
		ExpectStatus: http.StatusCreated,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.Method != http.MethodPost {
		t.Errorf("method %q, want POST by default with a body", res.Method)
	}
	if res.Requests == 0 || res.Errors != 0 || bad.Load() != 0 {
		t.Errorf("requests %d errors %d server-rejected %d; samples %+v", res.Requests, res.Errors, bad.Load(), res.ErrorSamples)
	}
}

func TestRunTransportErrors(t *testing.T) {
	// A listener that is closed again: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res, err := Run(context.Background(), Config{
		URL:         "http://" + addr + "/",
		Connections: 2,
		Duration:    100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, res)
	if res.TransportErrors == 0 || res.Successes != 0 || len(res.ErrorSamples) == 0 || res.ErrorSamples[0].Err == "" {
		t.Errorf("transport errors %d successes %d samples %+v", res.TransportErrors, res.Successes, res.ErrorSamples)
	}
}

func TestRunStopsOnSlowServerAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)

	// A hanging server: in-flight requests are aborted at the deadline and
	// not counted.
	res, err := Run(context.Background(), Config{URL: srv.URL, Connections: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors != 0 {
		t.Errorf("hanging server: requests %d errors %d, want 0/0", res.Requests, res.Errors)
	}

	// Caller cancellation ends the run early.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := Run(ctx, Config{URL: srv.URL, Connections: 2, Duration: time.Minute})
		if err != nil {
			t.Error(err)
		}
		if res.Elapsed >= time.Minute {
			t.Errorf("elapsed %v after cancel", res.Elapsed)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{
		"http://example.com/",
		"http://10.0.0.1:8080/",
		"http://192.168.1.1/",
		"http://[::2]/",
		"http://[fe80::1%25lo]/",
		"http://0.0.0.0:9090/",
		"https://localhost.example.com/",
		"http://127.0.0.1.nip.io/",
		"ftp://127.0.0.1/",
		"127.0.0.1:9090",
		"",
	} {
		_, err := Run(context.Background(), Config{URL: u, Duration: time.Millisecond})
		if err == nil {
			t.Errorf("Run(%q) succeeded, want refusal", u)
			continue
		}
		if strings.Contains(u, "://") && !strings.HasPrefix(u, "ftp") && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Run(%q): error %v does not wrap ErrNotLoopback", u, err)
		}
	}
	for _, u := range []string{
		"http://127.0.0.1:9090/",
		"http://127.1.2.3/",
		"https://localhost:8443/x",
		"http://LOCALHOST/",
		"http://[::1]:9090/",
		"http://[::ffff:127.0.0.1]/",
	} {
		if _, err := CheckLoopbackURL(u); err != nil {
			t.Errorf("CheckLoopbackURL(%q): %v", u, err)
		}
	}
	// The dial-time guard rejects non-loopback addresses even if a name
	// resolved to one.
	if err := loopbackOnlyControl("tcp4", "10.1.2.3:80", nil); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("control hook allowed 10.1.2.3: %v", err)
	}
	if err := loopbackOnlyControl("tcp6", "[::1]:80", nil); err != nil {
		t.Errorf("control hook refused ::1: %v", err)
	}
}
