package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoAPI is the OpenAPI document of the test upstreams: one operation that
// takes a JSON object. It is imported several times under other names.
const echoAPI = `openapi: 3.0.3
info:
  title: Echo
  version: 1.0.0
servers:
  - url: /echo/v1
paths:
  /call:
    post:
      operationId: call
      security:
        - openId:
            - echo:call
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                want:
                  type: integer
                pad:
                  type: string
      responses:
        "200":
          description: What the upstream received
          content:
            application/json:
              schema:
                type: object
components:
  securitySchemes:
    openId:
      type: openIdConnect
      openIdConnectUrl: https://example.com/.well-known/openid-configuration
`

// upstreamErrors are well-formed CAMARA errors an upstream answers with;
// the gateway must pass them through byte for byte.
var upstreamErrors = map[int]string{
	500: `{"status": 500, "code": "INTERNAL",   "message": "The upstream broke \u00e9"}` + "\n",
	404: `{"status":404,"code":"IDENTIFIER_NOT_FOUND","message":"No line +34600000004."}`,
}

// echoed is what the echo upstream answers with 200: what it received.
type echoed struct {
	Tag    string      `json:"tag"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// echoUpstream answers {"want": N} with upstreamErrors[N], anything else
// with what it received. tag tells the upstreams apart.
func echoUpstream(t *testing.T, tag string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct {
			Want int `json:"want"`
		}
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", tag)
		// The gateway keeps the client's correlator, not an upstream's.
		w.Header().Set("X-Correlator", "upstream-own-correlator")
		if e, ok := upstreamErrors[in.Want]; ok {
			w.WriteHeader(in.Want)
			_, _ = io.WriteString(w, e)
			return
		}
		_ = json.NewEncoder(w).Encode(echoed{Tag: tag, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header, Body: string(body)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// gatewayError is the body of a gateway error: CAMARA ErrorInfo and RFC
// 9457 problem details at once.
type gatewayError struct {
	Status     int    `json:"status"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Detail     string `json:"detail"`
	Instance   string `json:"instance"`
	Correlator string `json:"correlator"`
	Fix        string `json:"fix"`
	Cause      *struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	} `json:"cause"`
}

// gwRequest is one request to the public listener.
type gwRequest struct {
	method string            // default POST
	path   string            // with query
	body   string            // "chunked:" prefix: sent with unknown length
	token  string            // sent as Authorization: Bearer <token> when set
	header map[string]string // extra headers, set after the defaults
	// contentType defaults to application/json when there is a body; "-"
	// sends none.
	contentType string
	// correlator is the x-correlator sent; "-" sends none.
	correlator string
}

