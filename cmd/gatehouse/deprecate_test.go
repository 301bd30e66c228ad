package main

import (
	"strings"
	"testing"

	"gatehouse/internal/testhttp"
)

// TestDeprecationFlags: apis update announces a deprecation with
// --deprecated-at, --sunset and --successor (each kept unless given),
// shows it, names the flag a refusal is about, and --undeprecate
// withdraws it.
func TestDeprecationFlags(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	ts.importAPI(t, testhttp.EchoAPI, "--upstream", "http://backend.test", "--name", "old", "--base-path", "/old/v1")
	ts.importAPI(t, testhttp.EchoAPI, "--upstream", "http://backend.test", "--name", "new", "--base-path", "/new/v1")

	out := ts.cli("apis", "update", "old", "--deprecated-at", "2027-01-01", "--successor", "new")
	if !strings.Contains(out, "since 2027-01-01T00:00:00Z, successor new") {
		t.Errorf("apis update --deprecated-at --successor printed:\n%s", out)
	}
	out = ts.cli("apis", "update", "old", "--sunset", "2027-06-30T12:00:00Z")
	if !strings.Contains(out, "since 2027-01-01T00:00:00Z, sunset 2027-06-30T12:00:00Z, successor new") {
		t.Errorf("apis update --sunset kept the rest? printed:\n%s", out)
	}
	if _, err := ts.tryCLI("apis", "update", "old", "--sunset", "2026-06-30"); err == nil || !strings.Contains(err.Error(), "--sunset: the sunset (2026-06-30T00:00:00Z) must come after the deprecation") {
		t.Errorf("a sunset before the deprecation: %v; want the refusal naming --sunset", err)
	}
	if _, err := ts.tryCLI("apis", "update", "old", "--sunset", "next year"); err == nil || !strings.Contains(err.Error(), "want an instant such as") {
		t.Errorf("--sunset 'next year': %v; want the flag's format", err)
	}
	if _, err := ts.tryCLI("apis", "update", "old", "--undeprecate", "--successor", "new"); err == nil || !strings.Contains(err.Error(), "--undeprecate withdraws the deprecation") {
		t.Errorf("--undeprecate with --successor: %v", err)
	}
	if out := ts.cli("apis", "update", "old", "--undeprecate"); strings.Contains(out, "deprecated:") {
		t.Errorf("after --undeprecate, show still says:\n%s", out)
	}
}
