package server

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"gatehouse/internal/gateway"
	"gatehouse/internal/problem"
	"gatehouse/internal/testcamara"
	"gatehouse/internal/testhttp"
)

// tryPlatform is a platform serving the sandbox SIM Swap API with the
// real CAMARA document, and a developer signed up on its portal (whose
// sign-up made a sandbox app: the one try-it calls with).
type tryPlatform struct {
	*testPlatform
	// dev is the developer's browser, signed in; appID their app, app its
	// sandbox credential.
	dev   *browser
	appID string
	app   client
}

// newTryPlatform starts the platform; setup, when not nil, runs before
// the developer signs up (their sandbox app gets every scope defined
// then). The CAMARA document comes after: the app lacks the scope only it
// defines, "sim-swap".
func newTryPlatform(t *testing.T, setup func(tp *testPlatform)) *tryPlatform {
	t.Helper()
	doc := testcamara.Read(t, "sim-swap.yaml") // skips without the shared test data
	tp := newTestPlatform(t, nil)
	if setup != nil {
		setup(tp)
	}
	dev := newBrowser(t, tp)
	appID, id, secret := dev.signUp("Try Developer", "try@example.com", "correct horse battery")
	if _, err := tp.parts.APIs.Update(context.Background(), "sim-swap", gateway.APIUpdate{Document: doc}); err != nil {
		t.Fatalf("serving the CAMARA SIM Swap document in the sandbox: %v", err)
	}
	return &tryPlatform{testPlatform: tp, dev: dev, appID: appID, app: client{ID: id, Secret: secret}}
}

// page is a portal page as the browser got it.
type page struct {
	status int
	body   string // the HTML as sent
	text   string // the same with character references decoded
}

// portal has b send a GET (form nil) or post a form (with the
// anti-forgery token of the page b loaded last, as a browser with
// JavaScript off does).
func (tp *tryPlatform) portal(b *browser, path string, form url.Values) page {
	tp.t.Helper()
	var status int
	var body string
	if form == nil {
		status, body = b.get(path)
	} else {
		status, body = b.post(path, form)
	}
	return page{status: status, body: body, text: html.UnescapeString(body)}
}

var (
	textareaPattern = regexp.MustCompile(`(?s)<textarea[^>]*name="body"[^>]*>(.*?)</textarea>`)
	jwtPattern      = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
	curlPattern     = regexp.MustCompile(`(?s)<code class="lang-shell">(.*?)</code>`)
)

// formBody is the body the page's form holds, as a browser sends it (line
// breaks as CRLF).
func formBody(t *testing.T, p page) string {
	t.Helper()
	m := textareaPattern.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the page has no body field:\n%s", p.body)
	}
	return strings.ReplaceAll(html.UnescapeString(strings.TrimPrefix(m[1], "\n")), "\n", "\r\n")
}

func curlOf(t *testing.T, p page) string {
	t.Helper()
	m := curlPattern.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the result has no curl line:\n%s", p.body)
	}
	return html.UnescapeString(m[1])
}

// noToken fails when a page holds an access token (every JWT starts with
// the base64 of `{"`).
func noToken(t *testing.T, what string, p page) {
	t.Helper()
	if tok := jwtPattern.FindString(p.text); tok != "" {
		t.Errorf("%s: the page holds a token %s", what, tok)
	}
	if strings.Contains(p.text, "Bearer ey") {
		t.Errorf("%s: the page holds a bearer token", what)
	}
}

