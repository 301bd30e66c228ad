package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// The rules of orders and pending plans, pinned down the same way for
// every backend:
//   - A subscription's PendingPlanName comes back as written, "" when
//     none; a pending plan that does not exist is store.ErrNotFound, and
//     DeletePlan returns store.ErrConflict while a subscription has the
//     plan pending.
//   - PlaceOrder passes decide copies of the subscription and of its
//     pending order as stored (nil when none), and writes the order, the
//     subscription as decide returned it and the pending order's new
//     status in one transaction: when decide fails, or any write fails
//     (a taken order ID, a second pending order, a subscription that
//     CreateSubscription or UpdateSubscription would refuse), nothing is
//     written, the error is the one decide returned or the sentinel, and
//     the order keeps its fields. Changing the subscription's identity or
//     the pending order's fields other than Status, or an empty order or
//     subscription ID, is refused with an error that wraps none of the
//     sentinels. A nil subscription from decide with none stored is
//     store.ErrNotFound.
//   - PlaceOrder fills zero order timestamps like CreateSubscription,
//     sets the subscription's (when updated) and the settled pending
//     order's UpdatedAt to the current time, and increases the access
//     generation by exactly one; failed calls leave it.
//   - Orders are never deleted: deleting their subscription, client or
//     API keeps them, and the pending order of a deleted subscription
//     becomes superseded (UpdatedAt the current time).
//   - ListOrders filters by every OrderFilter field, keys compared byte
//     for byte, and returns newest first: by CreatedAt, then the later
//     stored first. Of concurrent orders on one subscription, each sees
//     the one before it (none is lost).

// fullOrder returns an order with every field set, placed by a developer
// for subscription subID of app-1 to api-a.
func fullOrder(id, subID string) *store.Order {
	return &store.Order{
		ID:             id,
		OrganizationID: "org-1",
		AppID:          "app-of-app-1",
		DeveloperID:    "dev-1",
		ClientID:       "app-1",
		APIName:        "api-a",
		SubscriptionID: subID,
		Kind:           store.OrderSubscribe,
		FromPlan:       "",
		ToPlan:         "free",
		PriceLabel:     "€49 / month — \"fair use\" 日本語",
		Status:         store.OrderCompleted,
		CreatedAt:      at(0),
		UpdatedAt:      at(1),
	}
}

// createWith is a decide function that creates sub, which must not be
// stored yet, with no order pending.
func createWith(t *testing.T, sub *store.Subscription) func(*store.Subscription, *store.Order) (*store.Subscription, error) {
	return func(s *store.Subscription, pending *store.Order) (*store.Subscription, error) {
		if s != nil || pending != nil {
			t.Errorf("decide for a new subscription got %+v, %+v; want nil, nil", s, pending)
		}
		c := *sub
		return &c, nil
	}
}

func mustPlaceOrder(t *testing.T, s store.Store, o *store.Order, decide func(*store.Subscription, *store.Order) (*store.Subscription, error)) *store.Subscription {
	t.Helper()
	sub, err := s.PlaceOrder(t.Context(), o, decide)
	if err != nil {
		t.Fatalf("PlaceOrder(%q): %v", o.ID, err)
	}
	return sub
}

func mustListOrders(t *testing.T, s store.Store, f store.OrderFilter) []*store.Order {
	t.Helper()
	os, err := s.ListOrders(t.Context(), f)
	if err != nil {
		t.Fatalf("ListOrders(%+v): %v", f, err)
	}
	return os
}

// checkOrder reports every field of got that differs from want under the
// suite's rules.
func checkOrder(t *testing.T, got, want *store.Order) {
	t.Helper()
	if got == nil {
		t.Fatalf("order %q: got nil", want.ID)
	}
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "OrganizationID", got.OrganizationID, want.OrganizationID)
	checkString(t, "AppID", got.AppID, want.AppID)
	checkString(t, "DeveloperID", got.DeveloperID, want.DeveloperID)
	checkString(t, "ClientID", got.ClientID, want.ClientID)
	checkString(t, "APIName", got.APIName, want.APIName)
	checkString(t, "SubscriptionID", got.SubscriptionID, want.SubscriptionID)
	checkString(t, "Kind", got.Kind, want.Kind)
	checkString(t, "FromPlan", got.FromPlan, want.FromPlan)
	checkString(t, "ToPlan", got.ToPlan, want.ToPlan)
	checkString(t, "PriceLabel", got.PriceLabel, want.PriceLabel)
	checkString(t, "Status", got.Status, want.Status)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func orderIDs(os []*store.Order) []string {
	var ids []string
	for _, o := range os {
		ids = append(ids, o.ID)
	}
	return ids
}

