// Package testclock is a settable clock for the tests of code that takes
// its time from an injected Now (a Config or Manager field): the test
// decides when time passes, so nothing depends on how fast a busy machine
// runs.
//
// It is imported only from _test.go files.
package testclock

import (
	"sync"
	"time"
)

// Clock is a settable clock, safe to read from the goroutines of the code
// under test while the test moves it. It stands still until moved.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock that reads t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time; pass the method value as the Now of the
// code under test.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
