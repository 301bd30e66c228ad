package oauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// recordCache keeps records read from the store (and their absence) for a
// short time, so hot paths — client authentication at the token endpoint,
// the client and user checks on every verified access token — do not read
// the database on every request. Caching absence too keeps unknown and
// known ids on the same timing path. A change made on this node is seen at
// once (forget); one made elsewhere within ttl.
type recordCache[T any] struct {
	load func(ctx context.Context, id string) (*T, error)
	ttl  time.Duration
	now  func() time.Time

	mu      sync.RWMutex
	entries map[string]cacheEntry[T]
}

type cacheEntry[T any] struct {
	rec     *T // nil: the store has no such record
	expires time.Time
}

// maxCachedRecords bounds a cache's memory; past it the cache starts over.
const maxCachedRecords = 100_000

func newRecordCache[T any](load func(ctx context.Context, id string) (*T, error), ttl time.Duration, now func() time.Time) *recordCache[T] {
	return &recordCache[T]{load: load, ttl: ttl, now: now, entries: map[string]cacheEntry[T]{}}
}

// get returns the record, store.ErrNotFound, or a store failure (never
// cached).
func (c *recordCache[T]) get(ctx context.Context, id string) (*T, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		rec, err := c.load(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		e = cacheEntry[T]{rec: rec, expires: now.Add(c.ttl)}
		c.mu.Lock()
		if len(c.entries) >= maxCachedRecords {
			clear(c.entries)
		}
		c.entries[id] = e
		c.mu.Unlock()
	}
	if e.rec == nil {
		return nil, store.ErrNotFound
	}
	return e.rec, nil
}

// getWithin is get for callers without a context: a cached record costs no
// allocation, and a load is bounded by timeout.
func (c *recordCache[T]) getWithin(id string, timeout time.Duration) (*T, error) {
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && c.now().Before(e.expires) {
		if e.rec == nil {
			return nil, store.ErrNotFound
		}
		return e.rec, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.get(ctx, id)
}

func (c *recordCache[T]) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}
