package redislimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/ratelimit"
	"gatehouse/internal/ratelimit/ratelimittest"
	redislimit "gatehouse/internal/ratelimit/redis"
)

// open returns a Limiter on GATEHOUSE_TEST_REDIS_URL with a prefix of its
// own, whose keys are deleted when t ends, or skips t.
func open(t testing.TB) (*redislimit.Limiter, *redis.Client, string) {
	t.Helper()
	url := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if url == "" {
		t.Skipf("GATEHOUSE_TEST_REDIS_URL not set (e.g. redis://127.0.0.1:6379/0); skipping the Redis limiter's tests")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	var random [8]byte
	rand.Read(random[:])
	prefix := "gh-test-" + hex.EncodeToString(random[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scanning %s*: %v", prefix, err)
		}
		if len(keys) > 0 {
			if err := client.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("deleting %d keys: %v", len(keys), err)
			}
		}
		client.Close()
	})
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS_URL=%s: %v", url, err)
	}
	return redislimit.New(client, prefix), client, prefix
}

func TestRedis(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter {
		l, _, _ := open(t)
		return l
	})
}

func TestRedisKeys(t *testing.T) {
	l, client, prefix := open(t)
	ctx := context.Background()
	now := time.Date(2031, time.February, 3, 20, 0, 0, 0, time.UTC)
	p := ratelimit.Policy{Rate: 0.5, Burst: 3, QuotaDay: 10, QuotaMonth: 100}
	for range 2 {
		if d, err := l.Allow(ctx, "sub-1", p, now); err != nil || !d.Allowed() {
			t.Fatalf("Allow = %+v, %v", d, err)
		}
	}
	base := prefix + "{sub-1}:"
	tat, err := client.Get(ctx, base+"tat").Int64()
	if want := now.Add(4*time.Second).UnixNano() / 1000; err != nil || tat != want {
		t.Errorf("%stat = %d, %v; want %d", base, tat, err, want)
	}
	for _, c := range []struct {
		key   string
		value string
		ttl   time.Duration // about
	}{
		{base + "d:20310203", "2", 4*time.Hour + 24*time.Hour},
		{base + "m:203102", "2", (25*24+4)*time.Hour + 24*time.Hour},
	} {
		if v, err := client.Get(ctx, c.key).Result(); err != nil || v != c.value {
			t.Errorf("%s = %q, %v; want %q", c.key, v, err, c.value)
		}
		if ttl, err := client.TTL(ctx, c.key).Result(); err != nil || ttl > c.ttl || ttl < c.ttl-time.Minute {
			t.Errorf("TTL %s = %s, %v; want about %s", c.key, ttl, err, c.ttl)
		}
	}
	if ttl, err := client.PTTL(ctx, base+"tat").Result(); err != nil || ttl > 14*time.Second || ttl < 13*time.Second {
		t.Errorf("PTTL %stat = %s, %v; want about 4s + 10s of grace", base, ttl, err)
	}
	// Nothing else is written, and a refusal writes nothing.
	p.QuotaDay = 2
	if d, err := l.Allow(ctx, "sub-1", p, now); err != nil || d.Refusal != ratelimit.DayQuotaExceeded {
		t.Fatalf("Allow = %+v, %v; want a day quota refusal", d, err)
	}
	keys, err := client.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 3 {
		t.Errorf("keys = %q, %v; want 3", keys, err)
	}
	if v, _ := client.Get(ctx, base+"d:20310203").Result(); v != "2" {
		t.Errorf("day count after a refusal = %q, want 2", v)
	}
	// A policy without quotas touches only the TAT; without a rate, only
	// the counts.
	l.Allow(ctx, "rate-only", ratelimit.Policy{Rate: 1, Burst: 1}, now)
	l.Allow(ctx, "quota-only", ratelimit.Policy{QuotaMonth: 5}, now)
	for _, k := range []string{prefix + "{rate-only}:tat", prefix + "{quota-only}:m:203102"} {
		if n, _ := client.Exists(ctx, k).Result(); n != 1 {
			t.Errorf("%s missing", k)
		}
	}
	if keys, _ := client.Keys(ctx, prefix+"*").Result(); len(keys) != 5 {
		t.Errorf("keys = %q, want 5", keys)
	}
}

