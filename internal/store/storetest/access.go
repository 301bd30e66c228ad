package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// fullPlan returns a plan with every field set.
func fullPlan(name string) *store.Plan {
	return &store.Plan{
		Name:             name,
		PriceLabel:       "€49 / month",
		Description:      "Plan " + name + ": 12.5 req/s, bursts of 25 — \"fair use\" 日本語",
		RatePerSecond:    12.5,
		Burst:            25,
		QuotaDay:         10_000,
		QuotaMonth:       250_000,
		RequiresApproval: true,
		CreatedAt:        at(0),
		UpdatedAt:        at(1),
	}
}

// subscription returns a subscription with every field set.
func subscription(id, clientID, apiName, planName string) *store.Subscription {
	return &store.Subscription{
		ID:        id,
		ClientID:  clientID,
		APIName:   apiName,
		PlanName:  planName,
		Status:    store.SubscriptionActive,
		CreatedAt: at(0),
		UpdatedAt: at(1),
	}
}

// setupAccess creates what subscriptions refer to: clients app-1 and
// app-2, APIs api-a and api-b, plans free and gold. It leaves the access
// generation at 2 (the plans) and the APIs generation at 2.
func setupAccess(t *testing.T, s store.Store) {
	t.Helper()
	for _, id := range []string{"app-1", "app-2"} {
		mustCreateClient(t, s, fullClient(id))
	}
	for _, name := range []string{"api-a", "api-b"} {
		mustCreateAPI(t, s, fullAPI(name))
	}
	for _, name := range []string{"free", "gold"} {
		mustCreatePlan(t, s, fullPlan(name))
	}
}

func mustCreatePlan(t *testing.T, s store.Store, p *store.Plan) {
	t.Helper()
	if err := s.CreatePlan(t.Context(), p); err != nil {
		t.Fatalf("CreatePlan(%q): %v", p.Name, err)
	}
}

func mustGetPlan(t *testing.T, s store.Store, name string) *store.Plan {
	t.Helper()
	p, err := s.GetPlan(t.Context(), name)
	if err != nil {
		t.Fatalf("GetPlan(%q): %v", name, err)
	}
	return p
}

func mustListPlans(t *testing.T, s store.Store) []*store.Plan {
	t.Helper()
	ps, err := s.ListPlans(t.Context())
	if err != nil {
		t.Fatalf("ListPlans: %v", err)
	}
	return ps
}

func mustCreateSubscription(t *testing.T, s store.Store, sub *store.Subscription) {
	t.Helper()
	if err := s.CreateSubscription(t.Context(), sub); err != nil {
		t.Fatalf("CreateSubscription(%q): %v", sub.ID, err)
	}
}

func mustGetSubscription(t *testing.T, s store.Store, id string) *store.Subscription {
	t.Helper()
	sub, err := s.GetSubscription(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSubscription(%q): %v", id, err)
	}
	return sub
}

func mustListSubscriptions(t *testing.T, s store.Store, f store.SubscriptionFilter) []*store.Subscription {
	t.Helper()
	subs, err := s.ListSubscriptions(t.Context(), f)
	if err != nil {
		t.Fatalf("ListSubscriptions(%+v): %v", f, err)
	}
	return subs
}

func mustAccessGeneration(t *testing.T, s store.Store) int64 {
	t.Helper()
	g, err := s.AccessGeneration(t.Context())
	if err != nil {
		t.Fatalf("AccessGeneration: %v", err)
	}
	return g
}

// checkAccessGeneration requires the access generation to be want; what
// says which calls should have brought it there.
func checkAccessGeneration(t *testing.T, s store.Store, want int64, what string) {
	t.Helper()
	if got := mustAccessGeneration(t, s); got != want {
		t.Errorf("AccessGeneration after %s = %d; want %d", what, got, want)
	}
}

// checkPlan reports every field of got that differs from want under the
// suite's rules. Rates must come back exactly.
func checkPlan(t *testing.T, got, want *store.Plan) {
	t.Helper()
	if got == nil {
		t.Fatalf("plan %q: got nil", want.Name)
	}
	checkString(t, "Name", got.Name, want.Name)
	checkString(t, "PriceLabel", got.PriceLabel, want.PriceLabel)
	checkString(t, "Description", got.Description, want.Description)
	if got.RatePerSecond != want.RatePerSecond {
		t.Errorf("RatePerSecond = %v; want %v", got.RatePerSecond, want.RatePerSecond)
	}
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"Burst", got.Burst, want.Burst},
		{"QuotaDay", got.QuotaDay, want.QuotaDay},
		{"QuotaMonth", got.QuotaMonth, want.QuotaMonth},
	} {
		if f.got != f.want {
			t.Errorf("%s = %d; want %d", f.name, f.got, f.want)
		}
	}
	if got.RequiresApproval != want.RequiresApproval {
		t.Errorf("RequiresApproval = %v; want %v", got.RequiresApproval, want.RequiresApproval)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

// checkSubscription reports every field of got that differs from want
// under the suite's rules.
func checkSubscription(t *testing.T, got, want *store.Subscription) {
	t.Helper()
	if got == nil {
		t.Fatalf("subscription %q: got nil", want.ID)
	}
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "ClientID", got.ClientID, want.ClientID)
	checkString(t, "APIName", got.APIName, want.APIName)
	checkString(t, "PlanName", got.PlanName, want.PlanName)
	checkString(t, "PendingPlanName", got.PendingPlanName, want.PendingPlanName)
	checkString(t, "Status", got.Status, want.Status)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

// subscriptionIDs returns the IDs of subs, in order.
func subscriptionIDs(subs []*store.Subscription) []string {
	var ids []string
	for _, sub := range subs {
		ids = append(ids, sub.ID)
	}
	return ids
}

// checkSubscriptionIDs requires the store's subscriptions, in
// ListSubscriptions order, to have exactly the given IDs.
func checkSubscriptionIDs(t *testing.T, s store.Store, want ...string) {
	t.Helper()
	if got := subscriptionIDs(mustListSubscriptions(t, s, store.SubscriptionFilter{})); !slices.Equal(got, want) {
		t.Errorf("ListSubscriptions = %q; want %q", got, want)
	}
}

func testPlanRoundTrip(t *testing.T, s store.Store) {
	checkAccessGeneration(t, s, 0, "nothing")
	if ps := mustListPlans(t, s); len(ps) != 0 {
		t.Fatalf("ListPlans on an empty store: got %d plans; want 0", len(ps))
	}
	want := fullPlan("starter")
	sent := *want
	mustCreatePlan(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) || !sent.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreatePlan changed explicit timestamps to %v, %v; want %v, %v",
			sent.CreatedAt, sent.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	checkPlan(t, mustGetPlan(t, s, "starter"), want)
	ps := mustListPlans(t, s)
	if len(ps) != 1 {
		t.Fatalf("ListPlans: got %d plans; want 1", len(ps))
	}
	checkPlan(t, ps[0], want)
	checkAccessGeneration(t, s, 1, "one CreatePlan")
}

func testPlanValues(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		p    store.Plan
	}{
		{"zero", store.Plan{}},
		{"unlimited", store.Plan{PriceLabel: "Free", RatePerSecond: 0, Burst: 0}},
		{"fractional rate", store.Plan{RatePerSecond: 1.0 / 3, Burst: 1}},
		{"tiny rate", store.Plan{RatePerSecond: 1e-9}},
		{"large rate", store.Plan{RatePerSecond: 1e12 + 0.5}},
		{"smallest normal rate", store.Plan{RatePerSecond: math.SmallestNonzeroFloat64}},
		{"large quotas", store.Plan{Burst: math.MaxInt64, QuotaDay: math.MaxInt64, QuotaMonth: math.MaxInt64 - 1}},
		{"negative values", store.Plan{RatePerSecond: -1, Burst: -2, QuotaDay: -3, QuotaMonth: math.MinInt64}},
		{"approval", store.Plan{RequiresApproval: true}},
		{"quotes", store.Plan{PriceLabel: `it's "€0"`, Description: `\ '; DROP TABLE plans; --`}},
		{"control characters", store.Plan{Description: "line\nbreak\ttab\x7f"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.p
			want.Name = fmt.Sprintf("plan-%02d", i)
			sent := want
			before := time.Now()
			mustCreatePlan(t, s, &sent)
			checkNow(t, "CreatePlan set CreatedAt", sent.CreatedAt, before, time.Now())
			if !sent.UpdatedAt.Equal(sent.CreatedAt) {
				t.Errorf("CreatePlan set UpdatedAt = %v; want CreatedAt %v", sent.UpdatedAt, sent.CreatedAt)
			}
			want.CreatedAt, want.UpdatedAt = sent.CreatedAt, sent.UpdatedAt
			got := mustGetPlan(t, s, want.Name)
			checkPlan(t, got, &want)
			if !got.CreatedAt.Equal(sent.CreatedAt) {
				t.Errorf("stored CreatedAt = %v; want %v as written back", got.CreatedAt, sent.CreatedAt)
			}
		})
	}
	checkAccessGeneration(t, s, int64(len(tests)), fmt.Sprintf("%d CreatePlan", len(tests)))
}

