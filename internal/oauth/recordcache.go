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
	// err is set on an entry getWithin keeps after the store failed and
	// no record was known: the failure is not asked again until expires.
	err error
	// stale marks an entry getWithin kept after the store failed: the
	// token checks may keep using it, but get (the token endpoint) asks
	// the store again, so that during an outage it answers every client
	// alike rather than those whose tokens happen to be in use.
	stale bool
}

// errStoreFailedRecently is getWithin's answer while a failure of the store
// is remembered (the failure itself was returned once, to be logged).
var errStoreFailedRecently = errors.New("the store failed moments ago and is not asked again yet")

// maxCachedRecords bounds a cache's memory; past it the cache starts over.
const maxCachedRecords = 100_000

func newRecordCache[T any](load func(ctx context.Context, id string) (*T, error), ttl time.Duration, now func() time.Time) *recordCache[T] {
	return &recordCache[T]{load: load, ttl: ttl, now: now, entries: map[string]cacheEntry[T]{}}
}

// lookup returns id's entry, if any.
func (c *recordCache[T]) lookup(id string) (cacheEntry[T], bool) {
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	return e, ok
}

// keep stores id's entry.
func (c *recordCache[T]) keep(id string, e cacheEntry[T]) {
	c.mu.Lock()
	if len(c.entries) >= maxCachedRecords {
		clear(c.entries)
	}
	c.entries[id] = e
	c.mu.Unlock()
}

// result is what an entry answers: the record, store.ErrNotFound, or the
// remembered failure.
func (e cacheEntry[T]) result() (*T, error) {
	switch {
	case e.err != nil:
		return nil, e.err
	case e.rec == nil:
		return nil, store.ErrNotFound
	}
	return e.rec, nil
}

// get returns the record, store.ErrNotFound, or a store failure (never
// cached).
func (c *recordCache[T]) get(ctx context.Context, id string) (*T, error) {
	now := c.now()
	e, ok := c.lookup(id)
	if !ok || !now.Before(e.expires) || e.err != nil || e.stale {
		rec, err := c.load(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		e = cacheEntry[T]{rec: rec, expires: now.Add(c.ttl)}
		c.keep(id, e)
	}
	return e.result()
}

// getWithin is get for the checks on every verified access token, which
// must stay fast when the store is not: a cached record costs no
// allocation, a load is bounded by timeout, and when the store fails the
// last known record keeps being served (or the failure returned) for
// another ttl without asking the store again.
func (c *recordCache[T]) getWithin(id string, timeout time.Duration) (*T, error) {
	now := c.now()
	e, ok := c.lookup(id)
	if ok && now.Before(e.expires) {
		if e.err != nil {
			return nil, errStoreFailedRecently
		}
		return e.result()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rec, err := c.get(ctx, id)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return rec, err
	}
	kept := cacheEntry[T]{expires: now.Add(c.ttl), stale: true}
	if ok && e.err == nil {
		kept.rec = e.rec // stale, but the best knowledge there is
	} else {
		kept.err = err
	}
	c.keep(id, kept)
	return kept.result()
}

func (c *recordCache[T]) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}
