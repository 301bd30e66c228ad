package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/testhttp"
)

// TestBreakerOptions checks that an API's circuit breaker options are
// shown, changed and refused (naming the flag or field) through the CLI
// and the admin API. The breaker's behaviour over HTTP is
// internal/gateway's TestBreakerThroughServer.
func TestBreakerOptions(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	ts.importAPI(t, testhttp.EchoAPI, "--upstream", "http://backend.test", "--name", "flap", "--base-path", "/flap/v1",
		"--breaker-failures", "2", "--breaker-pause", "500ms", "--breaker-max-pause", "2s")

	var v map[string]any
	if err := json.Unmarshal([]byte(ts.cli("apis", "show", "flap", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v["breaker_failures"] != 2.0 || v["breaker_pause_ms"] != 500.0 || v["breaker_max_pause_ms"] != 2000.0 {
		t.Errorf("apis show: breaker_failures %v, breaker_pause_ms %v, breaker_max_pause_ms %v; want 2, 500, 2000",
			v["breaker_failures"], v["breaker_pause_ms"], v["breaker_max_pause_ms"])
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
	testhttp.CheckProblem(t, "admin update breaker_pause_ms 5", resp, b, http.StatusBadRequest, "bad_request", "invalid_parameter")
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
