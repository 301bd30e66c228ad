package gateway

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"gatehouse/internal/ratelimit"
)

// A shared limiter whose backend loses its counts (Redis restarted without
// persistence while the nodes were cut off from it) would give every
// subscription its quotas afresh. Each node therefore remembers, per
// limiter key, the quota counts its last decisions through the shared
// limiter reported (seen), and when the limiter's epoch changes it raises
// them back (ratelimit.Restorer). Raising is idempotent and the largest
// value raised wins, so the count before the loss is restored as long as
// the node that made the last decision lives; the calls admitted locally
// during the outage are added on top (payBack).

const seenShards = 64

// seenCounts holds the quota counts seen per key.
type seenCounts struct {
	seed   maphash.Seed
	shards [seenShards]struct {
		mu sync.Mutex
		m  map[string]*seenCount
	}
}

// seenCount is one key's counts as last seen, in the periods holding at.
type seenCount struct {
	at         time.Time
	dayStart   time.Time
	day        int64
	monthStart time.Time
	month      int64
}

func newSeenCounts() *seenCounts {
	s := &seenCounts{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = map[string]*seenCount{}
	}
	return s
}

// see records the counts a decision for key under p at now reported: the
// quota minus what remains (a lower bound when nothing remains).
func (s *seenCounts) see(key string, p ratelimit.Policy, now time.Time, d ratelimit.Decision) {
	var day, month int64
	if p.QuotaDay > 0 {
		day = p.QuotaDay - d.DayRemaining
	}
	if p.QuotaMonth > 0 {
		month = p.QuotaMonth - d.MonthRemaining
	}
	if day <= 0 && month <= 0 {
		return
	}
	dayStart, monthStart := ratelimit.DayStart(now), ratelimit.MonthStart(now)
	sh := &s.shards[maphash.String(s.seed, key)%seenShards]
	sh.mu.Lock()
	c := sh.m[key]
	if c == nil {
		c = &seenCount{}
		sh.m[key] = c
	}
	if c.dayStart.Before(dayStart) {
		c.dayStart, c.day = dayStart, 0
	}
	if c.monthStart.Before(monthStart) {
		c.monthStart, c.month = monthStart, 0
	}
	if c.dayStart.Equal(dayStart) {
		c.day = max(c.day, day)
	}
	if c.monthStart.Equal(monthStart) {
		c.month = max(c.month, month)
	}
	if now.After(c.at) {
		c.at = now
	}
	sh.mu.Unlock()
}

// snapshot returns the counts of the periods holding now, forgetting the
// keys that have none.
func (s *seenCounts) snapshot(now time.Time) map[string]seenCount {
	dayStart, monthStart := ratelimit.DayStart(now), ratelimit.MonthStart(now)
	out := map[string]seenCount{}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, c := range sh.m {
			cur := *c
			if !cur.dayStart.Equal(dayStart) {
				cur.day = 0
			}
			if !cur.monthStart.Equal(monthStart) {
				cur.month = 0
			}
			if cur.day == 0 && cur.month == 0 {
				delete(sh.m, k)
				continue
			}
			out[k] = cur
		}
		sh.mu.Unlock()
	}
	return out
}

// prune forgets the keys with no count in the periods holding now.
func (s *seenCounts) prune(now time.Time) {
	dayStart, monthStart := ratelimit.DayStart(now), ratelimit.MonthStart(now)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, c := range sh.m {
			if !c.dayStart.Equal(dayStart) && !c.monthStart.Equal(monthStart) {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// restoreCounts raises the counts seen before the shared limiter lost
// them. It returns the first failure; raising again is harmless.
func (g *Gateway) restoreCounts(ctx context.Context, r ratelimit.Restorer) error {
	l := &g.limiter
	now := g.cfg.Now()
	for key, c := range l.seen.snapshot(now) {
		rctx, cancel := context.WithTimeout(ctx, l.timeout)
		err := r.Raise(rctx, key, c.at, c.day, c.month)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}
