// Package health keeps what the platform has observed about its
// dependencies, so that /readyz and the request paths that depend on them
// answer from the same facts within moments of a failure, rather than each
// finding out on its own by waiting for a time limit.
//
// A Tracker holds named conditions. A dependency's code reports the
// outcome of its real calls (Fail, Clear); a condition fails from its first
// reported failure until a success clears it or, for conditions reported
// with a hold, until that long passed without a new failure. The store
// reports through ObserveStore; other dependencies (the shared limiter, a
// disk) can report under their own names the same way.
package health

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/store"
)

// Condition names reported by ObserveStore.
const (
	// Store fails while the database cannot be reached or does not
	// answer within the store's time limit.
	Store = "store"
	// StoreWrites fails while the database refuses writes (no space,
	// read-only) although it answers.
	StoreWrites = "store_writes"
)

// WriteRefusalHold is how long a refused write keeps StoreWrites failing
// when no write succeeds in between: a node that writes nothing does not
// stay unready for ever, and one that keeps writing sees each refusal again.
const WriteRefusalHold = 30 * time.Second

// Problem is a failing condition.
type Problem struct {
	// Name is the condition (Store, StoreWrites, ...).
	Name string
	// Cause is the registry cause id that describes it (store_unavailable,
	// storage_full, ...), in the "unavailable" entry.
	Cause string
	// Err is the last failure reported.
	Err error
	// Since is when the condition started failing.
	Since time.Time
}

// Tracker holds conditions. The zero value is not usable; create it with
// NewTracker. It is safe for concurrent use; a nil *Tracker reports
// nothing and ignores reports.
type Tracker struct {
	now func() time.Time

	mu    sync.Mutex
	conds map[string]*condition
	// any is whether conds is not empty, read without the lock by the
	// successes of every store call.
	any atomic.Bool
}

type condition struct {
	p     Problem
	until time.Time // zero: until cleared
}

// NewTracker returns a Tracker with every condition healthy. now is the
// clock; nil means time.Now.
func NewTracker(now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{now: now, conds: map[string]*condition{}}
}

// Fail records that the condition name fails with the registry cause and
// err. hold 0 keeps it failing until Clear; a positive hold until Clear or
// hold after the last Fail.
func (t *Tracker) Fail(name, cause string, err error, hold time.Duration) {
	if t == nil {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conds[name]
	if c == nil || c.expired(now) {
		c = &condition{p: Problem{Name: name, Since: now}}
		t.conds[name] = c
	}
	c.p.Cause, c.p.Err = cause, err
	c.until = time.Time{}
	if hold > 0 {
		c.until = now.Add(hold)
	}
	t.any.Store(true)
}

// Clear records that the condition name holds no more.
func (t *Tracker) Clear(name string) {
	if t == nil {
		return
	}
	if !t.any.Load() {
		return
	}
	now := t.now()
	t.mu.Lock()
	delete(t.conds, name)
	t.pruneLocked(now)
	t.mu.Unlock()
}

// Failing returns the condition's problem, if it is failing.
func (t *Tracker) Failing(name string) (Problem, bool) {
	if t == nil {
		return Problem{}, false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conds[name]
	if c == nil || c.expired(now) {
		return Problem{}, false
	}
	return c.p, true
}

// Problems returns every failing condition, oldest first.
func (t *Tracker) Problems() []Problem {
	if t == nil {
		return nil
	}
	now := t.now()
	t.mu.Lock()
	var out []Problem
	for _, c := range t.conds {
		if !c.expired(now) {
			out = append(out, c.p)
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Problem) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return compareStrings(a.Name, b.Name)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *condition) expired(now time.Time) bool {
	return !c.until.IsZero() && !now.Before(c.until)
}

// ObserveStore reports the outcome of one store call: write says whether
// it writes. A call the database answered (success, not found, conflict)
// clears Store, and a successful write clears StoreWrites too; an
// unreachable or timed-out database fails Store; a write refused for space
// or because the database is read-only fails StoreWrites for
// WriteRefusalHold. Other errors (invalid arguments) say nothing about the
// database. It fits sqlstore.DB's Observe hook.
func (t *Tracker) ObserveStore(write bool, err error) {
	if t == nil {
		return
	}
	switch {
	case err == nil:
		t.clearStore(write)
	case errors.Is(err, store.ErrStorageFull):
		t.Clear(Store)
		t.Fail(StoreWrites, "storage_full", err, WriteRefusalHold)
	case errors.Is(err, store.ErrReadOnly):
		t.Clear(Store)
		t.Fail(StoreWrites, "storage_read_only", err, WriteRefusalHold)
	case errors.Is(err, store.ErrUnavailable):
		t.Fail(Store, "store_unavailable", err, 0)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		t.clearStore(false)
	}
}

// clearStore clears Store, and StoreWrites after a write, without taking
// the lock when nothing fails (the common case, on every store call).
func (t *Tracker) clearStore(write bool) {
	if !t.any.Load() {
		return
	}
	now := t.now()
	t.mu.Lock()
	delete(t.conds, Store)
	if write {
		delete(t.conds, StoreWrites)
	}
	t.pruneLocked(now)
	t.mu.Unlock()
}

// pruneLocked drops conditions whose hold passed, so that the lock-free
// fast path applies again once nothing fails.
func (t *Tracker) pruneLocked(now time.Time) {
	for name, c := range t.conds {
		if c.expired(now) {
			delete(t.conds, name)
		}
	}
	t.any.Store(len(t.conds) > 0)
}
