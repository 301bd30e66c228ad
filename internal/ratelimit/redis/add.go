package redislimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/ratelimit"
	"gatehouse/internal/ratelimit/internal/gcra"
)

var _ ratelimit.Adder = (*Limiter)(nil)

// addScript adds ARGV[1] to the day's count KEYS[1] and ARGV[2] to the
// month's count KEYS[2], each expiring ARGV[3] and ARGV[4] seconds from now
// when the count is new, as allow.lua's counts do.
var addScript = redis.NewScript(`
for i = 1, 2 do
  local n = tonumber(ARGV[i])
  if n > 0 then
    local v = redis.call('INCRBY', KEYS[i], n)
    if v == n then
      redis.call('EXPIRE', KEYS[i], ARGV[i + 2])
    end
  end
end
return 1
`)

// Add implements ratelimit.Adder: n requests admitted at at (while Redis
// could not be reached) are added to the day's and the month's counts
// that p sets quotas for, in one round trip.
func (l *Limiter) Add(ctx context.Context, key string, p ratelimit.Policy, at time.Time, n int64) error {
	if n <= 0 || (p.QuotaDay <= 0 && p.QuotaMonth <= 0) {
		return nil
	}
	t := at.UnixNano() / unit
	_, dayKey, monthKey := l.keys(key, t)
	_, dayEnd := gcra.DayBounds(t, unit)
	_, monthEnd := gcra.MonthBounds(t, unit)
	var nd, nm int64
	if p.QuotaDay > 0 {
		nd = n
	}
	if p.QuotaMonth > 0 {
		nm = n
	}
	ttl := func(end int64) int64 { return (end-t+1_000_000-1)/1_000_000 + 86400 }
	if err := addScript.Run(ctx, l.client, []string{dayKey, monthKey}, nd, nm, ttl(dayEnd), ttl(monthEnd)).Err(); err != nil {
		return fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, err)
	}
	return nil
}
