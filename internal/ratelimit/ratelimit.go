// Package ratelimit keeps the promises of plans: a request rate with a burst
// (GCRA) and request quotas per calendar day and month (UTC), checked and
// consumed atomically per key. Only admitted requests are counted: a refused
// request consumes nothing, so a client that keeps retrying is never locked
// out for longer than Retry-After says.
//
// Two implementations share one conformance suite (ratelimittest): Memory,
// for one node, and ratelimit/redis, which keeps one atomic budget per key in
// Redis so any number of nodes share it exactly.
package ratelimit

import (
	"context"
	"errors"
	"time"

	"gatehouse/internal/ratelimit/internal/gcra"
)

// Policy is what a plan promises one subscription.
type Policy struct {
	// Rate is the sustained rate in requests per second; 0 means no rate
	// limit.
	Rate float64
	// Burst is how many requests may arrive at once (at least 1 when Rate
	// is set).
	Burst int64
	// QuotaDay and QuotaMonth cap admitted requests per UTC calendar day
	// and month; 0 means no quota.
	QuotaDay   int64
	QuotaMonth int64
}

// Limited reports whether the policy limits anything.
func (p Policy) Limited() bool { return p.Rate > 0 || p.QuotaDay > 0 || p.QuotaMonth > 0 }

// Refusal says which promise a refused request would have broken.
type Refusal uint8

// Refusals, in the order they are checked.
const (
	Admitted Refusal = iota
	RateExceeded
	DayQuotaExceeded
	MonthQuotaExceeded
)

// Decision is the outcome of Allow.
type Decision struct {
	// Refusal is Admitted when the request was admitted (and counted).
	Refusal Refusal
	// RetryAfter is, for a refusal, how long until the same request would
	// be admitted: exact for the rate, the next period start for a quota.
	RetryAfter time.Duration
	// Rate state after the decision (when Policy.Rate > 0): requests that
	// could be sent right now, and how long until the burst is full again.
	RateRemaining int64
	RateReset     time.Duration
	// Quota state after the decision (when the quota is set): requests
	// left in the period, and how long until the period ends.
	DayRemaining   int64
	DayReset       time.Duration
	MonthRemaining int64
	MonthReset     time.Duration
}

// Allowed reports whether the request was admitted.
func (d Decision) Allowed() bool { return d.Refusal == Admitted }

// ErrUnavailable wraps failures to reach a shared limiter's backend.
var ErrUnavailable = errors.New("ratelimit: backend unavailable")

// Limiter checks and consumes budgets.
type Limiter interface {
	// Allow decides one request for key under p at time now: the rate is
	// checked first, then the day quota, then the month quota; the first
	// that would be broken refuses the request and nothing is consumed.
	// Otherwise the request is admitted and counted against all three, in
	// one atomic step.
	Allow(ctx context.Context, key string, p Policy, now time.Time) (Decision, error)
}

// Peeker is a Limiter that can report a key's budget without spending it:
// the portal's live limits. Peek at the instant of an admitted request
// reports what Allow reported for it.
type Peeker interface {
	// Peek returns the budget of key under p at now, as Allow reports it,
	// with Refusal and RetryAfter saying what a request now would get;
	// nothing is counted.
	Peek(ctx context.Context, key string, p Policy, now time.Time) (Decision, error)
}

// Compile returns p's limits in units of unit nanoseconds (for limiter
// implementations).
func Compile(p Policy, unit int64) gcra.Limits {
	return gcra.Compile(p.Rate, p.Burst, p.QuotaDay, p.QuotaMonth, unit)
}

// DecisionOf converts a gcra outcome measured in units of unit nanoseconds
// (for limiter implementations).
func DecisionOf(o gcra.Outcome, unit int64) Decision {
	u := time.Duration(unit)
	return Decision{
		Refusal:        Refusal(o.Refusal),
		RetryAfter:     time.Duration(o.RetryAfter) * u,
		RateRemaining:  o.RateRemaining,
		RateReset:      time.Duration(o.RateReset) * u,
		DayRemaining:   o.DayRemaining,
		DayReset:       time.Duration(o.DayReset) * u,
		MonthRemaining: o.MonthRemaining,
		MonthReset:     time.Duration(o.MonthReset) * u,
	}
}

// Adder is a shared Limiter that can take counts of requests admitted
// without it (while it could not be reached), so that quotas stay exact
// over their periods.
type Adder interface {
	// Add counts n requests admitted for key under p at time at against
	// the day and month quotas p sets (the rate is left alone: its moment
	// has passed).
	Add(ctx context.Context, key string, p Policy, at time.Time, n int64) error
}

// Restorer is a shared Limiter whose backend can lose its counts (a Redis
// restarted without persistence) and take back counts seen before, so
// that quotas stay exact over their periods.
type Restorer interface {
	// Epoch names the backend's current set of counts: it changes when
	// the counts were lost.
	Epoch(ctx context.Context) (string, error)
	// Raise takes back the day and month counts of key seen at at (0 for
	// none) under an earlier epoch: each count grows by what the value
	// exceeds the largest raised for it so far, so raising is idempotent,
	// the largest of the values several callers raise wins, and requests
	// counted meanwhile are kept.
	Raise(ctx context.Context, key string, at time.Time, day, month int64) error
}

// DayStart and MonthStart return the start of the UTC period holding t.
func DayStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// MonthStart returns the start of the UTC calendar month holding t.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
