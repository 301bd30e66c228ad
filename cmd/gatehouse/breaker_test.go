package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

// gwCause is the status, CAMARA code and cause id of a gateway answer
// (empty code and cause for an upstream's own body).
func gwCause(t *testing.T, resp *http.Response, b []byte) (int, string, string) {
	t.Helper()
	var p struct {
		Code  string `json:"code"`
		Cause struct {
			ID string `json:"id"`
		} `json:"cause"`
	}
	_ = json.Unmarshal(b, &p)
	return resp.StatusCode, p.Code, p.Cause.ID
}

// TestBreakerThroughServer drives an API's circuit breaker through the
// real server with an upstream switched down and up, using the API's own
// short pauses: closed while up; open after --breaker-failures failures
// (503 circuit_open, Retry-After, and no call reaches the upstream);
// half-open probes that fail reopen it; once the upstream is back, a probe
// closes it. It also checks the options are shown, changed and refused
// (naming the flag or field) through the CLI and the admin API.
func TestBreakerThroughServer(t *testing.T) {
	up := newSwitchUpstream(t)
	ts := startServer(t, nil)
	ts.importAPI(t, echoAPI, "--upstream", up.URL, "--name", "flap", "--base-path", "/flap/v1",
		"--breaker-failures", "2", "--breaker-pause", "500ms", "--breaker-max-pause", "2s")
	eventually(t, 10*time.Second, "/flap/v1 served", func() bool {
		resp, _ := ts.send(t, gwRequest{path: "/flap/v1/call", body: `{}`})
		return resp.StatusCode == http.StatusUnauthorized
	})
	app := ts.createClient("breaker app", "--scopes", "echo:call")
	ts.cli("plans", "create", "--name", "unmetered", "--rate", "0")
	ts.cli("subscriptions", "create", "--client", app.ID, "--api", "flap", "--plan", "unmetered")
	tok := ts.token(app, "echo:call")
	call := func() (int, string, string, http.Header) {
		resp, b := ts.send(t, gwRequest{path: "/flap/v1/call", token: tok, body: `{}`})
		status, code, cause := gwCause(t, resp, b)
		return status, code, cause, resp.Header
	}
	eventually(t, 10*time.Second, "the subscription to reach the gateway", func() bool {
		status, _, _, _ := call()
		return status == http.StatusOK
	})

	var v map[string]any
	if err := json.Unmarshal([]byte(ts.cli("apis", "show", "flap", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v["breaker_failures"] != 2.0 || v["breaker_pause_ms"] != 500.0 || v["breaker_max_pause_ms"] != 2000.0 {
		t.Errorf("apis show: breaker_failures %v, breaker_pause_ms %v, breaker_max_pause_ms %v; want 2, 500, 2000",
			v["breaker_failures"], v["breaker_pause_ms"], v["breaker_max_pause_ms"])
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
	status, code, cause, h := call()
	if status != http.StatusServiceUnavailable || code != "UNAVAILABLE" || cause != "circuit_open" {
		t.Fatalf("after 2 failures: %d %s %s; want 503 UNAVAILABLE circuit_open", status, code, cause)
	}
	if got := h.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q; want 1 (a 500 ms pause, rounded up to whole seconds)", got)
	}
	if n := up.calls.Load() - before; n != 0 {
		t.Errorf("the upstream got %d calls while the circuit was open", n)
	}

	// Half-open while still down: a probe reaches the upstream, fails and
	// opens the circuit again.
	probes := 0
	eventually(t, 10*time.Second, "a half-open probe while down", func() bool {
		status, _, cause, _ := call()
		if cause != "circuit_open" {
			if status != http.StatusServiceUnavailable || cause != "" {
				t.Fatalf("probe: %d %s; want the upstream's 503", status, cause)
			}
			probes++
		}
		return probes == 2
	})
	if status, _, cause, _ := call(); status != http.StatusServiceUnavailable || cause != "circuit_open" {
		t.Errorf("after a failed probe: %d %s; want circuit_open again", status, cause)
	}

	// Back up: a probe succeeds and closes the circuit.
	up.up.Store(true)
	eventually(t, 10*time.Second, "a probe to close the circuit", func() bool {
		status, _, cause, _ := call()
		if status != http.StatusOK && cause != "circuit_open" {
			t.Fatalf("while recovering: %d %s; want 200 or circuit_open", status, cause)
		}
		return status == http.StatusOK
	})
	before = up.calls.Load()
	for i := range 10 {
		if status, _, cause, _ := call(); status != http.StatusOK {
			t.Fatalf("closed, call %d: %d %s; want 200", i+1, status, cause)
		}
	}
	if n := up.calls.Load() - before; n != 10 {
		t.Errorf("closed: the upstream got %d of 10 calls", n)
	}

	// Refusals name the flag (CLI) or the field (admin API).
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--breaker-failures", "-1"}, "--breaker-failures: -1 must be between 1 and 1000"},
		{[]string{"--breaker-pause", "1ms"}, "--breaker-pause: 1ms must be between 10ms"},
		{[]string{"--breaker-max-pause", "30h"}, "--breaker-max-pause: 30h0m0s must be between 10ms and 24h0m0s"},
		{[]string{"--breaker-pause", "2s", "--breaker-max-pause", "1s"}, "--breaker-max-pause: the cap 1s is below the first pause 2s"},
		{[]string{"--breaker-pause", "soon"}, "want a duration"},
	} {
		_, err := ts.tryCLI(append([]string{"apis", "update", "flap"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("apis update flap %s: error %v; want it to contain %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	admin := adminTokenOf(t, ts)
	resp, b := ts.adminCall(http.MethodPatch, "/admin/apis/flap", admin, "application/json", `{"breaker_pause_ms": 5}`)
	checkProblem(t, "admin update breaker_pause_ms 5", resp, b, http.StatusBadRequest, "bad_request", "invalid_parameter")
	if !strings.Contains(string(b), "breaker_pause_ms") {
		t.Errorf("admin refusal does not name breaker_pause_ms: %s", b)
	}
	// 0 goes back to the platform default.
	if err := json.Unmarshal([]byte(ts.cli("apis", "update", "flap", "--breaker-pause", "0", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v["breaker_pause_ms"] != 0.0 || v["breaker_failures"] != 2.0 {
		t.Errorf("after --breaker-pause 0: breaker_pause_ms %v, breaker_failures %v; want 0 and 2 kept", v["breaker_pause_ms"], v["breaker_failures"])
	}
}