func testCreatePlanConflict(t *testing.T, s store.Store) {
	want := fullPlan("dup")
	mustCreatePlan(t, s, want)
	other := fullPlan("dup")
	other.PriceLabel = "Impostor"
	if err := s.CreatePlan(t.Context(), other); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreatePlan: got %v; want an error wrapping store.ErrConflict", err)
	}
	checkPlan(t, mustGetPlan(t, s, "dup"), want)
	checkAccessGeneration(t, s, 1, "CreatePlan and a conflicting one")
	// Names are compared exactly.
	for _, name := range []string{"DUP", "dup ", "du"} {
		mustCreatePlan(t, s, fullPlan(name))
	}
}

func testGetPlanNotFound(t *testing.T, s store.Store) {
	mustCreatePlan(t, s, fullPlan("exists"))
	for _, name := range []string{"missing", "", "EXISTS", "exists "} {
		p, err := s.GetPlan(t.Context(), name)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetPlan(%q): got (%v, %v); want an error wrapping store.ErrNotFound", name, p, err)
		}
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
			t.Errorf("GetPlan(%q): error %v also wraps another sentinel", name, err)
		}
	}
}

func testListPlans(t *testing.T, s store.Store) {
	names := []string{"gold", "Gold", "free", "a-b", "a_b", "ab", "é", "z", "A"}
	want := map[string]*store.Plan{}
	for i, name := range names {
		p := fullPlan(name)
		p.Burst = int64(i)
		p.CreatedAt = at(len(names) - i)
		want[name] = p
		mustCreatePlan(t, s, p)
	}
	got := mustListPlans(t, s)
	var gotNames []string
	for _, p := range got {
		gotNames = append(gotNames, p.Name)
	}
	sorted := slices.Clone(names)
	sort.Strings(sorted)
	if !slices.Equal(gotNames, sorted) {
		t.Fatalf("ListPlans names = %q; want %q (byte order)", gotNames, sorted)
	}
	for _, p := range got {
		checkPlan(t, p, want[p.Name])
	}
}

func testUpdatePlan(t *testing.T, s store.Store) {
	orig := fullPlan("upd")
	mustCreatePlan(t, s, orig)
	gen := mustAccessGeneration(t, s)

	want := fullPlan("upd")
	want.PriceLabel = "Free"
	want.Description = ""
	want.RatePerSecond = 0.25
	want.Burst = 1
	want.QuotaDay = 0
	want.QuotaMonth = 1_000_000
	want.RequiresApproval = false
	want.CreatedAt = at(-60)

	before := time.Now()
	var called int
	got, err := s.UpdatePlan(t.Context(), "upd", func(p *store.Plan) error {
		called++
		checkPlan(t, p, orig) // update sees the stored plan
		p.PriceLabel = want.PriceLabel
		p.Description = want.Description
		p.RatePerSecond = want.RatePerSecond
		p.Burst = want.Burst
		p.QuotaDay = want.QuotaDay
		p.QuotaMonth = want.QuotaMonth
		p.RequiresApproval = want.RequiresApproval
		p.CreatedAt = want.CreatedAt
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatalf("UpdatePlan: %v", err)
	}
	if called != 1 {
		t.Errorf("update called %d times; want 1", called)
	}
	checkNow(t, "UpdatedAt", got.UpdatedAt, before, after)
	want.UpdatedAt = got.UpdatedAt
	checkPlan(t, got, want)
	stored := mustGetPlan(t, s, "upd")
	checkPlan(t, stored, want)
	if !stored.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("stored UpdatedAt = %v; want %v as returned by UpdatePlan", stored.UpdatedAt, got.UpdatedAt)
	}
	checkAccessGeneration(t, s, gen+1, "one UpdatePlan")
	if _, err := s.UpdatePlan(t.Context(), "upd", func(*store.Plan) error { return nil }); err != nil {
		t.Errorf("UpdatePlan changing nothing: %v", err)
	}
	checkAccessGeneration(t, s, gen+2, "two UpdatePlan, the second changing nothing")
}

