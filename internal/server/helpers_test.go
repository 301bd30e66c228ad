package server

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/config"
	"gatehouse/internal/health"
	"gatehouse/internal/oauth"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/testproc"
)

// testPlatform is a platform built as `gatehouse serve` builds it
// (OpenParts, then Build) over real parts: a real store (SQLite in a
// temporary directory unless the configuration names another database),
// real signing keys, the in-memory limiter (without serve's saving of its
// quota counts, which cmd/gatehouse tests across restarts). Its public and
// admin handlers are served by httptest on loopback the way serve serves
// them (NewHTTPServer on Listener). It stops at the end of the test.
type testPlatform struct {
	t     *testing.T
	cfg   config.Config
	parts *Parts
	// Issuer is the public listener's base URL, Admin the admin one's.
	Issuer, Admin string
	// logs is the platform's log: warnings and errors, unless the
	// configuration asks for more.
	logs *testproc.Buffer
}

// newTestPlatform builds and serves a platform on the defaults, with its
// own data directory; tweak, when not nil, changes the configuration
// first.
func newTestPlatform(t *testing.T, tweak func(c *config.Config)) *testPlatform {
	t.Helper()
	public, admin := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PublicAddr, cfg.AdminAddr = public.Listener.Addr().String(), admin.Listener.Addr().String()
	cfg.Issuer = "http://" + cfg.PublicAddr
	cfg.LogLevel = "warn"
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.EnsureSecrets(); err != nil {
		t.Fatal(err)
	}

	// Cleanups run last-registered first: the listeners stop, then the
	// last usage counts are written, then background work stops, and the
	// store closes last.
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlstore.Open(ctx, cfg.Database())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t.Cleanup(cancel)
	tracker := health.NewTracker(nil)
	st.Timeout = cfg.StoreTimeout
	st.Observe = tracker.ObserveStore
	parts, err := OpenParts(ctx, cfg, st, tracker)
	if err != nil {
		t.Fatal(err)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	logs := &testproc.Buffer{}
	pl, err := Build(ctx, parts, ratelimit.NewMemory(), slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.UsageFlushTimeout)
		defer cancel()
		if err := pl.Usage.Close(ctx); err != nil {
			t.Errorf("writing the last usage counts: %v", err)
		}
	})

	drain := &Drain{Grace: cfg.ShutdownIdleGrace}
	errorLog := log.New(logs, "", 0)
	for _, l := range []struct {
		hs *httptest.Server
		h  http.Handler
	}{{public, pl.Server.Public()}, {admin, pl.Server.Admin()}} {
		l.hs.Config = NewHTTPServer(l.h, errorLog, drain)
		l.hs.Listener = Listener(drain.Listener(l.hs.Listener), pl.Render)
		l.hs.Start()
		t.Cleanup(l.hs.Close)
	}
	return &testPlatform{t: t, cfg: cfg, parts: parts, Issuer: public.URL, Admin: admin.URL, logs: logs}
}

// adminToken is the admin token the platform generated in its data
// directory (or the one the configuration set).
func (tp *testPlatform) adminToken() string { return tp.cfg.AdminToken }

// client is a registered client's credentials.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient registers a confidential client with the given scopes
// through the manager that `gatehouse clients create` calls.
func (tp *testPlatform) createClient(name string, scopes ...string) client {
	tp.t.Helper()
	spec := oauth.ClientSpec{Name: &name}
	if len(scopes) > 0 {
		spec.Scopes = &scopes
	}
	v, err := tp.parts.Clients.Create(context.Background(), spec)
	if err != nil {
		tp.t.Fatalf("creating the client %q: %v", name, err)
	}
	return client{ID: v.ClientID, Secret: v.ClientSecret}
}

// adminCall sends a request to the admin listener. token "" sends no
// Authorization; contentType "" sends none.
func (tp *testPlatform) adminCall(method, path, token, contentType, body string) (*http.Response, []byte) {
	tp.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, tp.Admin+path, rd)
	if err != nil {
		tp.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tp.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tp.t.Fatal(err)
	}
	return resp, b
}

