package plans

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/store/storetest"
)

// t0 is the managers' clock in these tests, at the stores' millisecond
// precision. It is long past: the stores set an update's time themselves
// (storetest: updates follow UpdateClient's rules), so an update time is
// the real clock's, after t0.
var t0 = time.Date(2020, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// fixture is a Manager over a real store, its clock stopped at t0, with a
// count of its OnChange calls.
type fixture struct {
	m       *Manager
	st      *sqlstore.DB
	changes int
}

// eachStore runs test on a fresh SQLite store in a temporary directory
// and, when GATEHOUSE_TEST_POSTGRES_URL is set, on a fresh PostgreSQL
// schema of its own.
func eachStore(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Helper()
	stores := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "gatehouse.db") }},
		{"postgres", func(t *testing.T) string { return storetest.PostgresSchema(t, storetest.PostgresURL(t)) }},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			st, err := sqlstore.Open(t.Context(), s.url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			f := &fixture{st: st}
			f.m = &Manager{Store: st, OnChange: func() { f.changes++ }, Now: func() time.Time { return t0 }}
			test(t, f)
		})
	}
}

// wantChanges fails t unless OnChange was called n times so far; what
// says after what.
func (f *fixture) wantChanges(t *testing.T, what string, n int) {
	t.Helper()
	if f.changes != n {
		t.Errorf("%s: OnChange called %d times; want %d", what, f.changes, n)
	}
}

// client and api store what a subscription refers to.
func (f *fixture) client(t *testing.T, id string) {
	t.Helper()
	if err := f.st.CreateClient(t.Context(), &store.Client{ID: id, Name: id}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) api(t *testing.T, name string) {
	t.Helper()
	a := &store.API{Name: name, BasePath: "/" + name + "/v1", UpstreamURL: "http://upstream.test", Status: "live", Document: []byte("openapi: 3.0.3")}
	if err := f.st.CreateAPI(t.Context(), a); err != nil {
		t.Fatal(err)
	}
}

// wantProblem fails t unless err is a registry error of reason r, and
// returns it.
func wantProblem(t *testing.T, what string, err error, r problem.Reason) *problem.Error {
	t.Helper()
	var p *problem.Error
	if !errors.As(err, &p) {
		t.Fatalf("%s: error %v (%T); want %s", what, err, err, r)
	}
	if got := p.Reason(); got != r {
		t.Errorf("%s: %s (%v); want %s", what, got, err, r)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func planNames(list []*PlanView) []string {
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
	}
	return names
}

// TestSeedDefaults: a fresh store gets the default plans; a store that
// ever had a plan written gets nothing, so deleting a default sticks.
func TestSeedDefaults(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		if err := f.m.SeedDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		list, err := f.m.ListPlans(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(planNames(list), ","), "business,sandbox,starter"; got != want {
			t.Fatalf("plans after seeding = %s; want %s", got, want)
		}
		for _, d := range Defaults {
			v, err := f.m.GetPlan(ctx, d.Name)
			if err != nil {
				t.Fatal(err)
			}
			if v.PriceLabel != d.PriceLabel || v.Description != d.Description || v.RatePerSecond != d.RatePerSecond ||
				v.Burst != d.Burst || v.QuotaDay != d.QuotaDay || v.QuotaMonth != d.QuotaMonth || v.RequiresApproval != d.RequiresApproval {
				t.Errorf("seeded %s = %+v; want %+v", d.Name, v, d)
			}
		}
		f.wantChanges(t, "seeding (nothing runs yet)", 0)

		if err := f.m.DeletePlan(ctx, "starter"); err != nil {
			t.Fatal(err)
		}
		if err := f.m.SeedDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		list, _ = f.m.ListPlans(ctx)
		if got, want := strings.Join(planNames(list), ","), "business,sandbox"; got != want {
			t.Errorf("plans after deleting starter and seeding again = %s; want %s", got, want)
		}
	})
}

// TestSeedDefaultsNotFresh: a store whose only plan was created and
// deleted is not fresh: nothing is seeded.
func TestSeedDefaultsNotFresh(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		if _, err := f.m.CreatePlan(ctx, "own", PlanSpec{}); err != nil {
			t.Fatal(err)
		}
		if err := f.m.DeletePlan(ctx, "own"); err != nil {
			t.Fatal(err)
		}
		if err := f.m.SeedDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		if list, _ := f.m.ListPlans(ctx); len(list) != 0 {
			t.Errorf("plans = %v; want none", planNames(list))
		}
	})
}

