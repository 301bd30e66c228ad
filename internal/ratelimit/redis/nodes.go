package redislimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"
)

// Nodes sharing a limiter announce themselves in one sorted set, p nodes,
// scored by the time (Redis's TIME, in milliseconds) of each node's last
// heartbeat. A node is alive while its last heartbeat is younger than
// three heartbeat intervals. While Redis answers, each node thus knows how
// many share each budget; when Redis stops answering, the last count is
// what the gateway divides each rate by to enforce a local share.

// heartbeatScript records ARGV[1] alive now, forgets the nodes not heard
// of for ARGV[2] ms and returns how many remain. (TIME before a write is
// fine: scripts replicate their effects since Redis 5.)
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])
`)

// Heartbeat announces this node every interval until ctx is done, then
// withdraws it, keeping LiveNodes current. It blocks: run it in its own
// goroutine.
func (l *Limiter) Heartbeat(ctx context.Context, every time.Duration) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	key := l.prefix + "nodes"
	window := 3 * every
	beat := func() {
		bctx, cancel := context.WithTimeout(ctx, every)
		defer cancel()
		n, err := heartbeatScript.Run(bctx, l.client, []string{key}, id, window.Milliseconds()).Int64()
		if err == nil && n > 0 {
			l.nodes.Store(n)
		}
	}
	beat()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.Background(), every)
			l.client.ZRem(wctx, key, id)
			cancel()
			return
		case <-t.C:
			beat()
		}
	}
}

// LiveNodes returns how many nodes were alive at the last heartbeat Redis
// answered (at least 1: this one).
func (l *Limiter) LiveNodes() int { return int(max(l.nodes.Load(), 1)) }
