// Package ratelimittest is the conformance suite every ratelimit.Limiter
// must pass. Time is injected through the now argument of Allow, so the
// suite runs days and months of simulated time in milliseconds.
//
// Times in the suite are whole microseconds where a figure is compared
// exactly, since a limiter may keep time in microseconds (the Redis one
// does); elsewhere they carry odd nanoseconds on purpose.
package ratelimittest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/ratelimit"
)

// Run runs the suite. newLimiter returns a limiter with no state, which
// the subtest that asked for it may use alone; it may register cleanups
// on the t it is given. Subtests run in parallel.
func Run(t *testing.T, newLimiter func(t *testing.T) ratelimit.Limiter) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, ratelimit.Limiter)
	}{
		{"Burst", testBurst},
		{"BurstBelowOne", testBurstBelowOne},
		{"SteadyRate", testSteadyRate},
		{"SlowRate", testSlowRate},
		{"RetryAfterExact", testRetryAfterExact},
		{"RefusalsConsumeNothing", testRefusalsConsumeNothing},
		{"QuotaRefusalKeepsRate", testQuotaRefusalKeepsRate},
		{"DayRollover", testDayRollover},
		{"MonthRollover", testMonthRollover},
		{"DayAndMonth", testDayAndMonth},
		{"BothQuotasExhausted", testBothQuotasExhausted},
		{"RateAndQuotaExhausted", testRateAndQuotaExhausted},
		{"PolicyChange", testPolicyChange},
		{"IndependentKeys", testIndependentKeys},
		{"ConcurrentQuota", testConcurrentQuota},
		{"ConcurrentBurst", testConcurrentBurst},
		{"ZeroPolicy", testZeroPolicy},
		{"PeekSpendsNothing", testPeek},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, newLimiter(t))
		})
	}
}

// at returns a UTC time.
func at(year int, month time.Month, day, hour, minute, sec, nsec int) time.Time {
	return time.Date(year, month, day, hour, minute, sec, nsec, time.UTC)
}

// base is a Monday noon in the middle of a 31-day month.
var base = at(2031, time.March, 12, 12, 0, 0, 0)

func allow(t *testing.T, l ratelimit.Limiter, key string, p ratelimit.Policy, now time.Time) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, p, now)
	if err != nil {
		t.Fatalf("Allow(%q, %+v, %s): %v", key, p, now.Format(time.RFC3339Nano), err)
	}
	return d
}

func mustAdmit(t *testing.T, l ratelimit.Limiter, key string, p ratelimit.Policy, now time.Time) ratelimit.Decision {
	t.Helper()
	d := allow(t, l, key, p, now)
	if !d.Allowed() {
		t.Fatalf("Allow(%q) at %s refused: %+v", key, now.Format(time.RFC3339Nano), d)
	}
	return d
}

func mustRefuse(t *testing.T, l ratelimit.Limiter, key string, p ratelimit.Policy, now time.Time, why ratelimit.Refusal, retryAfter time.Duration) ratelimit.Decision {
	t.Helper()
	d := allow(t, l, key, p, now)
	if d.Refusal != why || (retryAfter >= 0 && d.RetryAfter != retryAfter) {
		t.Fatalf("Allow(%q) at %s = %+v, want refusal %d with RetryAfter %s", key, now.Format(time.RFC3339Nano), d, why, retryAfter)
	}
	return d
}

// admitN sends n requests at now and returns how many were admitted.
func admitN(t *testing.T, l ratelimit.Limiter, key string, p ratelimit.Policy, now time.Time, n int) int {
	t.Helper()
	admitted := 0
	for range n {
		if allow(t, l, key, p, now).Allowed() {
			admitted++
		}
	}
	return admitted
}

func testBurst(t *testing.T, l ratelimit.Limiter) {
	p := ratelimit.Policy{Rate: 10, Burst: 5}
	for i := range 5 {
		d := mustAdmit(t, l, "k", p, base)
		if d.RateRemaining != int64(4-i) || d.RateReset != time.Duration(i+1)*100*time.Millisecond || d.RetryAfter != 0 {
			t.Errorf("request %d: %+v, want RateRemaining %d, RateReset %dms", i, d, 4-i, (i+1)*100)
		}
		if d.DayRemaining != 0 || d.DayReset != 0 || d.MonthRemaining != 0 || d.MonthReset != 0 {
			t.Errorf("request %d: quota fields set without quotas: %+v", i, d)
		}
	}
	d := mustRefuse(t, l, "k", p, base, ratelimit.RateExceeded, 100*time.Millisecond)
	if d.RateRemaining != 0 || d.RateReset != 500*time.Millisecond {
		t.Errorf("refusal: %+v, want RateRemaining 0, RateReset 500ms", d)
	}
	// One interval later exactly one more conforms; the bucket refills one
	// request per interval and is full after RateReset.
	mustAdmit(t, l, "k", p, base.Add(100*time.Millisecond))
	mustRefuse(t, l, "k", p, base.Add(100*time.Millisecond), ratelimit.RateExceeded, 100*time.Millisecond)
	if got := admitN(t, l, "k", p, base.Add(time.Second), 10); got != 5 {
		t.Errorf("after the bucket refilled: %d admitted at once, want 5", got)
	}
}