// send performs r and returns the response with its body read.
func (ts *testServer) send(t *testing.T, r gwRequest) (*http.Response, []byte) {
	t.Helper()
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if rest, ok := strings.CutPrefix(r.body, "chunked:"); ok {
		body = io.MultiReader(strings.NewReader(rest)) // unknown length: chunked
	} else if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(method, ts.Issuer+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case r.contentType == "-":
	case r.contentType != "":
		req.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.correlator != "" && r.correlator != "-" {
		req.Header.Set("X-Correlator", r.correlator)
	}
	for k, v := range r.header {
		if k == "Authorization" && strings.Contains(v, "\n") {
			for _, one := range strings.Split(v, "\n") {
				req.Header.Add(k, one)
			}
			continue
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
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
	echo := echoUpstream(t, "one")
	ts := startServer(t, nil)
	ts.importAPI(t, echoAPI, "--upstream", echo.URL+"/up", "--name", "echo", "--base-path", "/echo/v1")
	app := ts.createClient("gateway app", "--scopes", "sim-swap:check echo:call")
	ts.cli("plans", "create", "--name", "unmetered", "--rate", "0")
	for _, api := range []string{"echo", "sim-swap"} {
		ts.cli("subscriptions", "create", "--client", app.ID, "--api", api, "--plan", "unmetered")
	}
	simTok := ts.token(app, "sim-swap:check")
	echoTok := ts.token(app, "echo:call")
	eventually(t, 10*time.Second, "the subscriptions to reach the gateway", func() bool {
		resp, _ := ts.send(t, gwRequest{path: "/echo/v1/call", token: echoTok, body: `{}`})
		return resp.StatusCode == http.StatusOK
	})

	const (
		check = "/sim-swap/v2/check"
		valid = `{"phoneNumber":"+34600000001","maxAge":120}`
		realm = `Bearer realm="gatehouse"`
	)
	if resp, b := ts.send(t, gwRequest{path: check, token: simTok, body: valid}); resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox call: %d %s", resp.StatusCode, b)
	}
	long := strings.Repeat("a", 9<<10)
	cases := []struct {
		name    string
		req     gwRequest
		status  int
		code    string // CAMARA code in the body
		cause   string // cause.id
		wwwAuth string // the exact WWW-Authenticate; "" means absent
	}{
		{name: "404 no API there", req: gwRequest{path: "/nothing/v1/check", token: simTok, body: valid}, status: 404, code: "NOT_FOUND", cause: "unknown_path"},

		// 414 and 431, answered before routing.
		{name: "414 long URI", req: gwRequest{path: check + "?pad=" + long, token: simTok, body: valid}, status: 414, code: "URI_TOO_LONG", cause: "uri_too_long"},
		{name: "431 large header", req: gwRequest{path: check, token: simTok, body: valid, header: map[string]string{"X-Pad": strings.Repeat("h", 17<<10)}},
			status: 431, code: "HEADER_FIELDS_TOO_LARGE", cause: "headers_too_large"},

		// Correlators: generated when absent or invalid, echoed when valid.
		{name: "correlator generated when absent", req: gwRequest{path: check, body: valid, correlator: "-"}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "correlator replaced when invalid", req: gwRequest{path: check, body: valid, correlator: "not valid!"}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "correlator with CAMARA punctuation", req: gwRequest{path: check, body: valid, correlator: "a-b_c:d;e.f/g<h>{i}"}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req.correlator == "" {
				req.correlator = "gw-test-" + strconv.Itoa(i)
			}
			resp, b := ts.send(t, req)
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Fatalf("status = %d; want %d (body %s)", got, want, b)
			}
			hdrCorr := resp.Header.Get("X-Correlator")
			sent := req.correlator
			sentValid := sent != "-" && sent != "not valid!"
			if sentValid && hdrCorr != sent {
				t.Errorf("x-correlator = %q; want the one sent, %q", hdrCorr, sent)
			}
			if !sentValid && (hdrCorr == "" || hdrCorr == sent) {
				t.Errorf("x-correlator = %q; want a generated one", hdrCorr)
			}
			if got, want := resp.Header.Get("Content-Type"), "application/json"; !strings.HasPrefix(got, want) {
				t.Errorf("Content-Type = %q; want %s", got, want)
			}
			var e gatewayError
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body is not JSON: %v: %q", err, b)
			}
			if got, want := e.Code, tc.code; got != want {
				t.Errorf("code = %q; want %q (body %s)", got, want, b)
			}
			if got, want := e.Status, tc.status; got != want {
				t.Errorf("body status = %d; want %d", got, want)
			}
			if e.Message == "" {
				t.Errorf("no message: %s", b)
			}
			if e.Cause == nil || e.Cause.ID != tc.cause {
				t.Errorf("cause = %+v; want %q (body %s)", e.Cause, tc.cause, b)
			}
			if e.Correlator != hdrCorr {
				t.Errorf("body correlator %q differs from x-correlator %q", e.Correlator, hdrCorr)
			}
			if e.Type == "" || e.Title == "" || e.Detail == "" || e.Fix == "" || e.Instance != strings.SplitN(req.path, "?", 2)[0] {
				t.Errorf("problem details incomplete (type, title, detail, fix, instance): %s", b)
			}
			checkWWWAuthenticate(t, resp.Header.Values("WWW-Authenticate"), tc.wwwAuth)
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

// checkWWWAuthenticate compares the challenges with want: exact, except
// that an invalid_token challenge may carry an error_description.
func checkWWWAuthenticate(t *testing.T, got []string, want string) {
	t.Helper()
	if want == "" {
		if len(got) != 0 {
			t.Errorf("WWW-Authenticate = %q; want none", got)
		}
		return
	}
	if len(got) != 1 {
		t.Errorf("WWW-Authenticate = %q; want one challenge %q", got, want)
		return
	}
	if !strings.HasSuffix(want, `error="invalid_token"`) {
		if got[0] != want {
			t.Errorf("WWW-Authenticate = %q; want %q", got[0], want)
		}
		return
	}
	rest, ok := strings.CutPrefix(got[0], want)
	if !ok {
		t.Errorf("WWW-Authenticate = %q; want %q", got[0], want)
		return
	}
	if rest == "" {
		return
	}
	desc, ok := strings.CutPrefix(rest, `, error_description="`)
	desc, ok2 := strings.CutSuffix(desc, `"`)
	if !ok || !ok2 || strings.ContainsAny(desc, "\"\\") {
		t.Errorf("WWW-Authenticate = %q; want %q with at most an RFC 6750 error_description", got[0], want)
	}
	for _, c := range desc {
		if c < 0x20 || c > 0x7e {
			t.Errorf("error_description has %q, outside RFC 6750 §3's alphabet", c)
		}
	}
}
