package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// testIdempotency: a key is begun once, finished with its response, found
// again (with ErrConflict) until it expires, then replaced; releasing
// deletes only a key still in progress.
func testIdempotency(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC()
	first := &store.IdempotencyRecord{Key: "k1", Fingerprint: "f1", ExpiresAt: now.Add(time.Hour)}
	if old, err := s.BeginIdempotent(ctx, first); err != nil || old != nil {
		t.Fatalf("BeginIdempotent(new key) = %v, %v; want nil, nil", old, err)
	}
	if first.CreatedAt.IsZero() {
		t.Error("BeginIdempotent left CreatedAt zero")
	}
	old, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k1", Fingerprint: "other", ExpiresAt: now.Add(time.Hour)})
	if !errors.Is(err, store.ErrConflict) || old == nil || old.Fingerprint != "f1" || old.Status != 0 || old.Body != nil {
		t.Fatalf("BeginIdempotent(key in progress) = %+v, %v; want the first record in progress and ErrConflict", old, err)
	}
	if err := s.FinishIdempotent(ctx, "k1", 201, []byte(`{"Location":["/x"]}`), []byte("sealed body")); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseIdempotent(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	old, err = s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k1", Fingerprint: "f1", ExpiresAt: now.Add(time.Hour)})
	if !errors.Is(err, store.ErrConflict) || old == nil || old.Status != 201 || string(old.Header) != `{"Location":["/x"]}` ||
		string(old.Body) != "sealed body" || !old.ExpiresAt.After(now) {
		t.Fatalf("BeginIdempotent(finished key) = %+v, %v; want the stored response and ErrConflict (release must not delete it)", old, err)
	}
	if err := s.FinishIdempotent(ctx, "missing", 201, nil, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishIdempotent(missing) = %v; want ErrNotFound", err)
	}

	// Released while in progress: the key may be begun again.
	if _, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k2", Fingerprint: "f2", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseIdempotent(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if old, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k2", Fingerprint: "f2b", ExpiresAt: now.Add(time.Hour)}); err != nil || old != nil {
		t.Errorf("BeginIdempotent after release = %v, %v; want a fresh record", old, err)
	}

	// Abandoned while in progress: replaced; a finished one never is.
	if _, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k5", Fingerprint: "f5", CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k5", Fingerprint: "f5", ExpiresAt: now.Add(time.Hour), AbandonedBefore: now.Add(-2 * time.Minute)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("BeginIdempotent over a record in progress within its lease = %v; want ErrConflict", err)
	}
	if old, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k5", Fingerprint: "f5", ExpiresAt: now.Add(time.Hour), AbandonedBefore: now.Add(-time.Second)}); err != nil || old != nil {
		t.Errorf("BeginIdempotent over an abandoned record = %v, %v; want it replaced", old, err)
	}
	if _, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k1", Fingerprint: "f1", ExpiresAt: now.Add(time.Hour), AbandonedBefore: now.Add(time.Hour)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("BeginIdempotent over a finished record = %v; want ErrConflict", err)
	}

	// Expired: replaced, and pruned by DeleteExpired.
	if _, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k3", Fingerprint: "f3", ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if old, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k3", Fingerprint: "f3b", ExpiresAt: now.Add(time.Hour)}); err != nil || old != nil {
		t.Errorf("BeginIdempotent over an expired record = %v, %v; want it replaced", old, err)
	}
	if _, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "k4", Fingerprint: "f4", ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteExpired(ctx, now); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishIdempotent(ctx, "k4", 200, nil, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishIdempotent after DeleteExpired pruned the key = %v; want ErrNotFound", err)
	}
	if err := s.FinishIdempotent(ctx, "k3", 200, nil, nil); err != nil {
		t.Errorf("DeleteExpired pruned a live key: %v", err)
	}
}

// testIdempotencyConcurrent: of concurrent begins of one key exactly one
// wins.
func testIdempotencyConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.BeginIdempotent(ctx, &store.IdempotencyRecord{Key: "race", Fingerprint: "f", ExpiresAt: time.Now().Add(time.Hour)})
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("BeginIdempotent: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d of %d concurrent begins won; want exactly 1", won, n)
	}
}
