package gateway_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"gatehouse/internal/gateway"
	"gatehouse/internal/plans"
	"gatehouse/internal/testclock"
	"gatehouse/internal/testhttp"
)

// planChange is a harness serving the live test API (testhttp.LiveAPI)
// with its clock set by the test, an app allowed to call it, and quota
// plans without a rate (so that only the quotas decide): small and large
// per day, small-month and large-month per month, vip per day on
// approval.
type planChange struct {
	*harness
	clock *testclock.Clock
	app   client
	tok   string
}

// morning is 10:00 UTC on a day in the middle of a month: 14 hours before
// the day's quota resets.
var morning = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

func newPlanChange(t *testing.T) *planChange {
	t.Helper()
	clock := testclock.New(morning)
	h := newHarness(t, func(c *gateway.Config) { c.Now = clock.Now })
	rec := testhttp.NewRecorder(t)
	h.importAPI(testhttp.LiveAPI, gateway.ImportOptions{Name: "live", Upstream: rec.URL + "/live/v1"})
	unlimited := 0.0
	for _, p := range []struct {
		name       string
		day, month int64
		approval   bool
	}{
		{"small", 2, 0, false}, {"large", 5, 0, false}, {"huge", 100, 0, false},
		{"small-month", 0, 2, false}, {"large-month", 0, 5, false},
		{"vip", 5, 0, true},
	} {
		if _, err := h.Plans.CreatePlan(context.Background(), p.name, plans.PlanSpec{RatePerSecond: &unlimited,
			QuotaDay: &p.day, QuotaMonth: &p.month, RequiresApproval: &p.approval}); err != nil {
			t.Fatal(err)
		}
	}
	app := h.createClient("buyer", "live:ping")
	return &planChange{harness: h, clock: clock, app: app, tok: h.token(app, "live:ping")}
}

// call calls the live API once and returns the status, the cause of a
// refusal, and the RateLimit-Policy and RateLimit fields.
func (p *planChange) call(t *testing.T) (status int, cause, policy, state string) {
	t.Helper()
	resp, b := p.send(t, testhttp.Request{Path: "/live/v1/ping", Token: p.tok, Body: `{"n":1}`})
	status, _, cause = gwCause(resp, b)
	return status, cause, resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit")
}

// want calls once and fails t unless the answer has the status, cause,
// policy and state given ("" state: any).
func (p *planChange) want(t *testing.T, what string, status int, cause, policy, state string) {
	t.Helper()
	gs, gc, gp, gst := p.call(t)
	if gs != status || gc != cause || gp != policy || (state != "" && gst != state) {
		t.Errorf("%s: %d %q, RateLimit-Policy %q, RateLimit %q; want %d %q, %q, %q", what, gs, gc, gp, gst, status, cause, policy, state)
	}
}

// subscribe subscribes the app to the live API on plan, as the admin API
// does (the gateway's cache is dropped at once).
func (p *planChange) subscribe(t *testing.T, plan string) string {
	t.Helper()
	v, err := p.Plans.Subscribe(context.Background(), plans.Operator, p.app.ID, "live", plan)
	if err != nil {
		t.Fatal(err)
	}
	return v.ID
}

