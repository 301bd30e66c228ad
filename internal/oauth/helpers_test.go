package oauth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/keys"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
)

// lowerArgon2 makes password hashing cheap for the tests (the dummy hash
// of unknown users included); production keeps DefaultArgon2Params.
var lowerArgon2 sync.Once

var testArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1}

// authzClock is a settable clock, safe to read from handler goroutines.
type authzClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *authzClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *authzClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts authorization codes written, so tests can check
// that a failed request issued nothing.
type countingStore struct {
	*sqlstore.DB
	codes atomic.Int32
}

func (c *countingStore) CreateAuthCode(ctx context.Context, ac *store.AuthCode) error {
	c.codes.Add(1)
	return c.DB.CreateAuthCode(ctx, ac)
}

// authzEnv is a Server on a real SQLite store, serving AuthorizeRoutes over
// real HTTP, and a browser: a client with a cookie jar that does not follow
// redirects.
type authzEnv struct {
	t       *testing.T
	st      *countingStore
	srv     *Server
	ts      *httptest.Server
	browser *http.Client
	clock   *authzClock
	users   *UserManager
}

const (
	appRedirect    = "https://app.example/cb?tenant=1"
	spaRedirect    = "http://localhost:9000/cb"
	testPassword   = "correct horse battery"
	testChallenge  = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" // RFC 7636 appendix B
	testSecret     = "test system secret, long enough to be realistic"
	testUsername   = "alice"
	testPhone      = "+34600000001"
	otherUsername  = "bob"
	otherPhone     = "+34600000002"
	appScopes      = "openid phone sim-swap:check"
	sessionPattern = "gh_session="
)

func newAuthzEnv(t *testing.T, tweak func(*Config)) *authzEnv {
	t.Helper()
	lowerArgon2.Do(func() { DefaultArgon2Params = testArgon2 })
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := &countingStore{DB: db}
	km := &keys.Manager{Store: db, Secret: testSecret}
	if err := km.Load(ctx); err != nil {
		t.Fatal(err)
	}
	clock := &authzClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	cfg := Config{
		Issuer:       ts.URL,
		Store:        st,
		Keys:         km,
		Secret:       testSecret,
		NetworkLogin: true,
		KnownScopes:  func(s string) bool { return s == "device-location:read" },
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:          clock.Now,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := NewServer(cfg)
	srv.AuthorizeRoutes(mux)
	e := &authzEnv{t: t, st: st, srv: srv, ts: ts, clock: clock,
		users: &UserManager{Store: db, Params: testArgon2, Now: clock.Now}}
	e.browser = e.newBrowser()

	clients := []*store.Client{
		{ID: "app", Name: "Demo <App>", GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken},
			Scopes: []string{"openid", "phone", "sim-swap:check", "offline_access"}, RedirectURIs: []string{appRedirect},
			TokenEndpointAuthMethod: AuthClientSecretBasic},
		{ID: "spa", Name: "Single Page", GrantTypes: []string{GrantAuthorizationCode},
			Scopes: []string{"openid"}, RedirectURIs: []string{spaRedirect}, TokenEndpointAuthMethod: AuthNone},
		{ID: "multi", Name: "Two Redirects", GrantTypes: []string{GrantAuthorizationCode},
			Scopes: []string{"openid"}, RedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"},
			TokenEndpointAuthMethod: AuthClientSecretBasic},
		{ID: "machine", Name: "Machine", GrantTypes: []string{GrantClientCredentials},
			Scopes: []string{"sim-swap:check"}, RedirectURIs: []string{appRedirect}, TokenEndpointAuthMethod: AuthClientSecretBasic},
		{ID: "frozen", Name: "Frozen", GrantTypes: []string{GrantAuthorizationCode}, Scopes: []string{"openid"},
			RedirectURIs: []string{appRedirect}, TokenEndpointAuthMethod: AuthClientSecretBasic, Status: store.ClientSuspended},
	}
	for _, c := range clients {
		if c.Status == "" {
			c.Status = store.ClientActive
		}
		c.CreatedAt, c.UpdatedAt = clock.Now(), clock.Now()
		if err := db.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.users.Create(ctx, testUsername, testPassword, testPhone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.users.Create(ctx, otherUsername, testPassword, otherPhone); err != nil {
		t.Fatal(err)
	}
	return e
}

// newBrowser returns a client with its own cookie jar that stops at
// redirects.
func (e *authzEnv) newBrowser() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// page is a response with its body read.
type page struct {
	*http.Response
	body string
}

func (e *authzEnv) do(c *http.Client, req *http.Request) page {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.checkPageHeaders(resp)
	return page{resp, string(b)}
}

func (e *authzEnv) get(c *http.Client, pathAndQuery string) page {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.ts.URL+pathAndQuery, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(c, req)
}

func (e *authzEnv) post(c *http.Client, path string, form url.Values) page {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(c, req)
}

// checkPageHeaders checks what every page and redirect must carry.
func (e *authzEnv) checkPageHeaders(resp *http.Response) {
	e.t.Helper()
	h := resp.Header
	if got := h.Get("Cache-Control"); got != "no-store" {
		e.t.Errorf("%s %s: Cache-Control %q; want no-store", resp.Request.Method, resp.Request.URL.Path, got)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		e.t.Errorf("%s: X-Frame-Options %q; want DENY", resp.Request.URL.Path, got)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			e.t.Errorf("%s: CSP %q lacks %q", resp.Request.URL.Path, csp, want)
		}
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode >= 400 {
		if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			e.t.Errorf("%s: Content-Type %q; want HTML", resp.Request.URL.Path, ct)
		}
	}
}

func authorizeQuery(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return PathAuthorize + "?" + q.Encode()
}

// appRequest is a valid authorization request of the confidential client,
// with overrides.
func appRequest(kv ...string) string {
	base := map[string]string{
		"response_type": "code", "client_id": "app", "redirect_uri": appRedirect, "scope": appScopes,
		"state": "st-123", "nonce": "n-456", "code_challenge": testChallenge, "code_challenge_method": "S256",
	}
	order := []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}
	for i := 0; i+1 < len(kv); i += 2 {
		if _, ok := base[kv[i]]; !ok {
			order = append(order, kv[i])
		}
		base[kv[i]] = kv[i+1]
	}
	var args []string
	for _, k := range order {
		if v := base[k]; v != "-" {
			args = append(args, k, v)
		}
	}
	return authorizeQuery(args...)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

// hidden returns the value of the first hidden field name in the page.
func hidden(t *testing.T, body, name string) string {
	t.Helper()
	for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	t.Fatalf("no hidden field %q in page:\n%s", name, body)
	return ""
}

// formOf returns the hidden fields of the page with extra values.
func formOf(t *testing.T, body string, kv ...string) url.Values {
	t.Helper()
	f := url.Values{}
	if strings.Contains(body, `name="request"`) {
		f.Set("request", hidden(t, body, "request"))
	}
	f.Set("csrf", hidden(t, body, "csrf"))
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

func (e *authzEnv) mustBeLoginPage(p page) {
	e.t.Helper()
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
		e.t.Fatalf("got %d %s; want the sign-in page:\n%s", p.StatusCode, p.Header.Get("Location"), p.body)
	}
}

func (e *authzEnv) mustBeConsentPage(p page) {
	e.t.Helper()
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, `value="allow"`) {
		e.t.Fatalf("got %d %s; want the consent page:\n%s", p.StatusCode, p.Header.Get("Location"), p.body)
	}
}