func TestRedisServerTime(t *testing.T) {
	l, client, prefix := open(t)
	l.UseServerTime = true
	ctx := context.Background()
	server, err := client.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// A local clock two days off: the decision is still made at the
	// server's time, and its counts named for the server's day.
	p := ratelimit.Policy{Rate: 1, Burst: 2, QuotaDay: 10, QuotaMonth: 100}
	d, err := l.Allow(ctx, "k", p, server.Add(-48*time.Hour))
	if err != nil || !d.Allowed() {
		t.Fatalf("Allow = %+v, %v", d, err)
	}
	dayEnd := ratelimit.DayStart(server).Add(24 * time.Hour)
	if want := dayEnd.Sub(server); d.DayReset > want || d.DayReset < want-time.Minute {
		t.Errorf("DayReset = %s, want about %s", d.DayReset, want)
	}
	dayKey := prefix + "{k}:d:" + server.UTC().Format("20060102")
	if n, _ := client.Exists(ctx, dayKey).Result(); n != 1 {
		if n, _ := client.Exists(ctx, prefix+"{k}:d:"+dayEnd.Format("20060102")).Result(); n != 1 {
			t.Errorf("%s missing", dayKey)
		}
	}
	if d.RateRemaining != 1 || d.RateReset != time.Second {
		t.Errorf("rate state = %+v", d)
	}
	// Without quotas the server's time is used just the same.
	r := ratelimit.Policy{Rate: 1, Burst: 1}
	l.Allow(ctx, "r", r, server.Add(time.Hour))
	if d, err := l.Allow(ctx, "r", r, time.Unix(0, 0)); err != nil || d.Refusal != ratelimit.RateExceeded || d.RetryAfter > time.Second {
		t.Errorf("second request = %+v, %v; want refused for about a second", d, err)
	}
}

func TestRedisUnavailable(t *testing.T) {
	client := redis.NewClient(&redis.Options{
		Addr:         "127.0.0.1:1",
		DialTimeout:  200 * time.Millisecond,
		ReadTimeout:  200 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond,
		MaxRetries:   -1,
	})
	defer client.Close()
	l := redislimit.New(client, "gh-test:")
	_, err := l.Allow(context.Background(), "k", ratelimit.Policy{Rate: 1, Burst: 1}, time.Now())
	if !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Errorf("Allow with Redis unreachable: %v, want an error wrapping ErrUnavailable", err)
	}
	// A policy that limits nothing needs no Redis.
	if d, err := l.Allow(context.Background(), "k", ratelimit.Policy{}, time.Now()); err != nil || !d.Allowed() {
		t.Errorf("Allow with a zero policy = %+v, %v", d, err)
	}
	if _, err := redislimit.Open("redis://127.0.0.1:1/0?dial_timeout=200ms", "gh-test:", 0); !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Errorf("Open with Redis unreachable: %v, want an error wrapping ErrUnavailable", err)
	}
	if _, err := redislimit.Open("http://127.0.0.1/", "gh-test:", 0); err == nil || errors.Is(err, ratelimit.ErrUnavailable) {
		t.Errorf("Open with a bad URL: %v, want an error, not ErrUnavailable", err)
	}
	// Dial does not contact the server: a node starts while Redis is down.
	dl, err := redislimit.Dial("redis://127.0.0.1:1/0?dial_timeout=200ms", "gh-test:", 0)
	if err != nil {
		t.Fatalf("Dial with Redis unreachable: %v, want a Limiter", err)
	}
	defer dl.Close()
	if err := dl.Ping(context.Background()); !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Errorf("Ping with Redis unreachable: %v, want an error wrapping ErrUnavailable", err)
	}
	if _, err := redislimit.Dial("http://127.0.0.1/", "gh-test:", 0); err == nil {
		t.Errorf("Dial with a bad URL: no error")
	}
}

func TestRedisCanceled(t *testing.T) {
	l, _, _ := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Allow(ctx, "k", ratelimit.Policy{QuotaDay: 1}, time.Now())
	if !errors.Is(err, ratelimit.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Allow with a canceled context: %v, want ErrUnavailable and context.Canceled", err)
	}
}

func TestOpen(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_REDIS_URL") == "" {
		t.Skip("GATEHOUSE_TEST_REDIS_URL not set")
	}
	l, err := redislimit.Open(os.Getenv("GATEHOUSE_TEST_REDIS_URL"), "gh-test-open:", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := l.Allow(context.Background(), "k", ratelimit.Policy{}, time.Now()); err != nil || !d.Allowed() {
		t.Errorf("Allow = %+v, %v", d, err)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	l, _, _ := open(b)
	ctx := context.Background()
	p := ratelimit.Policy{Rate: 1e5, Burst: 100, QuotaDay: 1 << 40, QuotaMonth: 1 << 40}
	b.Run("one key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Allow(ctx, "bench", p, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel 1024 keys", func(b *testing.B) {
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = "bench-" + strconv.Itoa(i)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				if _, err := l.Allow(ctx, keys[(i*7919)%len(keys)], p, time.Now()); err != nil {
					panic(fmt.Sprint(err))
				}
			}
		})
	})
}
