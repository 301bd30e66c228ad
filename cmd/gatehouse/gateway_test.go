package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"gatehouse/internal/keys"
	"gatehouse/internal/store/sqlstore"
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

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// minter signs access tokens with the test server's real signing key, read
// from its store as any node would.
type minter struct {
	t      *testing.T
	issuer string
	keys   *keys.Manager
}

func newMinter(t *testing.T, ts *testServer) *minter {
	t.Helper()
	dir := ts.env["GATEHOUSE_DATA_DIR"]
	st, err := sqlstore.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	secret, err := os.ReadFile(filepath.Join(dir, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	km := &keys.Manager{Store: st, Secret: strings.TrimSpace(string(secret))}
	if err := km.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &minter{t: t, issuer: ts.Issuer, keys: km}
}

// claims returns valid access-token claims for a client; sub is the client
// itself (2-legged) unless set otherwise.
func (m *minter) claims(clientID, scope string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": m.issuer, "sub": clientID, "aud": []string{m.issuer},
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(randomBytes(16)), "client_id": clientID, "scope": scope,
	}
}

// sign signs claims with the server's current key and the given typ.
func (m *minter) sign(typ string, claims map[string]any) string {
	m.t.Helper()
	signer, err := m.keys.Signer(typ)
	if err != nil {
		m.t.Fatal(err)
	}
	return compactJWS(m.t, signer, claims)
}

func compactJWS(t *testing.T, signer jose.Signer, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forged signs claims with a fresh EC key, naming the server's kid.
func (m *minter) forged(claims map[string]any) string {
	m.t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		m.t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", m.keys.CurrentKeyID())
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, opts)
	if err != nil {
		m.t.Fatal(err)
	}
	return compactJWS(m.t, signer, claims)
}

// raw builds a JWS by hand with any header and a signature function, for
// algorithms go-jose refuses to produce (none, HS256 keyed with a public key).
func (m *minter) raw(header map[string]any, claims map[string]any, sign func(input []byte) []byte) string {
	m.t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

// publicKeyPEM is the server's current public key as PEM, the bytes a key
// confusion attack uses as an HMAC key.
func (m *minter) publicKeyPEM() []byte {
	m.t.Helper()
	pub, _, ok := m.keys.PublicKey(m.keys.CurrentKeyID())
	if !ok {
		m.t.Fatal("no current key")
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		m.t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// with returns a copy of claims with the given members set (nil deletes).
func with(claims map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
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

// TestGatewayErrors sends, through the real server on loopback, at least one
// request for every row of the seed page that applies to the gateway (and
// 415, 502, 504), and checks status, CAMARA code, cause, correlator and the
// headers each error owes its caller. It also checks what the upstream is
// sent and that operator changes apply without a restart.
func TestGatewayErrors(t *testing.T) {
	echo := echoUpstream(t, "one")
	echo2 := echoUpstream(t, "two")
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

	ts := startServer(t, func(env map[string]string) { env["GATEHOUSE_UPSTREAM_TIMEOUT"] = "300ms" })
	ts.importAPI(t, echoAPI, "--upstream", echo.URL+"/up", "--name", "echo", "--base-path", "/echo/v1", "--max-body-bytes", "1024")
	ts.importAPI(t, echoAPI, "--upstream", "http://"+dead, "--name", "x", "--base-path", "/x/v1", "--breaker-pause", "10s")
	ts.importAPI(t, echoAPI, "--upstream", slow.URL, "--name", "slow", "--base-path", "/slow/v1")
	ts.importAPI(t, echoAPI, "--upstream", echo.URL+"/up", "--name", "maint", "--base-path", "/maint/v1")
	for _, base := range []string{"/echo/v1", "/x/v1", "/slow/v1", "/maint/v1"} {
		eventually(t, 10*time.Second, base+" served", func() bool {
			resp, _ := ts.send(t, gwRequest{path: base + "/call", body: `{}`})
			return resp.StatusCode == http.StatusUnauthorized
		})
	}

	app := ts.createClient("gateway app", "--scopes",
		"sim-swap:check sim-swap:retrieve-date number-verification:verify location-verification:verify echo:call")
	// Subscribe the app to every API on a plan without limits: this test is
	// about the pipeline's errors, not plans (plans_test.go covers those).
	ts.cli("plans", "create", "--name", "unmetered", "--rate", "0")
	for _, api := range []string{"echo", "x", "slow", "maint", "sim-swap", "number-verification", "location-verification"} {
		ts.cli("subscriptions", "create", "--client", app.ID, "--api", api, "--plan", "unmetered")
	}
	simTok := ts.token(app, "sim-swap:check")
	echoTok := ts.token(app, "echo:call")
	otherTok := ts.token(app, "location-verification:verify")

	eventually(t, 10*time.Second, "the subscriptions to reach the gateway", func() bool {
		resp, _ := ts.send(t, gwRequest{path: "/echo/v1/call", token: echoTok, body: `{}`})
		return resp.StatusCode != http.StatusForbidden
	})

	m := newMinter(t, ts)
	base := m.claims(app.ID, "sim-swap:check")
	threeLegged := m.sign("at+jwt", with(base, "sub", "tel:+34600000001"))
	kid := m.keys.CurrentKeyID()

	// A token that worked, then was revoked through /oauth2/revoke.
	revoked := ts.token(app, "sim-swap:check")
	if resp, b := ts.send(t, gwRequest{path: "/sim-swap/v2/check", token: revoked, body: `{"phoneNumber":"+34600000001"}`}); resp.StatusCode != http.StatusOK {
		t.Fatalf("before revocation: %d %s", resp.StatusCode, b)
	}
	if resp := ts.post("/oauth2/revoke", url.Values{"token": {revoked}}, app.ID, app.Secret); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}

	const (
		check      = "/sim-swap/v2/check"
		valid      = `{"phoneNumber":"+34600000001","maxAge":120}`
		realm      = `Bearer realm="gatehouse"`
		invalidTok = realm + `, error="invalid_token"`
	)
	long := strings.Repeat("a", 9<<10)

	cases := []struct {
		name string
		req  gwRequest
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
		{name: "200 sandbox 2-legged", req: gwRequest{path: check, token: simTok, body: valid}, status: 200,
			success: func(t *testing.T, b []byte) {
				if got, want := strings.TrimSpace(string(b)), `{"swapped":true}`; got != want {
					t.Errorf("body = %s; want %s", got, want)
				}
			}},
		{name: "200 sandbox 3-legged", req: gwRequest{path: check, token: threeLegged, body: `{"maxAge":120}`}, status: 200},
		{name: "200 echo", req: gwRequest{path: "/echo/v1/call", token: echoTok, body: `{"want":0}`}, status: 200},

		// 400
		{name: "400 malformed JSON", req: gwRequest{path: check, token: simTok, body: `{"phoneNumber":`}, status: 400, code: "INVALID_ARGUMENT", cause: "malformed_body"},
		{name: "400 phoneNumber pattern", req: gwRequest{path: check, token: simTok, body: `{"phoneNumber":"0034600000001"}`}, status: 400, code: "INVALID_ARGUMENT", cause: "schema_violation"},
		{name: "400 wrong type", req: gwRequest{path: check, token: simTok, body: `{"phoneNumber":"+34600000001","maxAge":"120"}`}, status: 400, code: "INVALID_ARGUMENT", cause: "schema_violation"},
		{name: "400 missing required body", req: gwRequest{path: check, token: simTok}, status: 400, code: "INVALID_ARGUMENT", cause: "schema_violation"},
		{name: "400 OUT_OF_RANGE maxAge", req: gwRequest{path: check, token: simTok, body: `{"phoneNumber":"+34600000001","maxAge":2401}`}, status: 400, code: "OUT_OF_RANGE", cause: "value_out_of_range"},
		{name: "400 two credentials: header and query", req: gwRequest{path: check + "?access_token=" + simTok, token: simTok, body: valid},
			status: 400, code: "INVALID_ARGUMENT", cause: "multiple_credentials", wwwAuth: realm + `, error="invalid_request"`},
		{name: "400 two Authorization headers", req: gwRequest{path: check, body: valid, header: map[string]string{"Authorization": "Bearer " + simTok + "\nBearer " + simTok}},
			status: 400, code: "INVALID_ARGUMENT", cause: "multiple_credentials", wwwAuth: realm + `, error="invalid_request"`},

		// 401: no token at all is a bare challenge (RFC 6750 §3.1).
		{name: "401 missing token", req: gwRequest{path: check, body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "401 token only in the query", req: gwRequest{path: check + "?access_token=" + simTok, body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		// Another scheme is no bearer token at all: a bare challenge too
		// ("attempted using an unsupported authentication method").
		{name: "401 Basic scheme", req: gwRequest{path: check, body: valid, header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(app.ID+":"+app.Secret))}}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "401 empty bearer", req: gwRequest{path: check, body: valid, header: map[string]string{"Authorization": "Bearer "}}, status: 401, code: "UNAUTHENTICATED", cause: "malformed", wwwAuth: invalidTok},
		{name: "401 malformed abc", req: gwRequest{path: check, token: "abc", body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "malformed", wwwAuth: invalidTok},
		{name: "401 malformed a.b.c", req: gwRequest{path: check, token: "a.b.c", body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "malformed", wwwAuth: invalidTok},
		{name: "401 expired", req: gwRequest{path: check, body: valid, token: m.sign("at+jwt", with(base,
			"iat", time.Now().Add(-2*time.Hour).Unix(), "exp", time.Now().Add(-time.Hour).Unix()))},
			status: 401, code: "UNAUTHENTICATED", cause: "expired", wwwAuth: invalidTok},
		{name: "401 not yet valid", req: gwRequest{path: check, body: valid, token: m.sign("at+jwt", with(base,
			"nbf", time.Now().Add(10*time.Minute).Unix(), "exp", time.Now().Add(time.Hour).Unix()))},
			status: 401, code: "UNAUTHENTICATED", cause: "not_yet_valid", wwwAuth: invalidTok},
		{name: "401 revoked", req: gwRequest{path: check, token: revoked, body: valid}, status: 401, code: "UNAUTHENTICATED", cause: "revoked", wwwAuth: invalidTok},
		{name: "401 wrong issuer", req: gwRequest{path: check, body: valid, token: m.sign("at+jwt", with(base, "iss", "https://evil.example"))},
			status: 401, code: "UNAUTHENTICATED", cause: "wrong_issuer", wwwAuth: invalidTok},
		{name: "401 wrong audience", req: gwRequest{path: check, body: valid, token: m.sign("at+jwt", with(base, "aud", []string{"https://other.example"}))},
			status: 401, code: "UNAUTHENTICATED", cause: "wrong_audience", wwwAuth: invalidTok},
		{name: "401 forged signature with the right kid", req: gwRequest{path: check, body: valid, token: m.forged(base)},
			status: 401, code: "UNAUTHENTICATED", cause: "bad_signature", wwwAuth: invalidTok},
		{name: "401 alg none", req: gwRequest{path: check, body: valid, token: m.raw(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}, base,
			func([]byte) []byte { return nil })},
			status: 401, code: "UNAUTHENTICATED", cause: "bad_signature", wwwAuth: invalidTok},
		{name: "401 HS256 keyed with the public key", req: gwRequest{path: check, body: valid, token: m.raw(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, base,
			func(in []byte) []byte {
				mac := hmac.New(sha256.New, m.publicKeyPEM())
				mac.Write(in)
				return mac.Sum(nil)
			})},
			status: 401, code: "UNAUTHENTICATED", cause: "bad_signature", wwwAuth: invalidTok},
		{name: "401 typ JWT instead of at+jwt", req: gwRequest{path: check, body: valid, token: m.sign("JWT", base)},
			status: 401, code: "UNAUTHENTICATED", cause: "wrong_token_type", wwwAuth: invalidTok},
		{name: "401 no jti", req: gwRequest{path: check, body: valid, token: m.sign("at+jwt", with(base, "jti", nil))},
			status: 401, code: "UNAUTHENTICATED", cause: "malformed", wwwAuth: invalidTok},

		// 403
		{name: "403 scope of another API", req: gwRequest{path: check, token: otherTok, body: valid}, status: 403, code: "PERMISSION_DENIED", cause: "scope_missing",
			wwwAuth: realm + `, error="insufficient_scope", scope="sim-swap:check"`},
		{name: "403 echo scope on the sandbox", req: gwRequest{path: "/sim-swap/v2/retrieve-date", token: echoTok, body: `{"phoneNumber":"+34600000001"}`}, status: 403, code: "PERMISSION_DENIED", cause: "scope_missing",
			wwwAuth: realm + `, error="insufficient_scope", scope="sim-swap:retrieve-date"`},

		// 404
		{name: "404 no API there", req: gwRequest{path: "/nothing/v1/check", token: simTok, body: valid}, status: 404, code: "NOT_FOUND", cause: "unknown_path"},
		{name: "404 unknown operation of an API", req: gwRequest{path: "/sim-swap/v2/teleport", token: simTok, body: valid}, status: 404, code: "NOT_FOUND", cause: "unknown_path"},
		{name: "404 trailing slash", req: gwRequest{path: check + "/", token: simTok, body: valid}, status: 404, code: "NOT_FOUND", cause: "unknown_path"},
		{name: "404 another major version", req: gwRequest{path: "/sim-swap/v1/check", token: simTok, body: valid}, status: 404, code: "NOT_FOUND", cause: "api_version_unknown"},

		// 405
		{name: "405 GET on a POST operation", req: gwRequest{method: http.MethodGet, path: check, token: simTok}, status: 405, code: "METHOD_NOT_ALLOWED", cause: "method_not_supported", allow: "POST"},
		{name: "405 PUT", req: gwRequest{method: http.MethodPut, path: check, token: simTok, body: valid}, status: 405, code: "METHOD_NOT_ALLOWED", cause: "method_not_supported", allow: "POST"},
		{name: "405 POST on a GET operation", req: gwRequest{path: "/number-verification/v2/device-phone-number", token: simTok, body: `{}`}, status: 405, code: "METHOD_NOT_ALLOWED", cause: "method_not_supported", allow: "GET, HEAD"},

		// 406
		{name: "406 Accept text/html", req: gwRequest{path: check, token: simTok, body: valid, header: map[string]string{"Accept": "text/html"}}, status: 406, code: "NOT_ACCEPTABLE", cause: "accept_unsatisfiable"},
		{name: "406 JSON with q=0", req: gwRequest{path: check, token: simTok, body: valid, header: map[string]string{"Accept": "application/json;q=0, text/plain"}}, status: 406, code: "NOT_ACCEPTABLE", cause: "accept_unsatisfiable"},

		// 413 (the echo API accepts 1024 bytes)
		{name: "413 declared Content-Length", req: gwRequest{path: "/echo/v1/call", token: echoTok, body: `{"pad":"` + strings.Repeat("p", 2048) + `"}`},
			status: 413, code: "PAYLOAD_TOO_LARGE", cause: "declared_too_large"},
		{name: "413 streamed chunked body", req: gwRequest{path: "/echo/v1/call", token: echoTok, body: `chunked:{"pad":"` + strings.Repeat("p", 2048) + `"}`},
			status: 413, code: "PAYLOAD_TOO_LARGE", cause: "body_too_large"},

		// 414 and 431, answered before routing.
		{name: "414 long URI", req: gwRequest{path: check + "?pad=" + long, token: simTok, body: valid}, status: 414, code: "URI_TOO_LONG", cause: "uri_too_long"},
		{name: "431 large header", req: gwRequest{path: check, token: simTok, body: valid, header: map[string]string{"X-Pad": strings.Repeat("h", 17<<10)}},
			status: 431, code: "HEADER_FIELDS_TOO_LARGE", cause: "headers_too_large"},

		// 415
		{name: "415 text/plain", req: gwRequest{path: check, token: simTok, body: valid, contentType: "text/plain"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE", cause: "content_type_unsupported"},
		{name: "415 form", req: gwRequest{path: check, token: simTok, body: "phoneNumber=%2B34600000001", contentType: "application/x-www-form-urlencoded"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE", cause: "content_type_unsupported"},
		{name: "415 no Content-Type", req: gwRequest{path: check, token: simTok, body: valid, contentType: "-"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE", cause: "content_type_missing"},

		// 422: CAMARA's identifier rules.
		{name: "422 MISSING_IDENTIFIER with a 2-legged token", req: gwRequest{path: check, token: simTok, body: `{"maxAge":120}`}, status: 422, code: "MISSING_IDENTIFIER", cause: "identifier_missing"},
		{name: "422 UNNECESSARY_IDENTIFIER with a 3-legged token", req: gwRequest{path: check, token: threeLegged, body: valid}, status: 422, code: "UNNECESSARY_IDENTIFIER", cause: "identifier_in_token"},

		// Upstream errors pass through unchanged.
		{name: "500 upstream's own error", req: gwRequest{path: "/echo/v1/call", token: echoTok, body: `{"want":500}`}, status: 500, code: "INTERNAL", upstream: true, passthrough: upstreamErrors[500]},
		{name: "404 upstream's own error", req: gwRequest{path: "/echo/v1/call", token: echoTok, body: `{"want":404}`}, status: 404, code: "IDENTIFIER_NOT_FOUND", upstream: true, passthrough: upstreamErrors[404]},
		{name: "404 sandbox's own error", req: gwRequest{path: check, token: simTok, body: `{"phoneNumber":"+34600000004"}`}, status: 404, code: "IDENTIFIER_NOT_FOUND", upstream: true},

		// 502, then 503 once the circuit opens after 5 refusals.
		{name: "502 upstream refuses connections", req: gwRequest{path: "/x/v1/call", token: echoTok, body: `{}`}, status: 502, code: "BAD_GATEWAY", cause: "connection_refused"},
		{name: "503 circuit open", before: func(t *testing.T) {
			for i := 2; i <= 5; i++ {
				resp, b := ts.send(t, gwRequest{path: "/x/v1/call", token: echoTok, body: `{}`})
				if resp.StatusCode != http.StatusBadGateway {
					t.Fatalf("refusal %d: %d %s; want 502", i, resp.StatusCode, b)
				}
			}
		}, req: gwRequest{path: "/x/v1/call", token: echoTok, body: `{}`}, status: 503, code: "UNAVAILABLE", cause: "circuit_open", retryAfter: "≤10"},

		// 503 maintenance, set through the CLI while serving.
		{name: "503 maintenance", before: func(t *testing.T) {
			ts.cli("apis", "update", "maint", "--status", "maintenance")
			eventually(t, 10*time.Second, "maint in maintenance", func() bool {
				resp, _ := ts.send(t, gwRequest{path: "/maint/v1/call", token: echoTok, body: `{}`})
				return resp.StatusCode == http.StatusServiceUnavailable
			})
		}, req: gwRequest{path: "/maint/v1/call", token: echoTok, body: `{}`}, status: 503, code: "UNAVAILABLE", cause: "maintenance", retryAfter: "60"},

		// 504
		{name: "504 slow upstream", req: gwRequest{path: "/slow/v1/call", token: echoTok, body: `{}`}, status: 504, code: "TIMEOUT", cause: "upstream_timeout"},

		// Correlators: generated when absent or invalid, echoed when valid.
		{name: "correlator generated when absent", req: gwRequest{path: check, body: valid, correlator: "-"}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "correlator replaced when invalid", req: gwRequest{path: check, body: valid, correlator: "not valid!"}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
		{name: "correlator with CAMARA punctuation", req: gwRequest{path: check, body: valid, correlator: "a-b_c:d;e.f/g<h>{i}"}, status: 401, code: "UNAUTHENTICATED", cause: "missing_token", wwwAuth: realm},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
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
			if tc.status < 400 {
				if tc.success != nil {
					tc.success(t, b)
				}
				return
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
				if e.Cause == nil || e.Cause.ID != tc.cause {
					t.Errorf("cause = %+v; want %q (body %s)", e.Cause, tc.cause, b)
				}
				if e.Correlator != hdrCorr {
					t.Errorf("body correlator %q differs from x-correlator %q", e.Correlator, hdrCorr)
				}
				if e.Type == "" || e.Title == "" || e.Detail == "" || e.Fix == "" || e.Instance != strings.SplitN(req.path, "?", 2)[0] {
					t.Errorf("problem details incomplete (type, title, detail, fix, instance): %s", b)
				}
			}
			checkWWWAuthenticate(t, resp.Header.Values("WWW-Authenticate"), tc.wwwAuth)
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
			resp, b := ts.send(t, gwRequest{path: "/echo/v1/call?q=1", token: tc.token, body: `{"want":0}`, correlator: "fwd-1", header: map[string]string{
				"X-Gatehouse-Client-Id": "someone-else", "X-Gatehouse-Subject": "+34999999999", "X-Custom": "kept",
			}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, b)
			}
			var got echoed
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v: %s", tc.name, err, b)
			}
			h := got.Header
			if v := h.Values("X-Gatehouse-Client-Id"); len(v) != 1 || v[0] != app.ID {
				t.Errorf("%s: upstream got X-Gatehouse-Client-Id %q; want only %q", tc.name, v, app.ID)
			}
			if v := h.Values("X-Gatehouse-Subject"); (tc.subject == "" && len(v) != 0) || (tc.subject != "" && (len(v) != 1 || v[0] != tc.subject)) {
				t.Errorf("%s: upstream got X-Gatehouse-Subject %q; want %q", tc.name, v, tc.subject)
			}
			if v := h.Values("Authorization"); len(v) != 0 {
				t.Errorf("%s: the access token was forwarded: %q", tc.name, v)
			}
			if got, want := h.Get("X-Correlator"), "fwd-1"; got != want {
				t.Errorf("%s: upstream got x-correlator %q; want %q", tc.name, got, want)
			}
			if got, want := h.Get("X-Custom"), "kept"; got != want {
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

	t.Run("apis update and delete apply without restart", func(t *testing.T) {
		call := func() (*http.Response, []byte) {
			return ts.send(t, gwRequest{path: "/echo/v1/call", token: echoTok, body: `{}`, correlator: "upd-1"})
		}
		ts.cli("apis", "update", "echo", "--upstream", echo2.URL+"/up")
		eventually(t, 10*time.Second, "echo served by the new upstream", func() bool {
			resp, _ := call()
			return resp.Header.Get("X-Upstream") == "two"
		})
		ts.cli("apis", "update", "maint", "--status", "live")
		eventually(t, 10*time.Second, "maint out of maintenance", func() bool {
			resp, _ := ts.send(t, gwRequest{path: "/maint/v1/call", token: echoTok, body: `{}`})
			return resp.StatusCode == http.StatusOK
		})
		ts.cli("apis", "delete", "echo")
		eventually(t, 10*time.Second, "echo gone", func() bool {
			resp, _ := call()
			return resp.StatusCode == http.StatusNotFound
		})
		resp, b := call()
		var e gatewayError
		if err := json.Unmarshal(b, &e); err != nil || e.Code != "NOT_FOUND" || e.Cause == nil || e.Cause.ID != "unknown_path" {
			t.Errorf("after delete: %d %s; want 404 NOT_FOUND unknown_path", resp.StatusCode, b)
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