func testBurstBelowOne(t *testing.T, l ratelimit.Limiter) {
	p := ratelimit.Policy{Rate: 2} // Burst 0 counts as 1
	d := mustAdmit(t, l, "k", p, base)
	if d.RateRemaining != 0 || d.RateReset != 500*time.Millisecond {
		t.Errorf("first request: %+v", d)
	}
	mustRefuse(t, l, "k", p, base.Add(100*time.Millisecond), ratelimit.RateExceeded, 400*time.Millisecond)
	mustAdmit(t, l, "k", p, base.Add(500*time.Millisecond))
}

// steady offers requests every step for n of simulated time and checks
// that Rate·n + Burst - 1 (±1) are admitted.
func steady(t *testing.T, l ratelimit.Limiter, p ratelimit.Policy, n, step time.Duration) {
	t.Helper()
	start := base.Add(123456789) // odd nanoseconds
	admitted := 0
	for d := time.Duration(0); d < n; d += step {
		if allow(t, l, "k", p, start.Add(d)).Allowed() {
			admitted++
		}
	}
	want := int(p.Rate*n.Seconds()) + int(p.Burst) - 1
	if admitted < want-1 || admitted > want+1 {
		t.Errorf("%+v over %s offered every %s: %d admitted, want %d ±1", p, n, step, admitted, want)
	}
}

func testSteadyRate(t *testing.T, l ratelimit.Limiter) {
	steady(t, l, ratelimit.Policy{Rate: 7, Burst: 3}, 10*time.Second, 5*time.Millisecond)
}

func testSlowRate(t *testing.T, l ratelimit.Limiter) {
	steady(t, l, ratelimit.Policy{Rate: 0.5, Burst: 1}, 2*time.Minute, 250*time.Millisecond)
}

func testRetryAfterExact(t *testing.T, l ratelimit.Limiter) {
	// An interval that is not a whole number of milliseconds, and times
	// with odd nanoseconds.
	p := ratelimit.Policy{Rate: 3, Burst: 2}
	now := base.Add(987654321)
	for round := range 20 {
		for {
			d := allow(t, l, "k", p, now)
			if d.Allowed() {
				continue
			}
			if d.Refusal != ratelimit.RateExceeded || d.RetryAfter <= 0 || d.RetryAfter > time.Second/3+time.Microsecond {
				t.Fatalf("round %d: refusal %+v", round, d)
			}
			if d.RetryAfter > time.Millisecond {
				mustRefuse(t, l, "k", p, now.Add(d.RetryAfter-time.Millisecond), ratelimit.RateExceeded, -1)
			}
			now = now.Add(d.RetryAfter)
			mustAdmit(t, l, "k", p, now)
			break
		}
		// Come back after a varying pause, sometimes before the bucket is
		// full again.
		now = now.Add(time.Duration(round) * 37 * time.Millisecond)
	}

	// Quota refusals say when the period that frees them starts.
	q := ratelimit.Policy{QuotaDay: 1}
	now = at(2031, time.March, 12, 13, 0, 0, 0)
	mustAdmit(t, l, "q", q, now)
	d := mustRefuse(t, l, "q", q, now, ratelimit.DayQuotaExceeded, 11*time.Hour)
	mustRefuse(t, l, "q", q, now.Add(d.RetryAfter-time.Millisecond), ratelimit.DayQuotaExceeded, time.Millisecond)
	mustAdmit(t, l, "q", q, now.Add(d.RetryAfter))
}

