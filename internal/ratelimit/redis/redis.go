// Package redislimit is a ratelimit.Limiter that keeps every key's budget
// in Redis, so that any number of gatehouse nodes share one exact budget
// per key: a request is admitted by one Lua script that checks the rate
// (GCRA) and both quotas and counts the request against all three
// atomically, in one round trip. A refused request changes nothing.
//
// # Keys
//
// For a key k and the limiter's prefix p:
//
//	p{k}:tat             the theoretical arrival time, in microseconds since
//	                     the Unix epoch; expires 10 s after it is past
//	p{k}:d:YYYYMMDD      the requests admitted on that UTC day
//	p{k}:m:YYYYMM        the requests admitted in that UTC month
//	p{k}:d:YYYYMMDD:raised, p{k}:m:YYYYMM:raised
//	                     the largest count raised back into that period's
//	                     count after Redis lost it (restore.go)
//	p epoch              names the current set of counts (restore.go)
//	p nodes              the nodes' heartbeats (nodes.go)
//
// A count is kept under its period's name, so a new period starts from 0;
// it expires one day after its period ends. The braces are a Redis Cluster
// hash tag: the three keys of one k live in one slot, which the script
// needs. (k should therefore neither be empty nor start with "}", which
// would make the tag empty and spread the keys over slots.)
//
// # Clocks
//
// The time of a decision is the now passed to Allow, truncated to the
// microsecond, so that tests can inject a clock and a node's decisions
// follow its own clock; the nodes sharing a Redis must therefore keep
// their clocks synchronised (NTP): a node whose clock runs ahead spends a
// key's rate budget early, and quota periods turn over at each node's own
// midnight. Expiries are relative TTLs, so Redis's own clock may differ;
// the TAT's ten seconds of grace cover callers whose clocks lag behind the
// one that set it (and tests whose injected clock runs slower than real
// time).
// With UseServerTime the script uses Redis TIME instead and ignores now.
package redislimit

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/logthin"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/ratelimit/internal/gcra"
)

// unit is the script's time unit: microseconds, in nanoseconds.
const unit = 1000

//go:embed allow.lua
var allowLua string

// allowScript is run by EVALSHA, falling back to EVAL (which loads it)
// when the server does not know it yet.
var allowScript = redis.NewScript(allowLua)

