package main

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/testhttp"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestTokenErrorsCarryTheCorrelator: the public front gives every token
// endpoint error an x-correlator header equal to the body's correlator,
// however the error was written. The token endpoint's errors themselves are
// internal/oauth's TestTokenEndpointErrors.
func TestTokenErrorsCarryTheCorrelator(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c := ts.createClient("correlated", "--scopes", "sim-swap:check")
	const cc = "grant_type=client_credentials"
	cases := []struct {
		name   string
		method string // default POST
		body   string
		basic  bool
		accept string
		status int
	}{
		{name: "no credentials", body: cc, status: 401},
		{name: "bad percent-encoding", body: "grant_type=%zz", basic: true, status: 400},
		{name: "unknown scope", body: cc + "&scope=sim-swap:teleport", basic: true, status: 400},
		{name: "GET", method: http.MethodGet, basic: true, status: 405},
		{name: "streamed body too large", body: "chunked:" + cc + "&pad=" + strings.Repeat("a", 70<<10), basic: true, status: 413},
		{name: "Accept excludes JSON", body: cc, basic: true, accept: "text/html", status: 406},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := testhttp.Request{Method: tc.method, Path: "/oauth2/token", Body: tc.body,
				ContentType: "application/x-www-form-urlencoded", Header: map[string]string{}}
			if tc.basic {
				req.Header["Authorization"] = testhttp.BasicAuth(c.ID, c.Secret)
			}
			if tc.accept != "" {
				req.Header["Accept"] = tc.accept
			}
			resp, raw := ts.send(t, req)
			var e testhttp.OAuthError
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("body is not JSON: %q", raw)
			}
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Errorf("status = %d; want %d (body %s)", got, want, raw)
			}
			if resp.Header.Get("X-Correlator") == "" || resp.Header.Get("X-Correlator") != e.Correlator {
				t.Errorf("x-correlator header %q and body %q must match", resp.Header.Get("X-Correlator"), e.Correlator)
			}
		})
	}
}