// checkOrderIDs requires the orders f selects, in ListOrders order, to
// have exactly the given IDs.
func checkOrderIDs(t *testing.T, s store.Store, f store.OrderFilter, want ...string) {
	t.Helper()
	if got := orderIDs(mustListOrders(t, s, f)); !slices.Equal(got, want) {
		t.Errorf("ListOrders(%+v) = %q; want %q", f, got, want)
	}
}

// getOrder returns the stored order id, found by listing.
func getOrder(t *testing.T, s store.Store, id string) *store.Order {
	t.Helper()
	for _, o := range mustListOrders(t, s, store.OrderFilter{}) {
		if o.ID == id {
			return o
		}
	}
	t.Fatalf("order %q is not stored", id)
	return nil
}

// testPendingPlan: a subscription's pending plan round-trips, refers to
// an existing plan and keeps it from being deleted.
func testPendingPlan(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupAccess(t, s)
	want := subscription("sub-1", "app-1", "api-a", "free")
	want.PendingPlanName = "gold"
	mustCreateSubscription(t, s, want)
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), want)
	found, err := s.FindSubscription(ctx, "app-1", "api-a")
	if err != nil {
		t.Fatal(err)
	}
	checkSubscription(t, found, want)
	checkSubscription(t, mustListSubscriptions(t, s, store.SubscriptionFilter{})[0], want)

	missing := subscription("sub-2", "app-2", "api-a", "free")
	missing.PendingPlanName = "platinum"
	if err := s.CreateSubscription(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateSubscription with a missing pending plan: got %v; want store.ErrNotFound", err)
	}
	if _, err := s.UpdateSubscription(ctx, "sub-1", func(sub *store.Subscription) error {
		sub.PendingPlanName = "platinum"
		return nil
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSubscription to a missing pending plan: got %v; want store.ErrNotFound", err)
	}
	if err := s.DeletePlan(ctx, "gold"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("DeletePlan of a plan pending for a subscription: got %v; want store.ErrConflict", err)
	}
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), want)
	gen := mustAccessGeneration(t, s)

	got, err := s.UpdateSubscription(ctx, "sub-1", func(sub *store.Subscription) error {
		sub.PendingPlanName = ""
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want.PendingPlanName, want.UpdatedAt = "", got.UpdatedAt
	checkSubscription(t, got, want)
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), want)
	if err := s.DeletePlan(ctx, "gold"); err != nil {
		t.Errorf("DeletePlan once no subscription has it pending: %v", err)
	}
	checkAccessGeneration(t, s, gen+2, "an UpdateSubscription and a DeletePlan")
}