// TestCreatePlan: a plan is created with every field and the clock's
// time, then read back the same; a taken name is already_exists.
func TestCreatePlan(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		spec := PlanSpec{PriceLabel: ptr("€9"), Description: ptr("Small."), RatePerSecond: ptr(2.5), Burst: ptr(int64(5)),
			QuotaDay: ptr(int64(100)), QuotaMonth: ptr(int64(1000)), RequiresApproval: ptr(true)}
		v, err := f.m.CreatePlan(ctx, "small-1", spec)
		if err != nil {
			t.Fatal(err)
		}
		want := PlanView{Name: "small-1", PriceLabel: "€9", Description: "Small.", RatePerSecond: 2.5, Burst: 5,
			QuotaDay: 100, QuotaMonth: 1000, RequiresApproval: true, CreatedAt: t0, UpdatedAt: t0}
		if *v != want {
			t.Errorf("CreatePlan = %+v; want %+v", *v, want)
		}
		f.wantChanges(t, "create", 1)
		got, err := f.m.GetPlan(ctx, "small-1")
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
			t.Errorf("GetPlan times = %v, %v; want %v", got.CreatedAt, got.UpdatedAt, t0)
		}
		got.CreatedAt, got.UpdatedAt = t0, t0
		if *got != want {
			t.Errorf("GetPlan = %+v; want %+v", *got, want)
		}

		// Unset fields take their zero value: an unlimited plan.
		v, err = f.m.CreatePlan(ctx, "0", PlanSpec{})
		if err != nil {
			t.Fatal(err)
		}
		if v.RatePerSecond != 0 || v.Burst != 0 || v.QuotaDay != 0 || v.QuotaMonth != 0 || v.RequiresApproval {
			t.Errorf("CreatePlan with no fields = %+v; want every limit 0", v)
		}
		if got := Policy(&store.Plan{RatePerSecond: 2.5, Burst: 5, QuotaDay: 100, QuotaMonth: 1000}); got != (ratelimit.Policy{Rate: 2.5, Burst: 5, QuotaDay: 100, QuotaMonth: 1000}) {
			t.Errorf("Policy = %+v", got)
		}

		_, err = f.m.CreatePlan(ctx, "small-1", PlanSpec{})
		p := wantProblem(t, "taken name", err, problem.AlreadyExistsDuplicate)
		if !strings.Contains(p.Detail, `"small-1"`) {
			t.Errorf("taken name: detail %q does not name the plan", p.Detail)
		}
		f.wantChanges(t, "after a refused create", 2)
	})
}

// TestPlanValidation: every rule of a plan's fields is bad_request
// invalid_parameter naming the field; nothing is stored or changed.
func TestPlanValidation(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 101)
	cases := []struct {
		name  string
		plan  string
		spec  PlanSpec
		field string
	}{
		{"upper-case name", "Gold", PlanSpec{}, "name"},
		{"empty name", "", PlanSpec{}, "name"},
		{"name with a dash first", "-gold", PlanSpec{}, "name"},
		{"name of 64 characters", strings.Repeat("a", 64), PlanSpec{}, "name"},
		{"name with a slash", "a/b", PlanSpec{}, "name"},
		{"negative rate", "p", PlanSpec{RatePerSecond: ptr(-1.0), Burst: ptr(int64(1))}, "rate"},
		{"NaN rate", "p", PlanSpec{RatePerSecond: ptr(math.NaN()), Burst: ptr(int64(1))}, "rate"},
		{"rate above a million", "p", PlanSpec{RatePerSecond: ptr(1e6 + 1), Burst: ptr(int64(1))}, "rate"},
		{"rate without a burst", "p", PlanSpec{RatePerSecond: ptr(1.0)}, "burst"},
		{"negative burst", "p", PlanSpec{Burst: ptr(int64(-1))}, "burst"},
		{"burst above a billion", "p", PlanSpec{RatePerSecond: ptr(1.0), Burst: ptr(int64(1e9 + 1))}, "burst"},
		{"negative day quota", "p", PlanSpec{QuotaDay: ptr(int64(-1))}, "quota"},
		{"negative month quota", "p", PlanSpec{QuotaMonth: ptr(int64(-1))}, "quota"},
		{"day quota above the month's", "p", PlanSpec{QuotaDay: ptr(int64(11)), QuotaMonth: ptr(int64(10))}, "quota_day"},
		{"long price label", "p", PlanSpec{PriceLabel: ptr(long)}, "price_label"},
		{"long description", "p", PlanSpec{Description: ptr(strings.Repeat("x", 1001))}, "price_label"},
	}
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		if _, err := f.m.CreatePlan(ctx, "base", PlanSpec{QuotaDay: ptr(int64(5))}); err != nil {
			t.Fatal(err)
		}
		before, _ := f.m.GetPlan(ctx, "base")
		f.changes = 0
		for _, tc := range cases {
			_, err := f.m.CreatePlan(ctx, tc.plan, tc.spec)
			p := wantProblem(t, "create, "+tc.name, err, problem.BadRequestInvalidParameter)
			if got := p.Extra["field"]; got != tc.field {
				t.Errorf("create, %s: field %v; want %q", tc.name, got, tc.field)
			}
			if tc.field == "name" {
				continue
			}
			_, err = f.m.UpdatePlan(ctx, "base", tc.spec)
			p = wantProblem(t, "update, "+tc.name, err, problem.BadRequestInvalidParameter)
			if got := p.Extra["field"]; got != tc.field {
				t.Errorf("update, %s: field %v; want %q", tc.name, got, tc.field)
			}
		}
		if list, _ := f.m.ListPlans(ctx); len(list) != 1 {
			t.Errorf("plans after refused creates: %v; want only base", planNames(list))
		}
		if after, _ := f.m.GetPlan(ctx, "base"); *after != *before {
			t.Errorf("base after refused updates = %+v; want %+v", after, before)
		}
		f.wantChanges(t, "refused changes", 0)
		// The limits' edges are accepted.
		if _, err := f.m.CreatePlan(ctx, strings.Repeat("a", 63), PlanSpec{RatePerSecond: ptr(1e6), Burst: ptr(int64(1e9)),
			QuotaDay: ptr(int64(10)), QuotaMonth: ptr(int64(10)), PriceLabel: ptr(long[:100]), Description: ptr(strings.Repeat("x", 1000))}); err != nil {
			t.Errorf("a plan at every limit: %v", err)
		}
	})
}

