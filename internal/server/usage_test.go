package server

import (
	"encoding/csv"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testclock"
	"gatehouse/internal/testhttp"
)

// limitField is the RateLimit field as the usage page prints it for the
// sandbox credential on sim-swap (its row: the API, then the plan).
var limitField = regexp.MustCompile(`<td>sim-swap</td>\s*<td>sandbox</td>[\s\S]*?<code class="ratelimit-field">RateLimit: ([^<]+)</code>`)

// TestUsagePage runs issue 13 §2 through the real server: calls made with
// a developer's sandbox credentials show on /portal/usage per app and API
// with their errors by cause and latency percentiles; the CSV export has
// the same calls; and the live limits the page prints are, at one instant
// (the platform's clock stopped), exactly the RateLimit field the gateway
// sent on the last call. The troubleshooting page marks the entries the
// developer's calls met.
func TestUsagePage(t *testing.T) {
	t.Parallel()
	clock := testclock.New(time.Now().UTC().Truncate(time.Hour).Add(30 * time.Minute))
	tp := newTestPlatformAt(t, nil, clock.Now)
	dev := newBrowser(t, tp)
	_, clientID, secret := dev.signUp("Usage Developer", "usage@example.com", "correct horse battery")
	app := client{ID: clientID, Secret: secret}

	if status, page := dev.get("/portal/usage"); status != 200 || !strings.Contains(page, "No calls") {
		t.Fatalf("GET /portal/usage before any call = %d, want 200 saying there are none:\n%s", status, page)
	}

	tok := tp.token(app, "sim-swap:check")
	const good = `{"phoneNumber":"+34600000001","maxAge":240}`
	for range 3 {
		resp, body := tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Token: tok, Body: good})
		if resp.StatusCode != 200 {
			t.Fatalf("sandbox call = %d %s", resp.StatusCode, body)
		}
	}
	resp, body := tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Token: tok, Body: `{"phoneNumber":"0034 600","maxAge":240}`})
	if resp.StatusCode != 400 {
		t.Fatalf("call with an invalid body = %d %s", resp.StatusCode, body)
	}
	// The invalid call was admitted by the plan too: its field is the
	// last the gateway sent.
	field := resp.Header.Get("RateLimit")
	if field == "" {
		t.Fatal("the gateway sent no RateLimit field")
	}

	status, page := dev.get("/portal/usage")
	if status != 200 {
		t.Fatalf("GET /portal/usage = %d:\n%s", status, page)
	}
	for _, want := range []string{
		`<th scope="row">My first app</th><td>sim-swap</td>`, // the app sign-up made
		`<td class="num">4</td><td class="num">1 <span class="sub">25.0 %</span></td>`,
		`href="/docs/errors#bad_request"><code>bad_request</code></a></th><td><code>schema_violation</code>`, // linked to its fix
		`<h2 id="chart-title">Calls per hour</h2>`,
		`<summary>The figures as a table</summary>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the usage page lacks %q", want)
		}
	}
	m := limitField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the usage page shows no live limits:\n%s", page)
	}
	if got := html.UnescapeString(m[1]); got != field {
		t.Errorf("live limits at the instant of the last call: the page says %q, the gateway sent %q", got, field)
	}

	// Time passes: the page and the gateway still agree.
	clock.Advance(1500 * time.Millisecond)
	resp, _ = tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Token: tok, Body: good})
	field = resp.Header.Get("RateLimit")
	_, page = dev.get("/portal/usage")
	if m := limitField.FindStringSubmatch(page); m == nil || html.UnescapeString(m[1]) != field {
		t.Errorf("live limits after the clock moved: page %v, gateway %q", m, field)
	}

	// The export has the same calls, hour by hour.
	req, _ := http.NewRequest(http.MethodGet, tp.Issuer+"/portal/usage.csv?range=7d", nil)
	resp, err := dev.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment; filename=") {
		t.Fatalf("GET /portal/usage.csv = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v", err)
	}
	var calls, failed int
	for _, r := range rows[1:] {
		if r[4] != clientID || r[5] != "sim-swap" {
			t.Errorf("export row for another credential or API: %v", r)
		}
		n := 0
		for _, c := range r[9] {
			n = n*10 + int(c-'0')
		}
		calls += n
		if r[7] == "bad_request" {
			failed += n
		}
	}
	if rows[0][0] != "hour_utc" || calls != 5 || failed != 1 {
		t.Errorf("export: header %v, %d calls (%d failed); want 5 calls, 1 failed:\n%v", rows[0], calls, failed, rows)
	}

	// A range the form cannot produce is the registry's 400, saying why.
	for q, why := range map[string]string{
		"range=1y": "not one of 24h, 7d, 30d or custom",
		"range=custom&from=2026-13-01&to=2026-12-02": "is not a date such as 2026-12-01",
		"range=custom&from=2026-12-05&to=2026-12-01": "ends (2026-12-01) before it starts",
		"range=custom&from=2020-01-01&to=2026-01-01": "spans at most 366 days",
	} {
		status, page := dev.get("/portal/usage?" + q)
		if status != 400 || !strings.Contains(page, "bad_request") || !strings.Contains(html.UnescapeString(page), why) {
			t.Errorf("GET /portal/usage?%s = %d; want 400 bad_request saying %q", q, status, why)
		}
	}
	// A custom range that holds the calls shows them.
	day := clock.Now().Format(time.DateOnly)
	if status, page := dev.get("/portal/usage?range=custom&from=" + day + "&to=" + day); status != 200 || !strings.Contains(page, `<td class="num">5</td>`) {
		t.Errorf("GET /portal/usage for today's date = %d, without the 5 calls", status)
	}
	// The troubleshooting page marks the entry the calls met, for the
	// developer only, and links the latest call's diagnosis.
	_, page = dev.get("/docs/errors")
	for _, want := range []string{`<h2 id="yours-title">Your recent errors</h2>`, `<li><a href="#bad_request"><code>bad_request</code></a>: 1 call</li>`,
		`<p class="yours-note"><strong>Your apps met this 1 time in the last 7 days</strong> (<code>schema_violation</code> 1).`,
		`: <a href="/portal/logs/`} {
		if !strings.Contains(page, want) {
			t.Errorf("the troubleshooting page, signed in, lacks %q", want)
		}
	}
	// Signed out: the sign-in page, for both.
	anon := newBrowser(t, tp)
	for _, path := range []string{"/portal/usage", "/portal/usage.csv"} {
		if status, page := anon.get(path); status != 200 || !strings.Contains(page, "Sign in") || strings.Contains(page, clientID) {
			t.Errorf("GET %s signed out = %d; want the sign-in page without the developer's data", path, status)
		}
	}
	if _, page := anon.get("/docs/errors"); strings.Contains(page, "Your recent errors") || strings.Contains(page, `class="yours-note"`) {
		t.Error("the troubleshooting page shows a visitor someone's errors")
	}
}
