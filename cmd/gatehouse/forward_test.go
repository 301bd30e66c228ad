package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testhttp"
)

// forwardServer starts a platform with a short body read timeout, the items
// API on a recording upstream, and an app subscribed to it.
// env, when set, adds to the server's environment.
func forwardServer(t *testing.T, env ...string) (ts *testServer, rec *testhttp.Recorder, tok string, addr string) {
	t.Helper()
	rec = testhttp.NewRecorder(t)
	ts = startServer(t, func(e map[string]string) {
		e["GATEHOUSE_BODY_READ_TIMEOUT"] = "300ms"
		for i := 0; i+1 < len(env); i += 2 {
			e[env[i]] = env[i+1]
		}
	})
	ts.importAPI(t, testhttp.ItemsAPI, "--upstream", rec.URL+"/up", "--name", "items", "--base-path", "/items/v1")
	app := ts.createClient("forward app", "--scopes", "items:read")
	ts.cli("plans", "create", "--name", "unmetered", "--rate", "0")
	ts.cli("subscriptions", "create", "--client", app.ID, "--api", "items", "--plan", "unmetered")
	tok = ts.token(app, "items:read")
	testhttp.Eventually(t, 10*time.Second, "the items API to serve the app", func() bool {
		resp, _ := ts.send(t, testhttp.Request{Method: http.MethodGet, Path: "/items/v1/items/1", Token: tok})
		return resp.StatusCode == http.StatusOK
	})
	rec.Take()
	return ts, rec, tok, strings.TrimPrefix(ts.Issuer, "http://")
}

// TestForwardTarget sends request-targets Go's server refuses itself (the
// request line no longer parses, or holds raw control characters): the
// platform's front answers them from the registry and they never reach
// the upstream. The targets the gateway refuses or canonicalises are in
// internal/gateway's TestForwardTarget.
func TestForwardTarget(t *testing.T) {
	t.Parallel()
	_, rec, tok, addr := forwardServer(t)
	for _, target := range []string{"/items/v1/items/a b", "/items/v1/items/a\x01b"} {
		t.Run(target, func(t *testing.T) {
			resp, body, _ := testhttp.RawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: "+addr+
				"\r\nAuthorization: Bearer "+tok+"\r\n\r\n", false)
			got := rec.Take()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			var e testhttp.GatewayError
			if err := json.Unmarshal(body, &e); err != nil || e.Cause == nil {
				t.Fatalf("body %s is not a registry error: %v", body, err)
			}
			if e.Cause.ID != "malformed_request" || e.Code != "INVALID_ARGUMENT" {
				t.Errorf("code %s cause %s, want INVALID_ARGUMENT malformed_request (%s)", e.Code, e.Cause.ID, e.Detail)
			}
			if len(got) != 0 {
				t.Errorf("the upstream received %q", got[0].Target)
			}
		})
	}
}

// TestForwardHeadersTrustedProxy checks that behind a trusted proxy the
// client's forwarding headers reach the upstream, extended with the proxy.
func TestForwardHeadersTrustedProxy(t *testing.T) {
	t.Parallel()
	_, rec, tok, addr := forwardServer(t, "GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1")
	resp, body, _ := testhttp.RawExchange(t, addr, "GET /items/v1/items/1 HTTP/1.1\r\nHost: "+addr+
		"\r\nAuthorization: Bearer "+tok+"\r\nX-Forwarded-For: 203.0.113.7\r\nForwarded: for=203.0.113.7;proto=https\r\n"+
		"X-Forwarded-Host: api.example.com\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 6.6.6.6\r\n\r\n", false)
	got := rec.Take()
	if resp.StatusCode != http.StatusOK || len(got) != 1 {
		t.Fatalf("status %d, %d upstream requests: %s", resp.StatusCode, len(got), body)
	}
	for name, want := range map[string]string{
		"X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
		"X-Real-Ip":         "203.0.113.7",
		"X-Forwarded-Host":  "api.example.com",
		"X-Forwarded-Proto": "https",
		"Forwarded":         `for=203.0.113.7;proto=https, for=127.0.0.1;host="` + addr + `";proto=http`,
	} {
		if v := got[0].Header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("upstream %s = %q, want [%q]", name, v, want)
		}
	}
}
