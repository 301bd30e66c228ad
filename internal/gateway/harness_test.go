package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
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
	"gatehouse/internal/testhttp"
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
		if _, err := h.Plans.Subscribe(ctx, plans.Operator, c.ID, api, "unmetered"); err != nil {
			h.t.Fatalf("subscribing to %s: %v", api, err)
		}
	}
}

// post sends a form to the platform's OAuth endpoints with Basic
// credentials.
func (h *harness) post(path string, form url.Values, c client) *http.Response {
	h.t.Helper()
	return testhttp.PostForm(h.t, h.URL+path, form, c.ID, c.Secret)
}

// token gets a client_credentials access token from the token endpoint.
func (h *harness) token(c client, scope string) string {
	h.t.Helper()
	return testhttp.Token(h.t, h.URL, c.ID, c.Secret, scope)
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

// send performs r on the gateway (testhttp.Send).
func (h *harness) send(t *testing.T, r testhttp.Request) (*http.Response, []byte) {
	t.Helper()
	return testhttp.Send(t, h.URL, r)
}

// rawExchange writes req on a new connection to the gateway and reads one
// response (testhttp.RawExchange): for request-targets and header
// spellings net/http's client would not send.
func (h *harness) rawExchange(t *testing.T, req string) (*http.Response, []byte) {
	t.Helper()
	resp, body, _ := testhttp.RawExchange(t, h.Addr, req, false)
	return resp, body
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