// testPlaceOrder walks one subscription through the three kinds of
// write: created with a pending order, updated settling it, deleted.
func testPlaceOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupAccess(t, s)
	gen := mustAccessGeneration(t, s)

	// Create: the new subscription and its pending order.
	sub := subscription("sub-1", "app-1", "api-a", "gold")
	sub.Status = store.SubscriptionPending
	first := fullOrder("ord-1", "sub-1")
	first.Status = store.OrderPending
	sent := *first
	got := mustPlaceOrder(t, s, &sent, createWith(t, sub))
	checkSubscription(t, got, sub)
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), sub)
	if sent != *first {
		t.Errorf("PlaceOrder changed an order with explicit timestamps to %+v", sent)
	}
	checkOrderIDs(t, s, store.OrderFilter{}, "ord-1")
	checkOrder(t, getOrder(t, s, "ord-1"), first)
	checkAccessGeneration(t, s, gen+1, "a PlaceOrder creating a subscription")

	// Update: decide sees both as stored, settles the pending order and
	// changes the subscription.
	second := &store.Order{ID: "ord-2", SubscriptionID: "sub-1", ClientID: "app-1", APIName: "api-a",
		Kind: store.OrderApprove, FromPlan: "", ToPlan: "gold", Status: store.OrderCompleted}
	before := time.Now()
	got = mustPlaceOrder(t, s, second, func(cur *store.Subscription, pending *store.Order) (*store.Subscription, error) {
		checkSubscription(t, cur, sub)
		if pending == nil {
			t.Fatal("decide got no pending order; want ord-1")
		}
		checkOrder(t, pending, first)
		pending.Status = store.OrderCompleted
		cur.Status = store.SubscriptionActive
		cur.PendingPlanName = "free"
		return cur, nil
	})
	after := time.Now()
	checkNow(t, "the updated subscription's UpdatedAt", got.UpdatedAt, before, after)
	checkNow(t, "the order's CreatedAt", second.CreatedAt, before, after)
	if !second.UpdatedAt.Equal(second.CreatedAt) {
		t.Errorf("PlaceOrder set UpdatedAt %v; want CreatedAt %v", second.UpdatedAt, second.CreatedAt)
	}
	sub.Status, sub.PendingPlanName, sub.UpdatedAt = store.SubscriptionActive, "free", got.UpdatedAt
	checkSubscription(t, got, sub)
	checkSubscription(t, mustGetSubscription(t, s, "sub-1"), sub)
	settled := getOrder(t, s, "ord-1")
	checkNow(t, "the settled order's UpdatedAt", settled.UpdatedAt, before, after)
	first.Status, first.UpdatedAt = store.OrderCompleted, settled.UpdatedAt
	checkOrder(t, settled, first)
	checkOrder(t, getOrder(t, s, "ord-2"), second)
	checkAccessGeneration(t, s, gen+2, "two PlaceOrder")

	// A pending order again, then a deletion that leaves it pending: it
	// is superseded.
	third := fullOrder("ord-3", "sub-1")
	third.Kind, third.FromPlan, third.ToPlan, third.Status = store.OrderChange, "gold", "free", store.OrderPending
	third.CreatedAt, third.UpdatedAt = time.Time{}, time.Time{} // filled and written back
	mustPlaceOrder(t, s, third, func(cur *store.Subscription, pending *store.Order) (*store.Subscription, error) {
		if pending != nil {
			t.Errorf("decide got pending order %+v; want none", pending)
		}
		return cur, nil
	})
	fourth := &store.Order{ID: "ord-4", SubscriptionID: "sub-1", Kind: store.OrderCancel, Status: store.OrderCompleted}
	before = time.Now()
	got = mustPlaceOrder(t, s, fourth, func(cur *store.Subscription, pending *store.Order) (*store.Subscription, error) {
		if pending == nil || pending.ID != "ord-3" {
			t.Errorf("decide got pending order %+v; want ord-3", pending)
		}
		return nil, nil
	})
	after = time.Now()
	if got != nil {
		t.Errorf("PlaceOrder deleting the subscription returned %+v; want nil", got)
	}
	if _, err := s.GetSubscription(ctx, "sub-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSubscription after an order deleted it: got %v; want store.ErrNotFound", err)
	}
	superseded := getOrder(t, s, "ord-3")
	checkNow(t, "the superseded order's UpdatedAt", superseded.UpdatedAt, before, after)
	third.Status, third.UpdatedAt = store.OrderSuperseded, superseded.UpdatedAt
	checkOrder(t, superseded, third)
	checkOrderIDs(t, s, store.OrderFilter{SubscriptionID: "sub-1"}, "ord-4", "ord-3", "ord-2", "ord-1")
	checkAccessGeneration(t, s, gen+4, "four PlaceOrder")

	// The client and API may subscribe again; orders stay apart by
	// subscription.
	mustPlaceOrder(t, s, fullOrder("ord-5", "sub-2"), createWith(t, subscription("sub-2", "app-1", "api-a", "free")))
	checkOrderIDs(t, s, store.OrderFilter{SubscriptionID: "sub-2"}, "ord-5")
}

