package server

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/testhttp"
)

// TestAPIDeprecation runs issue 13 §4's deprecation through the real
// server: the operator announces it with the admin API; every answer of
// the API, the gateway's errors included, carries Deprecation (RFC 9745),
// Sunset (RFC 8594) and Links to the API's portal page and its successor's;
// the portal shows the dates; a deprecation that cannot hold is the
// registry's 400 naming the field; and withdrawing it removes the fields.
func TestAPIDeprecation(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	admin := tp.adminToken()
	patch := func(body string) (*http.Response, []byte) {
		t.Helper()
		return tp.adminCall(http.MethodPatch, "/admin/apis/sim-swap", admin, "application/json", body)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"deprecation":{"at":"2026-01-01T00:00:00Z","sunset":"2025-06-30T00:00:00Z"}}`, "deprecation.sunset"},
		{`{"deprecation":{"at":"2026-01-01T00:00:00Z","successor":"sim-swap"}}`, "deprecation.successor"},
		{`{"deprecation":{"at":"2026-01-01T00:00:00Z","successor":"no-such-api"}}`, "deprecation.successor"},
		{`{"deprecation":{"sunset":"2027-06-30T00:00:00Z"}}`, "deprecation.at"},
	} {
		resp, body := patch(tc.body)
		if p := testhttp.CheckProblem(t, "PATCH "+tc.body, resp, body, http.StatusBadRequest, "bad_request", "invalid_parameter"); p != nil && p["field"] != tc.field {
			t.Errorf("PATCH %s: field %v; want %s", tc.body, p["field"], tc.field)
		}
	}

	resp, body := patch(`{"deprecation":{"at":"2026-01-01T00:00:00Z","sunset":"2027-06-30T00:00:00Z","successor":"number-verification"}}`)
	var view struct {
		Deprecation map[string]string `json:"deprecation"`
	}
	_ = json.Unmarshal(body, &view)
	if want := map[string]string{"at": "2026-01-01T00:00:00Z", "sunset": "2027-06-30T00:00:00Z", "successor": "number-verification"}; resp.StatusCode != 200 || !maps.Equal(view.Deprecation, want) {
		t.Fatalf("announcing the deprecation = %d %s; want deprecation %v", resp.StatusCode, body, want)
	}
	c := tp.createClient("deprecation", "sim-swap:check")
	tok := tp.token(c, "sim-swap:check")
	wantLinks := []string{
		"<" + tp.Issuer + `/portal/apis/sim-swap>; rel="deprecation"; type="text/html"`,
		"<" + tp.Issuer + `/portal/apis/number-verification>; rel="successor-version"; type="text/html"`,
	}
	check := func(what string, resp *http.Response, status int) {
		t.Helper()
		if resp.StatusCode != status {
			t.Errorf("%s = %d; want %d", what, resp.StatusCode, status)
		}
		if got := resp.Header.Get("Deprecation"); got != "@1767225600" {
			t.Errorf("%s: Deprecation %q; want @1767225600 (RFC 9745's Date of 2026-01-01)", what, got)
		}
		if got := resp.Header.Get("Sunset"); got != "Wed, 30 Jun 2027 00:00:00 GMT" {
			t.Errorf("%s: Sunset %q; want the HTTP-date of 2027-06-30", what, got)
		}
		links := resp.Header.Values("Link")
		for _, l := range wantLinks {
			if !strings.Contains(strings.Join(links, ", "), l) {
				t.Errorf("%s: Link %q lacks %s", what, links, l)
			}
		}
	}
	const good = `{"phoneNumber":"+34600000001","maxAge":240}`
	ok, _ := tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Token: tok, Body: good})
	check("a call the sandbox answers", ok, 200)
	noToken, _ := tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Body: good})
	check("a call without a token (the gateway's 401)", noToken, 401)
	other, _ := tp.send(t, testhttp.Request{Method: "POST", Path: "/number-verification/v0/verify", Token: tok, Body: `{}`})
	if other.Header.Get("Deprecation") != "" {
		t.Errorf("an API not deprecated answered with Deprecation %q", other.Header.Get("Deprecation"))
	}

	// The portal shows the dates, and the catalog marks the API.
	b := newBrowser(t, tp)
	if status, page := b.get("/portal/apis/sim-swap"); status != 200 || !strings.Contains(page, "Deprecated since 1 January 2026.") ||
		!strings.Contains(page, "30 June 2027 00:00 UTC") || !strings.Contains(page, `<a href="/portal/apis/number-verification">its successor</a>`) {
		t.Errorf("the API page = %d without the deprecation's dates and successor", status)
	}
	if _, page := b.get("/portal/apis"); !strings.Contains(page, `<span class="pill pill-deprecated">deprecated</span>`) {
		t.Error("the catalog does not mark the deprecated API")
	}

	// Withdrawn: the fields go.
	if resp, body := patch(`{"deprecation":{}}`); resp.StatusCode != 200 || strings.Contains(string(body), `"deprecation"`) {
		t.Fatalf("withdrawing the deprecation = %d %s", resp.StatusCode, body)
	}
	after, _ := tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Token: tok, Body: good})
	if after.Header.Get("Deprecation") != "" || after.Header.Get("Sunset") != "" || len(after.Header.Values("Link")) != 0 {
		t.Errorf("after the withdrawal: Deprecation %q, Sunset %q, Link %q; want none", after.Header.Get("Deprecation"), after.Header.Get("Sunset"), after.Header.Values("Link"))
	}
}

// TestAPIChangelog: an API's page lists its versions, newest first, with
// what changed between documents (issue 13 §4), breaking changes marked.
func TestAPIChangelog(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	admin := tp.adminToken()
	imp := testhttp.MustJSON(t, map[string]any{"name": "echo", "base_path": "/echo/v1", "upstream_url": "http://127.0.0.1:9", "status": "live", "document": testhttp.EchoAPI})
	if resp, body := tp.adminCall("POST", "/admin/apis", admin, "application/json", imp); resp.StatusCode != 201 {
		t.Fatalf("importing = %d %s", resp.StatusCode, body)
	}
	v2 := strings.Replace(testhttp.EchoAPI, "version: 1.0.0", "version: 1.1.0", 1)
	v2 = strings.Replace(v2, "                pad:\n                  type: string\n", "                pad:\n                  type: integer\n                note:\n                  type: string\n", 1)
	if v2 == testhttp.EchoAPI || !strings.Contains(v2, "note:") {
		t.Fatal("the test's second document is the first")
	}
	if resp, body := tp.adminCall("PATCH", "/admin/apis/echo", admin, "application/json", testhttp.MustJSON(t, map[string]any{"document": v2})); resp.StatusCode != 200 {
		t.Fatalf("updating the document = %d %s", resp.StatusCode, body)
	}
	// A change that leaves the document alone adds no version.
	if resp, body := patchAPI(tp, "echo", `{"status":"maintenance"}`); resp.StatusCode != 200 {
		t.Fatalf("PATCH status = %d %s", resp.StatusCode, body)
	}
	_, page := newBrowser(t, tp).get("/portal/apis/echo")
	for _, want := range []string{
		`<h2 id="changelog-title">Changelog</h2>`,
		`<h3>Version 1.1.0`,
		`2 changes, <strong>1 of which may break a client</strong>`,
		`<code>POST /call</code>: New optional field note`,
		`<span class="pill pill-breaking">breaking</span> <code>POST /call</code>: The type of field pad changed from string to integer`,
		`<h3>Version 1.0.0`,
		`First published.`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the API page lacks %q", want)
		}
	}
	if i, j := strings.Index(page, "Version 1.1.0"), strings.Index(page, "Version 1.0.0"); i < 0 || j < i {
		t.Error("the changelog is not newest first")
	}
}

func patchAPI(tp *testPlatform, name, body string) (*http.Response, []byte) {
	return tp.adminCall(http.MethodPatch, "/admin/apis/"+name, tp.adminToken(), "application/json", body)
}