func testRefusalsConsumeNothing(t *testing.T, l ratelimit.Limiter) {
	p := ratelimit.Policy{Rate: 10, Burst: 5, QuotaDay: 1000, QuotaMonth: 10000}
	if got := admitN(t, l, "k", p, base, 5); got != 5 {
		t.Fatalf("%d admitted at once, want 5", got)
	}
	// Hammer while refused: ten requests every millisecond for 500ms.
	// Each interval frees one request, which the hammering takes (at 100,
	// 200, 300 and 400ms); the refused ones must not count.
	hammered := 0
	for ms := range 500 {
		hammered += admitN(t, l, "k", p, base.Add(time.Duration(ms)*time.Millisecond), 10)
	}
	if hammered != 4 {
		t.Fatalf("hammering for 500ms: %d admitted, want 4 (one per interval)", hammered)
	}
	// The last was admitted at 400ms, so at 900ms (five intervals on) the
	// bucket is full: exactly Burst more.
	if got := admitN(t, l, "k", p, base.Add(900*time.Millisecond), 20); got != 5 {
		t.Errorf("after hammering while refused: %d admitted at once, want 5", got)
	}
	d := allow(t, l, "k", p, base.Add(900*time.Millisecond))
	if d.DayRemaining != 1000-14 || d.MonthRemaining != 10000-14 {
		t.Errorf("counts after 14 admitted and many refused: %+v", d)
	}

	// Rate refusals do not count against quotas.
	q := ratelimit.Policy{Rate: 1, Burst: 1, QuotaDay: 2}
	mustAdmit(t, l, "q", q, base)
	for ms := 1; ms < 1000; ms += 3 {
		mustRefuse(t, l, "q", q, base.Add(time.Duration(ms)*time.Millisecond), ratelimit.RateExceeded, -1)
	}
	if d := mustAdmit(t, l, "q", q, base.Add(time.Second)); d.DayRemaining != 0 {
		t.Errorf("second admitted: %+v, want DayRemaining 0", d)
	}
	mustRefuse(t, l, "q", q, base.Add(2*time.Second), ratelimit.DayQuotaExceeded, -1)

	// Quota refusals do not count against each other: a month refusal
	// leaves the day count alone.
	m := ratelimit.Policy{QuotaDay: 3, QuotaMonth: 2}
	mustAdmit(t, l, "m", m, base)
	mustAdmit(t, l, "m", m, base)
	for range 10 {
		d := mustRefuse(t, l, "m", m, base, ratelimit.MonthQuotaExceeded, -1)
		if d.DayRemaining != 1 || d.MonthRemaining != 0 {
			t.Fatalf("month refusal: %+v, want DayRemaining 1, MonthRemaining 0", d)
		}
	}
}

func testQuotaRefusalKeepsRate(t *testing.T, l ratelimit.Limiter) {
	// A day refusal does not spend the burst: the next day it is whole.
	p := ratelimit.Policy{Rate: 1, Burst: 3, QuotaDay: 1}
	mustAdmit(t, l, "k", p, at(2031, time.March, 12, 23, 59, 59, 0))
	for ms := range 1000 {
		mustRefuse(t, l, "k", p, at(2031, time.March, 12, 23, 59, 59, ms*int(time.Millisecond)), ratelimit.DayQuotaExceeded, -1)
	}
	p.QuotaDay = 10
	// At midnight one second has passed since the one admitted request:
	// the bucket is full again and holds 3.
	if got := admitN(t, l, "k", p, at(2031, time.March, 13, 0, 0, 0, 0), 10); got != 3 {
		t.Errorf("next day: %d admitted at once, want 3", got)
	}
}

func testDayRollover(t *testing.T, l ratelimit.Limiter) {
	p := ratelimit.Policy{QuotaDay: 3}
	morning := at(2031, time.March, 12, 9, 0, 0, 0)
	for i := range 3 {
		d := mustAdmit(t, l, "k", p, morning)
		if d.DayRemaining != int64(2-i) || d.DayReset != 15*time.Hour {
			t.Errorf("request %d: %+v, want DayRemaining %d, DayReset 15h", i, d, 2-i)
		}
		if d.RateRemaining != 0 || d.RateReset != 0 || d.MonthRemaining != 0 || d.MonthReset != 0 {
			t.Errorf("request %d: rate or month fields set without them: %+v", i, d)
		}
	}
	mustRefuse(t, l, "k", p, morning, ratelimit.DayQuotaExceeded, 15*time.Hour)
	last := at(2031, time.March, 12, 23, 59, 59, 999000000)
	d := mustRefuse(t, l, "k", p, last, ratelimit.DayQuotaExceeded, time.Millisecond)
	if d.DayRemaining != 0 || d.DayReset != time.Millisecond {
		t.Errorf("last millisecond: %+v", d)
	}
	midnight := at(2031, time.March, 13, 0, 0, 0, 0)
	d = mustAdmit(t, l, "k", p, midnight)
	if d.DayRemaining != 2 || d.DayReset != 24*time.Hour {
		t.Errorf("midnight: %+v, want DayRemaining 2, DayReset 24h", d)
	}
	if got := admitN(t, l, "k", p, midnight.Add(time.Hour), 5); got != 2 {
		t.Errorf("next day: %d more admitted, want 2", got)
	}
	// A day skipped entirely: the quota is whole again.
	if got := admitN(t, l, "k", p, at(2031, time.March, 15, 18, 0, 0, 0), 5); got != 3 {
		t.Errorf("two days later: %d admitted, want 3", got)
	}
}

