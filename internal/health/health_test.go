package health

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// TestObserveStore: the store's outcomes set and clear its two conditions.
func TestObserveStore(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tr := NewTracker(func() time.Time { return now })
	wrap := func(sentinel error) error { return fmt.Errorf("sqlstore: op: %w: boom", sentinel) }

	tr.ObserveStore(false, nil)
	if ps := tr.Problems(); len(ps) != 0 {
		t.Fatalf("healthy store: %v", ps)
	}
	tr.ObserveStore(false, errors.New("empty ID")) // says nothing about the database
	if ps := tr.Problems(); len(ps) != 0 {
		t.Fatalf("after an argument error: %v", ps)
	}

	tr.ObserveStore(false, wrap(store.ErrUnavailable))
	p, down := tr.Failing(Store)
	if !down || p.Cause != "store_unavailable" || !p.Since.Equal(now) {
		t.Fatalf("after a timeout: %+v %v", p, down)
	}
	now = now.Add(time.Hour) // unreachable holds until a call succeeds
	tr.ObserveStore(true, wrap(store.ErrUnavailable))
	if p, down := tr.Failing(Store); !down || !p.Since.Equal(now.Add(-time.Hour)) {
		t.Errorf("still failing: %+v %v; want Since kept from the first failure", p, down)
	}
	tr.ObserveStore(false, wrap(store.ErrNotFound)) // the database answered
	if _, down := tr.Failing(Store); down {
		t.Error("a not-found answer did not clear store")
	}

	tr.ObserveStore(true, wrap(store.ErrStorageFull))
	if p, ok := tr.Failing(StoreWrites); !ok || p.Cause != "storage_full" {
		t.Fatalf("after a refused write: %+v %v", p, ok)
	}
	tr.ObserveStore(false, nil) // a read does not prove writes work
	if _, ok := tr.Failing(StoreWrites); !ok {
		t.Error("a read cleared store_writes")
	}
	tr.ObserveStore(true, wrap(store.ErrReadOnly))
	if p, _ := tr.Failing(StoreWrites); p.Cause != "storage_read_only" {
		t.Errorf("cause after a read-only refusal: %q", p.Cause)
	}
	tr.ObserveStore(true, nil)
	if _, ok := tr.Failing(StoreWrites); ok {
		t.Error("a successful write did not clear store_writes")
	}

	// A refusal no write follows is forgotten after WriteRefusalHold.
	tr.ObserveStore(true, wrap(store.ErrStorageFull))
	now = now.Add(WriteRefusalHold - time.Millisecond)
	if _, ok := tr.Failing(StoreWrites); !ok {
		t.Error("store_writes ended before its hold")
	}
	now = now.Add(time.Millisecond)
	if ps := tr.Problems(); len(ps) != 0 {
		t.Errorf("after the hold: %v", ps)
	}
	tr.ObserveStore(false, nil)
	if tr.any.Load() {
		t.Error("an expired condition kept successes off the lock-free path")
	}
}

// TestProblemsOrder: oldest first; a nil tracker reports nothing.
func TestProblemsOrder(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tr := NewTracker(func() time.Time { return now })
	tr.Fail("limiter", "limiter_unavailable", errors.New("x"), 0)
	now = now.Add(time.Second)
	tr.Fail(Store, "store_unavailable", errors.New("y"), 0)
	ps := tr.Problems()
	if len(ps) != 2 || ps[0].Name != "limiter" || ps[1].Name != Store {
		t.Errorf("Problems() = %+v; want limiter then store", ps)
	}
	tr.Clear("limiter")
	if ps := tr.Problems(); len(ps) != 1 || ps[0].Name != Store {
		t.Errorf("after Clear: %+v", ps)
	}
	var none *Tracker
	none.ObserveStore(false, store.ErrUnavailable)
	if _, down := none.Failing(Store); down || none.Problems() != nil {
		t.Error("a nil tracker reported a problem")
	}
}