// TestUpdatePlan: an update changes only the fields it sets and the update
// time; an unknown plan is not_found.
func TestUpdatePlan(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		if _, err := f.m.CreatePlan(ctx, "gold", PlanSpec{PriceLabel: ptr("€1"), RatePerSecond: ptr(10.0), Burst: ptr(int64(20)), QuotaMonth: ptr(int64(500))}); err != nil {
			t.Fatal(err)
		}
		v, err := f.m.UpdatePlan(ctx, "gold", PlanSpec{RatePerSecond: ptr(20.0), RequiresApproval: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		if !v.UpdatedAt.After(t0) {
			t.Errorf("UpdatePlan: UpdatedAt %v; want the store's time of the update", v.UpdatedAt)
		}
		want := PlanView{Name: "gold", PriceLabel: "€1", RatePerSecond: 20, Burst: 20, QuotaMonth: 500, RequiresApproval: true,
			CreatedAt: t0, UpdatedAt: v.UpdatedAt}
		if *v != want {
			t.Errorf("UpdatePlan = %+v; want %+v", *v, want)
		}
		if got, _ := f.m.GetPlan(ctx, "gold"); got == nil || *got != want {
			t.Errorf("GetPlan after update = %+v; want %+v", got, want)
		}
		f.wantChanges(t, "create and update", 2)

		_, err = f.m.UpdatePlan(ctx, "platinum", PlanSpec{})
		wantProblem(t, "update unknown", err, problem.NotFoundResourceNotFound)
		_, err = f.m.GetPlan(ctx, "platinum")
		wantProblem(t, "get unknown", err, problem.NotFoundResourceNotFound)
		f.wantChanges(t, "after a refused update", 2)
	})
}

// TestDeletePlan: a plan with subscribers, or pending for one, is
// conflict resource_in_use, whatever their status; once they are gone it
// is deleted; an unknown plan is not_found.
func TestDeletePlan(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		f.client(t, "app")
		f.api(t, "maps")
		for _, name := range []string{"free", "approved"} {
			if _, err := f.m.CreatePlan(ctx, name, PlanSpec{RequiresApproval: ptr(name == "approved")}); err != nil {
				t.Fatal(err)
			}
		}
		sub, err := f.m.Subscribe(ctx, Operator, "app", "maps", "approved")
		if err != nil {
			t.Fatal(err)
		}
		f.changes = 0
		err = f.m.DeletePlan(ctx, "approved")
		p := wantProblem(t, "delete a plan with a pending subscriber", err, problem.ConflictResourceInUse)
		if !strings.Contains(p.Detail, `"approved"`) {
			t.Errorf("detail %q does not name the plan", p.Detail)
		}
		if _, err := f.m.GetPlan(ctx, "approved"); err != nil {
			t.Errorf("the refused delete deleted the plan: %v", err)
		}
		if _, err := f.m.ChangePlan(ctx, Operator, sub.ID, "free"); err != nil {
			t.Fatal(err)
		}
		// On free, the plan asked for again waits as the pending plan.
		if v, err := f.m.ChangePlan(ctx, Operator, sub.ID, "approved"); err != nil || v.PendingPlan != "approved" {
			t.Fatalf("change to approved: %+v, %v; want it pending", v, err)
		}
		err = f.m.DeletePlan(ctx, "approved")
		wantProblem(t, "delete a plan pending for a subscription", err, problem.ConflictResourceInUse)
		if _, err := f.m.ChangePlan(ctx, Operator, sub.ID, "free"); err != nil {
			t.Fatal(err)
		}
		if err := f.m.DeletePlan(ctx, "approved"); err != nil {
			t.Errorf("delete once the subscriber moved: %v", err)
		}
		_, err = f.m.GetPlan(ctx, "approved")
		wantProblem(t, "get deleted", err, problem.NotFoundResourceNotFound)
		err = f.m.DeletePlan(ctx, "approved")
		wantProblem(t, "delete twice", err, problem.NotFoundResourceNotFound)
		f.wantChanges(t, "three changes and the delete", 4)
	})
}

