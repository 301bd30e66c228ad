package docs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gatehouse/internal/problem"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/docs -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is intended, run go test ./internal/docs -update and review the diff\n%s",
			path, firstDiff(got, want))
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

func TestPage(t *testing.T) {
	w := get(t, &Handler{}, http.MethodGet, PagePath)
	if got, want := w.Code, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d\n%s", got, want, w.Body)
	}
	if got, want := w.Header().Get("Content-Type"), "text/html; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	body := w.Body.String()
	golden(t, "errors.html.golden", w.Body.Bytes())

	if !strings.Contains(body, "<title>Error Codes &amp; Troubleshooting</title>") {
		t.Error("page title missing")
	}
	if strings.Contains(strings.ToLower(body), "<script") {
		t.Error("the page must not use JavaScript")
	}
	for _, e := range problem.Catalog() {
		if n := strings.Count(body, `id="`+e.Key+`"`); n != 1 {
			t.Errorf("anchor id=%q appears %d times, want 1", e.Key, n)
		}
		if !strings.Contains(body, `href="#`+e.Key+`"`) {
			t.Errorf("table of contents has no link to #%s", e.Key)
		}
		if !strings.Contains(body, "<code>"+e.CamaraCode+"</code>") {
			t.Errorf("%s: CAMARA code %s not shown", e.Key, e.CamaraCode)
		}
		if e.OAuthCode != "" && !strings.Contains(body, "<code>"+e.OAuthCode+"</code>") {
			t.Errorf("%s: OAuth code %s not shown", e.Key, e.OAuthCode)
		}
		for _, c := range e.Causes {
			if !strings.Contains(body, `<tr id="`+e.Key+`--`+c.ID+`"><td><code>`+c.ID+`</code></td>`) {
				t.Errorf("%s: cause %s not shown", e.Key, c.ID)
			}
		}
		if !strings.Contains(body, string(codeSpans(e.Fix))) {
			t.Errorf("%s: fix not shown", e.Key)
		}
	}
	for _, g := range []string{problem.GroupHTTP, problem.GroupOAuth, problem.GroupToken, problem.GroupAPI} {
		if !strings.Contains(body, "<h2>"+template.HTMLEscapeString(g)+"</h2>") {
			t.Errorf("no section for group %q", g)
		}
	}
}

func TestJSON(t *testing.T) {
	w := get(t, &Handler{}, http.MethodGet, JSONPath)
	if got, want := w.Code, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d\n%s", got, want, w.Body)
	}
	if got, want := w.Header().Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	golden(t, "errors.json.golden", w.Body.Bytes())

	var got []problem.Entry
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var want []problem.Entry
	for _, e := range problem.Catalog() {
		want = append(want, *e)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("JSON does not round-trip to problem.Catalog()")
	}
}

func TestHead(t *testing.T) {
	for _, path := range []string{PagePath, JSONPath} {
		full := get(t, &Handler{}, http.MethodGet, path)
		head := get(t, &Handler{}, http.MethodHead, path)
		if got, want := head.Code, http.StatusOK; got != want {
			t.Errorf("HEAD %s: status = %d, want %d", path, got, want)
		}
		if head.Body.Len() != 0 {
			t.Errorf("HEAD %s wrote a body", path)
		}
		if got, want := head.Header().Get("Content-Length"), full.Header().Get("Content-Length"); got != want || got == "" {
			t.Errorf("HEAD %s: Content-Length = %q, want %q", path, got, want)
		}
	}
}

// TestGzip: a client that accepts gzip gets the same bytes compressed, so
// the page fits the portal's per-page budget (PORTAL.md §5).
func TestGzip(t *testing.T) {
	for _, path := range []string{PagePath, JSONPath} {
		plain := get(t, &Handler{}, http.MethodGet, path)
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Accept-Encoding", "br, gzip")
		w := httptest.NewRecorder()
		(&Handler{}).ServeHTTP(w, req)
		if got, want := w.Header().Get("Content-Encoding"), "gzip"; got != want {
			t.Fatalf("GET %s accepting gzip: Content-Encoding = %q, want %q", path, got, want)
		}
		if got := w.Header().Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("GET %s: Vary = %q, want Accept-Encoding", path, got)
		}
		if got, want := w.Header().Get("Content-Length"), strconv.Itoa(w.Body.Len()); got != want {
			t.Errorf("GET %s: Content-Length = %s, body %s bytes", path, got, want)
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, plain.Body.Bytes()) {
			t.Errorf("GET %s: the gzip body differs from the plain one", path)
		}
		if plain.Header().Get("Content-Encoding") != "" {
			t.Errorf("GET %s without Accept-Encoding was compressed", path)
		}
	}
}

func TestErrors(t *testing.T) {
	rd := &problem.Renderer{DocsURL: "https://dev.example.com/docs/errors"}
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
		allow        string
	}{
		{http.MethodGet, "/docs/nope", http.StatusNotFound, "not_found", ""},
		{http.MethodGet, "/docs/errors/", http.StatusNotFound, "not_found", ""},
		{http.MethodPost, PagePath, http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{http.MethodDelete, JSONPath, http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := get(t, &Handler{Renderer: rd}, tc.method, tc.path)
			if got := w.Code; got != tc.status {
				t.Errorf("status = %d, want %d", got, tc.status)
			}
			if got, want := w.Header().Get("Content-Type"), "application/problem+json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if got := body["code"]; got != tc.code {
				t.Errorf("code = %v, want %s", got, tc.code)
			}
			if got, want := body["type"], rd.DocsURL+"#"+tc.code; got != want {
				t.Errorf("type = %v, want %s", got, want)
			}
		})
	}
}

func TestCodeSpans(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                         "plain",
		"Send `Accept: */*` <now> & go": "Send <code>Accept: */*</code> &lt;now&gt; &amp; go",
		"`a` and `<b>`":                 "<code>a</code> and <code>&lt;b&gt;</code>",
		"see `quota_exceeded`.":         `see <a href="#quota_exceeded"><code>quota_exceeded</code></a>.`,
	} {
		if got := string(codeSpans(in)); got != want {
			t.Errorf("codeSpans(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBackticksBalanced(t *testing.T) {
	for _, e := range problem.Catalog() {
		texts := []string{e.Description, e.Fix}
		for _, c := range e.Causes {
			texts = append(texts, c.Text)
		}
		for _, s := range texts {
			if strings.Count(s, "`")%2 != 0 {
				t.Errorf("%s: unbalanced backticks in %q", e.Key, s)
			}
		}
	}
}

// The page carries the portal's strict CSP; its one inline style element is
// allowed by the hash of the style as served, and nothing else inline is.
func TestContentSecurityPolicy(t *testing.T) {
	w := httptest.NewRecorder()
	(&Handler{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, PagePath, nil))
	body := w.Body.String()
	csp := w.Header().Get("Content-Security-Policy")
	_, rest, _ := strings.Cut(body, "<style>")
	css, _, _ := strings.Cut(rest, "</style>")
	sum := sha256.Sum256([]byte(css))
	if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, want) {
		t.Errorf("Content-Security-Policy = %q, want default-src 'self' and the style's hash %s", csp, want)
	}
	if strings.Count(body, "<style") != 1 || strings.Contains(body, "<script") || strings.Contains(body, ` style="`) {
		t.Errorf("the page has inline script or more than one inline style")
	}
}