func testUpdatePlanErrors(t *testing.T, s store.Store) {
	want := fullPlan("kept")
	mustCreatePlan(t, s, want)
	called := false
	_, err := s.UpdatePlan(t.Context(), "missing", func(*store.Plan) error {
		called = true
		return nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdatePlan(missing): got %v; want an error wrapping store.ErrNotFound", err)
	}
	if called {
		t.Errorf("UpdatePlan(missing) called update")
	}

	errAbort := errors.New("abort the update")
	got, err := s.UpdatePlan(t.Context(), "kept", func(p *store.Plan) error {
		p.QuotaDay = 1
		p.PriceLabel = "changed"
		return fmt.Errorf("validating: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Errorf("UpdatePlan: got %v; want the update function's error", err)
	}
	if got != nil {
		t.Errorf("UpdatePlan returned plan %+v with an error", got)
	}

	for _, to := range []string{"other", "KEPT", ""} {
		got, err := s.UpdatePlan(t.Context(), "kept", func(p *store.Plan) error {
			p.Name, p.PriceLabel = to, "Other"
			return nil
		})
		checkNotSentinel(t, fmt.Sprintf("UpdatePlan renaming to %q", to), err)
		if got != nil {
			t.Errorf("UpdatePlan returned plan %+v with an error", got)
		}
		if _, err := s.GetPlan(t.Context(), to); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetPlan(%q) after a refused rename: got %v; want store.ErrNotFound", to, err)
		}
	}
	checkPlan(t, mustGetPlan(t, s, "kept"), want)
	checkAccessGeneration(t, s, 1, "CreatePlan and failed UpdatePlan calls")
}

func testUpdatePlanConcurrent(t *testing.T, s store.Store) {
	mustCreatePlan(t, s, &store.Plan{Name: "busy"})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdatePlan(t.Context(), "busy", func(p *store.Plan) error {
				p.QuotaDay++
				p.Description += "x"
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdatePlan: %v", err)
		}
	}
	p := mustGetPlan(t, s, "busy")
	if p.QuotaDay != n || p.Description != strings.Repeat("x", n) {
		t.Errorf("after %d concurrent increments, QuotaDay = %d, Description = %q; want %d (lost updates)",
			n, p.QuotaDay, p.Description, n)
	}
	checkAccessGeneration(t, s, 1+n, fmt.Sprintf("CreatePlan and %d concurrent UpdatePlan", n))
}

func testDeletePlan(t *testing.T, s store.Store) {
	setupAccess(t, s)
	mustCreatePlan(t, s, fullPlan("doomed"))
	if err := s.DeletePlan(t.Context(), "doomed"); err != nil {
		t.Fatalf("DeletePlan: %v", err)
	}
	if _, err := s.GetPlan(t.Context(), "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPlan after DeletePlan: got %v; want store.ErrNotFound", err)
	}
	for _, name := range []string{"doomed", "missing", ""} {
		if err := s.DeletePlan(t.Context(), name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeletePlan(%q) of a missing plan: got %v; want store.ErrNotFound", name, err)
		}
	}
	checkAccessGeneration(t, s, 4, "three CreatePlan, a DeletePlan and failed ones")

	// A plan in use stays, with its subscriptions, until none uses it.
	sub := subscription("sub-1", "app-1", "api-a", "gold")
	mustCreateSubscription(t, s, sub)
	mustCreateSubscription(t, s, subscription("sub-2", "app-2", "api-a", "gold"))
	for range 2 {
		err := s.DeletePlan(t.Context(), "gold")
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("DeletePlan of a plan in use: got %v; want store.ErrConflict", err)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeletePlan of a plan in use: %v wraps store.ErrNotFound", err)
		}
	}
	checkPlan(t, mustGetPlan(t, s, "gold"), fullPlan("gold"))
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), sub)
	checkAccessGeneration(t, s, 6, "two CreateSubscription and refused DeletePlan calls")

	if err := s.DeleteSubscription(t.Context(), "sub-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePlan(t.Context(), "gold"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("DeletePlan of a plan one subscription uses: got %v; want store.ErrConflict", err)
	}
	if _, err := s.UpdateSubscription(t.Context(), "sub-1", func(sub *store.Subscription) error {
		sub.PlanName = "free"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePlan(t.Context(), "gold"); err != nil {
		t.Errorf("DeletePlan of a plan no longer used: %v", err)
	}
	checkAccessGeneration(t, s, 9, "DeleteSubscription, UpdateSubscription and DeletePlan")
	// The name can be used again.
	mustCreatePlan(t, s, fullPlan("gold"))
}

func testSubscriptionRoundTrip(t *testing.T, s store.Store) {
	setupAccess(t, s)
	gen := mustAccessGeneration(t, s)
	if subs := mustListSubscriptions(t, s, store.SubscriptionFilter{}); len(subs) != 0 {
		t.Fatalf("ListSubscriptions on a store without subscriptions: got %d; want 0", len(subs))
	}
	want := subscription("sub-1", "app-1", "api-a", "gold")
	sent := *want
	mustCreateSubscription(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) || !sent.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreateSubscription changed explicit timestamps to %v, %v; want %v, %v",
			sent.CreatedAt, sent.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), want)
	found, err := s.FindSubscription(t.Context(), "app-1", "api-a")
	if err != nil {
		t.Fatalf("FindSubscription: %v", err)
	}
	checkSubscription(t, found, want)
	subs := mustListSubscriptions(t, s, store.SubscriptionFilter{})
	if len(subs) != 1 {
		t.Fatalf("ListSubscriptions: got %d; want 1", len(subs))
	}
	checkSubscription(t, subs[0], want)
	checkAccessGeneration(t, s, gen+1, "one CreateSubscription")
}

