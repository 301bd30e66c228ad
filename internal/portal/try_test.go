package portal

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/problem"
)

// The console calls the gateway only once a signed-in developer posted a
// valid form; these tests check every refusal before that, so their
// gateway fails the test when called. The calls themselves are tested on
// the real platform (internal/server, try_test.go).

// tryAPI has parameters in the path, the query and a header, an
// operation without operationId and two body examples.
const tryAPI = `openapi: 3.0.3
info: {title: Items, version: 1.0.0}
paths:
  /items/{itemId}:
    post:
      summary: Update an item
      security: [{openId: [items:write]}]
      parameters:
        - {name: itemId, in: path, required: true, description: "The item's id, e.g. ` + "`a-1`" + `.", schema: {type: string}, example: a-1}
        - {name: q, in: query, schema: {type: integer}}
        - {name: X-Tenant, in: header, schema: {type: string}}
        - {name: Content-Type, in: header, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object}
            examples:
              first: {summary: The first, value: {name: one}}
              second: {value: {name: two}}
      responses:
        "200": {description: ok}
components:
  securitySchemes:
    openId: {type: openIdConnect, openIdConnectUrl: "https://example.com/.well-known/openid-configuration"}
`

const tryAction = "/portal/apis/items/try/POST%20%2Fitems%2F%7BitemId%7D"