// Limiter is a ratelimit.Limiter backed by Redis (a single server, a
// Sentinel-managed one or a Cluster).
type Limiter struct {
	// UseServerTime makes each decision at the Redis server's TIME rather
	// than at the now passed to Allow, so that nodes' clocks need not
	// agree. The Decision is then relative to the server's time. Set it
	// before the first Allow.
	UseServerTime bool

	client redis.UniversalClient
	prefix string
	owned  bool           // Close closes client
	opts   *redis.Options // Dial's, nil for New

	// nodes is how many nodes were alive at the last heartbeat that got
	// an answer (0 before the first).
	nodes atomic.Int64
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// New returns a Limiter that keeps its keys in client under prefix (for
// example "gatehouse:rl:"). The client stays the caller's to close.
func New(client redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{client: client, prefix: prefix}
}

// DefaultTimeout bounds one decision when Open is given no timeout.
const DefaultTimeout = 2 * time.Second

// Open connects to the Redis server at url (redis://[user:password@]host:port/db,
// or rediss:// for TLS; see redis.ParseURL for the options it takes), checks
// it answers PING, and returns a Limiter using it whose Close closes the
// connection. An unreachable server is an error wrapping
// ratelimit.ErrUnavailable. Dial is the same without the check.
func Open(url string, prefix string, timeout time.Duration) (*Limiter, error) {
	l, err := Dial(url, prefix, timeout)
	if err != nil {
		return nil, err
	}
	ping := l.opts.DialTimeout + l.opts.ReadTimeout
	if ping <= 0 {
		ping = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), ping)
	defer cancel()
	if err := l.Ping(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Dial returns a Limiter for the Redis server at url (see Open) without
// contacting it: the connection is made by the first command, and made
// again by a later one after it failed, so a node can start while Redis is
// down and use it once it is back. Only a malformed url is an error.
//
// timeout (DefaultTimeout when 0) bounds each network step of a decision:
// dialing, writing, reading. The context given to Allow bounds the whole
// decision too, the wait for a pooled connection included. A slow answer
// within the bound is an answer: under CPU load a round trip to a local
// Redis can take hundreds of milliseconds without anything being wrong.
func Dial(url string, prefix string, timeout time.Duration) (*Limiter, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redislimit: %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// A limiter sits on every API call: when Redis is gone, a call must
	// fail within the bound (and fail open or closed) rather than wait out
	// go-redis's retries; the caller decides when to ask again. Values
	// given in the URL win.
	q := urlQuery(url)
	if !q.Has("max_retries") {
		opts.MaxRetries = -1 // no retries
	}
	opts.DialerRetries = 1 // one attempt: a refused connection is an answer
	if !q.Has("dial_timeout") {
		opts.DialTimeout = timeout
	}
	if !q.Has("read_timeout") {
		opts.ReadTimeout = timeout
	}
	if !q.Has("write_timeout") {
		opts.WriteTimeout = timeout
	}
	if !q.Has("pool_timeout") {
		opts.PoolTimeout = timeout
	}
	opts.ContextTimeoutEnabled = true // the caller's deadline applies too
	l := New(redis.NewClient(opts), prefix)
	l.owned, l.opts = true, opts
	return l, nil
}

// Ping reports whether Redis answers, with an error wrapping
// ratelimit.ErrUnavailable when it does not.
func (l *Limiter) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: redis %s: %w", ratelimit.ErrUnavailable, l.Addr(), err)
	}
	return nil
}

// Addr names the Redis server for messages ("" for a client given to New).
func (l *Limiter) Addr() string {
	if l.opts == nil {
		return ""
	}
	return l.opts.Addr
}

// LogTo sends go-redis's own log lines (failed reconnects, pool trouble)
// to l at Warn with source=go-redis, instead of the standard logger's plain
// text on stderr: one line per kind (its format) per logEvery, with the
// count of those it stands for. go-redis has one logger per process.
func LogTo(l *slog.Logger) { redis.SetLogger(newSlogLogging(l, time.Now)) }

// logEvery is the interval of go-redis's log lines of one kind.
const logEvery = 10 * time.Second

type slogLogging struct {
	l    *slog.Logger
	now  func() time.Time
	thin *logthin.Thinner // by format
}

func newSlogLogging(l *slog.Logger, now func() time.Time) *slogLogging {
	return &slogLogging{l: l, now: now, thin: logthin.New(logEvery)}
}

func (s *slogLogging) Printf(ctx context.Context, format string, v ...any) {
	if n, write := s.thin.Tick(s.now(), format); write {
		s.l.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "go-redis", "count", n, "interval", logEvery)
	}
}

func urlQuery(raw string) neturl.Values {
	u, err := neturl.Parse(raw)
	if err != nil {
		return neturl.Values{}
	}
	return u.Query()
}

// Close closes the connection if the Limiter was made by Open; a client
// given to New is left alone.
func (l *Limiter) Close() error {
	if l.owned {
		return l.client.Close()
	}
	return nil
}