func testSubscriptionDefaults(t *testing.T, s store.Store) {
	setupAccess(t, s)
	sub := &store.Subscription{ID: "bare", ClientID: "app-1", APIName: "api-a", PlanName: "free"}
	before := time.Now()
	mustCreateSubscription(t, s, sub)
	checkNow(t, "CreateSubscription set CreatedAt", sub.CreatedAt, before, time.Now())
	if !sub.UpdatedAt.Equal(sub.CreatedAt) {
		t.Errorf("CreateSubscription set UpdatedAt = %v; want CreatedAt %v", sub.UpdatedAt, sub.CreatedAt)
	}
	got := mustGetSubscription(t, s, "bare")
	checkSubscription(t, got, sub)
	if !got.CreatedAt.Equal(sub.CreatedAt) {
		t.Errorf("stored CreatedAt = %v; want %v as written back", got.CreatedAt, sub.CreatedAt)
	}
	// IDs are compared exactly and may hold anything but NUL.
	for _, p := range []*store.Subscription{
		subscription("BARE", "app-1", "api-b", "gold"),
		subscription("bare ", "app-2", "api-a", "gold"),
		subscription(`日本 '"\`, "app-2", "api-b", "free"),
	} {
		p.Status = store.SubscriptionPending
		mustCreateSubscription(t, s, p)
		checkSubscription(t, mustGetSubscription(t, s, p.ID), p)
	}
	checkSubscriptionIDs(t, s, "bare", "BARE", "bare ", `日本 '"\`)
}

func testCreateSubscriptionConflict(t *testing.T, s store.Store) {
	setupAccess(t, s)
	want := subscription("sub-1", "app-1", "api-a", "free")
	mustCreateSubscription(t, s, want)
	gen := mustAccessGeneration(t, s)
	for _, c := range []struct {
		name string
		sub  *store.Subscription
	}{
		{"same client and API", subscription("sub-2", "app-1", "api-a", "gold")},
		{"same ID", subscription("sub-1", "app-2", "api-b", "gold")},
	} {
		if err := s.CreateSubscription(t.Context(), c.sub); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateSubscription with the %s: got %v; want store.ErrConflict", c.name, err)
		}
	}
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), want)
	if _, err := s.GetSubscription(t.Context(), "sub-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSubscription of the refused subscription: got %v; want store.ErrNotFound", err)
	}
	checkSubscriptionIDs(t, s, "sub-1")
	checkAccessGeneration(t, s, gen, "conflicting CreateSubscription calls")
	// The same client for another API, and another client for the API,
	// are no conflict.
	mustCreateSubscription(t, s, subscription("sub-3", "app-1", "api-b", "free"))
	mustCreateSubscription(t, s, subscription("sub-4", "app-2", "api-a", "free"))
}

func testCreateSubscriptionNotFound(t *testing.T, s store.Store) {
	setupAccess(t, s)
	gen := mustAccessGeneration(t, s)
	tests := []struct {
		name string
		sub  *store.Subscription
	}{
		{"missing client", subscription("s1", "app-9", "api-a", "free")},
		{"missing API", subscription("s2", "app-1", "api-z", "free")},
		{"missing plan", subscription("s3", "app-1", "api-a", "platinum")},
		{"all missing", subscription("s4", "app-9", "api-z", "platinum")},
		{"empty references", subscription("s5", "", "", "")},
		{"client case", subscription("s6", "APP-1", "api-a", "free")},
		{"API case", subscription("s7", "app-1", "API-A", "free")},
		{"plan case", subscription("s8", "app-1", "api-a", "Free")},
	}
	for _, tt := range tests {
		err := s.CreateSubscription(t.Context(), tt.sub)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateSubscription with a %s: got %v; want store.ErrNotFound", tt.name, err)
		}
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("CreateSubscription with a %s: error %v also wraps another sentinel", tt.name, err)
		}
		if _, err := s.GetSubscription(t.Context(), tt.sub.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSubscription(%q) after a refused create: got %v; want store.ErrNotFound", tt.sub.ID, err)
		}
	}
	// The ID is the caller's and cannot be empty.
	err := s.CreateSubscription(t.Context(), subscription("", "app-1", "api-a", "free"))
	checkNotSentinel(t, "CreateSubscription with an empty ID", err)
	checkSubscriptionIDs(t, s)
	checkAccessGeneration(t, s, gen, "refused CreateSubscription calls")
	// What was refused can then be created.
	mustCreateSubscription(t, s, subscription("s3", "app-1", "api-a", "free"))
}

func testGetSubscriptionNotFound(t *testing.T, s store.Store) {
	setupAccess(t, s)
	mustCreateSubscription(t, s, subscription("sub-1", "app-1", "api-a", "free"))
	for _, id := range []string{"missing", "", "SUB-1", "sub-1 "} {
		sub, err := s.GetSubscription(t.Context(), id)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSubscription(%q): got (%v, %v); want store.ErrNotFound", id, sub, err)
		}
	}
	for _, k := range [][2]string{
		{"app-1", "api-b"}, {"app-2", "api-a"}, {"app-9", "api-a"}, {"", ""},
		{"APP-1", "api-a"}, {"app-1", "api-a "}, {"api-a", "app-1"},
	} {
		sub, err := s.FindSubscription(t.Context(), k[0], k[1])
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindSubscription(%q, %q): got (%v, %v); want store.ErrNotFound", k[0], k[1], sub, err)
		}
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
			t.Errorf("FindSubscription(%q, %q): error %v also wraps another sentinel", k[0], k[1], err)
		}
	}
}

func testListSubscriptions(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Byte order differs from most locales' order on these keys; IDs and
	// creation order run against it.
	clients := []string{"b", "a", "B", "a-b"}
	apis := []string{"y", "x", "X"}
	for _, id := range clients {
		mustCreateClient(t, s, fullClient(id))
	}
	for i, name := range apis {
		a := fullAPI(name)
		a.BasePath = fmt.Sprintf("/list/%d", i)
		mustCreateAPI(t, s, a)
	}
	mustCreatePlan(t, s, fullPlan("free"))
	mustCreatePlan(t, s, fullPlan("gold"))
	type key struct{ client, api string }
	all := map[key]*store.Subscription{}
	n := 0
	for _, c := range clients {
		for _, a := range apis {
			if c == "B" && a == "x" {
				continue // one pair without a subscription
			}
			plan := "free"
			if n%3 == 0 {
				plan = "gold"
			}
			sub := subscription(fmt.Sprintf("sub-%02d", 20-n), c, a, plan)
			sub.CreatedAt = at(n)
			all[key{c, a}] = sub
			mustCreateSubscription(t, s, sub)
			n++
		}
	}
	// expect returns the subscriptions keep accepts, in contract order.
	expect := func(keep func(*store.Subscription) bool) []*store.Subscription {
		var out []*store.Subscription
		for _, sub := range all {
			if keep(sub) {
				out = append(out, sub)
			}
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].ClientID != out[j].ClientID {
				return out[i].ClientID < out[j].ClientID
			}
			return out[i].APIName < out[j].APIName
		})
		return out
	}
	tests := []struct {
		name string
		f    store.SubscriptionFilter
	}{
		{"all", store.SubscriptionFilter{}},
		{"client", store.SubscriptionFilter{ClientID: "a"}},
		{"client with a missing pair", store.SubscriptionFilter{ClientID: "B"}},
		{"API", store.SubscriptionFilter{APIName: "x"}},
		{"plan", store.SubscriptionFilter{PlanName: "gold"}},
		{"client and API", store.SubscriptionFilter{ClientID: "a-b", APIName: "X"}},
		{"client and plan", store.SubscriptionFilter{ClientID: "b", PlanName: "free"}},
		{"API and plan", store.SubscriptionFilter{APIName: "y", PlanName: "gold"}},
		{"every field", store.SubscriptionFilter{ClientID: "a", APIName: "y", PlanName: "gold"}},
		{"missing pair", store.SubscriptionFilter{ClientID: "B", APIName: "x"}},
		{"unknown client", store.SubscriptionFilter{ClientID: "A"}},
		{"unknown plan", store.SubscriptionFilter{PlanName: "platinum"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := expect(func(sub *store.Subscription) bool {
				return (tt.f.ClientID == "" || sub.ClientID == tt.f.ClientID) &&
					(tt.f.APIName == "" || sub.APIName == tt.f.APIName) &&
					(tt.f.PlanName == "" || sub.PlanName == tt.f.PlanName)
			})
			got, err := s.ListSubscriptions(ctx, tt.f)
			if err != nil {
				t.Fatalf("ListSubscriptions(%+v): %v", tt.f, err)
			}
			if !slices.Equal(subscriptionIDs(got), subscriptionIDs(want)) {
				t.Fatalf("ListSubscriptions(%+v) = %q; want %q", tt.f, subscriptionIDs(got), subscriptionIDs(want))
			}
			for i := range got {
				checkSubscription(t, got[i], want[i])
			}
		})
	}
}