// developer is an actor of the portal.
var developer = Actor{DeveloperID: "dev-1", OrganizationID: "org-1", AppID: "app-of-dev-1"}

// orderLog returns the subscription's orders, newest first, each as
// "kind from>to status price"; every order must name the subscription's
// client and API.
func (f *fixture) orderLog(t *testing.T, subID, client, api string) []string {
	t.Helper()
	list, err := f.m.ListOrders(t.Context(), store.OrderFilter{SubscriptionID: subID})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range list {
		if o.ClientID != client || o.API != api || o.SubscriptionID != subID || !strings.HasPrefix(o.ID, "ord_") ||
			!o.CreatedAt.Equal(t0) {
			t.Errorf("order %+v: want one of %s (client %s, API %s) placed at %v", o, subID, client, api, t0)
		}
		out = append(out, fmt.Sprintf("%s %s>%s %s %s", o.Kind, o.FromPlan, o.ToPlan, o.Status, o.PriceLabel))
	}
	return out
}

// wantOrders fails t unless the subscription's orders are want, newest
// first (orderLog).
func (f *fixture) wantOrders(t *testing.T, what, subID, client, api string, want ...string) {
	t.Helper()
	if got := f.orderLog(t, subID, client, api); !slices.Equal(got, want) {
		t.Errorf("%s: orders\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestSubscribe: a subscription starts active, or pending on a plan that
// needs approval; what it refers to must exist; an app subscribes once
// per API. Each subscription is an order, naming who placed it.
func TestSubscribe(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		f.client(t, "app")
		f.api(t, "maps")
		f.api(t, "sms")
		if err := f.m.SeedDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := f.m.Subscribe(ctx, developer, "app", "maps", "starter")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s.ID, "sub_") || len(s.ID) != len("sub_")+16 {
			t.Errorf("subscription ID %q; want sub_ and 16 characters", s.ID)
		}
		want := SubscriptionView{ID: s.ID, ClientID: "app", API: "maps", Plan: "starter", Status: store.SubscriptionActive, CreatedAt: t0, UpdatedAt: t0}
		if *s != want {
			t.Errorf("Subscribe = %+v; want %+v", *s, want)
		}
		if got, err := f.m.GetSubscription(ctx, s.ID); err != nil || *got != want {
			t.Errorf("GetSubscription = %+v, %v; want %+v", got, err, want)
		}
		f.wantOrders(t, "subscribe", s.ID, "app", "maps", "subscribe >starter completed €49 / month")
		orders, err := f.m.ListOrders(ctx, store.OrderFilter{SubscriptionID: s.ID})
		if err != nil || len(orders) != 1 {
			t.Fatalf("ListOrders: %v, %v", orders, err)
		}
		if o := orders[0]; o.DeveloperID != "dev-1" || o.OrganizationID != "org-1" || o.AppID != "app-of-dev-1" || !o.UpdatedAt.Equal(t0) {
			t.Errorf("order %+v does not name its developer, organisation and app", o)
		}

		pending, err := f.m.Subscribe(ctx, Operator, "app", "sms", "business")
		if err != nil {
			t.Fatal(err)
		}
		if pending.Status != store.SubscriptionPending || pending.Plan != "business" || pending.PendingPlan != "" {
			t.Errorf("subscription on business = %+v; want pending on business", pending)
		}
		if pending.ID == s.ID {
			t.Error("two subscriptions share an ID")
		}
		f.wantOrders(t, "subscribe to a plan needing approval", pending.ID, "app", "sms", "subscribe >business pending €490 / month")
		operatorOrders, _ := f.m.ListOrders(ctx, store.OrderFilter{SubscriptionID: pending.ID})
		if o := operatorOrders[0]; o.DeveloperID != "" || o.OrganizationID != "" || o.AppID != "" {
			t.Errorf("the operator's order %+v names a developer, organisation or app", o)
		}
		f.wantChanges(t, "two subscriptions", 2)

		for _, c := range []struct {
			name, client, api, plan string
			reason                  problem.Reason
			detail                  string // in the detail
		}{
			{"unknown app", "nobody", "maps", "starter", problem.NotFoundResourceNotFound, `No client "nobody"`},
			{"unknown API", "app", "nothing", "starter", problem.NotFoundResourceNotFound, `No API "nothing"`},
			{"unknown plan", "app", "maps", "gold", problem.NotFoundResourceNotFound, `No plan "gold"`},
			{"second subscription to one API", "app", "maps", "sandbox", problem.AlreadyExistsDuplicate, "change its plan instead"},
		} {
			_, err := f.m.Subscribe(ctx, developer, c.client, c.api, c.plan)
			if p := wantProblem(t, c.name, err, c.reason); !strings.Contains(p.Detail, c.detail) {
				t.Errorf("%s: detail %q; want %q in it", c.name, p.Detail, c.detail)
			}
		}
		if list, _ := f.m.ListSubscriptions(ctx, store.SubscriptionFilter{}); len(list) != 2 {
			t.Errorf("%d subscriptions after refused ones; want 2", len(list))
		}
		if list, _ := f.m.ListOrders(ctx, store.OrderFilter{}); len(list) != 2 {
			t.Errorf("%d orders after refused subscriptions; want 2", len(list))
		}
		f.wantChanges(t, "after refused subscriptions", 2)
	})
}

