package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/health"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/testhttp"
)

// admin sends an admin API request with the admin token and v, when not
// nil, as its JSON body, and returns the body of the response; any other
// status than want fails the test.
func (ts *testPlatform) admin(method, path string, v any, want int) []byte {
	ts.t.Helper()
	var body, contentType string
	if v != nil {
		body, contentType = testhttp.MustJSON(ts.t, v), "application/json"
	}
	resp, b := ts.adminCall(method, path, ts.adminToken(), contentType, body)
	if resp.StatusCode != want {
		ts.t.Fatalf("%s %s: %d %s; want %d", method, path, resp.StatusCode, b, want)
	}
	return b
}

func causeID(body map[string]any) string {
	c, _ := body["cause"].(map[string]any)
	id, _ := c["id"].(string)
	return id
}

// TestPlansSubscriptionsAndLimits covers "purchase" end to end: the free
// sandbox plan without subscribing, 403 for a live API without a
// subscription, quotas and rates answered 429 with Retry-After, the RateLimit
// fields, upgrades applying on the next request, approval, and usage.
func TestPlansSubscriptionsAndLimits(t *testing.T) {
	// Not parallel: it needs a few requests within one second of a
	// limiter, which the package's other tests would slow down.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"pong":true}`)
	}))
	defer upstream.Close()
	ts := newTestPlatform(t, nil)
	ts.admin(http.MethodPost, "/admin/apis", map[string]any{"document": testhttp.LiveAPI, "upstream_url": upstream.URL + "/live/v1"}, http.StatusCreated)

	// Default plans exist on a fresh install.
	var planList struct {
		Plans []struct{ Name string } `json:"plans"`
	}
	_ = json.Unmarshal(ts.admin(http.MethodGet, "/admin/plans", nil, http.StatusOK), &planList)
	var names []string
	for _, p := range planList.Plans {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "business,sandbox,starter" {
		t.Errorf("default plans = %s; want business,sandbox,starter", got)
	}

	app := ts.createClient("buyer", "sim-swap:check", "live:ping")
	tok := ts.token(app, "")

	// Sandbox APIs work at once on the free plan, with its RateLimit fields.
	resp, body := testhttp.PostJSON(t, ts.Issuer+"/sim-swap/v2/check", tok, `{"phoneNumber":"+34600000001"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sandbox call without subscription: %d %v", resp.StatusCode, body)
	}
	if got, want := resp.Header.Get("RateLimit-Policy"), `"rate";q=20;w=2, "day";q=1000;w=86400`; got != want {
		t.Errorf("RateLimit-Policy = %q; want %q", got, want)
	}
	if got := resp.Header.Get("RateLimit"); !strings.Contains(got, `"day";r=999;t=`) {
		t.Errorf("RateLimit = %q; want the day quota's remaining 999", got)
	}

	// A live API needs a subscription.
	live := ts.Issuer + "/live/v1/ping"
	testhttp.Eventually(t, 5*time.Second, "the imported API to be served", func() bool {
		resp, _ := testhttp.PostJSON(t, live, tok, `{"n":1}`)
		return resp.StatusCode != http.StatusNotFound
	})
	resp, body = testhttp.PostJSON(t, live, tok, `{"n":1}`)
	if resp.StatusCode != 403 || body["code"] != "PERMISSION_DENIED" || causeID(body) != "not_subscribed" {
		t.Fatalf("live API without subscription: %d %v; want 403 PERMISSION_DENIED not_subscribed", resp.StatusCode, body)
	}

	// Subscribe on a plan with a day quota of 3.
	out := ts.admin(http.MethodPost, "/admin/plans", map[string]any{"name": "tiny", "rate_per_second": 1000, "burst": 1000, "quota_day": 3}, http.StatusCreated)
	if !strings.Contains(string(out), `"quota_day": 3`) {
		t.Fatalf("plans create answered %s", out)
	}
	var sub struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(ts.admin(http.MethodPost, "/admin/subscriptions", map[string]any{"client_id": app.ID, "api": "live", "plan": "tiny"}, http.StatusCreated), &sub); err != nil || sub.ID == "" || sub.Status != "active" {
		t.Fatalf("subscriptions create: %+v %v", sub, err)
	}
	testhttp.Eventually(t, 5*time.Second, "the subscription to reach the gateway", func() bool {
		resp, _ := testhttp.PostJSON(t, live, tok, `{"n":1}`)
		return resp.StatusCode == 200
	})
	for i := 2; i <= 3; i++ {
		if resp, body := testhttp.PostJSON(t, live, tok, `{"n":1}`); resp.StatusCode != 200 {
			t.Fatalf("call %d within the quota: %d %v", i, resp.StatusCode, body)
		}
	}
	resp, body = testhttp.PostJSON(t, live, tok, `{"n":1}`)
	if resp.StatusCode != 429 || body["code"] != "QUOTA_EXCEEDED" || causeID(body) != "day_quota" {
		t.Fatalf("call past the quota: %d %v; want 429 QUOTA_EXCEEDED day_quota", resp.StatusCode, body)
	}
	now := time.Now().UTC()
	untilMidnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < int(untilMidnight.Seconds())-5 || ra > int(untilMidnight.Seconds())+5 {
		t.Errorf("Retry-After = %q; want the seconds until UTC midnight (%d)", resp.Header.Get("Retry-After"), int(untilMidnight.Seconds()))
	}
	if link := resp.Header.Get("Link"); !strings.Contains(link, "/portal/apis/live#plans") || !strings.Contains(link, `rel="payment"`) {
		t.Errorf("Link = %q; want the plan-upgrade page", link)
	}
	if body["upgrade"] == nil || !strings.Contains(resp.Header.Get("RateLimit"), `"day";r=0;`) {
		t.Errorf("quota refusal: upgrade member %v, RateLimit %q", body["upgrade"], resp.Header.Get("RateLimit"))
	}
	// Both the Link and the upgrade member land on the API's plans in the
	// portal.
	for _, link := range []string{strings.TrimSuffix(strings.TrimPrefix(strings.Split(resp.Header.Get("Link"), ";")[0], "<"), ">"), fmt.Sprint(body["upgrade"])} {
		page, anchor, _ := strings.Cut(link, "#")
		got, err := http.Get(page)
		if err != nil {
			t.Fatal(err)
		}
		html, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if got.StatusCode != 200 || !strings.Contains(string(html), `id="`+anchor+`"`) {
			t.Errorf("GET %s: %d, want the page with #%s", link, got.StatusCode, anchor)
		}
	}
	// Refused calls are not counted: still exactly 0 left, not negative.

	// Upgrading takes effect on the next request.
	ts.admin(http.MethodPost, "/admin/plans", map[string]any{"name": "tiny-rate", "rate_per_second": 1, "burst": 2}, http.StatusCreated)
	ts.admin(http.MethodPatch, "/admin/subscriptions/"+sub.ID, map[string]any{"plan": "tiny-rate"}, http.StatusOK)
	testhttp.Eventually(t, 5*time.Second, "the upgrade to apply", func() bool {
		resp, _ := testhttp.PostJSON(t, live, tok, `{"n":1}`)
		return resp.StatusCode == 200
	})
	// The new plan's rate: burst 2 at once, then 429 TOO_MANY_REQUESTS.
	var refused *http.Response
	var refusedBody map[string]any
	for i := 0; i < 5 && refused == nil; i++ {
		if resp, body := testhttp.PostJSON(t, live, tok, `{"n":1}`); resp.StatusCode == 429 {
			refused, refusedBody = resp, body
		}
	}
	if refused == nil || refusedBody["code"] != "TOO_MANY_REQUESTS" || causeID(refusedBody) != "rate_limited" {
		t.Fatalf("over the rate: %v; want 429 TOO_MANY_REQUESTS rate_limited", refusedBody)
	}
	if ra := refused.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("rate refusal Retry-After = %q; want 1", ra)
	}

	// A plan that needs approval waits as the pending plan; the plan in
	// force stays, with its rate (a call is admitted or refused by it,
	// whichever the time since the burst allows, never 403).
	var pending struct {
		ID, Status, Plan string
		PendingPlan      string `json:"pending_plan"`
	}
	if err := json.Unmarshal(ts.admin(http.MethodPatch, "/admin/subscriptions/"+sub.ID, map[string]any{"plan": "business"}, http.StatusOK), &pending); err != nil ||
		pending.Status != "active" || pending.Plan != "tiny-rate" || pending.PendingPlan != "business" {
		t.Fatalf("moving to business: %+v %v; want active on tiny-rate, business pending", pending, err)
	}
	resp, body = testhttp.PostJSON(t, live, tok, `{"n":1}`)
	if policy := resp.Header.Get("RateLimit-Policy"); resp.StatusCode == 403 || policy != `"rate";q=2;w=2` {
		t.Fatalf("a call while business waits: %d %v, RateLimit-Policy %q; want tiny-rate's", resp.StatusCode, body, policy)
	}
	ts.admin(http.MethodPost, "/admin/subscriptions/"+sub.ID+"/approve", nil, http.StatusOK)
	// The rate's state carries over the change (internal/plans), so the
	// first call on business may come a few milliseconds early.
	testhttp.Eventually(t, 5*time.Second, "the approved plan to be served", func() bool {
		resp, _ := testhttp.PostJSON(t, live, tok, `{"n":1}`)
		return resp.StatusCode == 200
	})

	// Usage: every call counted, errors by cause.
	var usage struct {
		Usage []struct {
			ClientID string `json:"client_id"`
			API      string `json:"api"`
			Error    string `json:"error"`
			Count    int64  `json:"count"`
		} `json:"usage"`
	}
	testhttp.Eventually(t, 10*time.Second, "usage to be flushed", func() bool {
		_ = json.Unmarshal(ts.admin(http.MethodGet, "/admin/usage?client_id="+url.QueryEscape(app.ID), nil, http.StatusOK), &usage)
		byError := map[string]int64{}
		for _, u := range usage.Usage {
			if u.API == "live" && u.Error != "" {
				byError[u.Error] += u.Count
			}
		}
		return byError["quota_exceeded/day_quota"] >= 1 && byError["permission_denied/not_subscribed"] >= 1
	})
	apis := map[string]bool{}
	for _, u := range usage.Usage {
		apis[u.API] = true
	}
	if !apis["live"] || !apis["sim-swap"] {
		t.Errorf("usage lacks the APIs: %+v", usage.Usage)
	}
}

// TestTokenEndpointAbuseLimit: a client past its token rate gets 429 in
// OAuth JSON with Retry-After, and others are unaffected.
func TestTokenEndpointAbuseLimit(t *testing.T) {
	// Not parallel: it needs a few requests within one second of a
	// limiter, which the package's other tests would slow down.
	ts := newTestPlatform(t, func(c *config.Config) { c.TokenRatePerClient = 1 })
	noisy := ts.createClient("noisy")
	quiet := ts.createClient("quiet")
	var limited *http.Response
	var e testhttp.OAuthError
	for i := 0; i < 10 && limited == nil; i++ {
		resp := ts.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, noisy.ID, noisy.Secret)
		if resp.StatusCode == 429 {
			limited = resp
			testhttp.DecodeJSON(t, resp, &e)
		} else {
			resp.Body.Close()
		}
	}
	if limited == nil || e.Cause != "token_endpoint_rate_limited" || limited.Header.Get("Retry-After") == "" || limited.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("noisy client: %+v; want 429 token_endpoint_rate_limited with Retry-After", e)
	}
	if e.Error != "temporarily_unavailable" || !strings.Contains(e.URI, "#too_many_requests") {
		t.Errorf("429 body = %+v; want error temporarily_unavailable and the too_many_requests entry", e)
	}
	resp := ts.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, quiet.ID, quiet.Secret)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("another client is affected: %d", resp.StatusCode)
	}
}

// TestOpenPartsOutlastsStoreTimeout: a node's first writes (its first
// signing key, the sandbox APIs, the default plans) are not requests, so
// store_timeout does not bound them: with a limit no write can meet, a
// fresh store still starts.
func TestOpenPartsOutlastsStoreTimeout(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if err := cfg.EnsureSecrets(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, cfg.Database())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Timeout = time.Nanosecond
	cfg.StoreTimeout = time.Nanosecond
	if _, err := OpenParts(ctx, cfg, st, health.NewTracker(nil)); err != nil {
		t.Fatalf("OpenParts with a 1 ns store_timeout: %v", err)
	}
	if _, err := st.GetAPI(ctx, "sim-swap"); err == nil {
		t.Error("a request-path read met a 1 ns limit; the test does not show what it claims")
	}
}