// post sends a form to a public path with optional Basic credentials and
// headers; "" for id skips Basic.
func (tp *testPlatform) post(path string, form url.Values, id, secret string, headers ...string) *http.Response {
	tp.t.Helper()
	req, err := http.NewRequest(http.MethodPost, tp.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		tp.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tp.t.Fatal(err)
	}
	return resp
}

// token gets a client_credentials access token with Basic auth.
func (tp *testPlatform) token(c client, scope string) string {
	tp.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp := tp.post("/oauth2/token", form, c.ID, c.Secret)
	var body map[string]any
	decode(tp.t, resp, &body)
	if resp.StatusCode != http.StatusOK {
		tp.t.Fatalf("token: %d %v", resp.StatusCode, body)
	}
	return body["access_token"].(string)
}

// tokenStatus requests a client_credentials token and returns the status
// and the decoded body.
func (tp *testPlatform) tokenStatus(id, secret string) (int, map[string]any, http.Header) {
	tp.t.Helper()
	resp := tp.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, id, secret)
	var body map[string]any
	decode(tp.t, resp, &body)
	return resp.StatusCode, body, resp.Header
}

// gwRequest is one request to the public listener.
type gwRequest struct {
	method string // default POST
	path   string // with query
	body   string // sent as application/json when set
	token  string // sent as Authorization: Bearer <token> when set
}

// send performs r and returns the response with its body read.
func (tp *testPlatform) send(t *testing.T, r gwRequest) (*http.Response, []byte) {
	t.Helper()
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(method, tp.Issuer+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
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

// gatewayError is the body of a gateway error: CAMARA ErrorInfo and RFC
// 9457 problem details at once.
type gatewayError struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Cause  *struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	} `json:"cause"`
}

// oauthError is an RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	URI         string `json:"error_uri"`
	Cause       string `json:"cause"`
	Correlator  string `json:"correlator"`
}

// checkProblem checks an RFC 9457 admin error: status, content type, every
// member gatehouse promises, the registry key (code) and, when not "", the
// cause. It returns the decoded body.
func checkProblem(t testing.TB, what string, resp *http.Response, body []byte, status int, code, cause string) map[string]any {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d; want %d (body %s)", what, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q; want application/problem+json", what, ct)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Errorf("%s: body is not JSON: %q", what, body)
		return nil
	}
	for _, k := range []string{"type", "title", "detail", "instance", "code", "fix", "correlator"} {
		if s, _ := p[k].(string); s == "" {
			t.Errorf("%s: member %q missing or empty in %s", what, k, body)
		}
	}
	if st, _ := p["status"].(float64); int(st) != resp.StatusCode {
		t.Errorf("%s: status member %v; want %d", what, p["status"], resp.StatusCode)
	}
	c, _ := p["cause"].(map[string]any)
	if id, _ := c["id"].(string); id == "" {
		t.Errorf("%s: cause.id missing in %s", what, body)
	} else if cause != "" && id != cause {
		t.Errorf("%s: cause.id %q; want %q", what, id, cause)
	}
	if text, _ := c["text"].(string); text == "" {
		t.Errorf("%s: cause.text missing in %s", what, body)
	}
	if p["code"] != code {
		t.Errorf("%s: code %v; want %q", what, p["code"], code)
	}
	if typ, _ := p["type"].(string); !strings.Contains(typ, "/docs/errors#"+code) {
		t.Errorf("%s: type %q; want the troubleshooting anchor of %s", what, typ, code)
	}
	if corr := resp.Header.Get("X-Correlator"); corr == "" || corr != p["correlator"] {
		t.Errorf("%s: X-Correlator %q vs body correlator %v", what, corr, p["correlator"])
	}
	return p
}

func unmarshalT(t testing.TB, what string, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: body is not the expected JSON: %v: %q", what, err, b)
	}
}

// decode reads a JSON body into v and closes it.
func decode(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v: %q", resp.Request.Method, resp.Request.URL.Path, err, b)
	}
}

// eventually polls cond until it holds or the deadline passes. It is for
// effects that are asynchronous by design (usage reaching the store, a
// statement reaching a lock), never for timing assertions.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kidOf returns the key ID in a signed token's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Headers[0].KeyID
}