func testUpdateSubscription(t *testing.T, s store.Store) {
	setupAccess(t, s)
	orig := subscription("sub-1", "app-1", "api-a", "free")
	orig.Status = store.SubscriptionPending
	mustCreateSubscription(t, s, orig)
	gen := mustAccessGeneration(t, s)

	want := *orig
	want.PlanName = "gold"
	want.Status = store.SubscriptionActive
	before := time.Now()
	var called int
	got, err := s.UpdateSubscription(t.Context(), "sub-1", func(sub *store.Subscription) error {
		called++
		checkSubscription(t, sub, orig) // update sees the stored subscription
		sub.PlanName = want.PlanName
		sub.Status = want.Status
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatalf("UpdateSubscription: %v", err)
	}
	if called != 1 {
		t.Errorf("update called %d times; want 1", called)
	}
	checkNow(t, "UpdatedAt", got.UpdatedAt, before, after)
	want.UpdatedAt = got.UpdatedAt
	checkSubscription(t, got, &want)
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), &want)
	found, err := s.FindSubscription(t.Context(), "app-1", "api-a")
	if err != nil {
		t.Fatalf("FindSubscription: %v", err)
	}
	checkSubscription(t, found, &want)
	checkAccessGeneration(t, s, gen+1, "one UpdateSubscription")
	if _, err := s.UpdateSubscription(t.Context(), "sub-1", func(*store.Subscription) error { return nil }); err != nil {
		t.Errorf("UpdateSubscription changing nothing: %v", err)
	}
	checkAccessGeneration(t, s, gen+2, "two UpdateSubscription, the second changing nothing")
}

func testUpdateSubscriptionErrors(t *testing.T, s store.Store) {
	setupAccess(t, s)
	want := subscription("sub-1", "app-1", "api-a", "free")
	mustCreateSubscription(t, s, want)
	mustCreateSubscription(t, s, subscription("sub-2", "app-2", "api-b", "free"))
	gen := mustAccessGeneration(t, s)
	ctx := t.Context()

	called := false
	_, err := s.UpdateSubscription(ctx, "missing", func(*store.Subscription) error {
		called = true
		return nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSubscription(missing): got %v; want store.ErrNotFound", err)
	}
	if called {
		t.Errorf("UpdateSubscription(missing) called update")
	}

	got, err := s.UpdateSubscription(ctx, "sub-1", func(sub *store.Subscription) error {
		sub.PlanName = "platinum"
		sub.Status = store.SubscriptionPending
		return nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSubscription to a missing plan: got %v; want store.ErrNotFound", err)
	}
	if errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateSubscription to a missing plan: %v wraps store.ErrConflict", err)
	}
	if got != nil {
		t.Errorf("UpdateSubscription returned %+v with an error", got)
	}

	errAbort := errors.New("abort the update")
	if _, err := s.UpdateSubscription(ctx, "sub-1", func(sub *store.Subscription) error {
		sub.PlanName = "gold"
		return fmt.Errorf("validating: %w", errAbort)
	}); !errors.Is(err, errAbort) {
		t.Errorf("UpdateSubscription: got %v; want the update function's error", err)
	}

	for _, c := range []struct {
		name   string
		change func(*store.Subscription)
	}{
		{"ID", func(sub *store.Subscription) { sub.ID = "sub-9" }},
		{"ID to another's", func(sub *store.Subscription) { sub.ID = "sub-2" }},
		{"ID to empty", func(sub *store.Subscription) { sub.ID = "" }},
		{"client", func(sub *store.Subscription) { sub.ClientID = "app-2" }},
		{"API", func(sub *store.Subscription) { sub.APIName = "api-b" }},
		{"client and API to another's", func(sub *store.Subscription) { sub.ClientID, sub.APIName = "app-2", "api-b" }},
	} {
		got, err := s.UpdateSubscription(ctx, "sub-1", func(sub *store.Subscription) error {
			c.change(sub)
			sub.Status = "changed"
			return nil
		})
		checkNotSentinel(t, "UpdateSubscription changing the "+c.name, err)
		if got != nil {
			t.Errorf("UpdateSubscription changing the %s returned %+v with an error", c.name, got)
		}
	}
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), want)
	checkSubscriptionIDs(t, s, "sub-1", "sub-2")
	checkAccessGeneration(t, s, gen, "failed UpdateSubscription calls")
}

func testUpdateSubscriptionConcurrent(t *testing.T, s store.Store) {
	setupAccess(t, s)
	mustCreateSubscription(t, s, subscription("busy", "app-1", "api-a", "free"))
	gen := mustAccessGeneration(t, s)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateSubscription(t.Context(), "busy", func(sub *store.Subscription) error {
				sub.Status += "+"
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdateSubscription: %v", err)
		}
	}
	if got, want := mustGetSubscription(t, s, "busy").Status, store.SubscriptionActive+strings.Repeat("+", n); got != want {
		t.Errorf("after %d concurrent appends, Status = %q; want %q (lost updates)", n, got, want)
	}
	checkAccessGeneration(t, s, gen+n, fmt.Sprintf("%d concurrent UpdateSubscription", n))
}

