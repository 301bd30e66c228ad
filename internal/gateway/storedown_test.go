package gateway

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"gatehouse/internal/health"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
)

// TestSubscriptionCheckWhileStoreDown: while the tracker knows the store
// is unreachable, a subscription already cached is still served, and one
// not cached is refused at once with 503 store_unavailable and
// Retry-After — without asking the store (which here would have
// answered), so no call waits out the store's time limit. Once the
// tracker clears, the store is asked again.
func TestSubscriptionCheckWhileStoreDown(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.CreateAPI(ctx, &store.API{Name: "live", Title: "Live", Version: "1", BasePath: "/live/v1",
		UpstreamURL: "http://127.0.0.1:9/live/v1", Status: store.APILive, Document: []byte("{}")}))
	must(db.CreatePlan(ctx, &store.Plan{Name: "gold", RatePerSecond: 10, Burst: 10}))
	for _, id := range []string{"cached-app", "other-app"} {
		must(db.CreateClient(ctx, &store.Client{ID: id, Name: id, Status: store.ClientActive, GrantTypes: []string{"client_credentials"}}))
		must(db.CreateSubscription(ctx, &store.Subscription{ID: "sub-" + id, ClientID: id, APIName: "live", PlanName: "gold", Status: store.SubscriptionActive}))
	}

	tracker := health.NewTracker(nil)
	g := New(Config{Access: db, StoreHealth: tracker})
	api := &compiledAPI{rec: &store.API{Name: "live", Status: store.APILive}}
	if a, p := g.accessFor(ctx, api, "cached-app"); p != nil || a.plan != "gold" {
		t.Fatalf("before the outage: access %+v, problem %v", a, p)
	}

	tracker.ObserveStore(false, store.ErrUnavailable)
	if _, down := tracker.Failing(health.Store); !down {
		t.Fatal("the tracker does not report the store down after an unavailable call")
	}
	if a, p := g.accessFor(ctx, api, "cached-app"); p != nil || a.plan != "gold" {
		t.Errorf("cached subscription while the store is down: access %+v, problem %v; want it served", a, p)
	}
	_, p := g.accessFor(ctx, api, "other-app")
	switch {
	case p == nil:
		t.Fatal("a subscription not cached was looked up in the store the tracker reports down")
	case p.Status() != 503 || p.CauseID != "store_unavailable" || p.RetryAfter <= 0:
		t.Errorf("not cached, store down: %d %s (Retry-After %v); want 503 store_unavailable with Retry-After", p.Status(), p.CauseID, p.RetryAfter)
	case !errors.Is(p, store.ErrUnavailable):
		t.Errorf("the refusal does not wrap the store's failure: %v", p)
	}

	tracker.ObserveStore(false, nil)
	if a, p := g.accessFor(ctx, api, "other-app"); p != nil || a.plan != "gold" {
		t.Errorf("after the store answered again: access %+v, problem %v", a, p)
	}
}