// TestTryItSandbox: the API page links each operation's form; the form is
// pre-filled from the sandbox's first rule for it; posting it (a plain
// form, no JavaScript) calls the gateway with a token minted for the
// developer's sandbox app and shows the answer, its correlator and the
// curl line of the same call — never the token.
func TestTryItSandbox(t *testing.T) {
	t.Parallel()
	tp := newTryPlatform(t, nil)
	const action = "/portal/apis/sim-swap/try/checkSimSwap"

	api := tp.portal(newBrowser(t, tp.testPlatform), "/portal/apis/sim-swap", nil)
	for _, want := range []string{`href="` + action + `"`, `href="/portal/apis/sim-swap/try/retrieveSimSwapDate"`} {
		if !strings.Contains(api.body, want) {
			t.Errorf("the API page does not link %s", want)
		}
	}

	form := tp.portal(tp.dev, action, nil)
	if form.status != 200 {
		t.Fatalf("GET %s = %d:\n%s", action, form.status, form.text)
	}
	for _, want := range []string{
		`<form method="post" action="` + action + `#result"`, `<label for="f-body">`, `<label for="f-header-x-correlator">`,
		`<option selected>sim-swap:check</option>`, `<option>sim-swap</option>`, `href="` + action + `?preset=1"`,
	} {
		if !strings.Contains(form.body, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	if strings.Contains(form.body, "<script>") || regexp.MustCompile(`<script(?: [^>]*)?>[^<]`).MatchString(form.body) {
		t.Errorf("the form page has inline script")
	}
	body := formBody(t, form)
	if got, want := strings.ReplaceAll(body, "\r\n", ""), `{  "phoneNumber": "+34600000001",  "maxAge": 240}`; got != want {
		t.Errorf("the form holds %q; want the first sandbox rule's body %q", got, want)
	}

	res := tp.portal(tp.dev, action, url.Values{"scope": {"sim-swap:check"}, "header.x-correlator": {""}, "body": {body}})
	if res.status != 200 {
		t.Fatalf("POST %s = %d:\n%s", action, res.status, res.text)
	}
	for _, want := range []string{`id="result"`, "200 OK", `"swapped": true`, "<dt>X-Correlator</dt>", "<dt>RateLimit</dt>", "<dt>RateLimit-Policy</dt>"} {
		if !strings.Contains(res.text, want) {
			t.Errorf("the result lacks %s:\n%s", want, res.text)
		}
	}
	if !regexp.MustCompile(`<dt>X-Correlator</dt><dd><code>[0-9a-f-]{36}</code>`).MatchString(res.body) {
		t.Errorf("the result shows no correlator")
	}
	noToken(t, "the result", res)
	curl := curlOf(t, res)
	wantCurl := "curl -i -X POST '" + tp.Issuer + "/sim-swap/v2/check' \\\n  -H \"Authorization: Bearer $TOKEN\" \\\n" +
		"  -H 'Content-Type: application/json' \\\n  --data-raw '{\n  \"phoneNumber\": \"+34600000001\",\n  \"maxAge\": 240\n}'"
	if !strings.Contains(curl, wantCurl) {
		t.Errorf("curl line:\n%s\nwant it to hold:\n%s", curl, wantCurl)
	}
	if !strings.Contains(curl, "-u '"+tp.app.ID+"':\"$CLIENT_SECRET\"") || !strings.Contains(curl, "-d scope='sim-swap:check'") {
		t.Errorf("the curl line does not get a token for the sandbox app:\n%s", curl)
	}

	// The same call made by the curl line's recipe answers the same.
	tok := tp.token(tp.app, "sim-swap:check")
	resp, b := testhttp.Call(t, http.MethodPost, tp.Issuer+"/sim-swap/v2/check", tok, "application/json", strings.ReplaceAll(body, "\r\n", "\n"))
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"swapped":true`) {
		t.Errorf("the curl line's call answers %d %s", resp.StatusCode, b)
	}
}

// TestTryItErrors: an error answer shows its registry entry, the cause
// that happened and the fix, linked, whether the sandbox answered it (a
// rule's preset) or the gateway (a value the schema refuses, a body that
// is not JSON: sent anyway, with the field marked).
func TestTryItErrors(t *testing.T) {
	t.Parallel()
	tp := newTryPlatform(t, nil)
	const action = "/portal/apis/sim-swap/try/checkSimSwap"

	// The preset of the rule "the line ends in 3".
	form := tp.portal(tp.dev, action, nil)
	m := regexp.MustCompile(`href="(` + regexp.QuoteMeta(action) + `\?preset=\d+)">the line ends in 3`).FindStringSubmatch(form.body)
	if m == nil {
		t.Fatalf("no preset for the line ending in 3:\n%s", form.text)
	}
	preset := tp.portal(tp.dev, m[1], nil)
	res := tp.portal(tp.dev, action, url.Values{"scope": {"sim-swap:check"}, "body": {formBody(t, preset)}})
	entry, _ := problem.Lookup("service_not_applicable")
	if entry == nil {
		t.Fatal("the registry has no service_not_applicable")
	}
	cause := entry.Causes[0]
	for _, want := range []string{
		"422 Unprocessable Entity", `href="/docs/errors#service_not_applicable"`, entry.Title,
		"Cause:</strong> " + cause.Text, "The API says:</strong> Sandbox: SIM Swap is not available",
		"How to fix it:</strong> ", `"code": "SERVICE_NOT_APPLICABLE"`, "<dt>X-Correlator</dt>",
	} {
		if !strings.Contains(res.text, want) {
			t.Errorf("the sandbox's 422 lacks %q:\n%s", want, res.text)
		}
	}

	// The gateway's own: a number the schema refuses, a body not JSON.
	for _, tc := range []struct {
		name, body, cause, note string
	}{
		{"schema", `{"phoneNumber": "0034600000001"}`, "schema_violation", ""},
		{"not JSON", `{"phoneNumber": +34600000001}`, "malformed_body", "This is not valid JSON (line 1, column 17"},
	} {
		res := tp.portal(tp.dev, action, url.Values{"scope": {"sim-swap:check"}, "body": {tc.body}})
		entry, _ := problem.Lookup("bad_request")
		c, _ := entry.Cause(tc.cause)
		for _, want := range []string{"400 Bad Request", `href="/docs/errors#bad_request"`, "Cause:</strong> " + c.Text, `"code": "INVALID_ARGUMENT"`, tc.note} {
			if !strings.Contains(res.text, want) {
				t.Errorf("%s: the result lacks %q:\n%s", tc.name, want, res.text)
			}
		}
		if !strings.Contains(curlOf(t, res), "--data-raw '"+tc.body+"'") {
			t.Errorf("%s: the curl line does not send the body as typed:\n%s", tc.name, curlOf(t, res))
		}
		noToken(t, tc.name, res)
	}

	// A scope the sandbox app is not allowed (defined by an API imported
	// after it was made): the token is refused, with the registry's fix,
	// and nothing is called.
	upstream := testhttp.NewRecorder(t)
	imp := testhttp.MustJSON(t, map[string]any{"name": "items", "base_path": "/items/v1", "upstream_url": upstream.URL, "status": "sandbox", "document": itemsAPI})
	if resp, b := tp.adminCall("POST", "/admin/apis", tp.adminToken(), "application/json", imp); resp.StatusCode != 201 {
		t.Fatalf("importing: %d %s", resp.StatusCode, b)
	}
	tp.portal(tp.dev, "/portal/apis/items/try/updateItem", nil)
	res = tp.portal(tp.dev, "/portal/apis/items/try/updateItem", url.Values{"path.itemId": {"a-1"}, "scope": {"items:write"}, "body": {`{}`}})
	entry, _ = problem.Lookup("invalid_scope")
	c, _ := entry.Cause("scope_not_allowed")
	if res.status != 400 || !strings.Contains(res.text, `href="/docs/errors#invalid_scope"`) || !strings.Contains(res.text, c.Text) ||
		strings.Contains(res.text, `id="result"`) || len(upstream.Take()) != 0 {
		t.Errorf("a scope the app lacks: %d\n%s", res.status, res.text)
	}
}

// TestTryItRefusals: no session asks the developer to sign in (the form
// keeps what they typed); a forged form is refused; an unknown operation
// is the registry's 404; a live API is tried only once its operator opens
// it, an API in maintenance never; a developer without sandbox
// credentials is sent to make an app.
func TestTryItRefusals(t *testing.T) {
	t.Parallel()
	tp := newTryPlatform(t, nil)
	const action = "/portal/apis/sim-swap/try/checkSimSwap"

	anon := newBrowser(t, tp.testPlatform)
	get := tp.portal(anon, action, nil)
	if get.status != 200 || !strings.Contains(get.body, `<a href="/portal/signin?next=%2Fportal%2Fapis%2Fsim-swap%2Ftry%2FcheckSimSwap">Sign in</a>`) {
		t.Errorf("signed out, GET = %d without a sign-in link:\n%s", get.status, get.text)
	}
	typed := `{"phoneNumber": "+34600000002"}`
	res := tp.portal(anon, action, url.Values{"scope": {"sim-swap:check"}, "body": {typed}})
	entry, _ := problem.Lookup("unauthenticated")
	c, _ := entry.Cause("session_required")
	for _, want := range []string{`href="/portal/signin?next=%2Fportal%2Fapis%2Fsim-swap%2Ftry%2FcheckSimSwap"`, c.Text, `href="/docs/errors#unauthenticated"`, ">" + typed + "</textarea>"} {
		if !strings.Contains(res.text, want) {
			t.Errorf("signed out, POST lacks %q:\n%s", want, res.text)
		}
	}
	if res.status != 401 || strings.Contains(res.text, `id="result"`) {
		t.Errorf("signed out, POST = %d (a result: %v); want 401 and no call", res.status, strings.Contains(res.text, `id="result"`))
	}

	// A form without the page's anti-forgery token.
	tp.portal(tp.dev, action, nil)
	if p := tp.portal(tp.dev, action, url.Values{"csrf": {"forged"}, "body": {typed}}); p.status != 403 || !strings.Contains(p.body, `/docs/errors#access_denied"`) || strings.Contains(p.body, `id="result"`) {
		t.Errorf("a forged anti-forgery token = %d:\n%s", p.status, p.text)
	}

	for _, path := range []string{"/portal/apis/sim-swap/try/teleport", "/portal/apis/nope/try/checkSimSwap"} {
		if p := tp.portal(tp.dev, path, nil); p.status != 404 || !strings.Contains(p.body, `/docs/errors#not_found"`) {
			t.Errorf("GET %s = %d; want the registry's 404 page", path, p.status)
		}
	}

	// A live API (the CAMARA Number Verification document, on a backend
	// of its own).
	upstream := testhttp.NewRecorder(t)
	imp := testhttp.MustJSON(t, map[string]any{
		"name": "camara-nv", "base_path": "/camara-nv/v2", "upstream_url": upstream.URL, "status": "live",
		"document": string(testcamara.Read(t, "number-verification.yaml")),
	})
	if resp, b := tp.adminCall("POST", "/admin/apis", tp.adminToken(), "application/json", imp); resp.StatusCode != 201 {
		t.Fatalf("importing the live API: %d %s", resp.StatusCode, b)
	}
	const live = "/portal/apis/camara-nv/try/phoneNumberVerify"
	if p := tp.portal(tp.dev, "/portal/apis/camara-nv", nil); p.status != 200 || strings.Contains(p.body, "/try/") {
		t.Errorf("a live API's page links try-it (or fails: %d)", p.status)
	}
	entry, _ = problem.Lookup("permission_denied")
	c, _ = entry.Cause("try_it_disabled")
	for _, p := range []page{tp.portal(tp.dev, live, nil), tp.portal(tp.dev, live, url.Values{"body": {`{}`}})} {
		if p.status != 403 || !strings.Contains(p.text, c.Text) || !strings.Contains(p.body, `/docs/errors#permission_denied"`) {
			t.Errorf("live API without try_live = %d:\n%s", p.status, p.text)
		}
	}
	if resp, b := tp.adminCall("PATCH", "/admin/apis/camara-nv", tp.adminToken(), "application/json", `{"try_live": true}`); resp.StatusCode != 200 || !strings.Contains(string(b), `"try_live": true`) {
		t.Fatalf("opening the live API to try-it: %d %s", resp.StatusCode, b)
	}
	if p := tp.portal(tp.dev, "/portal/apis/camara-nv", nil); !strings.Contains(p.body, `href="`+live+`"`) {
		t.Errorf("with try_live the API page does not link %s", live)
	}
	// A live API is tried with the app's production credentials; the
	// developer has none yet (no subscription): the console says so and
	// sends nothing.
	res = tp.portal(tp.dev, live, url.Values{"scope": {"number-verification:verify"}, "body": {`{"phoneNumber": "+34600000001"}`}})
	c, _ = entry.Cause("no_app_credentials")
	if res.status != 403 || !strings.Contains(res.text, c.Text) || !strings.Contains(res.body, `href="/portal/apis/camara-nv#plans"`) || len(upstream.Take()) != 0 {
		t.Errorf("try a live API without production credentials = %d:\n%s", res.status, res.text)
	}
	noToken(t, "live", res)

	if resp, b := tp.adminCall("PATCH", "/admin/apis/camara-nv", tp.adminToken(), "application/json", `{"status": "maintenance"}`); resp.StatusCode != 200 {
		t.Fatalf("maintenance: %d %s", resp.StatusCode, b)
	}
	if p := tp.portal(tp.dev, live, nil); p.status != 503 || !strings.Contains(p.body, `/docs/errors#unavailable"`) {
		t.Errorf("an API in maintenance = %d:\n%s", p.status, p.text)
	}

	// A developer without sandbox credentials is sent to make an app.
	tp.portal(tp.dev, "/portal/apps/"+tp.appID, nil)
	if p := tp.portal(tp.dev, "/portal/apps/"+tp.appID+"/credentials/sandbox/revoke", url.Values{}); p.status != 200 {
		t.Fatalf("revoking the sandbox credential = %d", p.status)
	}
	if p := tp.portal(tp.dev, action, nil); !strings.Contains(p.body, `<a href="/portal/apps">Create an app</a> to send the request`) {
		t.Errorf("without a sandbox app, the form does not say to create one:\n%s", p.text)
	}
	res = tp.portal(tp.dev, action, url.Values{"body": {typed}})
	entry, _ = problem.Lookup("permission_denied")
	c, _ = entry.Cause("no_app_credentials")
	if res.status != 403 || !strings.Contains(res.text, c.Text) || !strings.Contains(res.body, `<a class="button" href="/portal/apps">Create an app</a>`) || strings.Contains(res.text, `id="result"`) {
		t.Errorf("without a sandbox app, POST = %d:\n%s", res.status, res.text)
	}
}

// itemsAPI is an API with a parameter in the path, the query and a header.
const itemsAPI = `openapi: 3.0.3
info: {title: Items, version: 1.0.0}
servers: [{url: "https://example.com/items/v1"}]
components:
  securitySchemes:
    openId: {type: openIdConnect, openIdConnectUrl: "https://example.com/.well-known/openid-configuration"}
paths:
  /items/{itemId}:
    post:
      operationId: updateItem
      summary: Update an item
      security: [{openId: [items:write]}]
      parameters:
        - {name: itemId, in: path, required: true, schema: {type: string}, example: "a-1"}
        - {name: q, in: query, schema: {type: string}}
        - {name: X-Tenant, in: header, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object}
            example: {name: "first"}
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object}}}
}
`

// TestTryItSendsTheForm: what the upstream receives is the form's call,
// its parameters escaped, and the curl line repeats it exactly.
func TestTryItSendsTheForm(t *testing.T) {
	t.Parallel()
	upstream := testhttp.NewRecorder(t)
	tp := newTryPlatform(t, func(tp *testPlatform) {
		imp := testhttp.MustJSON(t, map[string]any{"name": "items", "base_path": "/items/v1", "upstream_url": upstream.URL, "status": "sandbox", "document": itemsAPI})
		if resp, b := tp.adminCall("POST", "/admin/apis", tp.adminToken(), "application/json", imp); resp.StatusCode != 201 {
			t.Fatalf("importing: %d %s", resp.StatusCode, b)
		}
	})
	const action = "/portal/apis/items/try/updateItem"
	form := tp.portal(tp.dev, action, nil)
	if !strings.Contains(form.body, `<input id="f-path-itemId" name="path.itemId" value="a-1"`) {
		t.Errorf("the path parameter is not pre-filled from its example:\n%s", form.text)
	}
	body := "{\r\n  \"name\": \"it's\"\r\n}"
	res := tp.portal(tp.dev, action, url.Values{
		"path.itemId": {"a b&é"}, "query.q": {"x y+z&w"}, "header.X-Tenant": {"t1"}, "scope": {"items:write"}, "body": {body},
	})
	if res.status != 200 || !strings.Contains(res.text, "200 OK") {
		t.Fatalf("POST = %d:\n%s", res.status, res.text)
	}
	got := upstream.Take()
	if len(got) != 1 {
		t.Fatalf("the upstream got %d requests", len(got))
	}
	const target = "/items/a%20b&%C3%A9?q=x+y%2Bz%26w"
	wantBody := strings.ReplaceAll(body, "\r\n", "\n")
	if r := got[0]; r.Target != target || r.Body != wantBody || r.Header.Get("X-Tenant") != "t1" {
		t.Errorf("the upstream got %s %q, X-Tenant %q; want %s %q, t1", r.Target, r.Body, r.Header.Get("X-Tenant"), target, wantBody)
	}
	want := "curl -i -X POST '" + tp.Issuer + "/items/v1" + target + "' \\\n  -H \"Authorization: Bearer $TOKEN\" \\\n  -H 'X-Tenant: t1' \\\n" +
		"  -H 'Content-Type: application/json' \\\n  --data-raw '{\n  \"name\": \"it'\\''s\"\n}'"
	if curl := curlOf(t, res); !strings.HasSuffix(curl, want) {
		t.Errorf("curl line:\n%s\nwant it to end with:\n%s", curl, want)
	}
	noToken(t, "items", res)

	// A header value no HTTP request can carry is refused in the form.
	res = tp.portal(tp.dev, action, url.Values{"path.itemId": {"a"}, "header.X-Tenant": {"t\n1"}, "body": {"{}"}})
	if res.status != 400 || !strings.Contains(res.body, `aria-invalid="true"`) || len(upstream.Take()) != 0 {
		t.Errorf("a header with a line break: %d\n%s", res.status, res.text)
	}
}