func testDeleteSubscription(t *testing.T, s store.Store) {
	setupAccess(t, s)
	mustCreateSubscription(t, s, subscription("doomed", "app-1", "api-a", "free"))
	kept := subscription("kept", "app-2", "api-a", "free")
	mustCreateSubscription(t, s, kept)
	gen := mustAccessGeneration(t, s)
	if err := s.DeleteSubscription(t.Context(), "doomed"); err != nil {
		t.Fatalf("DeleteSubscription: %v", err)
	}
	if _, err := s.GetSubscription(t.Context(), "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSubscription after DeleteSubscription: got %v; want store.ErrNotFound", err)
	}
	if _, err := s.FindSubscription(t.Context(), "app-1", "api-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindSubscription after DeleteSubscription: got %v; want store.ErrNotFound", err)
	}
	for _, id := range []string{"doomed", "missing", ""} {
		if err := s.DeleteSubscription(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteSubscription(%q) of a missing subscription: got %v; want store.ErrNotFound", id, err)
		}
	}
	checkSubscription(t, mustGetSubscription(t, s, "kept"), kept)
	checkAccessGeneration(t, s, gen+1, "one DeleteSubscription and failed ones")
	// The ID and the pair can be used again.
	mustCreateSubscription(t, s, subscription("doomed", "app-1", "api-a", "gold"))
}

// testSubscriptionCascade checks that deleting a client or an API deletes
// its subscriptions, and counts once in the access generation when it did.
func testSubscriptionCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupAccess(t, s)
	mustCreateClient(t, s, fullClient("app-3"))
	mustCreateAPI(t, s, fullAPI("api-c"))
	for _, sub := range []*store.Subscription{
		subscription("s1a", "app-1", "api-a", "free"),
		subscription("s1b", "app-1", "api-b", "gold"),
		subscription("s2a", "app-2", "api-a", "free"),
		subscription("s2b", "app-2", "api-b", "free"),
	} {
		mustCreateSubscription(t, s, sub)
	}
	gen, apisGen := mustAccessGeneration(t, s), mustGeneration(t, s)

	if err := s.DeleteClient(ctx, "app-1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	checkSubscriptionIDs(t, s, "s2a", "s2b")
	for _, id := range []string{"s1a", "s1b"} {
		if _, err := s.GetSubscription(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSubscription(%q) after deleting its client: got %v; want store.ErrNotFound", id, err)
		}
	}
	if _, err := s.FindSubscription(ctx, "app-1", "api-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindSubscription after deleting the client: got %v; want store.ErrNotFound", err)
	}
	checkAccessGeneration(t, s, gen+1, "DeleteClient that deleted two subscriptions")
	checkGeneration(t, s, apisGen, "DeleteClient")

	if err := s.DeleteAPI(ctx, "api-a"); err != nil {
		t.Fatalf("DeleteAPI: %v", err)
	}
	checkSubscriptionIDs(t, s, "s2b")
	checkAccessGeneration(t, s, gen+2, "DeleteAPI that deleted a subscription")
	checkGeneration(t, s, apisGen+1, "DeleteAPI")

	// Without subscriptions to delete, the access generation stays.
	if err := s.DeleteClient(ctx, "app-3"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if err := s.DeleteAPI(ctx, "api-c"); err != nil {
		t.Fatalf("DeleteAPI: %v", err)
	}
	if err := s.DeleteClient(ctx, "app-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteClient of a deleted client: got %v; want store.ErrNotFound", err)
	}
	if err := s.DeleteAPI(ctx, "api-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAPI of a deleted API: got %v; want store.ErrNotFound", err)
	}
	checkAccessGeneration(t, s, gen+2, "deleting a client and an API without subscriptions")
	checkGeneration(t, s, apisGen+2, "DeleteAPI without subscriptions")

	// Recreating the client and the API brings no subscription back, and
	// plans are untouched.
	mustCreateClient(t, s, fullClient("app-1"))
	mustCreateAPI(t, s, fullAPI("api-a"))
	if _, err := s.FindSubscription(ctx, "app-1", "api-b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindSubscription for a recreated client: got %v; want store.ErrNotFound", err)
	}
	if subs := mustListSubscriptions(t, s, store.SubscriptionFilter{APIName: "api-a"}); len(subs) != 0 {
		t.Errorf("ListSubscriptions for a recreated API = %q; want none", subscriptionIDs(subs))
	}
	if ps := mustListPlans(t, s); len(ps) != 2 {
		t.Errorf("ListPlans after the deletions: got %d plans; want 2", len(ps))
	}
	mustCreateSubscription(t, s, subscription("s1a", "app-1", "api-a", "gold"))
}

// testSubscriptionCascadeConcurrent races subscribing against deleting the
// client or the API: every subscription that was stored must count twice
// in the access generation (created, then deleted with its client or
// API), or a node that cached it would keep it.
func testSubscriptionCascadeConcurrent(t *testing.T, s store.Store) {
	const n = 20
	mustCreatePlan(t, s, fullPlan("free"))
	mustCreateAPI(t, s, fullAPI("api"))
	mustCreateClient(t, s, fullClient("app"))
	for i := range n {
		mustCreateClient(t, s, fullClient(fmt.Sprintf("app-%02d", i)))
		mustCreateAPI(t, s, fullAPI(fmt.Sprintf("api-%02d", i)))
	}
	for _, del := range []struct {
		what      string
		call      func(i int) error
		subscribe func(i int) *store.Subscription
	}{
		{"DeleteClient", func(i int) error { return s.DeleteClient(t.Context(), fmt.Sprintf("app-%02d", i)) },
			func(i int) *store.Subscription {
				return subscription(fmt.Sprintf("sub-app-%02d", i), fmt.Sprintf("app-%02d", i), "api", "free")
			}},
		{"DeleteAPI", func(i int) error { return s.DeleteAPI(t.Context(), fmt.Sprintf("api-%02d", i)) },
			func(i int) *store.Subscription {
				return subscription(fmt.Sprintf("sub-api-%02d", i), "app", fmt.Sprintf("api-%02d", i), "free")
			}},
	} {
		gen := mustAccessGeneration(t, s)
		var wg sync.WaitGroup
		subscribed := make(chan error, n)
		deleted := make(chan error, n)
		for i := range n {
			wg.Go(func() { subscribed <- s.CreateSubscription(t.Context(), del.subscribe(i)) })
			wg.Go(func() { deleted <- del.call(i) })
		}
		wg.Wait()
		close(subscribed)
		close(deleted)
		for err := range deleted {
			if err != nil {
				t.Errorf("concurrent %s: %v", del.what, err)
			}
		}
		ok := 0
		for err := range subscribed {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("CreateSubscription racing %s: got %v; want nil or store.ErrNotFound", del.what, err)
			}
		}
		if subs := mustListSubscriptions(t, s, store.SubscriptionFilter{}); len(subs) != 0 {
			t.Errorf("subscriptions left after %s: %q", del.what, subscriptionIDs(subs))
		}
		checkAccessGeneration(t, s, gen+2*int64(ok),
			fmt.Sprintf("%d subscriptions created, then deleted by %s", ok, del.what))
	}
}