func testMonthRollover(t *testing.T, l ratelimit.Limiter) {
	p := ratelimit.Policy{QuotaMonth: 2}
	for _, c := range []struct {
		name       string
		start, end time.Time // start of the month, start of the next
	}{
		{"December", at(2030, time.December, 1, 0, 0, 0, 0), at(2031, time.January, 1, 0, 0, 0, 0)},
		{"February", at(2031, time.February, 1, 0, 0, 0, 0), at(2031, time.March, 1, 0, 0, 0, 0)},
		{"LeapFebruary", at(2032, time.February, 1, 0, 0, 0, 0), at(2032, time.March, 1, 0, 0, 0, 0)},
		{"April", at(2031, time.April, 1, 0, 0, 0, 0), at(2031, time.May, 1, 0, 0, 0, 0)},
	} {
		key := c.name
		d := mustAdmit(t, l, key, p, c.start)
		if d.MonthRemaining != 1 || d.MonthReset != c.end.Sub(c.start) {
			t.Errorf("%s: first request %+v, want MonthRemaining 1, MonthReset %s", c.name, d, c.end.Sub(c.start))
		}
		mid := c.start.Add(10 * 24 * time.Hour)
		mustAdmit(t, l, key, p, mid)
		mustRefuse(t, l, key, p, mid, ratelimit.MonthQuotaExceeded, c.end.Sub(mid))
		// The last day of the month: still refused; the next day counts
		// from the month's start, not from 28 or 30 days on.
		lastDay := c.end.Add(-24 * time.Hour)
		mustRefuse(t, l, key, p, lastDay, ratelimit.MonthQuotaExceeded, 24*time.Hour)
		mustRefuse(t, l, key, p, c.end.Add(-time.Millisecond), ratelimit.MonthQuotaExceeded, time.Millisecond)
		if got := admitN(t, l, key, p, c.end, 5); got != 2 {
			t.Errorf("%s: %d admitted at the next month's start, want 2", c.name, got)
		}
	}
}

func testDayAndMonth(t *testing.T, l ratelimit.Limiter) {
	p := ratelimit.Policy{QuotaDay: 5, QuotaMonth: 8}
	day1 := at(2031, time.March, 30, 10, 0, 0, 0)
	for i := range 5 {
		d := mustAdmit(t, l, "k", p, day1)
		if d.DayRemaining != int64(4-i) || d.MonthRemaining != int64(7-i) || d.DayReset != 14*time.Hour || d.MonthReset != 38*time.Hour {
			t.Errorf("request %d: %+v", i, d)
		}
	}
	mustRefuse(t, l, "k", p, day1, ratelimit.DayQuotaExceeded, 14*time.Hour)
	day2 := at(2031, time.March, 31, 10, 0, 0, 0)
	if got := admitN(t, l, "k", p, day2, 3); got != 3 {
		t.Fatalf("day 2: %d admitted, want 3", got)
	}
	// The month runs out before the day: refused until April.
	d := mustRefuse(t, l, "k", p, day2, ratelimit.MonthQuotaExceeded, 14*time.Hour)
	if d.DayRemaining != 2 || d.MonthRemaining != 0 {
		t.Errorf("month refusal: %+v, want DayRemaining 2, MonthRemaining 0", d)
	}
	if got := admitN(t, l, "k", p, at(2031, time.April, 1, 0, 0, 0, 0), 10); got != 5 {
		t.Errorf("April 1: %d admitted, want 5 (the day quota)", got)
	}
}

