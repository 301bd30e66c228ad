package ratelimit

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/ratelimit/internal/gcra"
)

const (
	numShards = 64
	// sweepEvery is how many decisions on existing keys of a shard pass
	// between two samples of that shard for idle entries; each new key
	// samples its shard too.
	sweepEvery = 256
	// sweepSample is how many entries one sample looks at.
	sweepSample = 8
)

// seed hashes keys to shards; one per process, so a zero Memory works.
var seed = maphash.MakeSeed()

// Memory is a Limiter for one process. The zero value is ready to use; a
// Memory must not be copied after first use.
//
// Keys are spread over 64 shards, each a mutex and a map, so that callers
// deciding for different keys rarely wait for each other. Deciding for a
// key that is already known takes no allocation. Entries of idle keys (a
// theoretical arrival time in the past and quota counts of past periods,
// which mean the same as no entry at all) are forgotten by sampling: each
// new key, and every 256th decision on a shard, looks at a few entries of
// its shard and deletes the idle ones, so the number of entries stays
// within a small factor of the number of active keys. Sweep forgets them
// all at once.
//
// Idleness is judged by the now passed to Allow, so the callers of one
// Memory should pass times from one clock.
type Memory struct {
	shards [numShards]shard
}

type shard struct {
	mu  sync.Mutex
	m   map[string]*entry
	ops uint32
	_   [64 - 8 - 8 - 4]byte // one cache line per shard
}

// entry is one key's state, in nanoseconds since the Unix epoch. A count
// belongs to the day or month starting at its start; a count of an earlier
// period means 0.
type entry struct {
	tat        int64
	dayStart   int64
	dayCount   int64
	monthStart int64
	monthCount int64
	// changed is set when a quota count changed since QuotaChanges last
	// reported it.
	changed bool
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return new(Memory) }

// Allow implements Limiter. It never fails; ctx is not used.
func (m *Memory) Allow(_ context.Context, key string, p Policy, now time.Time) (Decision, error) {
	l := Compile(p, 1)
	if !l.Limited() {
		return Decision{}, nil
	}
	n := now.UnixNano()
	s := m.shardOf(key)
	s.mu.Lock()
	e := s.m[key]
	if e == nil {
		e = s.insert(key, n)
	} else if s.ops++; s.ops%sweepEvery == 0 {
		s.sample(n, sweepSample, e)
	}
	b := e.periods(l, n)
	refusal, tat, day, month := gcra.Decide(l, n, e.tat, b.day, b.month)
	if refusal == gcra.Admitted {
		if l.Interval > 0 {
			e.tat = tat
		}
		if l.Day > 0 {
			e.dayStart, e.dayCount = b.dayStart, day
		}
		if l.Month > 0 {
			e.monthStart, e.monthCount = b.monthStart, month
		}
		if l.Day > 0 || l.Month > 0 {
			e.changed = true
		}
	}
	s.mu.Unlock()

	return DecisionOf(gcra.Report(l, refusal, n, tat, day, month, b.dayEnd, b.monthEnd), 1), nil
}

// Peek implements ratelimit.Peeker: the key's budget at now, as Allow
// reports it, and whether a request now would be admitted; nothing is
// spent. It never fails; ctx is not used.
func (m *Memory) Peek(_ context.Context, key string, p Policy, now time.Time) (Decision, error) {
	l := Compile(p, 1)
	if !l.Limited() {
		return Decision{}, nil
	}
	n := now.UnixNano()
	s := m.shardOf(key)
	s.mu.Lock()
	e := s.m[key]
	if e == nil {
		e = &entry{}
	}
	b := e.periods(l, n)
	tat := e.tat
	s.mu.Unlock()
	refusal, _, _, _ := gcra.Decide(l, n, tat, b.day, b.month)
	return DecisionOf(gcra.Report(l, refusal, n, tat, b.day, b.month, b.dayEnd, b.monthEnd), 1), nil
}

// budget is an entry's counts in the periods a request at some time
// counts in, and those periods' bounds.
type budget struct {
	dayStart, dayEnd, monthStart, monthEnd int64
	day, month                             int64
}

// periods returns the counts of e that a request at n counts against
// under l. A count belongs to one period. A request late from an earlier
// period than the one counted (callers racing across midnight) is counted
// in the later one, never overwriting it. The shard's lock is held.
func (e *entry) periods(l gcra.Limits, n int64) (b budget) {
	if l.Day > 0 {
		b.dayStart, b.dayEnd = gcra.DayBounds(n, 1)
		if e.dayStart > b.dayStart {
			b.dayStart, b.dayEnd = gcra.DayBounds(e.dayStart, 1)
		}
		if e.dayStart == b.dayStart {
			b.day = e.dayCount
		}
	}
	if l.Month > 0 {
		b.monthStart, b.monthEnd = gcra.MonthBounds(n, 1)
		if e.monthStart > b.monthStart {
			b.monthStart, b.monthEnd = gcra.MonthBounds(e.monthStart, 1)
		}
		if e.monthStart == b.monthStart {
			b.month = e.monthCount
		}
	}
	return b
}