// testAccessGeneration walks through every kind of call and checks that
// exactly the successful plan and subscription writes count, once each.
func testAccessGeneration(t *testing.T, s store.Store) {
	ctx := t.Context()
	errAbort := errors.New("abort")
	mustCreateClient(t, s, fullClient("app-1"))
	mustCreateClient(t, s, fullClient("app-2"))
	mustCreateAPI(t, s, fullAPI("api-a"))
	mustCreateAPI(t, s, fullAPI("api-b"))
	updatePlan := func(name string, f func(*store.Plan) error) func() error {
		return func() error { _, err := s.UpdatePlan(ctx, name, f); return err }
	}
	updateSub := func(id string, f func(*store.Subscription) error) func() error {
		return func() error { _, err := s.UpdateSubscription(ctx, id, f); return err }
	}
	steps := []struct {
		name    string
		call    func() error
		wantErr error // nil for success, else what the error must wrap
		delta   int64 // how much the generation must grow
	}{
		{"CreatePlan", func() error { return s.CreatePlan(ctx, fullPlan("free")) }, nil, 1},
		{"CreatePlan another", func() error { return s.CreatePlan(ctx, fullPlan("gold")) }, nil, 1},
		{"CreatePlan taken", func() error { return s.CreatePlan(ctx, fullPlan("free")) }, store.ErrConflict, 0},
		{"GetPlan", func() error { _, err := s.GetPlan(ctx, "free"); return err }, nil, 0},
		{"ListPlans", func() error { _, err := s.ListPlans(ctx); return err }, nil, 0},
		{"UpdatePlan", updatePlan("free", func(p *store.Plan) error { p.Burst = 7; return nil }), nil, 1},
		{"UpdatePlan missing", updatePlan("missing", func(*store.Plan) error { return nil }), store.ErrNotFound, 0},
		{"UpdatePlan aborted", updatePlan("free", func(*store.Plan) error { return errAbort }), errAbort, 0},
		{"CreateSubscription", func() error {
			return s.CreateSubscription(ctx, subscription("s1", "app-1", "api-a", "free"))
		}, nil, 1},
		{"CreateSubscription another", func() error {
			return s.CreateSubscription(ctx, subscription("s2", "app-2", "api-a", "gold"))
		}, nil, 1},
		{"CreateSubscription taken pair", func() error {
			return s.CreateSubscription(ctx, subscription("s3", "app-1", "api-a", "free"))
		}, store.ErrConflict, 0},
		{"CreateSubscription missing plan", func() error {
			return s.CreateSubscription(ctx, subscription("s3", "app-1", "api-b", "platinum"))
		}, store.ErrNotFound, 0},
		{"GetSubscription", func() error { _, err := s.GetSubscription(ctx, "s1"); return err }, nil, 0},
		{"FindSubscription", func() error { _, err := s.FindSubscription(ctx, "app-1", "api-a"); return err }, nil, 0},
		{"ListSubscriptions", func() error {
			_, err := s.ListSubscriptions(ctx, store.SubscriptionFilter{ClientID: "app-1"})
			return err
		}, nil, 0},
		{"UpdateSubscription", updateSub("s1", func(sub *store.Subscription) error { sub.PlanName = "gold"; return nil }), nil, 1},
		{"UpdateSubscription missing plan", updateSub("s1", func(sub *store.Subscription) error {
			sub.PlanName = "platinum"
			return nil
		}), store.ErrNotFound, 0},
		{"UpdateSubscription missing", updateSub("missing", func(*store.Subscription) error { return nil }), store.ErrNotFound, 0},
		{"UpdateSubscription aborted", updateSub("s1", func(*store.Subscription) error { return errAbort }), errAbort, 0},
		{"DeletePlan in use", func() error { return s.DeletePlan(ctx, "gold") }, store.ErrConflict, 0},
		{"DeletePlan", func() error { return s.DeletePlan(ctx, "free") }, nil, 1},
		{"DeletePlan missing", func() error { return s.DeletePlan(ctx, "free") }, store.ErrNotFound, 0},
		{"DeleteSubscription", func() error { return s.DeleteSubscription(ctx, "s2") }, nil, 1},
		{"DeleteSubscription missing", func() error { return s.DeleteSubscription(ctx, "s2") }, store.ErrNotFound, 0},
		{"AddUsage", func() error {
			return s.AddUsage(ctx, []store.UsageRecord{{ClientID: "app-1", APIName: "api-a", Hour: hour(0), Status: 200, Count: 1}})
		}, nil, 0},
		{"CreateClient", func() error { return s.CreateClient(ctx, fullClient("app-3")) }, nil, 0},
		{"UpdateClient", func() error {
			_, err := s.UpdateClient(ctx, "app-1", func(c *store.Client) error { c.Name = "x"; return nil })
			return err
		}, nil, 0},
		{"CreateAPI", func() error { return s.CreateAPI(ctx, fullAPI("api-c")) }, nil, 0},
		{"UpdateAPI", func() error {
			_, err := s.UpdateAPI(ctx, "api-a", func(a *store.API) error { a.Title = "x"; return nil })
			return err
		}, nil, 0},
		{"DeleteClient without subscriptions", func() error { return s.DeleteClient(ctx, "app-3") }, nil, 0},
		{"DeleteAPI without subscriptions", func() error { return s.DeleteAPI(ctx, "api-c") }, nil, 0},
		{"DeleteClient with a subscription", func() error { return s.DeleteClient(ctx, "app-1") }, nil, 1},
		{"CreateSubscription for a deleted client", func() error {
			return s.CreateSubscription(ctx, subscription("s4", "app-1", "api-b", "gold"))
		}, store.ErrNotFound, 0},
		{"CreateSubscription again", func() error {
			return s.CreateSubscription(ctx, subscription("s4", "app-2", "api-b", "gold"))
		}, nil, 1},
		{"DeleteAPI with a subscription", func() error { return s.DeleteAPI(ctx, "api-b") }, nil, 1},
		{"RotateSigningKey", func() error { return s.RotateSigningKey(ctx, key("k", 0)) }, nil, 0},
		{"DeletePlan last", func() error { return s.DeletePlan(ctx, "gold") }, nil, 1},
	}
	gen := mustAccessGeneration(t, s)
	if gen != 0 {
		t.Errorf("AccessGeneration of a new store = %d; want 0", gen)
	}
	for _, st := range steps {
		err := st.call()
		switch {
		case st.wantErr == nil && err != nil:
			t.Fatalf("%s: %v", st.name, err)
		case st.wantErr != nil && !errors.Is(err, st.wantErr):
			t.Fatalf("%s: got %v; want an error wrapping %v", st.name, err, st.wantErr)
		}
		gen += st.delta
		if got := mustAccessGeneration(t, s); got != gen {
			t.Fatalf("AccessGeneration after %s = %d; want %d", st.name, got, gen)
		}
	}
	for range 3 {
		checkAccessGeneration(t, s, gen, "repeated reads")
	}
}