func testBothQuotasExhausted(t *testing.T, l ratelimit.Limiter) {
	// Both exhausted mid-month: refused for the day (checked first), and
	// Retry-After is the later of the two: the month's end.
	p := ratelimit.Policy{QuotaDay: 2, QuotaMonth: 2}
	now := at(2031, time.March, 12, 12, 0, 0, 0)
	mustAdmit(t, l, "k", p, now)
	mustAdmit(t, l, "k", p, now)
	end := at(2031, time.April, 1, 0, 0, 0, 0)
	mustRefuse(t, l, "k", p, now, ratelimit.DayQuotaExceeded, end.Sub(now))
	mustRefuse(t, l, "k", p, at(2031, time.March, 13, 0, 0, 0, 0), ratelimit.MonthQuotaExceeded, 19*24*time.Hour)
	mustAdmit(t, l, "k", p, end)
}

func testRateAndQuotaExhausted(t *testing.T, l ratelimit.Limiter) {
	// The rate refuses first, but a request at its Retry-After would meet
	// the exhausted day quota: Retry-After is when both allow it.
	p := ratelimit.Policy{Rate: 1, Burst: 1, QuotaDay: 1}
	now := at(2031, time.March, 12, 23, 0, 0, 0)
	mustAdmit(t, l, "k", p, now)
	mustRefuse(t, l, "k", p, now, ratelimit.RateExceeded, time.Hour)
	mustRefuse(t, l, "k", p, now.Add(time.Second), ratelimit.DayQuotaExceeded, time.Hour-time.Second)
	mustAdmit(t, l, "k", p, now.Add(time.Hour))
}

func testPolicyChange(t *testing.T, l ratelimit.Limiter) {
	p := ratelimit.Policy{QuotaDay: 3, QuotaMonth: 100}
	if got := admitN(t, l, "k", p, base, 3); got != 3 {
		t.Fatalf("%d admitted, want 3", got)
	}
	mustRefuse(t, l, "k", p, base, ratelimit.DayQuotaExceeded, -1)
	// An upgrade mid-day: the counts are counts, so exactly the difference
	// is admitted at once.
	p.QuotaDay = 5
	if d := allow(t, l, "k", p, base); !d.Allowed() || d.DayRemaining != 1 || d.MonthRemaining != 96 {
		t.Fatalf("after raising the quota to 5: %+v, want admitted with DayRemaining 1", d)
	}
	mustAdmit(t, l, "k", p, base)
	mustRefuse(t, l, "k", p, base, ratelimit.DayQuotaExceeded, -1)
	// A downgrade below what was used: refused, with nothing remaining.
	p.QuotaDay = 4
	if d := mustRefuse(t, l, "k", p, base, ratelimit.DayQuotaExceeded, -1); d.DayRemaining != 0 {
		t.Errorf("after lowering the quota: %+v, want DayRemaining 0", d)
	}
	// The rate too: a larger burst is available at once.
	r := ratelimit.Policy{Rate: 1, Burst: 2}
	if got := admitN(t, l, "r", r, base, 5); got != 2 {
		t.Fatalf("%d admitted, want 2", got)
	}
	r.Burst = 4
	if got := admitN(t, l, "r", r, base, 5); got != 2 {
		t.Errorf("after raising the burst to 4: %d more admitted, want 2", got)
	}
}

func testIndependentKeys(t *testing.T, l ratelimit.Limiter) {
	p := ratelimit.Policy{Rate: 1, Burst: 2, QuotaDay: 3, QuotaMonth: 3}
	if got := admitN(t, l, "a", p, base, 5); got != 2 {
		t.Fatalf("a: %d admitted, want 2", got)
	}
	mustAdmit(t, l, "a", p, base.Add(time.Second))
	mustRefuse(t, l, "a", p, base.Add(time.Minute), ratelimit.DayQuotaExceeded, -1)
	for _, k := range []string{"b", "a:", "A", "a b", "é", "{a}"} {
		if got := admitN(t, l, k, p, base, 5); got != 2 {
			t.Errorf("%q: %d admitted, want 2", k, got)
		}
	}
	mustRefuse(t, l, "a", p, base.Add(time.Minute), ratelimit.DayQuotaExceeded, -1)
}

