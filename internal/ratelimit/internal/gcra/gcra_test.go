package gcra

import (
	"math"
	"testing"
	"time"
)

func TestCivil(t *testing.T) {
	for d := int64(-1500000); d < 1500000; d += 7 { // about 2137 BC to AD 6076
		tm := time.Unix(d*86400, 0).UTC()
		y, m, dom := Civil(d)
		if int(y) != tm.Year() || time.Month(m) != tm.Month() || int(dom) != tm.Day() {
			t.Fatalf("Civil(%d) = %d-%d-%d, want %s", d, y, m, dom, tm.Format(time.DateOnly))
		}
	}
}

func TestBounds(t *testing.T) {
	for _, unit := range []int64{1, 1000} {
		for d := int64(-100000); d < 100000; d += 3 { // 1696 to 2243: UnixNano's range
			tm := time.Unix(d*86400+4321, 0).UTC()
			y, m, dom := Civil(d)
			if int(y) != tm.Year() || time.Month(m) != tm.Month() || int(dom) != tm.Day() {
				t.Fatalf("Civil(%d) = %d-%d-%d, want %s", d, y, m, dom, tm.Format(time.DateOnly))
			}
			now := tm.UnixNano() / unit
			ds, de := DayBounds(now, unit)
			wantDS := time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC)
			if ds != wantDS.UnixNano()/unit || de != wantDS.AddDate(0, 0, 1).UnixNano()/unit {
				t.Fatalf("DayBounds(%s) = %d, %d", tm, ds, de)
			}
			ms, me := MonthBounds(now, unit)
			wantMS := time.Date(tm.Year(), tm.Month(), 1, 0, 0, 0, 0, time.UTC)
			if ms != wantMS.UnixNano()/unit || me != wantMS.AddDate(0, 1, 0).UnixNano()/unit {
				t.Fatalf("MonthBounds(%s) = %d, %d", tm, ms, me)
			}
			if DayIndex(now, unit) != d {
				t.Fatalf("DayIndex(%s) = %d, want %d", tm, DayIndex(now, unit), d)
			}
		}
	}
}

func TestBoundsAtEdges(t *testing.T) {
	mid := time.Date(2032, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	ds, de := DayBounds(mid, 1)
	if ds != mid || de != mid+nanosPerDay {
		t.Errorf("DayBounds(midnight) = %d, %d", ds, de)
	}
	ds, _ = DayBounds(mid-1, 1)
	if ds != mid-nanosPerDay {
		t.Errorf("DayBounds(midnight-1ns) start = %d", ds)
	}
	ms, me := MonthBounds(mid-1, 1)
	if ms != time.Date(2032, 2, 1, 0, 0, 0, 0, time.UTC).UnixNano() || me != mid {
		t.Errorf("MonthBounds(end of leap February) = %d, %d", ms, me)
	}
}

func TestCompile(t *testing.T) {
	for _, c := range []struct {
		rate                float64
		burst, unit         int64
		interval, tolerance int64
	}{
		{10, 5, 1, 1e8, 4e8},
		{10, 5, 1000, 1e5, 4e5},
		{3, 1, 1, 333333333, 0},
		{3, 1, 1000, 333333, 0},
		{10, 0, 1, 1e8, 0},       // burst below 1 counts as 1
		{10, -3, 1, 1e8, 0},      //
		{0, 5, 1, 0, 0},          // no rate
		{-1, 5, 1, 0, 0},         //
		{math.NaN(), 5, 1, 0, 0}, //
		{1e12, 5, 1000, 1, 4},    // at most one request per unit
		{math.Inf(1), 2, 1, 1, 1},
		{1e-12, 2, 1, maxIntervalNanos, maxIntervalNanos},
		{1, math.MaxInt64, 1, 1e9, maxToleranceNanos},
		{1, math.MaxInt64, 1000, 1e6, maxToleranceNanos / 1000},
	} {
		l := Compile(c.rate, c.burst, 0, 0, c.unit)
		if l.Interval != c.interval || l.Tolerance != c.tolerance {
			t.Errorf("Compile(%v, %d, unit %d) = T %d τ %d, want %d %d", c.rate, c.burst, c.unit, l.Interval, l.Tolerance, c.interval, c.tolerance)
		}
	}
	if l := Compile(0, 0, -1, -5, 1); l.Limited() {
		t.Errorf("negative quotas limit: %+v", l)
	}
}

func TestDecideReport(t *testing.T) {
	l := Compile(10, 3, 0, 0, 1) // T = 100ms, τ = 200ms
	const ms = int64(time.Millisecond)
	now := int64(1000 * ms)
	tat := int64(0)
	for i := range 3 {
		r, nt, _, _ := Decide(l, now, tat, 0, 0)
		if r != Admitted {
			t.Fatalf("request %d refused", i)
		}
		tat = nt
		o := Report(l, r, now, tat, 0, 0, 0, 0)
		if o.RateRemaining != int64(2-i) || o.RateReset != int64(i+1)*100*ms {
			t.Fatalf("request %d: %+v", i, o)
		}
	}
	r, nt, _, _ := Decide(l, now, tat, 0, 0)
	o := Report(l, r, now, nt, 0, 0, 0, 0)
	if r != RateExceeded || nt != tat || o.RetryAfter != 100*ms || o.RateRemaining != 0 || o.RateReset != 300*ms {
		t.Fatalf("4th request: %d %+v", r, o)
	}
	if r, _, _, _ := Decide(l, now+o.RetryAfter-1, tat, 0, 0); r != RateExceeded {
		t.Fatal("admitted 1ns before Retry-After")
	}
	if r, _, _, _ := Decide(l, now+o.RetryAfter, tat, 0, 0); r != Admitted {
		t.Fatal("refused at Retry-After")
	}
}