func (p *planChange) change(t *testing.T, m *plans.Manager, id, plan string) *plans.SubscriptionView {
	t.Helper()
	v, err := m.ChangePlan(context.Background(), plans.Operator, id, plan)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const (
	smallDay = `"day";q=2;w=86400`
	largeDay = `"day";q=5;w=86400`
	hugeDay  = `"day";q=100;w=86400`
)

// TestUpgradeAppliesToTheNextRequest: an app refused for its quota calls
// again on the very next request after an upgrade made on this node, with
// the period's count carried over; an upgrade made elsewhere (another
// node, the CLI) reaches the gateway through the access generation it
// polls, without this node being told.
func TestUpgradeAppliesToTheNextRequest(t *testing.T) {
	t.Parallel()
	p := newPlanChange(t)
	id := p.subscribe(t, "small")
	p.want(t, "first call on small", 200, "", smallDay, `"day";r=1;t=50400`)
	p.want(t, "second call on small", 200, "", smallDay, `"day";r=0;t=50400`)
	p.want(t, "past small's quota", 429, "day_quota", smallDay, `"day";r=0;t=50400`)

	p.change(t, p.Plans, id, "large")
	p.want(t, "the next request after the upgrade", 200, "", largeDay, `"day";r=2;t=50400`)
	p.want(t, "the last call of large's day", 200, "", largeDay, `"day";r=1;t=50400`)
	p.want(t, "the last call of large's day", 200, "", largeDay, `"day";r=0;t=50400`)
	p.want(t, "past large's quota", 429, "day_quota", largeDay, "")

	// Another node's manager: no OnChange reaches this gateway.
	elsewhere := &plans.Manager{Store: p.Store}
	p.change(t, elsewhere, id, "huge")
	testhttp.Eventually(t, 10*time.Second, "the upgrade made elsewhere to reach the gateway", func() bool {
		status, _, policy, _ := p.call(t)
		return status == 200 && policy == hugeDay
	})
	p.want(t, "a call on huge", 200, "", hugeDay, `"day";r=93;t=50400`)
}

// TestDowngradeKeepsThePeriodsCount: after a downgrade, the requests
// already counted this period count against the new, smaller quota: an
// app past it is refused 429 QUOTA_EXCEEDED with the quota's cause until
// the period resets (the plans package doc states the rule).
func TestDowngradeKeepsThePeriodsCount(t *testing.T) {
	t.Parallel()
	t.Run("day", func(t *testing.T) {
		t.Parallel()
		p := newPlanChange(t)
		id := p.subscribe(t, "large")
		for i := range 3 {
			p.want(t, "call "+strconv.Itoa(i+1)+" on large", 200, "", largeDay, "")
		}
		p.change(t, p.Plans, id, "small")
		resp, b := p.send(t, testhttp.Request{Path: "/live/v1/ping", Token: p.tok, Body: `{"n":1}`})
		if status, code, cause := gwCause(resp, b); status != 429 || code != "QUOTA_EXCEEDED" || cause != "day_quota" {
			t.Errorf("the next call after the downgrade: %d %s %s %s; want 429 QUOTA_EXCEEDED day_quota", status, code, cause, b)
		}
		if got, want := resp.Header.Get("Retry-After"), "50400"; got != want {
			t.Errorf("Retry-After %q; want %q, the seconds until the UTC day ends", got, want)
		}
		if got := resp.Header.Get("RateLimit-Policy"); got != smallDay {
			t.Errorf("RateLimit-Policy %q; want small's %q", got, smallDay)
		}
		p.clock.Set(morning.Add(13 * time.Hour))
		p.want(t, "the same day, later", 429, "day_quota", smallDay, `"day";r=0;t=3600`)
		p.clock.Set(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC))
		p.want(t, "the next day", 200, "", smallDay, `"day";r=1;t=86400`)
		p.want(t, "the next day, small's last call", 200, "", smallDay, `"day";r=0;t=86400`)
		p.want(t, "the next day, past small's quota", 429, "day_quota", smallDay, "")
	})
	t.Run("month", func(t *testing.T) {
		t.Parallel()
		p := newPlanChange(t)
		id := p.subscribe(t, "large-month")
		for i := range 3 {
			p.want(t, "call "+strconv.Itoa(i+1)+" on large-month", 200, "", `"month";q=5;w=2592000`, "")
		}
		p.change(t, p.Plans, id, "small-month")
		p.want(t, "the next call after the downgrade", 429, "month_quota", `"month";q=2;w=2592000`, "")
		p.clock.Set(time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC))
		p.want(t, "another day of the month", 429, "month_quota", `"month";q=2;w=2592000`, "")
		p.clock.Set(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
		p.want(t, "the next month", 200, "", `"month";q=2;w=2592000`, "")
	})
}

// TestPendingUpgradeKeepsCalling: an upgrade waiting for approval leaves
// the plan in force enforced: the app keeps calling (200, not 403
// subscription_pending) on it, and is refused by its quota, until the
// approval puts the new plan in force on the next request. A new
// subscription waiting for approval has no plan in force yet (403), and
// once refused is gone (403 not_subscribed).
func TestPendingUpgradeKeepsCalling(t *testing.T) {
	t.Parallel()
	p := newPlanChange(t)
	ctx := context.Background()
	id := p.subscribe(t, "small")
	if v := p.change(t, p.Plans, id, "vip"); v.Status != "active" || v.Plan != "small" || v.PendingPlan != "vip" {
		t.Fatalf("the upgrade to vip = %+v; want active on small, vip pending", v)
	}
	p.want(t, "a call while vip waits", 200, "", smallDay, `"day";r=1;t=50400`)
	p.want(t, "small's last call", 200, "", smallDay, `"day";r=0;t=50400`)
	p.want(t, "past small's quota while vip waits", 429, "day_quota", smallDay, "")
	if _, err := p.Plans.Approve(ctx, id); err != nil {
		t.Fatal(err)
	}
	vipDay := `"day";q=5;w=86400`
	p.want(t, "the next request after the approval", 200, "", vipDay, `"day";r=2;t=50400`)

	if err := p.Plans.Unsubscribe(ctx, plans.Operator, id); err != nil {
		t.Fatal(err)
	}
	id = p.subscribe(t, "vip")
	p.want(t, "a new subscription waiting for approval", http.StatusForbidden, "subscription_pending", "", "")
	if _, err := p.Plans.Refuse(ctx, id); err != nil {
		t.Fatal(err)
	}
	p.want(t, "the refused subscription", http.StatusForbidden, "not_subscribed", "", "")
}
