// Package gcra holds the arithmetic that every ratelimit implementation
// shares, on plain int64 times so that the in-memory limiter never touches
// time.Time on its hot path and the Redis limiter can do the same steps in
// Lua: the generic cell rate algorithm (GCRA) for the rate, UTC day and
// month boundaries for the quotas, and the report of a decision.
//
// Times are counted in a unit given by the caller as a number of
// nanoseconds: 1 for the in-memory limiter, 1000 (microseconds) for Redis,
// whose Lua numbers are doubles and so are exact only below 2^53.
//
// # GCRA
//
// With a sustained rate of R requests per second and a burst of B, the
// emission interval is T = 1/R (in the unit) and the tolerance is
// τ = (B-1)·T. Each key keeps one number, its theoretical arrival time
// (TAT): the time at which the key's "virtual scheduling" would be idle
// again if every admitted request took exactly T. A request at time now
// conforms when
//
//	max(TAT, now) - τ <= now
//
// that is, when the backlog max(TAT, now) - now is at most τ. Admitting it
// sets TAT = max(TAT, now) + T. A refused request leaves TAT unchanged, and
// would conform at max(TAT, now) - τ, so Retry-After is exactly
// max(TAT, now) - τ - now. After a decision, k more requests conform right
// now while max(TAT, now) + (k-1)·T - now <= τ, so the requests remaining
// are floor((now + τ + T - max(TAT, now)) / T), which is B for an idle key,
// and the bucket is full again (the key idle) after max(TAT, now) - now. A
// TAT in the past is the same as no TAT at all, which is what lets idle
// keys be forgotten.
package gcra

import "math"

// Refusal codes, the same as ratelimit.Refusal.
const (
	Admitted uint8 = iota
	RateExceeded
	DayQuotaExceeded
	MonthQuotaExceeded
)

const (
	nanosPerDay = 86400 * 1e9
	// maxIntervalNanos caps T at one year and maxToleranceNanos caps τ at
	// ten years, so that now + τ + T never overflows: in nanoseconds now is
	// about 2^60.6 of 2^63, in microseconds about 2^50.6 of the 2^53 that a
	// Lua number holds exactly.
	maxIntervalNanos  = 365 * nanosPerDay
	maxToleranceNanos = 10 * 365 * nanosPerDay
)

// Limits is a policy compiled into one time unit. A zero field means that
// promise is not made.
type Limits struct {
	// Interval is the emission interval T, at least 1 when a rate is set.
	Interval int64
	// Tolerance is τ = (Burst-1)·T.
	Tolerance int64
	// Day and Month are the quotas.
	Day   int64
	Month int64
}

// Compile turns a policy into Limits counted in units of unit nanoseconds.
// A rate that is not positive (or NaN) means no rate limit; a burst below 1
// counts as 1; T is rounded to the nearest unit, at least 1 unit (so the
// fastest rate is one request per unit) and at most one year; τ is at most
// ten years. Quotas that are not positive mean no quota.
func Compile(rate float64, burst, day, month, unit int64) Limits {
	var l Limits
	if rate > 0 {
		iv := float64(1e9) / float64(unit) / rate
		maxIv := maxIntervalNanos / unit
		t := maxIv
		if iv < float64(maxIv) {
			t = int64(math.Round(iv))
		}
		if t < 1 {
			t = 1
		}
		if burst < 1 {
			burst = 1
		}
		maxTol := maxToleranceNanos / unit
		tol := maxTol
		if burst-1 <= maxTol/t {
			tol = (burst - 1) * t
		}
		l.Interval, l.Tolerance = t, tol
	}
	if day > 0 {
		l.Day = day
	}
	if month > 0 {
		l.Month = month
	}
	return l
}

// Limited reports whether l limits anything.
func (l Limits) Limited() bool { return l.Interval > 0 || l.Day > 0 || l.Month > 0 }

