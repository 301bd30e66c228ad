package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/gateway"
	"gatehouse/internal/testclock"
	"gatehouse/internal/testhttp"
)

// switchUpstream is an upstream that answers 200 while up and 503 while
// down, and counts the calls it receives.
type switchUpstream struct {
	*httptest.Server
	up    atomic.Bool
	calls atomic.Int64
}

func newSwitchUpstream(t *testing.T) *switchUpstream {
	u := &switchUpstream{}
	u.up.Store(true)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if !u.up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":503,"code":"UNAVAILABLE","message":"down"}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(u.Close)
	return u
}

// TestBreakerThroughServer drives an API's circuit breaker over HTTP with
// an upstream switched down and up, using the API's own short pauses:
// closed while up; open after the API's breaker_failures failures (503
// circuit_open, Retry-After, and no call reaches the upstream); half-open
// probes that fail reopen it; once the upstream is back, a probe closes it.
// The gateway's clock is the test's: each pause ends when the test advances
// it by the longest the pause can be (d, its jitter drawing from [d/2, d]).
// How the CLI and the admin API show, change and refuse the options is
// cmd/gatehouse's TestBreakerOptions.
func TestBreakerThroughServer(t *testing.T) {
	t.Parallel()
	up := newSwitchUpstream(t)
	clk := testclock.New(time.Now())
	h := newHarness(t, func(c *gateway.Config) { c.Now = clk.Now })
	h.importAPI(testhttp.EchoAPI, gateway.ImportOptions{Upstream: up.URL, Name: "flap", BasePath: "/flap/v1",
		BreakerFailures: 2, BreakerPauseMS: 500, BreakerMaxPauseMS: 2000})
	app := h.createClient("breaker app", "echo:call")
	h.subscribeUnmetered(app, "flap")
	tok := h.token(app, "echo:call")
	call := func() (int, string, string, http.Header) {
		resp, b := h.send(t, testhttp.Request{Path: "/flap/v1/call", Token: tok, Body: `{}`})
		status, code, cause := gwCause(resp, b)
		return status, code, cause, resp.Header
	}
	if status, code, cause, _ := call(); status != http.StatusOK {
		t.Fatalf("while up: %d %s %s; want 200", status, code, cause)
	}

	// Closed: the upstream's own 503s pass through until two in a row.
	up.up.Store(false)
	for i := range 2 {
		if status, code, cause, _ := call(); status != http.StatusServiceUnavailable || code != "UNAVAILABLE" || cause != "" {
			t.Fatalf("failure %d: %d %s %s; want the upstream's own 503 passed through", i+1, status, code, cause)
		}
	}
	// Open: the gateway answers, the upstream is not called.
	before := up.calls.Load()
	status, code, cause, hdr := call()
	if status != http.StatusServiceUnavailable || code != "UNAVAILABLE" || cause != "circuit_open" {
		t.Fatalf("after 2 failures: %d %s %s; want 503 UNAVAILABLE circuit_open", status, code, cause)
	}
	if got := hdr.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q; want 1 (a 500 ms pause, rounded up to whole seconds)", got)
	}
	if n := up.calls.Load() - before; n != 0 {
		t.Errorf("the upstream got %d calls while the circuit was open", n)
	}

	// Half-open while still down: after each pause a probe reaches the
	// upstream, fails and opens the circuit again, for twice as long.
	for i, pause := range []time.Duration{500 * time.Millisecond, time.Second} {
		if status, _, cause, _ := call(); status != http.StatusServiceUnavailable || cause != "circuit_open" {
			t.Fatalf("before probe %d: %d %s; want circuit_open", i+1, status, cause)
		}
		clk.Advance(pause)
		before := up.calls.Load()
		if status, _, cause, _ := call(); status != http.StatusServiceUnavailable || cause != "" {
			t.Fatalf("probe %d: %d %s; want the upstream's 503", i+1, status, cause)
		}
		if n := up.calls.Load() - before; n != 1 {
			t.Errorf("probe %d: the upstream got %d calls; want 1", i+1, n)
		}
	}
	if status, _, cause, _ := call(); status != http.StatusServiceUnavailable || cause != "circuit_open" {
		t.Errorf("after a failed probe: %d %s; want circuit_open again", status, cause)
	}

	// Back up: a probe succeeds and closes the circuit (the pause is now
	// the 2 s cap).
	up.up.Store(true)
	clk.Advance(2 * time.Second)
	if status, _, cause, _ := call(); status != http.StatusOK {
		t.Fatalf("probe while up: %d %s; want 200", status, cause)
	}
	before = up.calls.Load()
	for i := range 10 {
		if status, _, cause, _ := call(); status != http.StatusOK {
			t.Fatalf("closed, call %d: %d %s; want 200", i+1, status, cause)
		}
	}
	if n := up.calls.Load() - before; n != 10 {
		t.Errorf("closed: the upstream got %d of 10 calls", n)
	}
}