// TestChangePlanKeepsPlanInForce: a change to a plan without approval
// applies at once; one to a plan that needs approval waits as the pending
// plan while the plan in force stays (the subscription active), until
// approved. A later change supersedes a pending one; asking for the plan
// in force withdraws it; asking again for what is pending or in force
// changes nothing and places no order.
func TestChangePlanKeepsPlanInForce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		f.client(t, "app")
		f.api(t, "maps")
		if err := f.m.SeedDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := f.m.Subscribe(ctx, developer, "app", "maps", "sandbox")
		if err != nil {
			t.Fatal(err)
		}
		changes := 1
		log := []string{"subscribe >sandbox completed Free"}
		// step checks the subscription after a call, and its orders: the
		// earlier ones (their statuses as settled) after the new ones.
		step := func(what string, v *SubscriptionView, err error, plan, pendingPlan string, settled map[int]string, placed ...string) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			want := SubscriptionView{ID: s.ID, ClientID: "app", API: "maps", Plan: plan, PendingPlan: pendingPlan,
				Status: store.SubscriptionActive, CreatedAt: t0, UpdatedAt: v.UpdatedAt}
			if *v != want {
				t.Errorf("%s = %+v; want %+v", what, *v, want)
			}
			if got, _ := f.m.GetSubscription(ctx, s.ID); got == nil || *got != want {
				t.Errorf("%s: stored %+v; want %+v", what, got, want)
			}
			for i, entry := range settled {
				log[i] = entry
			}
			log = append(slices.Clone(placed), log...)
			if len(placed) > 0 {
				changes++
				if !v.UpdatedAt.After(t0) {
					t.Errorf("%s: UpdatedAt %v; want the store's time of the update", what, v.UpdatedAt)
				}
			}
			f.wantOrders(t, what, s.ID, "app", "maps", log...)
			f.wantChanges(t, what, changes)
		}
		v, err := f.m.ChangePlan(ctx, developer, s.ID, "starter")
		step("upgrade to starter", v, err, "starter", "", nil,
			"change sandbox>starter completed €49 / month")
		v, err = f.m.ChangePlan(ctx, developer, s.ID, "business")
		step("upgrade to business, which needs approval", v, err, "starter", "business", nil,
			"change starter>business pending €490 / month")
		v, err = f.m.ChangePlan(ctx, developer, s.ID, "business")
		step("business asked again", v, err, "starter", "business", nil)
		v, err = f.m.ChangePlan(ctx, developer, s.ID, "starter")
		step("back to the plan in force: the change is withdrawn", v, err, "starter", "", map[int]string{0: "change starter>business superseded €490 / month"},
			"change starter>starter completed €49 / month")
		v, err = f.m.ChangePlan(ctx, developer, s.ID, "starter")
		step("the plan in force again", v, err, "starter", "", nil)
		v, err = f.m.ChangePlan(ctx, developer, s.ID, "business")
		step("business again", v, err, "starter", "business", nil,
			"change starter>business pending €490 / month")
		v, err = f.m.ChangePlan(ctx, developer, s.ID, "sandbox")
		step("a downgrade while business is pending supersedes it", v, err, "sandbox", "", map[int]string{0: "change starter>business superseded €490 / month"},
			"change starter>sandbox completed Free")
		v, err = f.m.ChangePlan(ctx, developer, s.ID, "business")
		step("business once more", v, err, "sandbox", "business", nil,
			"change sandbox>business pending €490 / month")
		v, err = f.m.Approve(ctx, s.ID)
		step("approve", v, err, "business", "", map[int]string{0: "change sandbox>business completed €490 / month"},
			"approve sandbox>business completed €490 / month")
		v, err = f.m.ChangePlan(ctx, developer, s.ID, "business")
		step("business in force, asked again", v, err, "business", "", nil)
		v, err = f.m.ChangePlan(ctx, developer, s.ID, "starter")
		step("downgrade to starter", v, err, "starter", "", nil,
			"change business>starter completed €49 / month")

		for _, c := range []struct {
			name   string
			call   func() error
			reason problem.Reason
		}{
			{"approve with nothing pending", func() error { _, err := f.m.Approve(ctx, s.ID); return err }, problem.IncompatibleStateWrongState},
			{"refuse with nothing pending", func() error { _, err := f.m.Refuse(ctx, s.ID); return err }, problem.IncompatibleStateWrongState},
			{"change to an unknown plan", func() error { _, err := f.m.ChangePlan(ctx, developer, s.ID, "gold"); return err }, problem.NotFoundResourceNotFound},
			{"change an unknown subscription", func() error { _, err := f.m.ChangePlan(ctx, developer, "sub_nothing", "starter"); return err }, problem.NotFoundResourceNotFound},
			{"approve an unknown subscription", func() error { _, err := f.m.Approve(ctx, "sub_nothing"); return err }, problem.NotFoundResourceNotFound},
			{"refuse an unknown subscription", func() error { _, err := f.m.Refuse(ctx, "sub_nothing"); return err }, problem.NotFoundResourceNotFound},
			{"get an unknown subscription", func() error { _, err := f.m.GetSubscription(ctx, "sub_nothing"); return err }, problem.NotFoundResourceNotFound},
		} {
			p := wantProblem(t, c.name, c.call(), c.reason)
			if c.reason == problem.IncompatibleStateWrongState && !strings.Contains(p.Detail, "nothing waiting for approval") {
				t.Errorf("%s: detail %q", c.name, p.Detail)
			}
		}
		f.wantOrders(t, "after refused calls", s.ID, "app", "maps", log...)
		f.wantChanges(t, "after refused calls", changes)
	})
}

