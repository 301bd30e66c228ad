package oauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// TestRecordCacheWhenTheStoreFails: getWithin keeps serving the last known
// record when the store fails, remembers a failure with nothing known, and
// asks the store again only after the TTL; get itself never hides a failure
// nor serves a record kept only because the store failed.
func TestRecordCacheWhenTheStoreFails(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var loads int
	var fail error
	c := newRecordCache(func(ctx context.Context, id string) (*store.Client, error) {
		loads++
		if fail != nil {
			return nil, fail
		}
		return &store.Client{ID: id, Status: store.ClientActive}, nil
	}, time.Second, func() time.Time { return now })
	down := errors.New("connection refused")

	if cl, err := c.getWithin("a", time.Second); err != nil || cl.ID != "a" || loads != 1 {
		t.Fatalf("first read: %v %v, %d loads", cl, err, loads)
	}
	fail = down
	now = now.Add(2 * time.Second) // the entry has expired
	if cl, err := c.getWithin("a", time.Second); err != nil || cl == nil || cl.ID != "a" {
		t.Errorf("store down, record known: %v %v; want the last known record", cl, err)
	}
	if _, err := c.getWithin("a", time.Second); err != nil || loads != 2 {
		t.Errorf("again within the TTL: %v, %d loads; want the record, the store not asked again", err, loads)
	}
	// The token endpoint (get) does not take the kept record: it asks the
	// store, so during an outage it answers every client alike.
	before := loads
	if _, err := c.get(context.Background(), "a"); !errors.Is(err, down) || loads != before+1 {
		t.Errorf("get within the TTL of the kept record: %v, %d more loads; want the store asked and its failure", err, loads-before)
	}
	if _, err := c.getWithin("a", time.Second); err != nil {
		t.Errorf("the token checks after get failed: %v; want the kept record still", err)
	}

	if _, err := c.getWithin("b", time.Second); !errors.Is(err, down) {
		t.Errorf("store down, nothing known: %v; want the store's error", err)
	}
	before = loads
	if _, err := c.getWithin("b", time.Second); !errors.Is(err, errStoreFailedRecently) || loads != before {
		t.Errorf("again within the TTL: %v, %d more loads; want errStoreFailedRecently without a load", err, loads-before)
	}
	if _, err := c.get(context.Background(), "b"); !errors.Is(err, down) {
		t.Errorf("get must not take a remembered failure for absence: %v", err)
	}

	fail = nil
	now = now.Add(2 * time.Second)
	if cl, err := c.getWithin("b", time.Second); err != nil || cl.ID != "b" {
		t.Errorf("store back after the TTL: %v %v", cl, err)
	}
}