// testPlaceOrderAtomic: a PlaceOrder that fails anywhere writes nothing:
// no order, no subscription change, no settled pending order, no
// generation.
func testPlaceOrderAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupAccess(t, s)
	sub := subscription("sub-1", "app-1", "api-a", "free")
	sub.PendingPlanName = "gold"
	pendingOrder := fullOrder("ord-1", "sub-1")
	pendingOrder.Kind, pendingOrder.FromPlan, pendingOrder.ToPlan, pendingOrder.Status = store.OrderChange, "free", "gold", store.OrderPending
	mustPlaceOrder(t, s, pendingOrder, createWith(t, sub))
	mustCreateSubscription(t, s, subscription("sub-2", "app-2", "api-a", "free"))
	gen := mustAccessGeneration(t, s)

	// change settles the pending order and moves the subscription to the
	// pending plan, then applies what else a case needs.
	change := func(also func(cur *store.Subscription, pending *store.Order)) func(*store.Subscription, *store.Order) (*store.Subscription, error) {
		return func(cur *store.Subscription, pending *store.Order) (*store.Subscription, error) {
			if cur == nil || pending == nil {
				return nil, fmt.Errorf("decide got %+v, %+v; want sub-1 and ord-1", cur, pending)
			}
			pending.Status = store.OrderCompleted
			cur.PlanName, cur.PendingPlanName = "gold", ""
			if also != nil {
				also(cur, pending)
			}
			return cur, nil
		}
	}
	next := func(id, subID string) *store.Order {
		o := fullOrder(id, subID)
		o.Kind, o.FromPlan, o.ToPlan = store.OrderApprove, "free", "gold"
		return o
	}
	errAbort := errors.New("abort the order")
	cases := []struct {
		name    string
		order   *store.Order
		decide  func(*store.Subscription, *store.Order) (*store.Subscription, error)
		wantErr error // nil: an error that wraps no sentinel
	}{
		{"decide fails", next("ord-2", "sub-1"), func(cur *store.Subscription, pending *store.Order) (*store.Subscription, error) {
			pending.Status = store.OrderCompleted
			cur.PlanName = "gold"
			return cur, fmt.Errorf("deciding: %w", errAbort)
		}, errAbort},
		{"taken order ID", next("ord-1", "sub-1"), change(nil), store.ErrConflict},
		{"second pending order", func() *store.Order {
			o := next("ord-2", "sub-1")
			o.Status = store.OrderPending
			return o
		}(), func(cur *store.Subscription, pending *store.Order) (*store.Subscription, error) {
			cur.PlanName = "gold"
			return cur, nil // ord-1 stays pending
		}, store.ErrConflict},
		{"missing plan", next("ord-2", "sub-1"), change(func(cur *store.Subscription, _ *store.Order) { cur.PlanName = "platinum" }), store.ErrNotFound},
		{"missing pending plan", next("ord-2", "sub-1"), change(func(cur *store.Subscription, _ *store.Order) { cur.PendingPlanName = "platinum" }), store.ErrNotFound},
		{"subscription conflicts", next("ord-2", "sub-3"), createWith(t, subscription("sub-3", "app-2", "api-a", "gold")), store.ErrConflict},
		{"subscription to a missing client", next("ord-2", "sub-3"), createWith(t, subscription("sub-3", "app-9", "api-a", "gold")), store.ErrNotFound},
		{"nothing to delete", next("ord-2", "sub-3"), func(*store.Subscription, *store.Order) (*store.Subscription, error) { return nil, nil }, store.ErrNotFound},
		{"new subscription with another ID", next("ord-2", "sub-3"), createWith(t, subscription("sub-4", "app-2", "api-b", "gold")), nil},
		{"subscription ID changed", next("ord-2", "sub-1"), change(func(cur *store.Subscription, _ *store.Order) { cur.ID = "sub-9" }), nil},
		{"subscription client changed", next("ord-2", "sub-1"), change(func(cur *store.Subscription, _ *store.Order) { cur.ClientID = "app-2" }), nil},
		{"subscription API changed", next("ord-2", "sub-1"), change(func(cur *store.Subscription, _ *store.Order) { cur.APIName = "api-b" }), nil},
		{"pending order's plan changed", next("ord-2", "sub-1"), change(func(_ *store.Subscription, pending *store.Order) { pending.ToPlan = "free" }), nil},
		{"pending order's ID changed, its status not", next("ord-2", "sub-1"), change(func(_ *store.Subscription, pending *store.Order) {
			pending.ID, pending.Status = "ord-9", store.OrderPending
		}), nil},
		{"empty order ID", next("", "sub-1"), change(nil), nil},
		{"empty subscription ID", next("ord-2", ""), change(nil), nil},
	}
	for _, c := range cases {
		sent := *c.order
		got, err := s.PlaceOrder(ctx, &sent, c.decide)
		switch {
		case c.wantErr == nil:
			checkNotSentinel(t, "PlaceOrder: "+c.name, err)
		case !errors.Is(err, c.wantErr):
			t.Errorf("PlaceOrder: %s: got %v; want %v", c.name, err, c.wantErr)
		}
		if got != nil {
			t.Errorf("PlaceOrder: %s: returned %+v with an error", c.name, got)
		}
		if sent != *c.order {
			t.Errorf("PlaceOrder: %s: the order became %+v; want it unchanged", c.name, sent)
		}
		checkSubscription(t, mustGetSubscription(t, s, "sub-1"), sub)
		checkSubscriptionIDs(t, s, "sub-1", "sub-2")
		checkOrderIDs(t, s, store.OrderFilter{}, "ord-1")
		checkOrder(t, getOrder(t, s, "ord-1"), pendingOrder)
		checkAccessGeneration(t, s, gen, "PlaceOrder: "+c.name)
	}

	// The same order, once nothing is wrong with it, is placed.
	mustPlaceOrder(t, s, next("ord-2", "sub-1"), change(nil))
	checkAccessGeneration(t, s, gen+1, "a successful PlaceOrder")
	if got := getOrder(t, s, "ord-1").Status; got != store.OrderCompleted {
		t.Errorf("the settled order's status = %q; want completed", got)
	}
}

