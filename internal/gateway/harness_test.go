package gateway_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"gatehouse/internal/gateway"
	"gatehouse/internal/keys"
	"gatehouse/internal/oauth"
	"gatehouse/internal/plans"
	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/store/sqlstore"
)

// harness is the gateway as gatehouse serves it, without the platform's
// front (internal/server): a SQLite store in a test directory, the
// built-in sandbox APIs and default plans, the authorization server's
// token, revocation and verification of real signed access tokens, and
// the gateway on loopback, reached over real HTTP.
//
// Requests pass correlate, a stand-in for the front's correlator, then
// Gateway.Front, whose platform is a ServeMux with /oauth2/token,
// /oauth2/revoke and the gateway as catch-all, as in production. What only
// the front does (URI and header limits, correlator rules, trusted
// proxies, body deadlines, Go's own refusals, metrics) is tested in
// cmd/gatehouse.
type harness struct {
	t *testing.T
	// URL is the gateway's base URL, also the issuer and audience of
	// access tokens; Addr is its host:port.
	URL, Addr string

	Store   *sqlstore.DB
	Keys    *keys.Manager
	OAuth   *oauth.Server
	Gateway *gateway.Gateway
	// APIs has no OnChange: changes reach the gateway as the CLI's do,
	// through its polling, unless the test calls reload.
	APIs    *gateway.APIManager
	Plans   *plans.Manager
	Clients *oauth.ClientManager
}

// newHarness starts a harness; tweak, when set, changes the gateway's
// configuration before it is built. Everything stops at the end of the
// test.
func newHarness(t *testing.T, tweak func(*gateway.Config)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t.Cleanup(cancel) // before the store closes
	secret := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	km := &keys.Manager{Store: st, Secret: secret}
	if err := km.Load(ctx); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(nil)
	h := &harness{t: t, Addr: srv.Listener.Addr().String(), Store: st, Keys: km}
	h.URL = "http://" + h.Addr
	logger := slog.New(slog.DiscardHandler)
	render := &problem.Renderer{DocsURL: h.URL + "/docs/errors", Logger: logger}

	h.OAuth = oauth.NewServer(oauth.Config{Issuer: h.URL, Store: st, Keys: km, Render: render, Secret: secret, Logger: logger})
	if err := h.OAuth.Run(ctx); err != nil {
		t.Fatal(err)
	}
	h.Clients = &oauth.ClientManager{Store: st, OnChange: h.OAuth.ForgetClient}
	h.APIs = &gateway.APIManager{Store: st, Secret: secret}
	for _, d := range sandbox.Definitions() {
		if _, err := h.APIs.Import(ctx, d.Document, gateway.ImportOptions{Name: d.Name, BasePath: d.BasePath, Upstream: gateway.SandboxUpstream}); err != nil {
			t.Fatalf("mounting the sandbox API %s: %v", d.Name, err)
		}
	}

	cfg := gateway.Config{
		APIs: st, Tokens: bearer{h.OAuth}, Render: render, Sandbox: sandbox.Handler(),
		Access: st, SandboxPlan: plans.Sandbox, Limiter: ratelimit.NewMemory(),
		PortalURL: h.URL, Secret: secret, Logger: logger,
		// Operators' changes arrive by polling, as from the CLI; a short
		// period keeps the tests that wait for one short.
		ReloadEvery: 20 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h.Gateway = gateway.New(cfg)
	if err := h.Gateway.Run(ctx); err != nil {
		t.Fatal(err)
	}
	h.OAuth.SetKnownScopes(func(s string) bool { return slices.Contains(oauth.PlatformScopes, s) || h.Gateway.KnownScope(s) })
	h.Plans = &plans.Manager{Store: st, OnChange: h.Gateway.InvalidateAccess}
	if err := h.Plans.SeedDefaults(ctx); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle(oauth.PathToken, h.OAuth.Token())
	mux.Handle(oauth.PathRevoke, h.OAuth.Revoke())
	mux.Handle("/", h.Gateway)
	srv.Config.Handler = correlate(h.Gateway.Front(mux))
	srv.Start()
	t.Cleanup(srv.Close) // first: no request outlives the store
	return h
}

// bearer adapts the authorization server's verification to the gateway,
// as server.Bearer does in production (the gateway's tests may not import
// internal/server; keep the two in step).
type bearer struct{ as *oauth.Server }

func (b bearer) VerifyBearer(raw string) (gateway.Caller, *problem.Error) {
	c, p := b.as.VerifyAccessToken(raw)
	if p != nil {
		return gateway.Caller{}, p
	}
	g := gateway.Caller{ClientID: c.ClientID, Subject: c.Subject, Scopes: c.Scopes()}
	if u, ok := b.as.UserOf(c); ok {
		g.Line = u.Line
	}
	return g, nil
}

var _ gateway.TokenVerifier = bearer{}

// correlate stands for the platform's front, which gives every request a
// correlator before the gateway sees it: here the client's x-correlator
// when it sent one, else a new one. The front's own rules (which values
// it keeps) are tested in cmd/gatehouse.
func correlate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Correlator")
		if id == "" {
			id = problem.NewCorrelator()
		}
		w.Header().Set("X-Correlator", id)
		next.ServeHTTP(w, r.WithContext(problem.WithCorrelator(r.Context(), id)))
	})
}