// signIn completes the sign-in page with a password and returns the next
// page.
func (e *authzEnv) signIn(c *http.Client, login page, username string) page {
	e.t.Helper()
	e.mustBeLoginPage(login)
	return e.post(c, PathLogin, formOf(e.t, login.body, "action", "password", "username", username, "password", testPassword))
}

// redirectTo checks that p redirects to the redirect URI (its own query
// kept) with iss, and returns the added parameters.
func (e *authzEnv) redirectTo(p page, status int, redirectURI string) url.Values {
	e.t.Helper()
	if p.StatusCode != status {
		e.t.Fatalf("status %d; want %d redirect. Body:\n%s", p.StatusCode, status, p.body)
	}
	loc := p.Header.Get("Location")
	base, rawQuery, _ := strings.Cut(redirectURI, "?")
	if !strings.HasPrefix(loc, base+"?") {
		e.t.Fatalf("Location %q; want a redirect to %s", loc, redirectURI)
	}
	u, err := url.Parse(loc)
	if err != nil {
		e.t.Fatal(err)
	}
	if rawQuery != "" && !strings.HasPrefix(u.RawQuery, rawQuery+"&") {
		e.t.Errorf("Location %q does not keep the registered query %q", loc, rawQuery)
	}
	q := u.Query()
	if got := q.Get("iss"); got != e.ts.URL {
		e.t.Errorf("iss = %q; want %q", got, e.ts.URL)
	}
	return q
}

// redeem reads the stored code (marking it used), failing the test when it
// is not stored under the code's SHA-256.
func (e *authzEnv) redeem(code string) *store.AuthCode {
	e.t.Helper()
	ac, err := e.st.RedeemAuthCode(context.Background(), hashToken(code), e.clock.Now())
	if err != nil {
		e.t.Fatalf("the code is not stored by its hash: %v", err)
	}
	return ac
}

// fullFlow runs authorize → sign-in → consent → Allow for alice and returns
// the redirect's parameters.
func (e *authzEnv) fullFlow(c *http.Client, request string) url.Values {
	e.t.Helper()
	consent := e.signIn(c, e.get(c, request), testUsername)
	e.mustBeConsentPage(consent)
	return e.redirectTo(e.post(c, PathConsent, formOf(e.t, consent.body, "action", "allow")), http.StatusSeeOther, appRedirect)
}
