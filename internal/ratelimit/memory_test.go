package ratelimit_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"gatehouse/internal/ratelimit"
	"gatehouse/internal/ratelimit/ratelimittest"
)

func TestMemory(t *testing.T) {
	ratelimittest.Run(t, func(*testing.T) ratelimit.Limiter { return ratelimit.NewMemory() })
}

func TestMemoryZeroValue(t *testing.T) {
	ratelimittest.Run(t, func(*testing.T) ratelimit.Limiter { return new(ratelimit.Memory) })
}

var t0 = time.Date(2031, time.March, 12, 12, 0, 0, 0, time.UTC)

func TestMemorySweep(t *testing.T) {
	m := ratelimit.NewMemory()
	ctx := context.Background()
	rate := ratelimit.Policy{Rate: 1, Burst: 10}
	day := ratelimit.Policy{QuotaDay: 10}
	month := ratelimit.Policy{QuotaMonth: 10}
	for i := range 1000 {
		m.Allow(ctx, "r"+strconv.Itoa(i), rate, t0)
		m.Allow(ctx, "d"+strconv.Itoa(i), day, t0)
		m.Allow(ctx, "m"+strconv.Itoa(i), month, t0)
	}
	if n := m.Len(); n != 3000 {
		t.Fatalf("Len = %d, want 3000", n)
	}
	// Rate entries are busy for one interval after the request.
	if n := m.Sweep(t0.Add(time.Second - 1)); n != 0 {
		t.Errorf("Sweep before any TAT passed deleted %d", n)
	}
	if n := m.Sweep(t0.Add(time.Second)); n != 1000 {
		t.Errorf("Sweep once the TATs passed deleted %d, want 1000", n)
	}
	// Day entries are busy until midnight.
	if n := m.Sweep(time.Date(2031, time.March, 13, 0, 0, 0, 0, time.UTC)); n != 1000 {
		t.Errorf("Sweep at midnight deleted %d, want 1000", n)
	}
	if n := m.Sweep(time.Date(2031, time.March, 31, 23, 0, 0, 0, time.UTC)); n != 0 {
		t.Errorf("Sweep before the month's end deleted %d", n)
	}
	if n := m.Sweep(time.Date(2031, time.April, 1, 0, 0, 0, 0, time.UTC)); n != 1000 {
		t.Errorf("Sweep at the month's end deleted %d, want 1000", n)
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len after sweeps = %d", n)
	}
}

// TestMemoryBounded checks that idle keys are forgotten without Sweep:
// a stream of new keys, each idle a second after its request, keeps the
// map small.
func TestMemoryBounded(t *testing.T) {
	m := ratelimit.NewMemory()
	ctx := context.Background()
	p := ratelimit.Policy{Rate: 1, Burst: 1, QuotaDay: 5}
	const keys = 200000
	now := t0
	for i := range keys {
		// 100 new keys a second, each busy for one second (its TAT) and
		// then until midnight (its day count): every key from an earlier
		// day is idle.
		now = now.Add(10 * time.Millisecond)
		m.Allow(ctx, "k"+strconv.Itoa(i), p, now)
	}
	// 200000 keys over 2000 s all fall on one day: all are live.
	if n := m.Len(); n != keys {
		t.Fatalf("Len = %d, want %d", n, keys)
	}
	now = now.Add(24 * time.Hour)
	for i := range keys {
		now = now.Add(10 * time.Millisecond)
		m.Allow(ctx, "n"+strconv.Itoa(i), p, now)
	}
	// The keys of the first day are idle now; those of the second, live.
	if n := m.Len(); n > keys+keys/2 {
		t.Errorf("Len = %d after %d new keys on a new day, want at most %d", n, keys, keys+keys/2)
	}
	// Without quotas, keys idle after a second: the map stays near the
	// 100 live ones.
	r := ratelimit.Policy{Rate: 1, Burst: 1}
	m = ratelimit.NewMemory()
	for i := range keys {
		now = now.Add(10 * time.Millisecond)
		m.Allow(ctx, "r"+strconv.Itoa(i), r, now)
	}
	if n := m.Len(); n > 2000 {
		t.Errorf("Len = %d after %d keys each busy for 1 s, 100 a second", n, keys)
	}
	// The hot path samples too: one busy key keeps cleaning its shard.
	t.Logf("Len = %d", m.Len())
}

// TestMemoryLateRequest checks that a request arriving late from the
// previous day or month (a caller that read the clock before midnight and
// got the lock after a caller that read it after) does not reset the new
// period's count.
func TestMemoryLateRequest(t *testing.T) {
	m := ratelimit.NewMemory()
	ctx := context.Background()
	p := ratelimit.Policy{QuotaDay: 3, QuotaMonth: 3}
	midnight := time.Date(2031, time.April, 1, 0, 0, 0, 0, time.UTC)
	for _, now := range []time.Time{midnight, midnight.Add(-time.Millisecond), midnight} {
		if d, _ := m.Allow(ctx, "k", p, now); !d.Allowed() {
			t.Fatalf("at %s: %+v", now, d)
		}
	}
	for _, now := range []time.Time{midnight, midnight.Add(-time.Millisecond)} {
		if d, _ := m.Allow(ctx, "k", p, now); d.Allowed() {
			t.Errorf("fourth request at %s admitted: %+v", now, d)
		}
	}
}