// testAccessGenerationConcurrent races subscription creates, some for the
// same client and API, and checks that the generation counts exactly the
// ones that succeeded.
func testAccessGenerationConcurrent(t *testing.T, s store.Store) {
	const n = 10
	mustCreatePlan(t, s, fullPlan("free"))
	mustCreateAPI(t, s, fullAPI("api"))
	for i := range n {
		mustCreateClient(t, s, fullClient(fmt.Sprintf("app-%02d", i)))
	}
	mustCreateClient(t, s, fullClient("shared"))
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			errs <- s.CreateSubscription(t.Context(), subscription(fmt.Sprintf("own-%02d", i), fmt.Sprintf("app-%02d", i), "api", "free"))
		})
		wg.Go(func() {
			errs <- s.CreateSubscription(t.Context(), subscription(fmt.Sprintf("raced-%02d", i), "shared", "api", "free"))
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("concurrent CreateSubscription: got %v; want nil or store.ErrConflict", err)
		}
	}
	if ok != n+1 {
		t.Errorf("%d concurrent CreateSubscription succeeded; want %d (every own pair, one of the shared)", ok, n+1)
	}
	if subs := mustListSubscriptions(t, s, store.SubscriptionFilter{}); len(subs) != ok {
		t.Errorf("ListSubscriptions: got %d; want %d", len(subs), ok)
	}
	checkAccessGeneration(t, s, 1+int64(ok), fmt.Sprintf("CreatePlan and %d successful concurrent CreateSubscription", ok))
}

// checkAccessCanceled checks the plan, subscription and usage methods with
// a cancelled context: none reports store.ErrNotFound, and none writes.
func checkAccessCanceled(t *testing.T, s store.Store) {
	t.Helper()
	mustCreateClient(t, s, fullClient("app-1"))
	mustCreateAPI(t, s, fullAPI("api-a"))
	mustCreatePlan(t, s, fullPlan("free"))
	sub := subscription("sub-1", "app-1", "api-a", "free")
	mustCreateSubscription(t, s, sub)
	gen := mustAccessGeneration(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	notNotFound := func(what string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s with a cancelled context: got %v; want an error that is not store.ErrNotFound", what, err)
		}
	}
	for _, name := range []string{"free", "missing"} {
		_, err := s.GetPlan(ctx, name)
		notNotFound(fmt.Sprintf("GetPlan(%q)", name), err)
	}
	for _, id := range []string{"sub-1", "missing"} {
		_, err := s.GetSubscription(ctx, id)
		notNotFound(fmt.Sprintf("GetSubscription(%q)", id), err)
	}
	// The gateway answers a missing subscription with 403: a cancelled
	// lookup must not look like one.
	for _, c := range []string{"app-1", "app-2"} {
		_, err := s.FindSubscription(ctx, c, "api-a")
		notNotFound(fmt.Sprintf("FindSubscription(%q, api-a)", c), err)
	}
	_, err := s.ListPlans(ctx)
	notNotFound("ListPlans", err)
	_, err = s.ListSubscriptions(ctx, store.SubscriptionFilter{})
	notNotFound("ListSubscriptions", err)
	_, err = s.UpdatePlan(ctx, "free", func(p *store.Plan) error { p.Burst = 99; return nil })
	notNotFound("UpdatePlan", err)
	_, err = s.UpdateSubscription(ctx, "sub-1", func(sub *store.Subscription) error { sub.Status = "x"; return nil })
	notNotFound("UpdateSubscription", err)
	notNotFound("DeleteSubscription", s.DeleteSubscription(ctx, "sub-1"))
	notNotFound("DeletePlan", s.DeletePlan(ctx, "free"))
	if err := s.CreatePlan(ctx, fullPlan("new")); err == nil {
		t.Errorf("CreatePlan with a cancelled context succeeded")
	}
	if err := s.CreateSubscription(ctx, subscription("sub-2", "app-1", "api-a", "free")); err == nil {
		t.Errorf("CreateSubscription with a cancelled context succeeded")
	}
	_, err = s.AccessGeneration(ctx)
	notNotFound("AccessGeneration", err)
	for _, id := range []string{"sub-1", "missing"} {
		_, err = s.PlaceOrder(ctx, fullOrder("ord-1", id), func(cur *store.Subscription, _ *store.Order) (*store.Subscription, error) {
			return cur, nil
		})
		notNotFound(fmt.Sprintf("PlaceOrder on %q", id), err)
	}
	_, err = s.ListOrders(ctx, store.OrderFilter{})
	notNotFound("ListOrders", err)
	notNotFound("AddUsage", s.AddUsage(ctx, []store.UsageRecord{{ClientID: "app-1", APIName: "api-a", Hour: hour(0), Count: 1}}))
	_, err = s.ListUsage(ctx, store.UsageFilter{})
	notNotFound("ListUsage", err)

	checkPlan(t, mustGetPlan(t, s, "free"), fullPlan("free"))
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), sub)
	checkSubscriptionIDs(t, s, "sub-1")
	if ps := mustListPlans(t, s); len(ps) != 1 {
		t.Errorf("ListPlans: got %d plans; want 1", len(ps))
	}
	if rs := mustListUsage(t, s, store.UsageFilter{}); len(rs) != 0 {
		t.Errorf("ListUsage after a cancelled AddUsage: got %d buckets; want 0", len(rs))
	}
	checkOrderIDs(t, s, store.OrderFilter{})
	checkAccessGeneration(t, s, gen, "calls with a cancelled context")
}