// TestApproveAndRefuse: what waits is approved or refused by the
// operator: a pending change (the plan in force stays when refused), or a
// pending new subscription (deleted when refused). The pending order is
// completed or refused, and the decision is an order of the operator's,
// in the history of the organisation and app of the order it settles.
func TestApproveAndRefuse(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		f.client(t, "app")
		f.api(t, "maps")
		f.api(t, "sms")
		if err := f.m.SeedDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.CreatePlan(ctx, "enterprise", PlanSpec{PriceLabel: ptr("On request"), RequiresApproval: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		// A pending change refused: starter stays.
		s, err := f.m.Subscribe(ctx, developer, "app", "maps", "starter")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.ChangePlan(ctx, developer, s.ID, "business"); err != nil {
			t.Fatal(err)
		}
		f.changes = 0
		v, err := f.m.Refuse(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v == nil || v.Plan != "starter" || v.PendingPlan != "" || v.Status != store.SubscriptionActive {
			t.Errorf("Refuse of a pending change = %+v; want active on starter, nothing pending", v)
		}
		f.wantOrders(t, "a change refused", s.ID, "app", "maps",
			"refuse starter>business completed €490 / month",
			"change starter>business refused €490 / month",
			"subscribe >starter completed €49 / month")
		orders, _ := f.m.ListOrders(ctx, store.OrderFilter{SubscriptionID: s.ID})
		if o := orders[0]; o.DeveloperID != "" || o.OrganizationID != "org-1" || o.AppID != "app-of-dev-1" {
			t.Errorf("the refusal %+v: want the operator's, for the organisation and app of the order it settles", o)
		}
		if list, _ := f.m.ListOrders(ctx, store.OrderFilter{OrganizationID: "org-1"}); len(list) != 3 {
			t.Errorf("the organisation's history has %d orders; want 3, the refusal included", len(list))
		}

		// A pending new subscription whose plan changes before approval:
		// the plan asked for is replaced, and approved.
		pending, err := f.m.Subscribe(ctx, developer, "app", "sms", "business")
		if err != nil {
			t.Fatal(err)
		}
		if v, err := f.m.ChangePlan(ctx, developer, pending.ID, "enterprise"); err != nil || v.Status != store.SubscriptionPending || v.Plan != "enterprise" || v.PendingPlan != "" {
			t.Fatalf("ChangePlan of a pending subscription to enterprise = %+v, %v; want it pending on enterprise", v, err)
		}
		v, err = f.m.Approve(ctx, pending.ID)
		if err != nil || v.Status != store.SubscriptionActive || v.Plan != "enterprise" {
			t.Fatalf("Approve = %+v, %v; want active on enterprise", v, err)
		}
		f.wantOrders(t, "a new subscription changed and approved", pending.ID, "app", "sms",
			"approve >enterprise completed On request",
			"change >enterprise completed On request",
			"subscribe >business superseded €490 / month")

		// A pending new subscription refused: deleted, its orders kept.
		if err := f.m.Unsubscribe(ctx, developer, pending.ID); err != nil {
			t.Fatal(err)
		}
		again, err := f.m.Subscribe(ctx, developer, "app", "sms", "business")
		if err != nil {
			t.Fatal(err)
		}
		f.changes = 0
		v, err = f.m.Refuse(ctx, again.ID)
		if err != nil || v != nil {
			t.Fatalf("Refuse of a pending subscription = %+v, %v; want nil (deleted)", v, err)
		}
		_, err = f.m.GetSubscription(ctx, again.ID)
		wantProblem(t, "a refused new subscription", err, problem.NotFoundResourceNotFound)
		f.wantOrders(t, "a new subscription refused", again.ID, "app", "sms",
			"refuse >business completed €490 / month",
			"subscribe >business refused €490 / month")
		_, err = f.m.Approve(ctx, again.ID)
		wantProblem(t, "approve a refused subscription", err, problem.NotFoundResourceNotFound)
		f.wantChanges(t, "a refusal", 1)
		// The app may ask again.
		if _, err := f.m.Subscribe(ctx, developer, "app", "sms", "starter"); err != nil {
			t.Errorf("subscribing after a refusal: %v", err)
		}
	})
}

// TestUnsubscribeSupersedes: ending a subscription is a cancel order that
// supersedes the one pending; the orders stay, and the pending plan no
// longer holds its plan.
func TestUnsubscribeSupersedes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		f.client(t, "app")
		f.api(t, "maps")
		if err := f.m.SeedDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := f.m.Subscribe(ctx, developer, "app", "maps", "starter")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.ChangePlan(ctx, developer, s.ID, "business"); err != nil {
			t.Fatal(err)
		}
		if err := f.m.Unsubscribe(ctx, developer, s.ID); err != nil {
			t.Fatal(err)
		}
		f.wantOrders(t, "unsubscribe", s.ID, "app", "maps",
			"cancel starter> completed ",
			"change starter>business superseded €490 / month",
			"subscribe >starter completed €49 / month")
		if err := f.m.DeletePlan(ctx, "business"); err != nil {
			t.Errorf("DeletePlan of the plan the cancelled subscription had pending: %v", err)
		}
		err = f.m.Unsubscribe(ctx, developer, s.ID)
		wantProblem(t, "unsubscribe twice", err, problem.NotFoundResourceNotFound)
		if list, _ := f.m.ListOrders(ctx, store.OrderFilter{}); len(list) != 3 {
			t.Errorf("%d orders after a refused unsubscribe; want 3", len(list))
		}
	})
}

