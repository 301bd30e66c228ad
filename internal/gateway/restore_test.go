package gateway

import (
	"testing"
	"time"

	"gatehouse/internal/ratelimit"
)

// TestSeenCounts: the counts a node saw are the quota minus what remained,
// the largest kept per period; a new period starts from 0, and counts of
// past periods are neither restored nor kept.
func TestSeenCounts(t *testing.T) {
	s := newSeenCounts()
	day1 := time.Date(2031, time.March, 12, 10, 0, 0, 0, time.UTC)
	p := ratelimit.Policy{Rate: 1, Burst: 1, QuotaDay: 100, QuotaMonth: 1000}
	s.see("k", p, day1, ratelimit.Decision{DayRemaining: 70, MonthRemaining: 500})
	s.see("k", p, day1.Add(time.Minute), ratelimit.Decision{DayRemaining: 80, MonthRemaining: 520}) // an earlier answer, late
	s.see("rate only", ratelimit.Policy{Rate: 1, Burst: 1}, day1, ratelimit.Decision{})
	got := s.snapshot(day1.Add(time.Hour))
	if c, ok := got["k"]; !ok || c.day != 30 || c.month != 500 || !c.at.Equal(day1.Add(time.Minute)) {
		t.Errorf("snapshot[k] = %+v, %v; want day 30, month 500, seen at %s", c, ok, day1.Add(time.Minute))
	}
	if len(got) != 1 {
		t.Errorf("snapshot = %+v; want k only", got)
	}

	day2 := day1.Add(24 * time.Hour)
	if c := s.snapshot(day2)["k"]; c.day != 0 || c.month != 500 {
		t.Errorf("next day: %+v; want day 0 (yesterday's), month 500", c)
	}
	s.see("k", p, day2, ratelimit.Decision{DayRemaining: 99, MonthRemaining: 499})
	if c := s.snapshot(day2)["k"]; c.day != 1 || c.month != 501 {
		t.Errorf("next day after a call: %+v; want day 1, month 501", c)
	}
	s.prune(day2.AddDate(0, 1, 0))
	if n := len(s.snapshot(day2)); n != 0 {
		t.Errorf("after pruning a month later, %d keys remain; want 0", n)
	}
}