// testListOrders: each filter selects its orders; newest first, and the
// later stored first among equal times.
func testListOrders(t *testing.T, s store.Store) {
	setupAccess(t, s)
	type placed struct {
		id, org, app, client, api, sub, status string
		minutes                                int
	}
	// Stored in this order; ord-e and ord-f share ord-b's time.
	for _, p := range []placed{
		{"ord-a", "org-1", "app-1", "app-1", "api-a", "sub-1", store.OrderCompleted, 0},
		{"ord-b", "org-1", "app-1", "app-1", "api-b", "sub-2", store.OrderPending, 5},
		{"ord-c", "org-2", "app-2", "app-2", "api-a", "sub-3", store.OrderCompleted, 10},
		{"ord-d", "", "", "app-2", "api-b", "sub-4", store.OrderRefused, -5},
		{"ord-e", "ORG-1", "app-1", "app-1", "api-a", "sub-1", store.OrderCompleted, 5},
		{"ord-f", "org-1", "App-1", "app-1", "api-a", "sub-1", store.OrderSuperseded, 5},
	} {
		o := fullOrder(p.id, p.sub)
		o.OrganizationID, o.AppID, o.ClientID, o.APIName, o.Status = p.org, p.app, p.client, p.api, p.status
		o.CreatedAt, o.UpdatedAt = at(p.minutes), at(p.minutes)
		mustPlaceOrder(t, s, o, func(cur *store.Subscription, _ *store.Order) (*store.Subscription, error) {
			if cur == nil {
				return subscription(p.sub, p.client, p.api, "free"), nil
			}
			return cur, nil
		})
	}
	for _, c := range []struct {
		f    store.OrderFilter
		want []string
	}{
		{store.OrderFilter{}, []string{"ord-c", "ord-f", "ord-e", "ord-b", "ord-a", "ord-d"}},
		{store.OrderFilter{OrganizationID: "org-1"}, []string{"ord-f", "ord-b", "ord-a"}},
		{store.OrderFilter{OrganizationID: "ORG-1"}, []string{"ord-e"}},
		{store.OrderFilter{AppID: "app-1"}, []string{"ord-e", "ord-b", "ord-a"}},
		{store.OrderFilter{ClientID: "app-2"}, []string{"ord-c", "ord-d"}},
		{store.OrderFilter{SubscriptionID: "sub-1"}, []string{"ord-f", "ord-e", "ord-a"}},
		{store.OrderFilter{Status: store.OrderPending}, []string{"ord-b"}},
		{store.OrderFilter{OrganizationID: "org-1", AppID: "app-1", ClientID: "app-1", SubscriptionID: "sub-1", Status: store.OrderCompleted}, []string{"ord-a"}},
		{store.OrderFilter{ClientID: "app-1", Status: store.OrderRefused}, nil},
		{store.OrderFilter{SubscriptionID: "missing"}, nil},
	} {
		checkOrderIDs(t, s, c.f, c.want...)
	}
}