// TestListOrders: orders are listed newest first by each filter; an
// unknown status is bad_request invalid_parameter.
func TestListOrders(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		f.client(t, "app-a")
		f.client(t, "app-b")
		f.api(t, "maps")
		if err := f.m.SeedDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		a, err := f.m.Subscribe(ctx, developer, "app-a", "maps", "business")
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.m.Subscribe(ctx, Actor{DeveloperID: "dev-2", OrganizationID: "org-2"}, "app-b", "maps", "starter")
		if err != nil {
			t.Fatal(err)
		}
		ids := func(filter store.OrderFilter) []string {
			t.Helper()
			list, err := f.m.ListOrders(ctx, filter)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, o := range list {
				out = append(out, o.SubscriptionID+" "+o.Kind)
			}
			return out
		}
		for _, c := range []struct {
			filter store.OrderFilter
			want   []string
		}{
			{store.OrderFilter{}, []string{b.ID + " subscribe", a.ID + " subscribe"}},
			{store.OrderFilter{OrganizationID: "org-1"}, []string{a.ID + " subscribe"}},
			{store.OrderFilter{AppID: "app-of-dev-1"}, []string{a.ID + " subscribe"}},
			{store.OrderFilter{ClientID: "app-b"}, []string{b.ID + " subscribe"}},
			{store.OrderFilter{SubscriptionID: b.ID}, []string{b.ID + " subscribe"}},
			{store.OrderFilter{Status: store.OrderPending}, []string{a.ID + " subscribe"}},
			{store.OrderFilter{Status: store.OrderSuperseded}, nil},
		} {
			if got := ids(c.filter); !slices.Equal(got, c.want) {
				t.Errorf("ListOrders(%+v) = %q; want %q", c.filter, got, c.want)
			}
		}
		_, err = f.m.ListOrders(ctx, store.OrderFilter{Status: "done"})
		if p := wantProblem(t, "an unknown status", err, problem.BadRequestInvalidParameter); p.Detail == "" || !strings.Contains(p.Detail, "superseded") {
			t.Errorf("detail %q does not list the statuses", p.Detail)
		}
	})
}