func TestMemoryAllocs(t *testing.T) {
	m := ratelimit.NewMemory()
	ctx := context.Background()
	p := ratelimit.Policy{Rate: 1000, Burst: 100, QuotaDay: 1 << 40, QuotaMonth: 1 << 40}
	key := "subscription-0123456789"
	m.Allow(ctx, key, p, t0)
	now := t0
	allocs := testing.AllocsPerRun(10000, func() {
		now = now.Add(time.Millisecond)
		m.Allow(ctx, key, p, now)
	})
	if allocs != 0 {
		t.Errorf("Allow on an existing key: %v allocations, want 0", allocs)
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	ctx := context.Background()
	p := ratelimit.Policy{Rate: 1000, Burst: 100, QuotaDay: 1 << 40, QuotaMonth: 1 << 40}
	b.Run("existing key", func(b *testing.B) {
		m := ratelimit.NewMemory()
		key := "subscription-0123456789"
		m.Allow(ctx, key, p, t0)
		now := t0
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(time.Millisecond)
			if d, _ := m.Allow(ctx, key, p, now); !d.Allowed() {
				b.Fatal("refused")
			}
		}
	})
	b.Run("refused", func(b *testing.B) {
		m := ratelimit.NewMemory()
		key := "subscription-0123456789"
		q := ratelimit.Policy{Rate: 1, Burst: 1, QuotaDay: 10}
		m.Allow(ctx, key, q, t0)
		b.ReportAllocs()
		for b.Loop() {
			if d, _ := m.Allow(ctx, key, q, t0); d.Allowed() {
				b.Fatal("admitted")
			}
		}
	})
	b.Run("parallel 1024 keys", func(b *testing.B) {
		m := ratelimit.NewMemory()
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = fmt.Sprintf("subscription-%010d", i)
			m.Allow(ctx, keys[i], p, t0)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			// Each goroutine walks the keys from its own place; time
			// advances so that every request is admitted.
			now := t0.Add(time.Hour)
			for pb.Next() {
				i++
				now = now.Add(time.Microsecond)
				m.Allow(ctx, keys[(i*7919)%len(keys)], p, now)
			}
		})
	})
}

// TestMemoryQuotaRestore: the quota counts QuotaChanges reports, restored
// into a new Memory (a restarted process), keep the quotas: a day quota of
// 5 with 3 admitted admits exactly 2 more. Counts of other periods are
// ignored, and restoring never lowers a count.
func TestMemoryQuotaRestore(t *testing.T) {
	ctx := context.Background()
	p := ratelimit.Policy{Rate: 1000, Burst: 1000, QuotaDay: 5, QuotaMonth: 100}
	m := ratelimit.NewMemory()
	for range 3 {
		if d, _ := m.Allow(ctx, "k", p, t0); !d.Allowed() {
			t.Fatal("refused under the quota")
		}
	}
	m.Allow(ctx, "rate only", ratelimit.Policy{Rate: 1, Burst: 1}, t0)
	changes := m.QuotaChanges()
	day, month := ratelimit.DayStart(t0), ratelimit.MonthStart(t0)
	want := map[ratelimit.QuotaCount]bool{
		{Key: "k", Start: day, Count: 3}:                true,
		{Key: "k", Month: true, Start: month, Count: 3}: true,
	}
	if len(changes) != len(want) {
		t.Fatalf("QuotaChanges = %+v; want %v", changes, want)
	}
	for _, c := range changes {
		if !want[c] {
			t.Errorf("QuotaChanges reports %+v; want %v", c, want)
		}
	}
	if again := m.QuotaChanges(); len(again) != 0 {
		t.Errorf("QuotaChanges again without a call = %+v; want none", again)
	}

	later := t0.Add(time.Hour)
	r := ratelimit.NewMemory()
	r.RestoreQuotas(append(changes,
		ratelimit.QuotaCount{Key: "k", Start: day.AddDate(0, 0, -1), Count: 5}, // yesterday
		ratelimit.QuotaCount{Key: "k", Start: day.Add(time.Hour), Count: 5},    // not a period start
		ratelimit.QuotaCount{Key: "k", Month: true, Start: month, Count: 2},    // lower: no effect
	), later)
	admitted := 0
	for range 10 {
		if d, _ := r.Allow(ctx, "k", p, later); d.Allowed() {
			admitted++
		} else if d.Refusal != ratelimit.DayQuotaExceeded {
			t.Fatalf("refusal %v; want the day quota", d.Refusal)
		}
	}
	if admitted != 2 {
		t.Errorf("admitted %d after restoring 3 of a day quota of 5; want 2", admitted)
	}
	d, _ := r.Allow(ctx, "k", ratelimit.Policy{QuotaMonth: 100}, later)
	if d.MonthRemaining != 100-3-2-1 {
		t.Errorf("month remaining %d; want %d", d.MonthRemaining, 100-3-2-1)
	}
}
