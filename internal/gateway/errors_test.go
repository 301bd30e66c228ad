package gateway_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/gateway"
	"gatehouse/internal/testclock"
	"gatehouse/internal/testhttp"
)

// TestGatewayErrors sends, over loopback HTTP, at least one request for
// every row of the seed page that the gateway answers (and 415, 502, 504),
// and checks status, CAMARA code, cause, correlator and the headers each
// error owes its caller. It also checks what the upstream is sent and that
// operator changes apply without a restart. The rows the platform's front
// answers (414, 431, the correlator's own rules) and the metrics labels are
// in cmd/gatehouse (TestGatewayFront).
func TestGatewayErrors(t *testing.T) {
	t.Parallel()
	echo := testhttp.EchoUpstream(t, "one")
	echo2 := testhttp.EchoUpstream(t, "two")
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs before slow.Close
	dead := closedAddr(t)

	// The slow upstream never answers: 504 comes at the timeout whatever
	// it is, and the other upstreams are given ample time on a busy machine.
	// The gateway's clock stands still, so x's circuit, once open, stays
	// open however long the calls take.
	h := newHarness(t, func(c *gateway.Config) {
		c.UpstreamTimeout = 2 * time.Second
		c.Now = testclock.New(time.Now()).Now
	})
	h.importAPI(testhttp.EchoAPI, gateway.ImportOptions{Upstream: echo.URL + "/up", Name: "echo", BasePath: "/echo/v1", MaxBodyBytes: 1024})
	h.importAPI(testhttp.EchoAPI, gateway.ImportOptions{Upstream: "http://" + dead, Name: "x", BasePath: "/x/v1", BreakerPauseMS: 10_000})
	h.importAPI(testhttp.EchoAPI, gateway.ImportOptions{Upstream: slow.URL, Name: "slow", BasePath: "/slow/v1"})
	h.importAPI(testhttp.EchoAPI, gateway.ImportOptions{Upstream: echo.URL + "/up", Name: "maint", BasePath: "/maint/v1"})

	app := h.createClient("gateway app", "sim-swap:check", "sim-swap:retrieve-date", "number-verification:verify", "location-verification:verify", "echo:call")
	h.subscribeUnmetered(app, "echo", "x", "slow", "maint", "sim-swap", "number-verification", "location-verification")
	simTok := h.token(app, "sim-swap:check")
	echoTok := h.token(app, "echo:call")
	otherTok := h.token(app, "location-verification:verify")

	m := h.minter()
	base := m.claims(app.ID, "sim-swap:check")
	threeLegged := m.sign("at+jwt", with(base, "sub", "tel:+34600000001"))
	kid := m.keys.CurrentKeyID()

	// A token that worked, then was revoked through /oauth2/revoke.
	revoked := h.token(app, "sim-swap:check")
	if resp, b := h.send(t, testhttp.Request{Path: "/sim-swap/v2/check", Token: revoked, Body: `{"phoneNumber":"+34600000001"}`}); resp.StatusCode != http.StatusOK {
		t.Fatalf("before revocation: %d %s", resp.StatusCode, b)
	}
	h.revoke(app, revoked)

	const (
		check      = "/sim-swap/v2/check"
		valid      = `{"phoneNumber":"+34600000001","maxAge":120}`
		realm      = `Bearer realm="gatehouse"`
		invalidTok = realm + `, error="invalid_token"`
	)

	cases := []struct {
		name string
		req  testhttp.Request
		// before runs first (changing the platform, warming a breaker).
		before func(t *testing.T)

		status int
		code   string // CAMARA code in the body
		cause  string // cause.id
		// upstream marks a body the upstream wrote: no cause, no
		// correlator member, passed through as it came.
		upstream bool
		// wwwAuth is the exact WWW-Authenticate; for invalid_token it is a
		// prefix, optionally followed by an error_description. "" means
		// absent.
		wwwAuth    string
		allow      string
		retryAfter string // exact; "≤N" for any value from 1 to N; "" absent
		// passthrough is the exact body an upstream sent.
		passthrough string
		// success checks a 2xx body.
		success func(t *testing.T, b []byte)
	}{
		// Working calls, so that each failure below differs by one thing.
		{name: "200 sandbox 2-legged", req: testhttp.Request{Path: check, Token: simTok, Body: valid}, status: 200,
			success: func(t *testing.T, b []byte) {
				if got, want := strings.TrimSpace(string(b)), `{"swapped":true}`; got != want {
					t.Errorf("body = %s; want %s", got, want)
				}
			}},
		{name: "200 sandbox 3-legged", req: testhttp.Request{Path: check, Token: threeLegged, Body: `{"maxAge":120}`}, status: 200},
		{name: "200 echo", req: testhttp.Request{Path: "/echo/v1/call", Token: echoTok, Body: `{"want":0}`}, status: 200},

		// 400
		{name: "400 malformed JSON", req: testhttp.Request{Path: check, Token: simTok, Body: `{"phoneNumber":`}, status: 400, code: "INVALID_ARGUMENT", cause: "malformed_body"},
		{name: "400 phoneNumber pattern", req: testhttp.Request{Path: check, Token: simTok, Body: `{"phoneNumber":"0034600000001"}`}, status: 400, code: "INVALID_ARGUMENT", cause: "schema_violation"},
		{name: "400 wrong type", req: testhttp.Request{Path: check, Token: simTok, Body: `{"phoneNumber":"+34600000001","maxAge":"120"}`}, status: 400, code: "INVALID_ARGUMENT", cause: "schema_violation"},
		{name: "400 missing required body", req: testhttp.Request{Path: check, Token: simTok}, status: 400, code: "INVALID_ARGUMENT", cause: "schema_violation"},
		{name: "400 OUT_OF_RANGE maxAge", req: testhttp.Request{Path: check, Token: simTok, Body: `{"phoneNumber":"+34600000001","maxAge":2401}`}, status: 400, code: "OUT_OF_RANGE", cause: "value_out_of_range"},
		{name: "400 two credentials: header and query", req: testhttp.Request{Path: check + "?access_token=" + simTok, Token: simTok, Body: valid},
			status: 400, code: "INVALID_ARGUMENT", cause: "multiple_credentials", wwwAuth: realm + `, error="invalid_request"`},
		{name: "400 two Authorization headers", req: testhttp.Request{Path: check, Body: valid, Header: map[string]string{"Authorization": "Bearer " + simTok + "\nBearer " + simTok}},
			status: 400, code: "INVALID_ARGUMENT", cause: "multiple_credentials", wwwAuth: realm + `, error="invalid_request"`},

		// 401: no token at all is a bare challenge (RFC 6750 §3.1).
		{name: "401 missing token", req: testhttp.Request{Path: check, Body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "401 token only in the query", req: testhttp.Request{Path: check + "?access_token=" + simTok, Body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		// Another scheme is no bearer token at all: a bare challenge too
		// ("attempted using an unsupported authentication method").
		{name: "401 Basic scheme", req: testhttp.Request{Path: check, Body: valid, Header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(app.ID+":"+app.Secret))}}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "401 empty bearer", req: testhttp.Request{Path: check, Body: valid, Header: map[string]string{"Authorization": "Bearer "}}, status: 401, code: "UNAUTHENTICATED", cause: "malformed", wwwAuth: invalidTok},
		{name: "401 malformed abc", req: testhttp.Request{Path: check, Token: "abc", Body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "malformed", wwwAuth: invalidTok},
		{name: "401 malformed a.b.c", req: testhttp.Request{Path: check, Token: "a.b.c", Body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "malformed", wwwAuth: invalidTok},
		{name: "401 expired", req: testhttp.Request{Path: check, Body: valid, Token: m.sign("at+jwt", with(base,
			"iat", time.Now().Add(-2*time.Hour).Unix(), "exp", time.Now().Add(-time.Hour).Unix()))},
			status: 401, code: "UNAUTHENTICATED", cause: "expired", wwwAuth: invalidTok},
		{name: "401 not yet valid", req: testhttp.Request{Path: check, Body: valid, Token: m.sign("at+jwt", with(base,
			"nbf", time.Now().Add(10*time.Minute).Unix(), "exp", time.Now().Add(time.Hour).Unix()))},
			status: 401, code: "UNAUTHENTICATED", cause: "not_yet_valid", wwwAuth: invalidTok},
		{name: "401 revoked", req: testhttp.Request{Path: check, Token: revoked, Body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "revoked", wwwAuth: invalidTok},
		{name: "401 wrong issuer", req: testhttp.Request{Path: check, Body: valid, Token: m.sign("at+jwt", with(base, "iss", "https://evil.example"))},
			status: 401, code: "UNAUTHENTICATED", cause: "wrong_issuer", wwwAuth: invalidTok},
		{name: "401 wrong audience", req: testhttp.Request{Path: check, Body: valid, Token: m.sign("at+jwt", with(base, "aud", []string{"https://other.example"}))},
			status: 401, code: "UNAUTHENTICATED", cause: "wrong_audience", wwwAuth: invalidTok},
		{name: "401 forged signature with the right kid", req: testhttp.Request{Path: check, Body: valid, Token: m.forged(base)},
			status: 401, code: "UNAUTHENTICATED", cause: "bad_signature", wwwAuth: invalidTok},
		{name: "401 alg none", req: testhttp.Request{Path: check, Body: valid, Token: m.raw(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}, base,
			func([]byte) []byte { return nil })},
			status: 401, code: "UNAUTHENTICATED", cause: "bad_signature", wwwAuth: invalidTok},
		{name: "401 HS256 keyed with the public key", req: testhttp.Request{Path: check, Body: valid, Token: m.raw(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, base,
			func(in []byte) []byte {
				mac := hmac.New(sha256.New, m.publicKeyPEM())
				mac.Write(in)
				return mac.Sum(nil)
			})},
			status: 401, code: "UNAUTHENTICATED", cause: "bad_signature", wwwAuth: invalidTok},
		{name: "401 typ JWT instead of at+jwt", req: testhttp.Request{Path: check, Body: valid, Token: m.sign("JWT", base)},
			status: 401, code: "UNAUTHENTICATED", cause: "wrong_token_type", wwwAuth: invalidTok},
		{name: "401 no jti", req: testhttp.Request{Path: check, Body: valid, Token: m.sign("at+jwt", with(base, "jti", nil))},
			status: 401, code: "UNAUTHENTICATED", cause: "malformed", wwwAuth: invalidTok},

		// 403
		{name: "403 scope of another API", req: testhttp.Request{Path: check, Token: otherTok, Body: valid}, status: 403, code: "PERMISSION_DENIED", cause: "scope_missing",
			wwwAuth: realm + `, error="insufficient_scope", scope="sim-swap:check"`},
		{name: "403 echo scope on the sandbox", req: testhttp.Request{Path: "/sim-swap/v2/retrieve-date", Token: echoTok, Body: `{"phoneNumber":"+34600000001"}`}, status: 403, code: "PERMISSION_DENIED", cause: "scope_missing",
			wwwAuth: realm + `, error="insufficient_scope", scope="sim-swap:retrieve-date"`},

		// 404 ("no API there" is the gateway's own answer here; behind the
		// platform it is the platform's, see TestGatewayFront).
		{name: "404 no API there", req: testhttp.Request{Path: "/nothing/v1/check", Token: simTok, Body: valid}, status: 404, code: "NOT_FOUND", cause: "unknown_path"},
		{name: "404 unknown operation of an API", req: testhttp.Request{Path: "/sim-swap/v2/teleport", Token: simTok, Body: valid}, status: 404, code: "NOT_FOUND", cause: "unknown_path"},
		{name: "404 trailing slash", req: testhttp.Request{Path: check + "/", Token: simTok, Body: valid}, status: 404, code: "NOT_FOUND", cause: "unknown_path"},
		{name: "404 another major version", req: testhttp.Request{Path: "/sim-swap/v1/check", Token: simTok, Body: valid}, status: 404, code: "NOT_FOUND", cause: "api_version_unknown"},

		// 405
		{name: "405 GET on a POST operation", req: testhttp.Request{Method: http.MethodGet, Path: check, Token: simTok}, status: 405, code: "METHOD_NOT_ALLOWED", cause: "method_not_supported", allow: "POST"},
		{name: "405 PUT", req: testhttp.Request{Method: http.MethodPut, Path: check, Token: simTok, Body: valid}, status: 405, code: "METHOD_NOT_ALLOWED", cause: "method_not_supported", allow: "POST"},
		{name: "405 POST on a GET operation", req: testhttp.Request{Path: "/number-verification/v2/device-phone-number", Token: simTok, Body: `{}`}, status: 405, code: "METHOD_NOT_ALLOWED", cause: "method_not_supported", allow: "GET, HEAD"},

		// 406
		{name: "406 Accept text/html", req: testhttp.Request{Path: check, Token: simTok, Body: valid, Header: map[string]string{"Accept": "text/html"}}, status: 406, code: "NOT_ACCEPTABLE", cause: "accept_unsatisfiable"},
		{name: "406 JSON with q=0", req: testhttp.Request{Path: check, Token: simTok, Body: valid, Header: map[string]string{"Accept": "application/json;q=0, text/plain"}}, status: 406, code: "NOT_ACCEPTABLE", cause: "accept_unsatisfiable"},

		// 413 (the echo API accepts 1024 bytes)
		{name: "413 declared Content-Length", req: testhttp.Request{Path: "/echo/v1/call", Token: echoTok, Body: `{"pad":"` + strings.Repeat("p", 2048) + `"}`},
			status: 413, code: "PAYLOAD_TOO_LARGE", cause: "declared_too_large"},
		{name: "413 streamed chunked body", req: testhttp.Request{Path: "/echo/v1/call", Token: echoTok, Body: `chunked:{"pad":"` + strings.Repeat("p", 2048) + `"}`},
			status: 413, code: "PAYLOAD_TOO_LARGE", cause: "body_too_large"},

		// 415
		{name: "415 text/plain", req: testhttp.Request{Path: check, Token: simTok, Body: valid, ContentType: "text/plain"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE", cause: "content_type_unsupported"},
		{name: "415 form", req: testhttp.Request{Path: check, Token: simTok, Body: "phoneNumber=%2B34600000001", ContentType: "application/x-www-form-urlencoded"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE", cause: "content_type_unsupported"},
		{name: "415 no Content-Type", req: testhttp.Request{Path: check, Token: simTok, Body: valid, ContentType: "-"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE", cause: "content_type_missing"},

		// 422: CAMARA's identifier rules.
		{name: "422 MISSING_IDENTIFIER with a 2-legged token", req: testhttp.Request{Path: check, Token: simTok, Body: `{"maxAge":120}`}, status: 422, code: "MISSING_IDENTIFIER", cause: "identifier_missing"},
		{name: "422 UNNECESSARY_IDENTIFIER with a 3-legged token", req: testhttp.Request{Path: check, Token: threeLegged, Body: valid}, status: 422, code: "UNNECESSARY_IDENTIFIER", cause: "identifier_in_token"},

		// Upstream errors pass through unchanged.
		{name: "500 upstream's own error", req: testhttp.Request{Path: "/echo/v1/call", Token: echoTok, Body: `{"want":500}`}, status: 500, code: "INTERNAL", upstream: true, passthrough: testhttp.UpstreamError(500)},
		{name: "404 upstream's own error", req: testhttp.Request{Path: "/echo/v1/call", Token: echoTok, Body: `{"want":404}`}, status: 404, code: "IDENTIFIER_NOT_FOUND", upstream: true, passthrough: testhttp.UpstreamError(404)},
		{name: "404 sandbox's own error", req: testhttp.Request{Path: check, Token: simTok, Body: `{"phoneNumber":"+34600000004"}`}, status: 404, code: "IDENTIFIER_NOT_FOUND", upstream: true},

		// 502, then 503 once the circuit opens after 5 refusals.
		{name: "502 upstream refuses connections", req: testhttp.Request{Path: "/x/v1/call", Token: echoTok, Body: `{}`}, status: 502, code: "BAD_GATEWAY", cause: "connection_refused"},
		{name: "503 circuit open", before: func(t *testing.T) {
			for i := 2; i <= 5; i++ {
				resp, b := h.send(t, testhttp.Request{Path: "/x/v1/call", Token: echoTok, Body: `{}`})
				if resp.StatusCode != http.StatusBadGateway {
					t.Fatalf("refusal %d: %d %s; want 502", i, resp.StatusCode, b)
				}
			}
		}, req: testhttp.Request{Path: "/x/v1/call", Token: echoTok, Body: `{}`}, status: 503, code: "UNAVAILABLE", cause: "circuit_open", retryAfter: "≤10"},

		// 503 maintenance, set by the operator while serving.
		{name: "503 maintenance", before: func(t *testing.T) {
			status := "maintenance"
			h.updateAPI(t, "maint", gateway.APIUpdate{Status: &status})
			testhttp.Eventually(t, 10*time.Second, "maint in maintenance", func() bool {
				resp, _ := h.send(t, testhttp.Request{Path: "/maint/v1/call", Token: echoTok, Body: `{}`})
				return resp.StatusCode == http.StatusServiceUnavailable
			})
		}, req: testhttp.Request{Path: "/maint/v1/call", Token: echoTok, Body: `{}`}, status: 503, code: "UNAVAILABLE", cause: "maintenance", retryAfter: "60"},

		// 504
		{name: "504 slow upstream", req: testhttp.Request{Path: "/slow/v1/call", Token: echoTok, Body: `{}`}, status: 504, code: "TIMEOUT", cause: "upstream_timeout"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			req := tc.req
			req.Correlator = "gw-test-" + strconv.Itoa(i)
			resp, b := h.send(t, req)
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Fatalf("status = %d; want %d (body %s)", got, want, b)
			}
			hdrCorr := resp.Header.Get("X-Correlator")
			if hdrCorr != req.Correlator {
				t.Errorf("x-correlator = %q; want the one sent, %q", hdrCorr, req.Correlator)
			}
			if tc.status < 400 {
				if tc.success != nil {
					tc.success(t, b)
				}
				return
			}
			e := testhttp.CheckCAMARAError(t, resp, b, tc.status, tc.code)
			if tc.passthrough != "" {
				if string(b) != tc.passthrough {
					t.Errorf("body = %q; want the upstream's bytes unchanged, %q", b, tc.passthrough)
				}
			}
			if tc.upstream {
				if e.Cause != nil || e.Correlator != "" {
					t.Errorf("an upstream's error was rewritten: %s", b)
				}
			} else {
				testhttp.CheckRegistryMembers(t, e, b, tc.cause, hdrCorr, req.Path)
			}
			testhttp.CheckWWWAuthenticate(t, resp.Header.Values("WWW-Authenticate"), tc.wwwAuth)
			if got, want := resp.Header.Get("Allow"), tc.allow; got != want {
				t.Errorf("Allow = %q; want %q", got, want)
			}
			got := resp.Header.Get("Retry-After")
			switch max, ok := strings.CutPrefix(tc.retryAfter, "≤"); {
			case ok:
				n, err := strconv.Atoi(got)
				limit, _ := strconv.Atoi(max)
				if err != nil || n < 1 || n > limit {
					t.Errorf("Retry-After = %q; want 1 to %s seconds", got, max)
				}
			case got != tc.retryAfter:
				t.Errorf("Retry-After = %q; want %q", got, tc.retryAfter)
			}
		})
	}

	t.Run("upstream request headers", func(t *testing.T) {
		for _, tc := range []struct {
			name, token, subject string
		}{
			{"2-legged", echoTok, ""},
			{"3-legged", m.sign("at+jwt", with(m.claims(app.ID, "echo:call"), "sub", "tel:+34600000002")), "+34600000002"},
		} {
			resp, b := h.send(t, testhttp.Request{Path: "/echo/v1/call?q=1", Token: tc.token, Body: `{"want":0}`, Correlator: "fwd-1", Header: map[string]string{
				"X-Gatehouse-Client-Id": "someone-else", "X-Gatehouse-Subject": "+34999999999", "X-Custom": "kept",
			}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, b)
			}
			var got testhttp.Echoed
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v: %s", tc.name, err, b)
			}
			hdr := got.Header
			if v := hdr.Values("X-Gatehouse-Client-Id"); len(v) != 1 || v[0] != app.ID {
				t.Errorf("%s: upstream got X-Gatehouse-Client-Id %q; want only %q", tc.name, v, app.ID)
			}
			if v := hdr.Values("X-Gatehouse-Subject"); (tc.subject == "" && len(v) != 0) || (tc.subject != "" && (len(v) != 1 || v[0] != tc.subject)) {
				t.Errorf("%s: upstream got X-Gatehouse-Subject %q; want %q", tc.name, v, tc.subject)
			}
			if v := hdr.Values("Authorization"); len(v) != 0 {
				t.Errorf("%s: the access token was forwarded: %q", tc.name, v)
			}
			if got, want := hdr.Get("X-Correlator"), "fwd-1"; got != want {
				t.Errorf("%s: upstream got x-correlator %q; want %q", tc.name, got, want)
			}
			if got, want := hdr.Get("X-Custom"), "kept"; got != want {
				t.Errorf("%s: X-Custom = %q; want %q", tc.name, got, want)
			}
			if got.Path != "/up/call" || got.Query != "q=1" || got.Body != `{"want":0}` {
				t.Errorf("%s: upstream got %s?%s %q; want /up/call?q=1 and the body unchanged", tc.name, got.Path, got.Query, got.Body)
			}
			if got, want := resp.Header.Get("X-Correlator"), "fwd-1"; got != want {
				t.Errorf("%s: response x-correlator = %q; want %q (not the upstream's)", tc.name, got, want)
			}
			if got, want := resp.Header.Get("X-Upstream"), "one"; got != want {
				t.Errorf("%s: upstream header X-Upstream = %q; want %q", tc.name, got, want)
			}
		}
	})

	t.Run("apis update and delete apply without restart", func(t *testing.T) {
		call := func() (*http.Response, []byte) {
			return h.send(t, testhttp.Request{Path: "/echo/v1/call", Token: echoTok, Body: `{}`, Correlator: "upd-1"})
		}
		upstream := echo2.URL + "/up"
		h.updateAPI(t, "echo", gateway.APIUpdate{Upstream: &upstream})
		testhttp.Eventually(t, 10*time.Second, "echo served by the new upstream", func() bool {
			resp, _ := call()
			return resp.Header.Get("X-Upstream") == "two"
		})
		live := "live"
		h.updateAPI(t, "maint", gateway.APIUpdate{Status: &live})
		testhttp.Eventually(t, 10*time.Second, "maint out of maintenance", func() bool {
			resp, _ := h.send(t, testhttp.Request{Path: "/maint/v1/call", Token: echoTok, Body: `{}`})
			return resp.StatusCode == http.StatusOK
		})
		if err := h.APIs.Delete(t.Context(), "echo"); err != nil {
			t.Fatal(err)
		}
		testhttp.Eventually(t, 10*time.Second, "echo gone", func() bool {
			resp, _ := call()
			return resp.StatusCode == http.StatusNotFound
		})
		resp, b := call()
		var e testhttp.GatewayError
		if err := json.Unmarshal(b, &e); err != nil || e.Code != "NOT_FOUND" || e.Cause == nil || e.Cause.ID != "unknown_path" {
			t.Errorf("after delete: %d %s; want 404 NOT_FOUND unknown_path", resp.StatusCode, b)
		}
	})
}
