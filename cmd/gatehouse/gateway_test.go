package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testhttp"
)

// send performs r on the public listener (testhttp.Send).
func (ts *testServer) send(t *testing.T, r testhttp.Request) (*http.Response, []byte) {
	t.Helper()
	return testhttp.Send(t, ts.Issuer, r)
}

// importAPI imports the echo document through the CLI.
func (ts *testServer) importAPI(t *testing.T, doc string, args ...string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "api.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.cli(append([]string{"apis", "import", file}, args...)...)
}

// TestGatewayFront sends API requests whose answers come from the
// platform's front rather than the gateway (internal/gateway's
// TestGatewayErrors has the gateway's own): 414 and 431 before routing,
// the correlator kept when valid and replaced otherwise, and the platform's
// 404 for a path no API serves; then it checks that /metrics labels
// gateway calls by the API's base path.
func TestGatewayFront(t *testing.T) {
	t.Parallel()
	echo := testhttp.EchoUpstream(t, "one")
	ts := startServer(t, nil)
	ts.importAPI(t, testhttp.EchoAPI, "--upstream", echo.URL+"/up", "--name", "echo", "--base-path", "/echo/v1")
	app := ts.createClient("gateway app", "--scopes", "sim-swap:check echo:call")
	ts.cli("plans", "create", "--name", "unmetered", "--rate", "0")
	for _, api := range []string{"echo", "sim-swap"} {
		ts.cli("subscriptions", "create", "--client", app.ID, "--api", api, "--plan", "unmetered")
	}
	simTok := ts.token(app, "sim-swap:check")
	echoTok := ts.token(app, "echo:call")
	testhttp.Eventually(t, 10*time.Second, "the subscriptions to reach the gateway", func() bool {
		resp, _ := ts.send(t, testhttp.Request{Path: "/echo/v1/call", Token: echoTok, Body: `{}`})
		return resp.StatusCode == http.StatusOK
	})

	const (
		check = "/sim-swap/v2/check"
		valid = `{"phoneNumber":"+34600000001","maxAge":120}`
		realm = `Bearer realm="gatehouse"`
	)
	if resp, b := ts.send(t, testhttp.Request{Path: check, Token: simTok, Body: valid}); resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox call: %d %s", resp.StatusCode, b)
	}
	long := strings.Repeat("a", 9<<10)
	cases := []struct {
		name    string
		req     testhttp.Request
		status  int
		code    string // CAMARA code in the body
		cause   string // cause.id
		wwwAuth string // the exact WWW-Authenticate; "" means absent
	}{
		{name: "404 no API there", req: testhttp.Request{Path: "/nothing/v1/check", Token: simTok, Body: valid}, status: 404, code: "NOT_FOUND", cause: "unknown_path"},

		// 414 and 431, answered before routing.
		{name: "414 long URI", req: testhttp.Request{Path: check + "?pad=" + long, Token: simTok, Body: valid}, status: 414, code: "URI_TOO_LONG", cause: "uri_too_long"},
		{name: "431 large header", req: testhttp.Request{Path: check, Token: simTok, Body: valid, Header: map[string]string{"X-Pad": strings.Repeat("h", 17<<10)}},
			status: 431, code: "HEADER_FIELDS_TOO_LARGE", cause: "headers_too_large"},

		// Correlators: generated when absent or invalid, echoed when valid.
		{name: "correlator generated when absent", req: testhttp.Request{Path: check, Body: valid, Correlator: "-"}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "correlator replaced when invalid", req: testhttp.Request{Path: check, Body: valid, Correlator: "not valid!"}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "correlator with CAMARA punctuation", req: testhttp.Request{Path: check, Body: valid, Correlator: "a-b_c:d;e.f/g<h>{i}"}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req.Correlator == "" {
				req.Correlator = "gw-test-" + strconv.Itoa(i)
			}
			resp, b := ts.send(t, req)
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Fatalf("status = %d; want %d (body %s)", got, want, b)
			}
			hdrCorr := resp.Header.Get("X-Correlator")
			sent := req.Correlator
			sentValid := sent != "-" && sent != "not valid!"
			if sentValid && hdrCorr != sent {
				t.Errorf("x-correlator = %q; want the one sent, %q", hdrCorr, sent)
			}
			if !sentValid && (hdrCorr == "" || hdrCorr == sent) {
				t.Errorf("x-correlator = %q; want a generated one", hdrCorr)
			}
			e := testhttp.CheckCAMARAError(t, resp, b, tc.status, tc.code)
			testhttp.CheckRegistryMembers(t, e, b, tc.cause, hdrCorr, req.Path)
			testhttp.CheckWWWAuthenticate(t, resp.Header.Values("WWW-Authenticate"), tc.wwwAuth)
			if got := resp.Header.Get("Allow"); got != "" {
				t.Errorf("Allow = %q; want none", got)
			}
			if got := resp.Header.Get("Retry-After"); got != "" {
				t.Errorf("Retry-After = %q; want none", got)
			}
		})
	}

	t.Run("metrics count API calls by base path", func(t *testing.T) {
		resp, err := http.Get(ts.Admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// A live upstream and the in-process sandbox are labelled alike,
		// by the API's base path, never by the raw path.
		for _, want := range []string{`route="/echo/v1/",status="200"`, `route="/sim-swap/v2/",status="200"`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics has no gatehouse_http_requests_total with %s", want)
			}
		}
		if strings.Contains(string(body), `route="/sim-swap/v2/check"`) || strings.Contains(string(body), `route="POST /sim-swap/v2/check"`) {
			t.Errorf("/metrics labels a gateway call by its path")
		}
	})
}