// reload makes the gateway read its APIs now rather than at its next poll.
func (h *harness) reload() {
	h.t.Helper()
	if err := h.Gateway.Reload(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// importAPI imports a document as the CLI's `apis import` does and
// reloads the gateway, so the API is served on return.
func (h *harness) importAPI(doc string, o gateway.ImportOptions) {
	h.t.Helper()
	if _, err := h.APIs.Import(context.Background(), []byte(doc), o); err != nil {
		h.t.Fatalf("importing %s: %v", o.Name, err)
	}
	h.reload()
}

// updateAPI changes an API as the CLI's `apis update` does: the gateway
// sees the change at its next poll.
func (h *harness) updateAPI(t *testing.T, name string, u gateway.APIUpdate) {
	t.Helper()
	if _, err := h.APIs.Update(context.Background(), name, u); err != nil {
		t.Fatalf("updating %s: %v", name, err)
	}
}

// client is a registered client's credentials.
type client struct{ ID, Secret string }

// createClient registers a client_credentials client allowed scopes.
func (h *harness) createClient(name string, scopes ...string) client {
	h.t.Helper()
	v, err := h.Clients.Create(context.Background(), oauth.ClientSpec{Name: &name, Scopes: &scopes})
	if err != nil {
		h.t.Fatal(err)
	}
	return client{ID: v.ClientID, Secret: v.ClientSecret}
}

// subscribeUnmetered subscribes c to every API named on the plan
// "unmetered" (no rate, no quota), creating the plan on first use: the
// tests here are about the pipeline, not plans.
func (h *harness) subscribeUnmetered(c client, apis ...string) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.Plans.GetPlan(ctx, "unmetered"); err != nil {
		rate := 0.0
		if _, err := h.Plans.CreatePlan(ctx, "unmetered", plans.PlanSpec{RatePerSecond: &rate}); err != nil {
			h.t.Fatal(err)
		}
	}
	for _, api := range apis {
		if _, err := h.Plans.Subscribe(ctx, c.ID, api, "unmetered"); err != nil {
			h.t.Fatalf("subscribing to %s: %v", api, err)
		}
	}
}

// post sends a form to the platform's OAuth endpoints with Basic
// credentials.
func (h *harness) post(path string, form url.Values, c client) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// token gets a client_credentials access token from the token endpoint.
func (h *harness) token(c client, scope string) string {
	h.t.Helper()
	resp := h.post(oauth.PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, c)
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		h.t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	return body.AccessToken
}

// revoke revokes a token through /oauth2/revoke.
func (h *harness) revoke(c client, tok string) {
	h.t.Helper()
	resp := h.post(oauth.PathRevoke, url.Values{"token": {tok}}, c)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

// gwRequest is one request to the gateway.
type gwRequest struct {
	method string            // default POST
	path   string            // with query
	body   string            // "chunked:" prefix: sent with unknown length
	token  string            // bearer token; "" sends none
	header map[string]string // extra headers, set after the defaults
	// contentType defaults to application/json when there is a body; "-"
	// sends none.
	contentType string
	// correlator is the x-correlator sent; "" sends none.
	correlator string
}

// send performs r and returns the response with its body read.
func (h *harness) send(t *testing.T, r gwRequest) (*http.Response, []byte) {
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
	req, err := http.NewRequest(method, h.URL+r.path, body)
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
	if r.correlator != "" {
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

// rawExchange writes req on a new connection to the gateway and reads one
// response, its body in full: for request-targets and header spellings
// net/http's client would not send.
func (h *harness) rawExchange(t *testing.T, req string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		line, _, _ := strings.Cut(req, "\r\n")
		t.Fatalf("reading the response to %q: %v", line, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
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

// gwCause is the status, CAMARA code and cause id of a gateway answer
// (empty code and cause for an upstream's own body).
func gwCause(resp *http.Response, b []byte) (int, string, string) {
	var p struct {
		Code  string `json:"code"`
		Cause struct {
			ID string `json:"id"`
		} `json:"cause"`
	}
	_ = json.Unmarshal(b, &p)
	return resp.StatusCode, p.Code, p.Cause.ID
}

// eventually polls cond until it holds or the deadline passes. It is for
// effects that are asynchronous by design (an operator's change reaching
// the gateway at its next poll, a breaker's pause ending), never for
// timing assertions.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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

// recorded is one request as the upstream received it.
type recorded struct {
	method string
	target string // the request-target, as sent on the wire
	path   string // the decoded path
	header http.Header
	body   string
}

// recorder is an upstream that records every request it receives and
// answers with hop-by-hop headers the gateway must not pass on.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{method: r.Method, target: r.RequestURI, path: r.URL.Path,
			header: r.Header.Clone(), body: string(body)})
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "X-Hop-Resp")
		w.Header().Set("X-Hop-Resp", "secret")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Kept-Resp", "yes")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(rec.Close)
	return rec
}

// take returns the requests recorded since the last call.
func (rec *recorder) take() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.reqs
	rec.reqs = nil
	return out
}

// requests returns every request recorded since the last take, as
// "METHOD path body", without taking them.
func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]string, len(rec.reqs))
	for i, r := range rec.reqs {
		out[i] = r.method + " " + r.path + " " + r.body
	}
	return out
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

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// minter signs access tokens with the harness's real signing key, for
// claims the token endpoint would never issue.
type minter struct {
	t      *testing.T
	issuer string
	keys   *keys.Manager
}

func (h *harness) minter() *minter { return &minter{t: h.t, issuer: h.URL, keys: h.Keys} }

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

// sign signs claims with the current key and the given typ.
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

// forged signs claims with a fresh EC key, naming the current kid.
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

// publicKeyPEM is the current public key as PEM, the bytes a key
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
