package redislimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/ratelimit"
	"gatehouse/internal/ratelimit/internal/gcra"
)

var _ ratelimit.Restorer = (*Limiter)(nil)

// Redis that restarts without persistence, or fails over to a replica that
// had not caught up, loses counts. The limiter tells by one key, p epoch,
// set to a random value by the first node to find it missing: a node that
// finds another value than the one it saw last knows the counts it saw
// before are gone, and raises them back (Raise).

// epochScript returns KEYS[1], first setting it to ARGV[1] if it is
// missing.
var epochScript = redis.NewScript(`
local e = redis.call('GET', KEYS[1])
if e then return e end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// Epoch implements ratelimit.Restorer: it returns the value that names
// the Redis's current set of counts, creating it when missing. An error
// wraps ratelimit.ErrUnavailable.
func (l *Limiter) Epoch(ctx context.Context) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	e, err := epochScript.Run(ctx, l.client, []string{l.prefix + "epoch"}, hex.EncodeToString(b[:])).Text()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, err)
	}
	return e, nil
}

// raiseScript raises, for i = 1, 2, the count KEYS[i] by what ARGV[i]
// exceeds the largest value raised so far for it (kept in KEYS[i + 2]),
// expiring both ARGV[i + 2] seconds from now as allow.lua's counts do.
// Raising is thus idempotent (a value raised twice counts once) and
// commutative with INCRBY (calls admitted meanwhile are kept): raising the
// counts several nodes saw restores the largest.
var raiseScript = redis.NewScript(`
for i = 1, 2 do
  local seen = tonumber(ARGV[i])
  if seen > 0 then
    local raised = tonumber(redis.call('GET', KEYS[i + 2]) or '0')
    if seen > raised then
      redis.call('INCRBY', KEYS[i], seen - raised)
      redis.call('SET', KEYS[i + 2], seen, 'EX', ARGV[i + 2])
      if redis.call('TTL', KEYS[i]) < 0 then
        redis.call('EXPIRE', KEYS[i], ARGV[i + 2])
      end
    end
  end
end
return 1
`)

// Raise implements ratelimit.Restorer: day and month are counts of key
// seen at at (the quota's count after a decision) before Redis lost them;
// Redis's counts for those periods grow by what day and month exceed the
// largest values raised for them so far, in one round trip.
func (l *Limiter) Raise(ctx context.Context, key string, at time.Time, day, month int64) error {
	if day <= 0 && month <= 0 {
		return nil
	}
	t := at.UnixNano() / unit
	_, dayKey, monthKey := l.keys(key, t)
	_, dayEnd := gcra.DayBounds(t, unit)
	_, monthEnd := gcra.MonthBounds(t, unit)
	ttl := func(end int64) int64 { return (end-t+1_000_000-1)/1_000_000 + 86400 }
	err := raiseScript.Run(ctx, l.client, []string{dayKey, monthKey, dayKey + ":raised", monthKey + ":raised"},
		max(day, 0), max(month, 0), ttl(dayEnd), ttl(monthEnd)).Err()
	if err != nil {
		return fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, err)
	}
	return nil
}
