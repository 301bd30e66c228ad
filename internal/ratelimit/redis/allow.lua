-- GCRA and two quotas for one key, decided and consumed atomically.
-- See gatehouse/internal/ratelimit/internal/gcra for the arithmetic; this
-- is the same, in microseconds (exact in Lua's doubles below 2^53).
--
-- KEYS[1] the theoretical arrival time (TAT), KEYS[2] the day's count,
-- KEYS[3] the month's count; all three carry the same hash tag.
-- ARGV: now (-1: use Redis TIME), interval T (0: no rate), tolerance τ,
-- day quota (0: none), month quota (0: none), then the day's start and end
-- and the month's start and end that KEYS[2] and KEYS[3] name.
--
-- Returns {refusal, now, tat, day count, month count}, the state after the
-- decision (unchanged on a refusal), or {-1, now} when the server's clock
-- is in another day or month than the keys (only with now = -1): the
-- caller then names the keys for that now and asks again with it.
local now = tonumber(ARGV[1])
local interval, tolerance = tonumber(ARGV[2]), tonumber(ARGV[3])
local quotaDay, quotaMonth = tonumber(ARGV[4]), tonumber(ARGV[5])
local dayStart, dayEnd = tonumber(ARGV[6]), tonumber(ARGV[7])
local monthStart, monthEnd = tonumber(ARGV[8]), tonumber(ARGV[9])

if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if (quotaDay > 0 and (now < dayStart or now >= dayEnd)) or
     (quotaMonth > 0 and (now < monthStart or now >= monthEnd)) then
    return {-1, now}
  end
end

local refusal = 0
local tat = now
if interval > 0 then
  local stored = tonumber(redis.call('GET', KEYS[1]))
  if stored and stored > now then tat = stored end
  if now < tat - tolerance then refusal = 1 end
end
local day, month = 0, 0
if quotaDay > 0 then
  day = tonumber(redis.call('GET', KEYS[2])) or 0
  if refusal == 0 and day >= quotaDay then refusal = 2 end
end
if quotaMonth > 0 then
  month = tonumber(redis.call('GET', KEYS[3])) or 0
  if refusal == 0 and month >= quotaMonth then refusal = 3 end
end

if refusal == 0 then
  if interval > 0 then
    tat = tat + interval
    -- The TAT means nothing once it is past: expire it then, plus ten
    -- seconds' grace for callers whose clocks lag. A relative TTL, so that
    -- the server's clock need not agree with the callers'.
    redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 10000)
  end
  -- Counts expire a day after their period ends.
  if quotaDay > 0 then
    day = redis.call('INCR', KEYS[2])
    if day == 1 then
      redis.call('EXPIRE', KEYS[2], math.ceil((dayEnd - now) / 1000000) + 86400)
    end
  end
  if quotaMonth > 0 then
    month = redis.call('INCR', KEYS[3])
    if month == 1 then
      redis.call('EXPIRE', KEYS[3], math.ceil((monthEnd - now) / 1000000) + 86400)
    end
  end
end
return {refusal, now, tat, day, month}
