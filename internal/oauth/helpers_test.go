package oauth

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/keys"
	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/testclock"
	"gatehouse/internal/testhttp"
	"gatehouse/internal/testproc"
)

// lowerArgon2 makes password hashing cheap for the tests (the dummy hash
// of unknown users included); production keeps DefaultArgon2Params.
var lowerArgon2 sync.Once

var testArgon2 = signin.Argon2Params{Memory: 64, Time: 1, Threads: 1}

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

// authzEnv is the authorization server under test: a Server on a real
// SQLite store with real signing keys, serving its routes as
// server.Public mounts them over real HTTP on loopback; a browser (a client
// with a cookie jar that does not follow redirects); and the managers the
// CLI and the admin API call.
type authzEnv struct {
	t       *testing.T
	st      *countingStore
	srv     *Server
	cfg     Config // srv's, for restart
	ts      *httptest.Server
	handler atomic.Pointer[http.ServeMux]
	browser *http.Client
	clock   *testclock.Clock
	users   *UserManager
	// clients is the serving node's ClientManager, as the admin API's:
	// its changes apply at once. otherNode is another process's, as the
	// CLI's: the server sees its changes within ClientCacheTTL.
	clients, otherNode *ClientManager
	// apis holds the scopes the served APIs define (Config.KnownScopes
	// and ClientManager.DefinedScopes, as serve wires them).
	apis *scopeSet
	// logs receives the server's log lines, JSON at level Info.
	logs *testproc.Buffer
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

// testAPIScopes are the scopes of the APIs the tests' platform serves: the
// sandbox APIs' (internal/sandbox/apis), and device-location:read, which
// no seeded client is allowed.
var testAPIScopes = []string{
	"device-location:read", "location-verification:verify",
	"number-verification:device-phone-number:read", "number-verification:verify",
	"sim-swap:check", "sim-swap:retrieve-date",
}

// newAuthzEnv starts the authorization server; tweak may change its
// Config first. Its clock stands still until a test advances it.
func newAuthzEnv(t *testing.T, tweak func(*Config)) *authzEnv {
	t.Helper()
	lowerArgon2.Do(func() { signin.DefaultArgon2Params = testArgon2 })
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	db.Now = clock.Now // the store judges expiry too (UseAssertionID)
	st := &countingStore{DB: db}
	km := &keys.Manager{Store: db, Secret: testSecret, Now: clock.Now}
	if err := km.Load(ctx); err != nil {
		t.Fatal(err)
	}
	e := &authzEnv{t: t, st: st, clock: clock, apis: newScopeSet(testAPIScopes...), logs: &testproc.Buffer{},
		users: &UserManager{Store: db, Params: testArgon2, Now: clock.Now}}
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The public front (internal/server) gives every request a
		// correlator in its context; here it is the X-Correlator the
		// test sent, if any.
		if id := r.Header.Get("X-Correlator"); id != "" {
			r = r.WithContext(problem.WithCorrelator(r.Context(), id))
		}
		e.handler.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(e.ts.Close)
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.cfg = Config{
		Issuer:       e.ts.URL,
		Store:        st,
		Keys:         km,
		Render:       &problem.Renderer{DocsURL: e.ts.URL + "/docs/errors", Logger: logger},
		Secret:       testSecret,
		NetworkLogin: true,
		KnownScopes:  func(s string) bool { return slices.Contains(PlatformScopes, s) || e.apis.has(s) },
		Logger:       logger,
		Now:          clock.Now,
	}
	if tweak != nil {
		tweak(&e.cfg)
	}
	e.srv = NewServer(e.cfg)
	e.handler.Store(routes(e.srv))
	e.otherNode = &ClientManager{Store: db, DefinedScopes: e.definedScopes, Now: clock.Now}
	e.clients = &ClientManager{Store: db, DefinedScopes: e.definedScopes, OnChange: e.srv.ForgetClient, Now: clock.Now}
	e.browser = e.newBrowser()

	seeded := []*store.Client{
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
	for _, c := range seeded {
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

// routes mounts s as server.Public does (internal/server/routes.go).
func routes(s *Server) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET "+PathOIDCDiscovery, s.Discovery(true))
	mux.Handle("GET "+PathASDiscovery, s.Discovery(false))
	mux.Handle("GET "+PathJWKS, s.JWKS())
	mux.Handle(PathToken, s.Token())
	mux.Handle(PathIntrospect, s.Introspect())
	mux.Handle(PathRevoke, s.Revoke())
	mux.Handle(PathBCAuthorize, s.BCAuthorize())
	mux.Handle(PathUserinfo, s.Userinfo())
	s.AuthorizeRoutes(mux)
	return mux
}

// restart replaces the server by a new one on the same store, issuer,
// keys and clock, as a restarted process: nothing it kept in memory
// survives. Run loads what the store keeps; its background work stops with
// the test.
func (e *authzEnv) restart() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	srv := NewServer(e.cfg)
	if err := srv.Run(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.clients.OnChange = srv.ForgetClient
	e.handler.Store(routes(srv))
}

// afterCacheTTL advances the clock by ClientCacheTTL until cond holds: a
// change made on another node is seen once the cached record expired. A
// token check whose store read missed its deadline (statusCheckTimeout, on
// a busy machine) keeps the old record for one more TTL, hence the tries.
func (e *authzEnv) afterCacheTTL(what string, cond func() bool) {
	e.t.Helper()
	for range 10 {
		e.clock.Advance(e.srv.cfg.ClientCacheTTL)
		if cond() {
			return
		}
	}
	e.t.Fatalf("%s: not seen within 10 cache lifetimes", what)
}

// definedScopes is ClientManager.DefinedScopes as serve sets it: the
// platform's scopes and the served APIs', sorted.
func (e *authzEnv) definedScopes(context.Context) ([]string, error) {
	out := slices.Concat(PlatformScopes, e.apis.list())
	slices.Sort(out)
	return out, nil
}

// scopeSet is the scopes the served APIs define, safe for concurrent use.
type scopeSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func newScopeSet(scopes ...string) *scopeSet {
	s := &scopeSet{m: map[string]bool{}}
	for _, sc := range scopes {
		s.m[sc] = true
	}
	return s
}

func (s *scopeSet) has(sc string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[sc]
}

func (s *scopeSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.m))
}

// deleteAPI drops the scopes of the API name ("sim-swap" defines
// sim-swap:check and sim-swap:retrieve-date), as deleting it does.
func (s *scopeSet) deleteAPI(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := range s.m {
		if strings.HasPrefix(sc, name+":") {
			delete(s.m, sc)
		}
	}
}

// testClient is a registered client's credentials.
type testClient struct{ ID, Secret string }

// createClient registers a client through the serving node's
// ClientManager, as `gatehouse clients create` does. fields are pairs of a
// ClientSpec JSON name and its value, lists space-separated:
// "grant_types", "scopes", "redirect_uris", "token_endpoint_auth_method",
// "jwks".
func (e *authzEnv) createClient(name string, fields ...string) testClient {
	e.t.Helper()
	spec := ClientSpec{Name: &name}
	for i := 0; i+1 < len(fields); i += 2 {
		v, list := fields[i+1], strings.Fields(fields[i+1])
		switch fields[i] {
		case "grant_types":
			spec.GrantTypes = &list
		case "scopes":
			spec.Scopes = &list
		case "redirect_uris":
			spec.RedirectURIs = &list
		case "token_endpoint_auth_method":
			spec.TokenEndpointAuthMethod = &v
		case "jwks":
			raw := json.RawMessage(v)
			spec.JWKS = &raw
		default:
			e.t.Fatalf("createClient: unknown field %q", fields[i])
		}
	}
	v, err := e.clients.Create(context.Background(), spec)
	if err != nil {
		e.t.Fatalf("creating client %q: %v", name, err)
	}
	return testClient{ID: v.ClientID, Secret: v.ClientSecret}
}

// postForm sends form to path as a client does (testhttp.PostForm).
func (e *authzEnv) postForm(path string, form url.Values, id, secret string, headers ...string) *http.Response {
	e.t.Helper()
	return testhttp.PostForm(e.t, e.ts.URL+path, form, id, secret, headers...)
}

// tokenForm posts a token request with c's Basic credentials and decodes
// the answer (testhttp.TokenForm).
func (e *authzEnv) tokenForm(c testClient, form url.Values) (int, map[string]any) {
	e.t.Helper()
	return testhttp.TokenForm(e.t, e.ts.URL, c.ID, c.Secret, form)
}

// token gets a client_credentials access token (testhttp.Token).
func (e *authzEnv) token(c testClient, scope string) string {
	e.t.Helper()
	return testhttp.Token(e.t, e.ts.URL, c.ID, c.Secret, scope)
}

// introspect returns the introspection response for tok, asked by c
// (testhttp.Introspect).
func (e *authzEnv) introspect(c testClient, tok string) map[string]any {
	e.t.Helper()
	return testhttp.Introspect(e.t, e.ts.URL, c.ID, c.Secret, tok)
}

// bearerGet sends GET path with the access token.
func (e *authzEnv) bearerGet(path, token string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// discoveryPaths are the two metadata documents: OpenID Connect Discovery
// and RFC 8414.
var discoveryPaths = []string{PathOIDCDiscovery, PathASDiscovery}

// discovery fetches the metadata document at path.
func (e *authzEnv) discovery(path string) map[string]any {
	e.t.Helper()
	resp, err := http.Get(e.ts.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	var doc map[string]any
	testhttp.DecodeJSON(e.t, resp, &doc)
	return doc
}

// newAssertionKey makes a private_key_jwt client's key pair whose
// assertions are issued at the clock's time.
func (e *authzEnv) newAssertionKey() testhttp.AssertionKey {
	e.t.Helper()
	return testhttp.NewAssertionKey(e.t, e.clock.Now)
}
