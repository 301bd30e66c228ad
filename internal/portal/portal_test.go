package portal

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"gatehouse/internal/problem"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/testcamara"
)

// rig is a portal over a real SQLite store holding the sandbox APIs, the
// CAMARA documents (when present) and the default plans, served on
// loopback.
type rig struct {
	t      testing.TB
	db     *sqlstore.DB
	portal *Portal
	srv    *httptest.Server
}

func newRig(t testing.TB) *rig {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, d := range sandbox.Definitions() {
		addAPI(t, db, d.Name, d.BasePath, "sandbox", d.Document)
	}
	for _, pl := range []*store.Plan{
		{Name: "sandbox", PriceLabel: "Free", RatePerSecond: 10, Burst: 20, QuotaDay: 1000},
		{Name: "starter", PriceLabel: "€49 / month", RatePerSecond: 50, Burst: 100, QuotaMonth: 100_000},
		{Name: "business", PriceLabel: "€490 / month", RatePerSecond: 500, Burst: 1000, QuotaMonth: 5_000_000, RequiresApproval: true},
	} {
		if err := db.CreatePlan(ctx, pl); err != nil {
			t.Fatal(err)
		}
	}
	p, err := New(Config{APIs: db, Plans: db, Render: &problem.Renderer{}, BaseURL: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, db: db, portal: p, srv: httptest.NewServer(p)}
	t.Cleanup(r.srv.Close)
	return r
}

func addAPI(t testing.TB, db *sqlstore.DB, name, base, status string, doc []byte) {
	t.Helper()
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	now := time.Now()
	upstream := "https://backend.example/v1" // never called: the portal reads records only
	if status == "sandbox" {
		upstream = "sandbox:"
	}
	a := &store.API{Name: name, Title: d.Info.Title, Version: d.Info.Version, BasePath: base,
		UpstreamURL: upstream, Status: status, Document: doc, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateAPI(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

// camaraDocs returns the CAMARA documents by API name, or skips.
func camaraDocs(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range []string{"sim-swap", "number-verification", "location-verification"} {
		out[n] = testcamara.Read(t, n+".yaml")
	}
	return out
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r *rig) get(path string, header ...string) reply {
	r.t.Helper()
	return r.do(http.MethodGet, path, header...)
}

func (r *rig) do(method, path string, header ...string) reply {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// The transport would ask for and undo gzip itself; ask explicitly so
	// the test sees what the server sent.
	if req.Header.Get("Accept-Encoding") == "" {
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			r.t.Fatal(err)
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		r.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func TestPages(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		path, contentType string
		want              []string
	}{
		{"/", "text/html", []string{"Discover, try, and purchase our APIs", `href="/portal/apis/sim-swap"`, "<main"}},
		{"/portal/apis", "text/html", []string{"3 of 3 APIs", `href="/portal/apis/location-verification"`}},
		{"/portal/apis/sim-swap", "text/html", []string{
			`id="overview"`, `id="authorisation"`, `id="reference"`, `id="plans"`, `id="op-checkSimSwap"`,
			"client_credentials", "sim-swap:check", `href="/docs/errors#bad_request"`, "€49 / month",
			"curl -i -X POST http://127.0.0.1:8080/sim-swap/v2/check",
			"Sandbox test numbers", "34600000003</code>", `<a href="/docs/errors#service_not_applicable"><code>SERVICE_NOT_APPLICABLE</code></a>`,
		}},
		{"/portal/apis/sim-swap/sandbox-rules.json", "application/json", []string{`"phoneNumber": "+34600000001"`}},
		{"/portal/plans", "text/html", []string{`id="plan-business"`, "Reviewed by the operator", "100,000 calls"}},
		{"/portal/apis/sim-swap.md", "text/markdown", []string{"# SIM Swap", "### checkSimSwap `POST /sim-swap/v2/check`"}},
		{"/portal/apis/sim-swap/openapi", "application/yaml", []string{"openapi: 3.0.3"}},
		{"/llms.txt", "text/plain", []string{"(http://127.0.0.1:8080/portal/apis/sim-swap.md)", "/docs/errors.json"}},
	} {
		got := r.get(tc.path)
		if got.status != 200 || !strings.HasPrefix(got.header.Get("Content-Type"), tc.contentType) {
			t.Errorf("GET %s: %d %s, want 200 %s\n%s", tc.path, got.status, got.header.Get("Content-Type"), tc.contentType, got.body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(got.body, w) {
				t.Errorf("GET %s: no %q", tc.path, w)
			}
		}
		if csp := got.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		if tc.contentType == "text/html" && strings.Contains(got.body, "<script>") {
			t.Errorf("GET %s: inline script", tc.path)
		}
	}
}

// The 404 of an unknown portal path, the 405 of a wrong method and an
// unknown asset are registry errors, as HTML pages with the cause and fix.
func TestErrorPages(t *testing.T) {
	r := newRig(t)
	addAPI(t, r.db, "live-one", "/live/v1", "live", []byte(`openapi: 3.0.3
info: {title: Live, version: 1.0.0}
paths: {/x: {get: {responses: {"200": {description: ok}}}}}
`))
	for _, tc := range []struct {
		method, path string
		status       int
		key, allow   string
	}{
		{"GET", "/portal/nope", 404, "not_found", ""},
		{"GET", "/portal/apis/nope", 404, "not_found", ""},
		{"GET", "/portal/apis/nope.md", 404, "not_found", ""},
		{"GET", "/portal/apis/live-one/sandbox-rules.json", 404, "not_found", ""},
		{"GET", "/static/style.00000000.css", 404, "not_found", ""},
		{"POST", "/portal/apis", 405, "method_not_allowed", "GET, HEAD"},
		{"DELETE", "/", 405, "method_not_allowed", "GET, HEAD"},
	} {
		got := r.do(tc.method, tc.path)
		if got.status != tc.status || !strings.HasPrefix(got.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s %s: %d %s, want %d HTML", tc.method, tc.path, got.status, got.header.Get("Content-Type"), tc.status)
			continue
		}
		if !strings.Contains(got.body, `/docs/errors#`+tc.key+`"`) || !strings.Contains(got.body, "How to fix it") {
			t.Errorf("%s %s: the page does not link %s with its fix:\n%s", tc.method, tc.path, tc.key, got.body)
		}
		if strings.Contains(got.body, "`") {
			t.Errorf("%s %s: the registry's `literals` are shown with their backticks", tc.method, tc.path)
		}
		if got.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got.header.Get("Allow"), tc.allow)
		}
	}
}

// Assets have content-hashed names, a year of caching and gzip variants;
// pages are compressed when the client accepts it.
func TestAssets(t *testing.T) {
	r := newRig(t)
	page := r.get("/", "Accept-Encoding", "gzip")
	if page.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("the landing page was not compressed: %v", page.header)
	}
	links := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(page.body, -1)
	if len(links) < 3 {
		t.Fatalf("the page links %d assets: %v", len(links), links)
	}
	for _, l := range links {
		path := l[1]
		if !regexp.MustCompile(`^/static/[a-z]+\.[0-9a-f]{8}\.(css|js|svg|png)$`).MatchString(path) {
			t.Errorf("%s is not a content-hashed name", path)
		}
		got := r.get(path, "Accept-Encoding", "gzip")
		if got.status != 200 || got.header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: %d, Cache-Control %q", path, got.status, got.header.Get("Cache-Control"))
		}
		if strings.Contains(path, "/style.") && got.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s: not served compressed", path)
		}
	}
}

// Operator-supplied descriptions are Markdown, sanitised: no script, no
// javascript: link, no event handler survives.
func TestDescriptionsAreSanitised(t *testing.T) {
	r := newRig(t)
	doc := []byte(`openapi: 3.0.3
info:
  title: Evil
  version: 1.0.0
  description: |
    # Intro
    Hello <script>alert(1)</script> <img src=x onerror="alert(2)"> [click](javascript:alert(3)) **bold**
paths:
  /x:
    get:
      operationId: getX
      description: "<iframe src='https://evil.example'></iframe>ok"
      responses:
        "200":
          description: fine
`)
	addAPI(t, r.db, "evil", "/evil/v1", "sandbox", doc)
	got := r.get("/portal/apis/evil")
	if got.status != 200 {
		t.Fatalf("%d\n%s", got.status, got.body)
	}
	for _, bad := range []string{"<script>alert", "onerror", "javascript:", "<iframe"} {
		if strings.Contains(got.body, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if !strings.Contains(got.body, "<strong>bold</strong>") || !strings.Contains(got.body, "<h3>Intro</h3>") {
		t.Errorf("the Markdown was not rendered (headings under the page's own)")
	}
}

// Every operation of the three CAMARA documents renders with its schemas:
// no operation missing, no unresolved reference, a schema for every body
// the document describes, and every documented error code listed.
func TestCAMARAReferencesRender(t *testing.T) {
	docs := camaraDocs(t)
	r := newRig(t)
	for name, doc := range docs {
		api := "camara-" + name
		addAPI(t, r.db, api, "/camara/"+name, "live", doc)
		got := r.get("/portal/apis/" + api)
		if got.status != 200 {
			t.Fatalf("%s: %d\n%s", api, got.status, got.body)
		}
		if strings.Contains(got.body, "#/components/") {
			t.Errorf("%s: an unresolved reference is shown", api)
		}
		ref, err := r.portal.reference(context.Background(), api)
		if err != nil {
			t.Fatal(err)
		}
		d, err := openapi3.NewLoader().LoadFromData(doc)
		if err != nil {
			t.Fatal(err)
		}
		ops := 0
		for path, item := range d.Paths.Map() {
			for method, op := range item.Operations() {
				ops++
				o := findOp(ref, method, "/camara/"+name+path)
				if o == nil {
					t.Errorf("%s: %s %s is not on the page", api, method, path)
					continue
				}
				if !strings.Contains(got.body, `id="`+o.Anchor+`"`) {
					t.Errorf("%s: no section for %s", api, o.ID)
				}
				if op.RequestBody != nil && (o.Body == nil || !hasSchema(o.Body.Schema)) {
					t.Errorf("%s %s: the request body's schema is missing", api, o.ID)
				}
				if len(o.Responses) != op.Responses.Len() {
					t.Errorf("%s %s: %d responses shown, the document has %d", api, o.ID, len(o.Responses), op.Responses.Len())
				}
				for _, resp := range o.Responses {
					dr := op.Responses.Value(resp.Status).Value
					if len(dr.Content) > 0 && (resp.Body == nil || !hasSchema(resp.Body.Schema)) {
						t.Errorf("%s %s %s: the response's schema is missing", api, o.ID, resp.Status)
					}
					if resp.Status >= "400" && len(dr.Content) > 0 && len(resp.Errors) == 0 {
						t.Errorf("%s %s %s: no error code listed", api, o.ID, resp.Status)
					}
				}
			}
		}
		if ops != len(ref.Operations) || ops == 0 {
			t.Errorf("%s: %d operations shown, the document has %d", api, len(ref.Operations), ops)
		}
	}
}

func findOp(ref *reference, method, path string) *operation {
	for _, o := range ref.Operations {
		if o.Method == method && o.Path == path {
			return o
		}
	}
	return nil
}

func hasSchema(f *field) bool {
	return f != nil && (len(f.Children) > 0 || f.Type != "any")
}

// Every CAMARA error code an operation documents that the gateway also
// answers links to its registry entry.
func TestErrorCodesLinkTheRegistry(t *testing.T) {
	r := newRig(t)
	ref, err := r.portal.reference(context.Background(), "sim-swap")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]string{}
	for _, o := range ref.Operations {
		for _, resp := range o.Responses {
			for _, e := range resp.Errors {
				linked[e.Status+" "+e.Code] = e.Key
			}
		}
	}
	for code, key := range map[string]string{
		"400 INVALID_ARGUMENT": "bad_request", "400 OUT_OF_RANGE": "out_of_range", "401 UNAUTHENTICATED": "unauthenticated",
		"403 PERMISSION_DENIED": "permission_denied", "429 TOO_MANY_REQUESTS": "too_many_requests",
	} {
		if linked[code] != key {
			t.Errorf("%s links %q, want %q (all: %v)", code, linked[code], key, linked)
		}
	}
}

func TestCatalogSearchAndFilter(t *testing.T) {
	r := newRig(t)
	addAPI(t, r.db, "evil-twin", "/twin/v1", "live", []byte(`openapi: 3.0.3
info: {title: Twin, version: 1.0.0, description: A live API.}
tags: [{name: extra}]
paths:
  /x:
    get:
      tags: [extra]
      responses: {"200": {description: ok}}
`))
	for _, tc := range []struct {
		query string
		want  []string
		not   []string
	}{
		{"?q=swap", []string{"/portal/apis/sim-swap"}, []string{"/portal/apis/number-verification", "/portal/apis/evil-twin"}},
		{"?q=verify+device", []string{"/portal/apis/location-verification"}, []string{"/portal/apis/sim-swap"}},
		{"?status=live", []string{"/portal/apis/evil-twin"}, []string{"/portal/apis/sim-swap"}},
		{"?tag=extra", []string{"/portal/apis/evil-twin"}, []string{"/portal/apis/sim-swap"}},
		{"?q=nothing-matches", []string{"No API matches"}, []string{"/portal/apis/sim-swap\""}},
	} {
		got := r.get("/portal/apis" + tc.query)
		for _, w := range tc.want {
			if !strings.Contains(got.body, w) {
				t.Errorf("%s: no %s", tc.query, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got.body, `href="`+n) {
				t.Errorf("%s: lists %s", tc.query, n)
			}
		}
	}
}

// A changed API is shown changed: the page model is rebuilt when the
// record's update time moves.
func TestChangedAPIIsShown(t *testing.T) {
	r := newRig(t)
	if got := r.get("/portal/apis/sim-swap"); !strings.Contains(got.body, "SIM Swap") {
		t.Fatal("no title")
	}
	_, err := r.db.UpdateAPI(context.Background(), "sim-swap", func(a *store.API) error {
		a.Document = bytes.Replace(a.Document, []byte("Tells whether"), []byte("Renamed: tells whether"), 1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.portal.reference(context.Background(), "sim-swap")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ref.Summary, "Renamed") {
		t.Errorf("the page still shows the old document")
	}
}

// The operator's theme: a logo file served same-origin under a hashed name,
// the accent colours in theme.css, and a refused logo type.
func TestTheme(t *testing.T) {
	dir := t.TempDir()
	logo := filepath.Join(dir, "acme.svg")
	if err := os.WriteFile(logo, []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>`), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := New(Config{APIs: db, Plans: db, Theme: Theme{Name: "Acme", LogoFile: logo, Accent: "#c00000;}body{x:y", AccentDark: "#ff8080"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	r := &rig{t: t, srv: srv}
	page := r.get("/")
	if !strings.Contains(page.body, "Acme") || !strings.Contains(page.body, p.assets.URL("logo.svg")) || p.assets.URL("logo.svg") == "" {
		t.Fatalf("the page does not carry the operator's name and logo")
	}
	if got := r.get(p.assets.URL("logo.svg")); got.status != 200 || !strings.Contains(got.body, "<svg") || got.header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("logo: %d %s", got.status, got.header.Get("Content-Type"))
	}
	css := r.get(p.assets.URL("theme.css")).body
	if !strings.Contains(css, "--accent:#c00000bodyx:y}") || strings.Contains(css, "}body{") || !strings.Contains(css, "--accent:#ff8080}") {
		t.Errorf("theme.css = %q", css)
	}
	gif := filepath.Join(dir, "logo.gif")
	if err := os.WriteFile(gif, []byte("GIF89a"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{APIs: db, Plans: db, Theme: Theme{LogoFile: gif}}); err == nil || !strings.Contains(err.Error(), "only .svg and .png") {
		t.Errorf("a GIF logo: %v, want it refused by type", err)
	}
	if _, err := New(Config{APIs: db, Plans: db, Theme: Theme{LogoFile: filepath.Join(dir, "missing.svg")}}); err == nil {
		t.Errorf("a missing logo file was accepted")
	}
}