func testConcurrentQuota(t *testing.T, l ratelimit.Limiter) {
	const goroutines, each, quota = 64, 20, 500
	p := ratelimit.Policy{QuotaDay: quota, QuotaMonth: 100000}
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				d, err := l.Allow(context.Background(), "k", p, base.Add(time.Duration(g*each+i)*time.Millisecond))
				if err != nil {
					errs <- err
					return
				}
				switch {
				case d.Allowed():
					admitted.Add(1)
				case d.Refusal == ratelimit.DayQuotaExceeded:
					refused.Add(1)
				default:
					errs <- fmt.Errorf("unexpected refusal %+v", d)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if admitted.Load() != quota || refused.Load() != goroutines*each-quota {
		t.Errorf("%d×%d concurrent requests under a day quota of %d: %d admitted, %d refused", goroutines, each, quota, admitted.Load(), refused.Load())
	}
	mustRefuse(t, l, "k", p, base, ratelimit.DayQuotaExceeded, -1)
}

func testConcurrentBurst(t *testing.T, l ratelimit.Limiter) {
	const goroutines, each, burst = 64, 10, 100
	p := ratelimit.Policy{Rate: 1, Burst: burst}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				d, err := l.Allow(context.Background(), "k", p, base)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed() {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if admitted.Load() != burst {
		t.Errorf("%d×%d concurrent requests at one instant with a burst of %d: %d admitted", goroutines, each, burst, admitted.Load())
	}
}

func testZeroPolicy(t *testing.T, l ratelimit.Limiter) {
	for _, p := range []ratelimit.Policy{{}, {Burst: 5}, {Rate: -1, QuotaDay: -1, QuotaMonth: -1}} {
		for i := range 1000 {
			d := allow(t, l, "k", p, base.Add(time.Duration(i%3)*time.Nanosecond))
			if d != (ratelimit.Decision{}) {
				t.Fatalf("%+v request %d: %+v, want a zero (admitted) decision", p, i, d)
			}
		}
	}
}

// budgetOf is d without what it says about the request decided.
func budgetOf(d ratelimit.Decision) ratelimit.Decision {
	d.Refusal, d.RetryAfter = ratelimit.Admitted, 0
	return d
}

// testPeek checks a Peeker (the portal's live limits): at the instant of
// each admitted request Peek reports exactly what Allow reported, nothing
// is spent by it, and it says what a request would get.
func testPeek(t *testing.T, l ratelimit.Limiter) {
	pk, ok := l.(ratelimit.Peeker)
	if !ok {
		t.Skipf("%T does not implement ratelimit.Peeker", l)
	}
	peek := func(key string, p ratelimit.Policy, now time.Time) ratelimit.Decision {
		t.Helper()
		d, err := pk.Peek(context.Background(), key, p, now)
		if err != nil {
			t.Fatalf("Peek(%q) at %s: %v", key, now.Format(time.RFC3339Nano), err)
		}
		return d
	}
	p := ratelimit.Policy{Rate: 2, Burst: 3, QuotaDay: 5, QuotaMonth: 100}
	now := base.Add(1500 * time.Microsecond)
	// A key never seen: the whole budget, and a request would be admitted.
	if d := peek("fresh", p, now); d.Refusal != ratelimit.Admitted || d.RateRemaining != 3 || d.DayRemaining != 5 || d.MonthRemaining != 100 {
		t.Fatalf("Peek of an unseen key = %+v, want the whole budget", d)
	}
	for i := range 5 {
		at := now.Add(time.Duration(i) * 500 * time.Millisecond)
		admitted := mustAdmit(t, l, "k", p, at)
		got := peek("k", p, at)
		if budgetOf(got) != budgetOf(admitted) {
			t.Fatalf("request %d: Peek = %+v, Allow reported %+v", i+1, got, admitted)
		}
		if again := peek("k", p, at); again != got {
			t.Fatalf("request %d: a second Peek = %+v: the first spent something", i+1, again)
		}
	}
	// The day quota is used up: Peek says so, with the wait Allow gives.
	later := now.Add(10 * time.Second)
	peeked := peek("k", p, later)
	refused := mustRefuse(t, l, "k", p, later, ratelimit.DayQuotaExceeded, -1)
	if peeked != refused {
		t.Fatalf("Peek with the day quota used up = %+v, Allow = %+v", peeked, refused)
	}
	// The rate: a burst used up is reported as Allow would.
	q := ratelimit.Policy{Rate: 1, Burst: 2}
	mustAdmit(t, l, "r", q, now)
	mustAdmit(t, l, "r", q, now)
	peeked = peek("r", q, now)
	refused = mustRefuse(t, l, "r", q, now, ratelimit.RateExceeded, -1)
	if peeked != refused {
		t.Fatalf("Peek with the burst used up = %+v, Allow = %+v", peeked, refused)
	}
	if d := peek("other", ratelimit.Policy{}, now); d != (ratelimit.Decision{}) {
		t.Fatalf("Peek under a policy that limits nothing = %+v, want the zero Decision", d)
	}
}
