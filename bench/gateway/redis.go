package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// keyPrefix is the prefix cmd/gatehouse gives the Redis limiter's keys.
const keyPrefix = "gatehouse:"

// redisDB is the logical Redis database the Redis limiter scenario uses.
type redisDB struct {
	client *redis.Client
	url    string
	// pid is the Redis server's process id (INFO server), 0 if unknown.
	pid int
}

// openRedis connects to the database at url, checks that it is not
// database 0 and holds no key gatehouse did not write, and flushes it.
func openRedis(ctx context.Context, url string) (*redisDB, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	if opts.DB == 0 {
		return nil, fmt.Errorf("-redis %s: name a logical database other than 0 (e.g. redis://%s/5): the benchmark flushes it", url, opts.Addr)
	}
	c := redis.NewClient(opts)
	r := &redisDB{client: c, url: url}
	if err := r.check(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.FlushDB(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis %s: FLUSHDB: %w", url, err)
	}
	if info, err := c.Info(ctx, "server").Result(); err == nil {
		if v, ok := infoField(info, "process_id"); ok {
			r.pid, _ = strconv.Atoi(v)
		}
	}
	return r, nil
}

// check refuses a database holding a key without keyPrefix.
func (r *redisDB) check(ctx context.Context) error {
	var cursor uint64
	for {
		keys, next, err := r.client.Scan(ctx, cursor, "", 1000).Result()
		if err != nil {
			return fmt.Errorf("redis %s: %w", r.url, err)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, keyPrefix) {
				return fmt.Errorf("redis %s holds the key %q, not gatehouse's; the benchmark flushes the database, so give it a dedicated one", r.url, k)
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// counters returns the server's total_commands_processed (commands run by
// scripts included) and the calls of EVALSHA and EVAL: the scripts run,
// each one round trip of the limiter.
func (r *redisDB) counters(ctx context.Context) (commands, scripts int64, err error) {
	info, err := r.client.Info(ctx, "stats", "commandstats").Result()
	if err != nil {
		return 0, 0, fmt.Errorf("redis: %w", err)
	}
	v, ok := infoField(info, "total_commands_processed")
	if !ok {
		return 0, 0, fmt.Errorf("redis: INFO stats has no total_commands_processed")
	}
	if commands, err = strconv.ParseInt(v, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("redis: total_commands_processed: %w", err)
	}
	for _, cmd := range []string{"cmdstat_evalsha", "cmdstat_eval"} {
		// cmdstat_evalsha:calls=N,usec=…
		v, ok := infoField(info, cmd)
		if !ok {
			continue // never called
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("redis: %s: %w", cmd, err)
		}
		scripts += n
	}
	return commands, scripts, nil
}

// close flushes the database and closes the connection.
func (r *redisDB) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.client.FlushDB(ctx).Err()
	r.client.Close()
	if err != nil {
		return fmt.Errorf("redis %s: FLUSHDB: %w", r.url, err)
	}
	return nil
}

// infoField returns the value of name in an INFO reply.
func infoField(info, name string) (string, bool) {
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
			return v, true
		}
	}
	return "", false
}