// Decide decides one request at now for a key whose state is tat and the
// counts admitted so far in the current day and month (0 for a count kept
// for an earlier period). Checks go rate, day, month; the first broken
// refuses, and then the state is returned as it was (with tat raised to
// now, which means the same). Otherwise the request is counted: tat
// advanced by T and each quota's count by one, for the promises l makes.
func Decide(l Limits, now, tat, day, month int64) (refusal uint8, newTAT, newDay, newMonth int64) {
	if tat < now {
		tat = now
	}
	switch {
	case l.Interval > 0 && now < tat-l.Tolerance:
		return RateExceeded, tat, day, month
	case l.Day > 0 && day >= l.Day:
		return DayQuotaExceeded, tat, day, month
	case l.Month > 0 && month >= l.Month:
		return MonthQuotaExceeded, tat, day, month
	}
	if l.Interval > 0 {
		tat += l.Interval
	}
	if l.Day > 0 {
		day++
	}
	if l.Month > 0 {
		month++
	}
	return Admitted, tat, day, month
}

// Outcome is a decision's report, in the unit of the Limits.
type Outcome struct {
	Refusal        uint8
	RetryAfter     int64
	RateRemaining  int64
	RateReset      int64
	DayRemaining   int64
	DayReset       int64
	MonthRemaining int64
	MonthReset     int64
}

// Report describes a decision from the state after it (as Decide returns
// it) and the ends of the current day and month. For a refusal RetryAfter
// is the time until the request would be admitted, assuming nobody else
// spends the budget meanwhile: the latest of the times at which each
// promise that would be broken now frees up (the rate's exact conformance
// time, the next day, the next month), so that a client told to wait is
// not refused again by another promise at the time it was given.
func Report(l Limits, refusal uint8, now, tat, day, month, dayEnd, monthEnd int64) Outcome {
	o := Outcome{Refusal: refusal}
	refused := refusal != Admitted
	if l.Interval > 0 {
		if tat < now {
			tat = now
		}
		o.RateReset = tat - now
		if r := now + l.Tolerance + l.Interval - tat; r > 0 {
			o.RateRemaining = r / l.Interval
		}
		if refused && now < tat-l.Tolerance {
			o.RetryAfter = tat - l.Tolerance - now
		}
	}
	if l.Day > 0 {
		o.DayRemaining = max(l.Day-day, 0)
		o.DayReset = dayEnd - now
		if refused && day >= l.Day {
			o.RetryAfter = max(o.RetryAfter, o.DayReset)
		}
	}
	if l.Month > 0 {
		o.MonthRemaining = max(l.Month-month, 0)
		o.MonthReset = monthEnd - now
		if refused && month >= l.Month {
			o.RetryAfter = max(o.RetryAfter, o.MonthReset)
		}
	}
	return o
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// DayIndex returns the UTC day holding t (in units of unit nanoseconds
// since the Unix epoch), as days since 1970-01-01.
func DayIndex(t, unit int64) int64 { return floorDiv(t, nanosPerDay/unit) }

// DayBounds returns the start and end of the UTC day holding t.
func DayBounds(t, unit int64) (start, end int64) {
	perDay := nanosPerDay / unit
	d := floorDiv(t, perDay)
	return d * perDay, (d + 1) * perDay
}

// MonthBounds returns the start and end of the UTC calendar month holding
// t.
func MonthBounds(t, unit int64) (start, end int64) {
	perDay := nanosPerDay / unit
	d := floorDiv(t, perDay)
	y, m, dom := Civil(d)
	first := d - dom + 1
	return first * perDay, (first + daysIn(y, m)) * perDay
}

// Civil returns the proleptic Gregorian date of day d (days since
// 1970-01-01), after Howard Hinnant's civil_from_days.
func Civil(d int64) (year, month, day int64) {
	z := d + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1
	mp := (5*doy + 2) / 153                                // [0, 11], March = 0
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