// TestListSubscriptionsAndUnsubscribe: listing filters by app and API,
// ordered by app then API; unsubscribing deletes once.
func TestListSubscriptionsAndUnsubscribe(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		for _, id := range []string{"app-b", "app-a"} {
			f.client(t, id)
		}
		for _, name := range []string{"sms", "maps"} {
			f.api(t, name)
		}
		if err := f.m.SeedDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for _, pair := range [][2]string{{"app-b", "sms"}, {"app-a", "sms"}, {"app-b", "maps"}, {"app-a", "maps"}} {
			s, err := f.m.Subscribe(ctx, Operator, pair[0], pair[1], "sandbox")
			if err != nil {
				t.Fatal(err)
			}
			ids[pair[0]+" "+pair[1]] = s.ID
		}
		list := func(f0 store.SubscriptionFilter) string {
			t.Helper()
			l, err := f.m.ListSubscriptions(ctx, f0)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, s := range l {
				if ids[s.ClientID+" "+s.API] != s.ID {
					t.Errorf("listed %+v: not the subscription made", s)
				}
				out = append(out, s.ClientID+" "+s.API)
			}
			return strings.Join(out, ", ")
		}
		for _, c := range []struct {
			filter store.SubscriptionFilter
			want   string
		}{
			{store.SubscriptionFilter{}, "app-a maps, app-a sms, app-b maps, app-b sms"},
			{store.SubscriptionFilter{ClientID: "app-b"}, "app-b maps, app-b sms"},
			{store.SubscriptionFilter{APIName: "sms"}, "app-a sms, app-b sms"},
			{store.SubscriptionFilter{ClientID: "app-a", APIName: "maps"}, "app-a maps"},
			{store.SubscriptionFilter{ClientID: "nobody"}, ""},
		} {
			if got := list(c.filter); got != c.want {
				t.Errorf("ListSubscriptions(%+v) = %q; want %q", c.filter, got, c.want)
			}
		}

		f.changes = 0
		if err := f.m.Unsubscribe(ctx, Operator, ids["app-a sms"]); err != nil {
			t.Fatal(err)
		}
		if got, want := list(store.SubscriptionFilter{}), "app-a maps, app-b maps, app-b sms"; got != want {
			t.Errorf("after unsubscribing: %q; want %q", got, want)
		}
		err := f.m.Unsubscribe(ctx, Operator, ids["app-a sms"])
		wantProblem(t, "unsubscribe twice", err, problem.NotFoundResourceNotFound)
		f.wantChanges(t, "an unsubscribe and a refused one", 1)
		// The app may subscribe to the API again.
		if _, err := f.m.Subscribe(ctx, Operator, "app-a", "sms", "starter"); err != nil {
			t.Errorf("subscribing again after unsubscribing: %v", err)
		}
	})
}

// TestStoreUnavailable: a store that cannot answer is unavailable
// store_unavailable with Retry-After on every call, never not_found or a
// 500, and SeedDefaults reports it.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		f.client(t, "app")
		f.api(t, "maps")
		if _, err := f.m.CreatePlan(ctx, "free", PlanSpec{}); err != nil {
			t.Fatal(err)
		}
		s, err := f.m.Subscribe(ctx, Operator, "app", "maps", "free")
		if err != nil {
			t.Fatal(err)
		}
		f.st.Close()
		f.changes = 0
		calls := map[string]func() error{
			"CreatePlan":        func() error { _, err := f.m.CreatePlan(ctx, "gold", PlanSpec{}); return err },
			"GetPlan":           func() error { _, err := f.m.GetPlan(ctx, "free"); return err },
			"ListPlans":         func() error { _, err := f.m.ListPlans(ctx); return err },
			"UpdatePlan":        func() error { _, err := f.m.UpdatePlan(ctx, "free", PlanSpec{}); return err },
			"DeletePlan":        func() error { return f.m.DeletePlan(ctx, "free") },
			"Subscribe":         func() error { _, err := f.m.Subscribe(ctx, Operator, "app", "maps", "free"); return err },
			"ChangePlan":        func() error { _, err := f.m.ChangePlan(ctx, Operator, s.ID, "free"); return err },
			"Approve":           func() error { _, err := f.m.Approve(ctx, s.ID); return err },
			"Refuse":            func() error { _, err := f.m.Refuse(ctx, s.ID); return err },
			"GetSubscription":   func() error { _, err := f.m.GetSubscription(ctx, s.ID); return err },
			"ListSubscriptions": func() error { _, err := f.m.ListSubscriptions(ctx, store.SubscriptionFilter{}); return err },
			"Unsubscribe":       func() error { return f.m.Unsubscribe(ctx, Operator, s.ID) },
			"ListOrders":        func() error { _, err := f.m.ListOrders(ctx, store.OrderFilter{}); return err },
		}
		names := make([]string, 0, len(calls))
		for name := range calls {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			p := wantProblem(t, name, calls[name](), problem.UnavailableStoreUnavailable)
			if p.RetryAfter != problem.StoreRetryAfter {
				t.Errorf("%s: Retry-After %v; want %v", name, p.RetryAfter, problem.StoreRetryAfter)
			}
			if !errors.Is(p, store.ErrUnavailable) {
				t.Errorf("%s: %v does not keep the store's error for the log", name, p)
			}
		}
		if err := f.m.SeedDefaults(context.Background()); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("SeedDefaults on a closed store: %v; want store.ErrUnavailable", err)
		}
		f.wantChanges(t, "calls on a closed store", 0)
	})
}