// shardOf returns the shard holding key.
func (m *Memory) shardOf(key string) *shard { return &m.shards[maphash.String(seed, key)%numShards] }

// insert adds an empty entry for key, first sampling the shard for idle
// entries. The key is cloned so that the map does not keep alive a larger
// string it may be part of. s.mu is held.
func (s *shard) insert(key string, now int64) *entry {
	if s.m == nil {
		s.m = make(map[string]*entry)
	} else {
		s.sample(now, sweepSample/2, nil)
	}
	e := new(entry)
	s.m[strings.Clone(key)] = e
	return e
}

// sample looks at up to k entries of the shard, starting where map
// iteration happens to start (a random place), and deletes those idle at
// now, except keep. s.mu is held.
func (s *shard) sample(now int64, k int, keep *entry) {
	dayStart, monthStart := periodStarts(now)
	for key, e := range s.m {
		if e != keep && e.idle(now, dayStart, monthStart) {
			delete(s.m, key)
		}
		if k--; k == 0 {
			return
		}
	}
}

// periodStarts returns the starts of the UTC day and month holding now.
func periodStarts(now int64) (day, month int64) {
	day, _ = gcra.DayBounds(now, 1)
	month, _ = gcra.MonthBounds(now, 1)
	return day, month
}

// idle reports whether e means the same as no entry at now: its TAT is not
// in the future and its counts belong to earlier periods (or are 0).
func (e *entry) idle(now, dayStart, monthStart int64) bool {
	return e.tat <= now &&
		(e.dayCount == 0 || e.dayStart < dayStart) &&
		(e.monthCount == 0 || e.monthStart < monthStart)
}

// Sweep deletes the entries of every key that is idle at now and returns
// how many it deleted. It holds one shard's lock at a time; it is not
// needed for bounded memory, but a process may call it from time to time
// to give memory back sooner.
func (m *Memory) Sweep(now time.Time) int {
	n := now.UnixNano()
	dayStart, monthStart := periodStarts(n)
	deleted := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for key, e := range s.m {
			if e.idle(n, dayStart, monthStart) {
				delete(s.m, key)
				deleted++
			}
		}
		s.mu.Unlock()
	}
	return deleted
}

// Len returns the number of keys m holds state for, idle or not.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// QuotaCount is the number of requests a Memory admitted for one key in one
// quota period (QuotaChanges, RestoreQuotas), so that a single node's
// quotas can outlive the process.
type QuotaCount struct {
	Key string
	// Month is set for a month's count, clear for a day's.
	Month bool
	// Start is the period's first instant (a UTC midnight).
	Start time.Time
	Count int64
}

// QuotaChanges returns the day and month counts of every key whose counts
// changed since the last call, as they are now: counts only grow within a
// period, so a later value supersedes an earlier one (saving them can
// keep the larger of a stored and a saved value).
func (m *Memory) QuotaChanges() []QuotaCount {
	var out []QuotaCount
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for key, e := range s.m {
			if !e.changed {
				continue
			}
			e.changed = false
			if e.dayCount > 0 {
				out = append(out, QuotaCount{Key: key, Start: time.Unix(0, e.dayStart).UTC(), Count: e.dayCount})
			}
			if e.monthCount > 0 {
				out = append(out, QuotaCount{Key: key, Month: true, Start: time.Unix(0, e.monthStart).UTC(), Count: e.monthCount})
			}
		}
		s.mu.Unlock()
	}
	return out
}

// RestoreQuotas sets counts saved earlier (by QuotaChanges) back into m,
// at the start of a process, before its first Allow: a key's count for a
// period becomes the larger of its count and the restored one. Counts of
// periods other than those holding now are ignored (an earlier period's
// count means 0), as are starts that are not period starts.
func (m *Memory) RestoreQuotas(counts []QuotaCount, now time.Time) {
	n := now.UnixNano()
	dayStart, monthStart := periodStarts(n)
	for _, c := range counts {
		start := c.Start.UnixNano()
		if c.Count <= 0 || (c.Month && start != monthStart) || (!c.Month && start != dayStart) {
			continue
		}
		s := &m.shards[maphash.String(seed, c.Key)%numShards]
		s.mu.Lock()
		e := s.m[c.Key]
		if e == nil {
			e = s.insert(c.Key, n)
		}
		switch {
		case c.Month && e.monthStart < start:
			e.monthStart, e.monthCount = start, c.Count
		case c.Month && e.monthStart == start:
			e.monthCount = max(e.monthCount, c.Count)
		case !c.Month && e.dayStart < start:
			e.dayStart, e.dayCount = start, c.Count
		case !c.Month && e.dayStart == start:
			e.dayCount = max(e.dayCount, c.Count)
		}
		s.mu.Unlock()
	}
}