// newTryRig is a rig whose console is on, with the items API; signed-in
// requests carry the cookie "dev".
func newTryRig(t *testing.T, tweak func(c *TryConfig)) *rig {
	t.Helper()
	r := newRig(t)
	addAPI(t, r.db, "items", "/items/v1", "sandbox", []byte(tryAPI))
	cfg := TryConfig{
		Gateway: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("the gateway was called") }),
		MintToken: func(context.Context, string, []string) (string, *problem.Error) {
			t.Error("a token was minted")
			return "", problem.Internal(nil)
		},
		SandboxClient: func(r *http.Request) (string, bool) {
			c, err := r.Cookie("dev")
			return "gh_app", err == nil && c.Value != ""
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := New(Config{APIs: r.db, Plans: r.db, Render: &problem.Renderer{}, BaseURL: "http://127.0.0.1:8080", Try: cfg})
	if err != nil {
		t.Fatal(err)
	}
	r.portal = p
	r.srv = httptest.NewServer(p)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rig) post(path string, form url.Values, header ...string) reply {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// Without a gateway and a token minter the console is off: no links, and
// its paths are the portal's 404.
func TestTryOff(t *testing.T) {
	r := newRig(t)
	if got := r.get("/portal/apis/sim-swap"); strings.Contains(got.body, "/try/") {
		t.Errorf("the API page links try-it while it is off")
	}
	if got := r.get("/portal/apis/sim-swap/try/checkSimSwap"); got.status != 404 || !strings.Contains(got.body, "/docs/errors#not_found") {
		t.Errorf("GET a try page while off = %d", got.status)
	}
}

func TestTryForm(t *testing.T) {
	r := newTryRig(t, func(c *TryConfig) { c.CSRFToken = func(http.ResponseWriter, *http.Request) string { return "tok-1" } })
	if got := r.get("/portal/apis/items"); !strings.Contains(got.body, `href="`+tryAction+`"`) {
		t.Errorf("the API page does not link %s", tryAction)
	}
	got := r.get(tryAction)
	text := html.UnescapeString(got.body)
	if got.status != 200 {
		t.Fatalf("GET %s = %d:\n%s", tryAction, got.status, text)
	}
	for _, want := range []string{
		`<label for="f-path-itemId">itemId <span class="ftype">path · string</span> <span class="req">required</span></label>`,
		`<input id="f-path-itemId" name="path.itemId" value="a-1" aria-describedby="f-path-itemId-hint">`,
		`The item's id, e.g. <code>a-1</code>.`,
		`<label for="f-query-q">`, `<label for="f-header-X-Tenant">`, `<label for="f-scope">`,
		`<input type="hidden" name="csrf" value="tok-1">`,
		`href="` + tryAction + `?preset=1">Example second</a>`,
		`<a href="/portal/signin?next=` + url.QueryEscape(tryAction) + `">Sign in</a>`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	if strings.Contains(got.body, `name="header.Content-Type"`) {
		t.Errorf("the form offers a Content-Type parameter, which OpenAPI ignores")
	}
	if !strings.Contains(text, `"name": "one"`) || !strings.Contains(html.UnescapeString(r.get(tryAction+"?preset=1").body), `"name": "two"`) {
		t.Errorf("the body is not pre-filled from the selected example")
	}
}

// Every refusal before the call: no call, the registry's entry, the form
// as the developer filled it.
func TestTryRefusals(t *testing.T) {
	r := newTryRig(t, func(c *TryConfig) {
		c.MaxBodyBytes = 16
		c.CheckCSRF = func(r *http.Request) *problem.Error {
			if r.PostForm.Get(TryCSRFField) != "tok-1" {
				return problem.New(problem.AccessDeniedCsrfTokenInvalid, "")
			}
			return nil
		}
	})
	addAPI(r.t, r.db, "live-one", "/live/v1", "live", []byte(tryAPI))
	addAPI(r.t, r.db, "resting", "/resting/v1", "maintenance", []byte(tryAPI))
	signedIn := []string{"Cookie", "dev=1"}
	form := func(kv ...string) url.Values {
		v := url.Values{TryCSRFField: {"tok-1"}, "path.itemId": {"a"}, "body": {`{"a":1}`}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		header []string
		status int
		key    string
		want   string
	}{
		{"no CSRF token", tryAction, form(TryCSRFField, ""), signedIn, 403, "access_denied", ""},
		{"signed out", tryAction, form(), nil, 401, "unauthenticated", `>{"a":1}</textarea>`},
		{"body over the limit", tryAction, form("body", `{"name":"seventeen"}`), signedIn, 413, "payload_too_large", `aria-invalid="true"`},
		{"form over the limit", tryAction, form("body", strings.Repeat(" ", 70<<10)), signedIn, 413, "payload_too_large", ""},
		{"header with a line break", tryAction, form("header.X-Tenant", "a\r\nX-Evil: 1"), signedIn, 400, "bad_request", `aria-invalid="true"`},
		{"scope not the operation's", tryAction, form("scope", "admin"), signedIn, 400, "bad_request", ""},
		{"unknown operation", "/portal/apis/items/try/nope", form(), signedIn, 404, "not_found", ""},
		{"live API", "/portal/apis/live-one/try/POST%20%2Fitems%2F%7BitemId%7D", form(), signedIn, 403, "permission_denied", "has not opened it to try-it"},
		{"API in maintenance", "/portal/apis/resting/try/POST%20%2Fitems%2F%7BitemId%7D", form(), signedIn, 503, "unavailable", "in maintenance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.post(tc.path, tc.form, tc.header...)
			text := html.UnescapeString(got.body)
			if got.status != tc.status || !strings.Contains(got.body, `/docs/errors#`+tc.key+`"`) || !strings.Contains(text, tc.want) {
				t.Errorf("POST = %d, want %d linking %s and holding %q:\n%s", got.status, tc.status, tc.key, tc.want, text)
			}
			if strings.Contains(got.body, `id="result"`) {
				t.Errorf("a result is shown")
			}
		})
	}
	if got := r.get("/portal/apis/live-one"); strings.Contains(got.body, "/try/") {
		t.Errorf("a live API's page links try-it")
	}
}

func TestTryCurlWithoutToken(t *testing.T) {
	c := tryCall{Method: "GET", Path: "/status/v1/ping", Query: "verbose=1"}
	if got, want := c.curl("http://127.0.0.1:8080", "gh_app", ""), "curl -i -X GET 'http://127.0.0.1:8080/status/v1/ping?verbose=1'"; got != want {
		t.Errorf("curl = %q; want %q", got, want)
	}
}

// explainAnswer tells the gateway's errors (type and cause), an upstream's
// CAMARA codes the registry knows, and codes only the API documents.
func TestExplainAnswer(t *testing.T) {
	for _, tc := range []struct {
		name               string
		status             int
		body               string
		key, cause         string
		upstream, anything bool
	}{
		{"gateway", 403, `{"type":"http://x/docs/errors#insufficient_scope","cause":{"id":"scope_missing"},"code":"PERMISSION_DENIED"}`, "insufficient_scope", "The token lacks the scope this operation requires.", false, true},
		{"concealed", 401, `{"type":"http://x/docs/errors#invalid_token","code":"UNAUTHENTICATED"}`, "invalid_token", "", false, true},
		{"upstream", 404, `{"status":404,"code":"IDENTIFIER_NOT_FOUND","message":"No line."}`, "identifier_not_found", "No device or line matches the identifier given.", true, true},
		{"the API's own code", 409, `{"status":409,"code":"SESSION_EXISTS","message":"x"}`, "", "", true, true},
		{"not JSON", 502, `<html>`, "", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := explainAnswer(tc.status, []byte(tc.body))
			if (te != nil) != tc.anything {
				t.Fatalf("explainAnswer = %+v", te)
			}
			if te == nil {
				return
			}
			if te.Key != tc.key || te.Upstream != tc.upstream || tc.cause != "" && te.Cause != tc.cause {
				t.Errorf("explainAnswer = %+v; want key %q, cause %q, upstream %v", te, tc.key, tc.cause, tc.upstream)
			}
			if e, ok := problem.Lookup(tc.key); ok && tc.cause == "" && te.Cause != e.Description {
				t.Errorf("a concealed cause shows %q; want the entry's description", te.Cause)
			}
		})
	}
}
