package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/oauth"
	"gatehouse/internal/plans"
	"gatehouse/internal/portal"
)

// fuzzToken and fuzzToken3 in a fuzz input are replaced by a valid 2-legged
// and a valid 3-legged access token, so inputs reach past authentication.
const (
	fuzzToken  = "$TOKEN"
	fuzzToken3 = "$TOKEN3"
)

// fuzzSeeds are raw HTTP requests: valid sandbox calls and the kinds of
// malformed request the gateway must answer with a registry error.
var fuzzSeeds = []string{
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: 43\r\n\r\n{\"phoneNumber\":\"+34600000001\",\"maxAge\":120}",
	"POST /sim-swap/v2/retrieve-date HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN3\r\nContent-Type: application/json\r\nX-Correlator: fz-1\r\nContent-Length: 2\r\n\r\n{}",
	"POST /sim-swap/v2/retrieve-date HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{\"phoneNumber\":\"+34600000002\"}",
	"POST /number-verification/v2/verify HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN3\r\nContent-Type: application/json\r\nContent-Length: 88\r\n\r\n{\"hashedPhoneNumber\":\"eb491b384e4fda4281634daa211e6e54a4cf7f82baa33a9f35980329e4ad95f3\"}",
	"GET /number-verification/v2/device-phone-number HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN3\r\nAccept: application/json\r\n\r\n",
	"HEAD /number-verification/v2/device-phone-number HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\n\r\n",
	"POST /location-verification/v3/verify HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: 139\r\n\r\n{\"device\":{\"phoneNumber\":\"+34600000003\"},\"area\":{\"areaType\":\"CIRCLE\",\"center\":{\"latitude\":50.7,\"longitude\":7.1},\"radius\":5000},\"maxAge\":30}",
	"POST /location-verification/v3/verify HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: 74\r\n\r\n{\"device\":{\"ipv4Address\":{\"publicAddress\":\"84.125.93.10\",\"publicPort\":1}}}",
	// Encoded delimiters and dot-segments: refused on API paths; under
	// /oauth2/ the answer must stay an OAuth error (found by this fuzzer).
	"POST /oauth2/#0000 HTTP/1.0\n0000:000000000000000000000000000000000000000000000000\n\n000",
	"POST /oauth2/token%2F..%2F HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n",
	"POST /sim-swap/v2/check%3Fx=1 HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\n\r\n",
	"POST /sim-swap/v2/../v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\n\r\n",
	// Oversized URI (414) and header block (431).
	"GET /sim-swap/v2/check?pad=" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n",
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nX-Pad: " + strings.Repeat("h", 17000) + "\r\n\r\n",
	// Bad JSON and bad values.
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"phoneNumber\":\"",
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: 41\r\n\r\n{\"phoneNumber\":\"+34600000001\",\"maxAge\":0}",
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\nnull",
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n[1,2,3.5e]",
	// Bad and odd headers.
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}",
	"POST /sim-swap/v2/check?access_token=$TOKEN HTTP/1.1\r\nHost: gatehouse.test\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer a.b.c\r\nAccept: text/html;q=0.9, application/json;q=0\r\nX-Correlator: not a valid correlator\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: bearer   $TOKEN  \r\nContent-Type: application/json;;;\r\nAccept: */*;q=abc\r\nContent-Length: 2\r\n\r\n{}",
	"PATCH /sim-swap/v2/check/ HTTP/1.1\r\nHost: gatehouse.test\r\nContent-Length: 0\r\n\r\n",
	"POST /sim-swap/v2/%63heck%2F..%2F HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\n\r\n",
	"GET http://gatehouse.test//sim-swap/v2/../v2/check HTTP/1.0\r\n\r\n",
	// Forwarded-for chains from the trusted proxy range.
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nX-Forwarded-For: 6.6.6.6, 198.51.100.1:80, 192.0.2.9\r\nX-Forwarded-For: ::1, junk\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
	// Chunked body.
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"phoneNumber\":\"\r\n1a\r\n+34600000009\",\"maxAge\":24}\r\n0\r\n\r\n",
	"POST /sim-swap/v2/check HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer $TOKEN\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
	// The platform's own endpoints.
	"POST /oauth2/token HTTP/1.1\r\nHost: gatehouse.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials",
	"GET /oauth2/nowhere HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n",
	"DELETE /.well-known/openid-configuration HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n",
	// The portal's paths answer errors as HTML pages from the registry
	// (the fuzzer found the first: an unknown method on the landing page).
	"0 / HTTP/1.0\r\n\r\n",
	"GET /portal/nope HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n",
	"POST /portal/apis HTTP/1.1\r\nHost: gatehouse.test\r\nContent-Length: 0\r\n\r\n",
	"GET /static/style.00000000.css HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n",
	// Encoded slashes route as ServeMux routes them: "/%2F" is the landing
	// page, "/.%2F" a gateway path (both found by this fuzzer).
	"GET /.%2F HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n",
	"0 /%2F HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n",
}

// FuzzGatewayRequest serves arbitrary HTTP requests through the public
// handler of a platform built as serve builds it, with the sandbox APIs.
// Whatever the request, the answer is never a 500, and every error is a
// registry JSON body: CAMARA code and status, or an OAuth error on /oauth2.
//
// Run it for a bounded time with
//
//	go test ./cmd/gatehouse -run XXX -fuzz FuzzGatewayRequest -fuzztime 30s
func FuzzGatewayRequest(f *testing.F) {
	env := map[string]string{
		"GATEHOUSE_DATA_DIR":  f.TempDir(),
		"GATEHOUSE_ISSUER":    "https://gatehouse.test",
		"GATEHOUSE_LOG_LEVEL": "error",
		// The fuzzed requests come from 192.0.2.1: their X-Forwarded-For
		// is read, so its parsing is fuzzed too.
		"GATEHOUSE_TRUSTED_PROXIES": "192.0.2.0/24",
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := open(ctx, "", func(k string) string { return env[k] })
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.store.Close() })
	f.Cleanup(cancel) // runs first: background work stops before the store closes
	rt, err := build(ctx, p, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = rt.close(context.Background(), slog.Default()) })
	handler := rt.srv.Public()

	signer, err := p.Keys.Signer("at+jwt")
	if err != nil {
		f.Fatal(err)
	}
	// The tokens' client must exist and be active, or every input would
	// stop at the client check.
	name := "fuzz app"
	app, err := p.Clients.Create(ctx, oauth.ClientSpec{Name: &name})
	if err != nil {
		f.Fatal(err)
	}
	// The fuzzer sends thousands of requests a second with one app; on the
	// sandbox plan's 10 per second the valid seed would be refused as
	// rate-limited, and no input would reach past the limits. Limits are
	// not what this fuzzes: the app's plan limits nothing.
	unlimited := 0.0
	if _, err := p.Plans.CreatePlan(ctx, "fuzz-unlimited", plans.PlanSpec{RatePerSecond: &unlimited}); err != nil {
		f.Fatal(err)
	}
	for _, api := range []string{"sim-swap", "number-verification", "location-verification"} {
		if _, err := p.Plans.Subscribe(ctx, plans.Operator, app.ClientID, api, "fuzz-unlimited"); err != nil {
			f.Fatal(err)
		}
	}
	mint := func(sub string) []byte {
		now := time.Now()
		claims := map[string]any{
			"iss": p.Config.Issuer, "sub": sub, "aud": []string{p.Config.Issuer},
			"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
			"jti": base64.RawURLEncoding.EncodeToString(randomBytes(16)), "client_id": app.ClientID,
			"scope": "sim-swap sim-swap:check sim-swap:retrieve-date number-verification:verify " +
				"number-verification:device-phone-number:read location-verification:verify",
		}
		payload, _ := json.Marshal(claims)
		jws, err := signer.Sign(payload)
		if err != nil {
			f.Fatal(err)
		}
		s, err := jws.CompactSerialize()
		if err != nil {
			f.Fatal(err)
		}
		return []byte(s)
	}
	token2, token3 := mint(app.ClientID), mint("tel:+34600000001")

	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The first seed is a valid call: if it fails, the harness's
		// tokens no longer pass and the fuzzer explores only refusals.
		validSeed := bytes.Equal(data, []byte(fuzzSeeds[0]))
		data = bytes.ReplaceAll(data, []byte(fuzzToken3), token3)
		data = bytes.ReplaceAll(data, []byte(fuzzToken), token2)
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil || !goServerAccepts(r) {
			return
		}
		r.RemoteAddr = "192.0.2.1:43210"
		r = r.WithContext(context.Background())
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, r)

		res := rec.Result()
		body := rec.Body.Bytes()
		where := fmt.Sprintf("%s %q → %d %s\n%q", r.Method, r.RequestURI, res.StatusCode, body, data)
		if res.StatusCode == http.StatusInternalServerError {
			t.Fatalf("500: %s", where)
		}
		if validSeed && res.StatusCode != http.StatusOK {
			t.Fatalf("the valid seed was refused, so inputs do not reach past authentication: %s", where)
		}
		if res.Header.Get("X-Correlator") == "" {
			t.Errorf("no x-correlator: %s", where)
		}
		if res.StatusCode < 400 || r.Method == http.MethodHead {
			return
		}
		if portalPath(r) {
			// The portal answers its paths with HTML pages built from the
			// registry: the entry's status, and a link to its cause and fix.
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") ||
				!bytes.Contains(body, []byte(`<p class="status-code">`+strconv.Itoa(res.StatusCode)+`</p>`)) ||
				!bytes.Contains(body, []byte("/docs/errors#")) {
				t.Fatalf("a portal error that is not the registry's HTML page: %s", where)
			}
			return
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/problem+json") {
			t.Fatalf("error with Content-Type %q: %s", ct, where)
		}
		var e struct {
			Code   *string  `json:"code"`
			Status *float64 `json:"status"`
			Error  *string  `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("error body is not a JSON object (%v): %s", err, where)
		}
		if strings.HasPrefix(r.URL.Path, "/oauth2/") {
			if e.Error == nil || *e.Error == "" {
				t.Fatalf("OAuth error without `error`: %s", where)
			}
			return
		}
		if e.Code == nil || *e.Code == "" || e.Status == nil || int(*e.Status) != res.StatusCode {
			t.Fatalf("error without CAMARA code and matching status: %s", where)
		}
	})
}

// goServerAccepts reports whether net/http's server would pass a request
// that http.ReadRequest parsed on to its handler: it answers the others
// itself (see readRequest and serverHandler.ServeHTTP in net/http/server.go;
// the checks here are at least as strict as golang.org/x/net/http/httpguts).
func goServerAccepts(r *http.Request) bool {
	// ReadRequest moves the Host header into r.Host. An absolute-form
	// target overrides it, hiding whether the header was sent, so such
	// HTTP/1.1 requests are left out.
	if r.ProtoAtLeast(1, 1) && (r.Host == "" || r.URL.Host != "") {
		return false // 400 missing required Host header
	}
	if !validHost(r.Host) {
		return false // 400 malformed Host header
	}
	for k, vs := range r.Header {
		if !validFieldName(k) {
			return false
		}
		for _, v := range vs {
			if !validFieldValue(v) {
				return false
			}
		}
	}
	if r.Method == "PRI" || r.Method == http.MethodConnect {
		return false // HTTP/2 preface; CONNECT takes another path through the mux
	}
	if r.RequestURI == "*" {
		return false // OPTIONS * is answered by the server itself
	}
	if ex := r.Header.Get("Expect"); ex != "" && !strings.EqualFold(ex, "100-continue") {
		return false // 417
	}
	if r.ProtoMajor != 1 {
		return false
	}
	return true
}

// validFieldName reports whether s is an RFC 9110 token.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c <= ' ' || strings.IndexByte("\"(),/:;<=>?@[\\]{}\x7f", c) >= 0 {
			return false
		}
	}
	return true
}

// validFieldValue rejects control characters other than tab.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost is stricter than the server: letters, digits and . - : [ ].
func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-:[]", c) >= 0) {
			return false
		}
	}
	return true
}

// portalRoutes holds the public listener's portal patterns (see
// server.Public): the fuzz oracle asks a ServeMux which paths are the
// portal's instead of re-deriving its rules, which hold surprises: "/%2F"
// is the landing page (an escaped segment "/" matches "/{$}"), "/.%2F" is not.
var portalRoutes = func() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/{$}", http.NotFoundHandler())
	for _, p := range portal.Paths {
		mux.Handle(p, http.NotFoundHandler())
	}
	return mux
}()

// portalPath reports whether the developer portal answers r.
func portalPath(r *http.Request) bool {
	probe := &http.Request{Method: http.MethodGet, URL: r.URL, Host: r.Host}
	_, pattern := portalRoutes.Handler(probe)
	return pattern != ""
}