// Allow implements ratelimit.Limiter in one round trip (two, rarely, with
// UseServerTime: when the server's day or month differs from the local
// one). A policy that limits nothing is admitted without asking Redis.
// Any failure to get an answer from Redis, a timeout or a canceled ctx
// included, is an error wrapping both ratelimit.ErrUnavailable and the
// cause.
func (l *Limiter) Allow(ctx context.Context, key string, p ratelimit.Policy, now time.Time) (ratelimit.Decision, error) {
	lim := ratelimit.Compile(p, unit)
	if !lim.Limited() {
		return ratelimit.Decision{}, nil
	}
	t := now.UnixNano() / unit
	if t < 0 {
		return ratelimit.Decision{}, fmt.Errorf("redislimit: time %s before 1970", now)
	}
	serverTime := l.UseServerTime
	for {
		dayStart, dayEnd := gcra.DayBounds(t, unit)
		monthStart, monthEnd := gcra.MonthBounds(t, unit)
		tatKey, dayKey, monthKey := l.keys(key, t)
		arg := t
		if serverTime {
			arg = -1
		}
		res, err := allowScript.Run(ctx, l.client, []string{tatKey, dayKey, monthKey},
			arg, lim.Interval, lim.Tolerance, lim.Day, lim.Month,
			dayStart, dayEnd, monthStart, monthEnd).Int64Slice()
		if err != nil {
			return ratelimit.Decision{}, fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, err)
		}
		if len(res) == 2 && res[0] == -1 && serverTime {
			// The server is in another period than the keys named: name
			// them for its time and decide at that time.
			t, serverTime = res[1], false
			continue
		}
		if len(res) != 5 {
			return ratelimit.Decision{}, fmt.Errorf("%w: redislimit: unexpected reply %v", ratelimit.ErrUnavailable, res)
		}
		refusal, t, tat, day, month := res[0], res[1], res[2], res[3], res[4]
		_, dayEnd = gcra.DayBounds(t, unit)
		_, monthEnd = gcra.MonthBounds(t, unit)
		return ratelimit.DecisionOf(gcra.Report(lim, uint8(refusal), t, tat, day, month, dayEnd, monthEnd), unit), nil
	}
}

// Peek implements ratelimit.Peeker in one round trip, reading the key's
// TAT and counts for the period holding now (the caller's clock, also
// with UseServerTime). Errors are as Allow's.
func (l *Limiter) Peek(ctx context.Context, key string, p ratelimit.Policy, now time.Time) (ratelimit.Decision, error) {
	lim := ratelimit.Compile(p, unit)
	if !lim.Limited() {
		return ratelimit.Decision{}, nil
	}
	t := now.UnixNano() / unit
	if t < 0 {
		return ratelimit.Decision{}, fmt.Errorf("redislimit: time %s before 1970", now)
	}
	tatKey, dayKey, monthKey := l.keys(key, t)
	vals, err := l.client.MGet(ctx, tatKey, dayKey, monthKey).Result()
	if err != nil {
		return ratelimit.Decision{}, fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, err)
	}
	var state [3]int64
	for i, v := range vals {
		if s, ok := v.(string); ok {
			if state[i], err = strconv.ParseInt(s, 10, 64); err != nil {
				return ratelimit.Decision{}, fmt.Errorf("%w: redislimit: key holds %q", ratelimit.ErrUnavailable, s)
			}
		}
	}
	tat, day, month := state[0], state[1], state[2]
	_, dayEnd := gcra.DayBounds(t, unit)
	_, monthEnd := gcra.MonthBounds(t, unit)
	refusal, _, _, _ := gcra.Decide(lim, t, tat, day, month)
	return ratelimit.DecisionOf(gcra.Report(lim, refusal, t, tat, day, month, dayEnd, monthEnd), unit), nil
}

// keys returns the names of key's TAT and of its counts for the day and
// month holding t (in microseconds).
func (l *Limiter) keys(key string, t int64) (tat, day, month string) {
	y, m, d := gcra.Civil(gcra.DayIndex(t, unit))
	b := make([]byte, 0, len(l.prefix)+len(key)+16)
	b = append(b, l.prefix...)
	b = append(b, '{')
	b = append(b, key...)
	b = append(b, "}:"...)
	n := len(b)
	tat = string(append(b, "tat"...))
	b = append(b[:n], "m:"...)
	b = appendPadded(b, y, 4)
	b = appendPadded(b, m, 2)
	month = string(b)
	b = appendPadded(b, d, 2)
	b[n] = 'd'
	day = string(b)
	return tat, day, month
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v int64, width int) []byte {
	s := strconv.FormatInt(v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