// testOrdersOutliveDeletes: deleting a subscription, its client or its
// API keeps its orders, and supersedes the pending one.
func testOrdersOutliveDeletes(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupAccess(t, s)
	// One subscription with a pending order per way of deleting it.
	for i, sub := range []*store.Subscription{
		subscription("by-delete", "app-1", "api-a", "free"),
		subscription("by-client", "app-2", "api-a", "free"),
		subscription("by-api", "app-1", "api-b", "free"),
	} {
		o := fullOrder("ord-"+sub.ID, sub.ID)
		o.ClientID, o.APIName, o.Status = sub.ClientID, sub.APIName, store.OrderPending
		o.CreatedAt, o.UpdatedAt = at(i), at(i)
		mustPlaceOrder(t, s, o, createWith(t, sub))
	}
	done := fullOrder("ord-done", "by-api")
	done.Kind, done.ClientID, done.APIName = store.OrderChange, "app-1", "api-b"
	done.CreatedAt, done.UpdatedAt = at(-10), at(-10)
	mustPlaceOrder(t, s, done, func(cur *store.Subscription, _ *store.Order) (*store.Subscription, error) { return cur, nil })
	gen := mustAccessGeneration(t, s)

	before := time.Now()
	if err := s.DeleteSubscription(ctx, "by-delete"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, "app-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAPI(ctx, "api-b"); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	checkSubscriptionIDs(t, s)
	checkAccessGeneration(t, s, gen+3, "three deletions of a subscription")
	checkOrderIDs(t, s, store.OrderFilter{}, "ord-by-api", "ord-by-client", "ord-by-delete", "ord-done")
	for _, id := range []string{"ord-by-delete", "ord-by-client", "ord-by-api"} {
		o := getOrder(t, s, id)
		if o.Status != store.OrderSuperseded {
			t.Errorf("%s: status %q after its subscription was deleted; want superseded", id, o.Status)
		}
		checkNow(t, id+" UpdatedAt", o.UpdatedAt, before, after)
	}
	checkOrder(t, getOrder(t, s, "ord-done"), done)
	// A deleted subscription cannot be ordered on; a new one can.
	if _, err := s.PlaceOrder(ctx, fullOrder("ord-x", "by-delete"), func(cur *store.Subscription, _ *store.Order) (*store.Subscription, error) {
		if cur != nil {
			t.Errorf("decide got deleted subscription %+v", cur)
		}
		return nil, nil
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PlaceOrder on a deleted subscription: got %v; want store.ErrNotFound", err)
	}
}

// testPlaceOrderConcurrent races pending changes of one subscription,
// each superseding the one pending before it: none fails, exactly one
// stays pending, and every decide saw its predecessor.
func testPlaceOrderConcurrent(t *testing.T, s store.Store) {
	setupAccess(t, s)
	mustPlaceOrder(t, s, fullOrder("ord-0", "busy"), createWith(t, subscription("busy", "app-1", "api-a", "free")))
	gen := mustAccessGeneration(t, s)
	const n = 10
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]int{} // pending order ID → times a decide superseded it
	)
	for i := range n {
		wg.Go(func() {
			o := fullOrder(fmt.Sprintf("ord-%02d", i+1), "busy")
			o.Kind, o.Status = store.OrderChange, store.OrderPending
			_, err := s.PlaceOrder(t.Context(), o, func(cur *store.Subscription, pending *store.Order) (*store.Subscription, error) {
				if pending != nil {
					mu.Lock()
					seen[pending.ID]++
					mu.Unlock()
					pending.Status = store.OrderSuperseded
				}
				cur.PendingPlanName = "gold"
				return cur, nil
			})
			if err != nil {
				t.Errorf("concurrent PlaceOrder: %v", err)
			}
		})
	}
	wg.Wait()
	pending := mustListOrders(t, s, store.OrderFilter{Status: store.OrderPending})
	if len(pending) != 1 {
		t.Fatalf("%d orders pending after %d concurrent pending changes; want 1", len(pending), n)
	}
	if got := len(mustListOrders(t, s, store.OrderFilter{Status: store.OrderSuperseded})); got != n-1 {
		t.Errorf("%d orders superseded; want %d", got, n-1)
	}
	for id, times := range seen {
		if times != 1 || id == pending[0].ID {
			t.Errorf("order %s was superseded %d times (the one left pending is %s)", id, times, pending[0].ID)
		}
	}
	checkAccessGeneration(t, s, gen+n, fmt.Sprintf("%d concurrent PlaceOrder", n))
}
