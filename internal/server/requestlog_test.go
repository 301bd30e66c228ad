package server

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/testhttp"
)

var tryCorrelator = regexp.MustCompile(`<dt>X-Correlator</dt><dd><code>([^<]+)</code>`)

// TestRequestLog: a developer's calls — through try-it and straight to
// the sandbox with a token, successes and induced failures (a scope the
// token lacks, a body the schema refuses, a quota used up) — each appear
// in their organisation's request log, filtered; each failure's
// diagnosis names the stage that decided, the registry entry, its cause
// and fix, and the error body links that page. A developer of another
// organisation sees none of them: their correlators are the registry's
// 404 for them.
func TestRequestLog(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	dev := newBrowser(t, tp)
	appID, clientID, secret := dev.signUp("Log Developer", "log@example.com", "correct horse battery")
	app := client{ID: clientID, Secret: secret}

	// Through try-it: the console's call is a gateway call like any.
	const try = "/portal/apis/sim-swap/try/checkSimSwap"
	if status, _ := dev.get(try); status != 200 {
		t.Fatalf("GET %s = %d", try, status)
	}
	status, res := dev.post(try, url.Values{"scope": {"sim-swap:check"}, "header.x-correlator": {"try-call-1"},
		"body": {`{"phoneNumber":"+34600000001","maxAge":240}`}})
	m := tryCorrelator.FindStringSubmatch(res)
	if status != 200 || m == nil || m[1] != "try-call-1" {
		t.Fatalf("try-it call = %d, correlator %v:\n%s", status, m, res)
	}
	if !strings.Contains(res, `href="/portal/logs/try-call-1"`) {
		t.Errorf("the try-it result does not link the call's diagnosis")
	}

	// Straight to the gateway with a token.
	check := func(token, correlator, body string) (*http.Response, map[string]any) {
		t.Helper()
		resp, raw := tp.send(t, testhttp.Request{Path: "/sim-swap/v2/check", Token: token, Correlator: correlator, Body: body})
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp, out
	}
	const good = `{"phoneNumber":"+34600000001","maxAge":240}`
	if resp, body := check(tp.token(app, "sim-swap:check"), "direct/ok:1", good); resp.StatusCode != 200 {
		t.Fatalf("direct call = %d %v", resp.StatusCode, body)
	}
	resp, scopeBody := check(tp.token(app, "sim-swap:retrieve-date"), "wrong-scope-1", good)
	if resp.StatusCode != 403 {
		t.Fatalf("call with the wrong scope = %d %v", resp.StatusCode, scopeBody)
	}
	checkTok := tp.token(app, "sim-swap:check")
	if resp, body := check(checkTok, "invalid-body-1", `{"phoneNumber":"0034 600","maxAge":240}`); resp.StatusCode != 400 {
		t.Fatalf("call with an invalid body = %d %v", resp.StatusCode, body)
	}

	// A plan with a day quota of 1, bought for the app: the second call
	// is past it.
	tp.adminCall(http.MethodPost, "/admin/plans", tp.adminToken(), "application/json",
		`{"name":"tiny","rate_per_second":100,"burst":100,"quota_day":1}`)
	if resp, b := tp.adminCall(http.MethodPost, "/admin/subscriptions", tp.adminToken(), "application/json",
		`{"client_id":"`+clientID+`","api":"sim-swap","plan":"tiny"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("subscribing the app to the tiny plan = %d %s", resp.StatusCode, b)
	}
	var quotaBody map[string]any
	testhttp.Eventually(t, 30*time.Second, "the day quota of 1 to be used up", func() bool {
		var resp *http.Response
		resp, quotaBody = check(checkTok, "quota-1", good)
		return resp.StatusCode == 429
	})

	// The error body links the call's diagnosis page.
	for _, b := range []map[string]any{scopeBody, quotaBody} {
		want := tp.Issuer + "/portal/logs/" + url.PathEscape(b["correlator"].(string))
		if b["diagnosis"] != want || b["instance"] != "/sim-swap/v2/check" || b["code"] == nil || b["message"] == nil {
			t.Errorf("error body %v: want diagnosis %s, the request path as instance and CAMARA's code and message", b, want)
		}
	}

	// Every call shows in the log within the flush (deterministic here).
	want := []string{"try-call-1", "direct/ok:1", "wrong-scope-1", "invalid-body-1", "quota-1"}
	var logs string
	testhttp.Eventually(t, 30*time.Second, "every call in the request log", func() bool {
		tp.flushCalls()
		_, logs = dev.get("/portal/logs")
		logs = html.UnescapeString(logs)
		for _, c := range want {
			if !strings.Contains(logs, c) {
				return false
			}
		}
		return true
	})
	for _, s := range []string{"<h1>Request log</h1>", `id="paste-correlator"`, `href="/portal/logs" aria-current="page">Logs`} {
		if !strings.Contains(logs, s) {
			t.Errorf("the log page lacks %s", s)
		}
	}

	// Filters.
	for _, f := range []struct {
		query    string
		has, not []string
	}{
		{"status=4xx", []string{"wrong-scope-1", "invalid-body-1", "quota-1"}, []string{"try-call-1", "direct/ok:1"}},
		{"status=429", []string{"quota-1"}, []string{"wrong-scope-1"}},
		{"error=insufficient_scope", []string{"wrong-scope-1"}, []string{"quota-1", "direct/ok:1"}},
		{"api=sim-swap&app=" + appID + "&since=1h", want, nil},
		{"api=number-verification", nil, want},
	} {
		status, page := dev.get("/portal/logs?" + f.query)
		page = html.UnescapeString(page)
		if status != 200 {
			t.Errorf("GET /portal/logs?%s = %d", f.query, status)
		}
		for _, c := range f.has {
			if !strings.Contains(page, ">"+c+"<") {
				t.Errorf("/portal/logs?%s lacks %s", f.query, c)
			}
		}
		for _, c := range f.not {
			if strings.Contains(page, ">"+c+"<") {
				t.Errorf("/portal/logs?%s shows %s", f.query, c)
			}
		}
	}
	if status, _ := dev.get("/portal/logs?status=abc"); status != 400 {
		t.Errorf("GET /portal/logs?status=abc = %d; want 400", status)
	}

	// Each failure's diagnosis: the stage, the entry, its cause and fix.
	for _, d := range []struct {
		correlator, stage string
		reason            problem.Reason
	}{
		{"wrong-scope-1", "Scope", problem.InsufficientScopeScopeMissing},
		{"invalid-body-1", "Validation", problem.BadRequestSchemaViolation},
		{"quota-1", "Quota", problem.QuotaExceededDayQuota},
	} {
		status, page := dev.get("/portal/logs/" + url.PathEscape(d.correlator))
		if status != 200 {
			t.Errorf("diagnosis of %s = %d:\n%s", d.correlator, status, page)
			continue
		}
		e, _ := problem.Lookup(d.reason.Key())
		cause, _ := e.Cause(d.reason.CauseID())
		text := html.UnescapeString(page)
		for _, s := range []string{
			`<code>` + e.Key + `</code>`, cause.Text[:20], "How to fix it:",
			`href="` + tp.Issuer + `/docs/errors#` + e.Key + `"`,
			`<li class="stage stage-failed"><span class="stage-name">` + d.stage + `</span>`,
			`<span class="stage-name">Access token</span> <span class="stage-state">passed</span>`,
			"Run it again in the try console", `href="/portal/apis/sim-swap/try/checkSimSwap"`,
		} {
			if !strings.Contains(text, s) {
				t.Errorf("diagnosis of %s lacks %s:\n%s", d.correlator, s, text)
			}
		}
		if fix := strings.SplitN(e.Fix, "`", 2)[0]; !strings.Contains(text, fix) {
			t.Errorf("diagnosis of %s lacks the fix %q", d.correlator, fix)
		}
	}
	// A success: every stage passed and the upstream answered.
	_, ok := dev.get("/portal/logs/" + url.PathEscape("direct/ok:1"))
	if strings.Contains(ok, "stage-failed") || !strings.Contains(ok, `<span class="stage-name">Upstream</span> <span class="stage-state">answered</span>`) {
		t.Errorf("diagnosis of a success:\n%s", ok)
	}
	// The error body's link, and the paste box, lead there.
	req, _ := http.NewRequest(http.MethodGet, scopeBody["diagnosis"].(string), nil)
	if status, page := dev.do(req); status != 200 || !strings.Contains(page, "insufficient_scope") {
		t.Errorf("following the error body's diagnosis link = %d", status)
	}
	if status, page := dev.get("/portal/logs?correlator=" + url.QueryEscape("direct/ok:1")); status != 200 || !strings.Contains(page, "<h1>Correlator <code>direct/ok:1</code></h1>") {
		t.Errorf("the correlator box = %d:\n%s", status, page)
	}
	if status, page := dev.get("/portal/logs/never-sent"); status != 404 || !strings.Contains(page, "not_found") {
		t.Errorf("an unknown correlator = %d; want the registry's 404:\n%s", status, page)
	}

	// Another organisation sees none of it.
	other := newBrowser(t, tp)
	other.signUp("Other Developer", "other@example.com", "correct horse battery")
	for _, c := range want {
		status, page := other.get("/portal/logs/" + url.PathEscape(c))
		if status != 404 || strings.Contains(page, clientID) || strings.Contains(page, "stage-name") {
			t.Errorf("another organisation's developer GET the diagnosis of %s = %d; want the registry's 404 and nothing of the call", c, status)
		}
	}
	if _, page := other.get("/portal/logs"); strings.Contains(page, "wrong-scope-1") || strings.Contains(page, clientID) {
		t.Errorf("another organisation's log shows the first's calls")
	}
	// Signed out, the log asks to sign in.
	anon := newBrowser(t, tp)
	anon.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if status, _ := anon.get("/portal/logs/quota-1"); status != http.StatusSeeOther {
		t.Errorf("a diagnosis signed out = %d; want 303 to sign in", status)
	}
}
