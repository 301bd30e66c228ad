package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
)

// sharedLimiter stands for a Redis limiter: it decides with a Memory after
// waiting delay, or fails with err, and counts the calls it got.
type sharedLimiter struct {
	mu    sync.Mutex
	mem   ratelimit.Memory
	delay time.Duration
	err   error
	calls int
	added chan int64
	// addErr, when set, fails Add only.
	addErr error
}

func (s *sharedLimiter) setAddErr(err error) {
	s.mu.Lock()
	s.addErr = err
	s.mu.Unlock()
}

func (s *sharedLimiter) Allow(ctx context.Context, key string, p ratelimit.Policy, now time.Time) (ratelimit.Decision, error) {
	s.mu.Lock()
	s.calls++
	delay, err := s.delay, s.err
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ratelimit.Decision{}, fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, ctx.Err())
		}
	}
	if err != nil {
		return ratelimit.Decision{}, err
	}
	return s.mem.Allow(ctx, key, p, now)
}

// Add takes back calls admitted without it, as ratelimit/redis does:
// counted against the quotas only. Each call is reported on added.
func (s *sharedLimiter) Add(ctx context.Context, key string, p ratelimit.Policy, at time.Time, n int64) error {
	s.mu.Lock()
	err := s.err
	if s.addErr != nil {
		err = s.addErr
	}
	s.mu.Unlock()
	if err == nil {
		for range n {
			_, _ = s.mem.Allow(ctx, key, ratelimit.Policy{QuotaDay: p.QuotaDay, QuotaMonth: p.QuotaMonth}, at)
		}
	}
	s.added <- n
	return err
}

func (s *sharedLimiter) set(delay time.Duration, err error) {
	s.mu.Lock()
	s.delay, s.err = delay, err
	s.mu.Unlock()
}

func (s *sharedLimiter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// limiterRig is a gateway around a sharedLimiter, on a clock the test
// moves, logging JSON into logs.
type limiterRig struct {
	g      *Gateway
	shared *sharedLimiter
	api    *compiledAPI
	a      *access
	logs   *bytes.Buffer
	now    time.Time
}

func newLimiterRig(t *testing.T, cfg Config, p ratelimit.Policy) *limiterRig {
	t.Helper()
	r := &limiterRig{shared: &sharedLimiter{added: make(chan int64, 16)}, logs: new(bytes.Buffer), now: time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)}
	cfg.Limiter = r.shared
	cfg.Logger = slog.New(slog.NewJSONHandler(r.logs, nil))
	cfg.Now = func() time.Time { return r.now }
	r.g = New(cfg)
	r.api = &compiledAPI{rec: &store.API{Name: "live"}}
	r.a = &access{plan: "p", policy: p, key: "client|live", policyHeader: policyHeaderOf(p)}
	return r
}

// call enforces the plan on one call and returns the status it would get
// (200 or the refusal's) and the RateLimit fields.
func (r *limiterRig) call() (status int, policy, state string) {
	w := httptest.NewRecorder()
	if p := r.g.enforcePlan(context.Background(), w, r.api, r.a); p != nil {
		return p.Status(), w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit")
	}
	return 200, w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit")
}

func (r *limiterRig) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestSlowLimiterIsNotAnOutage: a shared limiter answering in 300 ms (a
// busy machine's round trip, well within the bound) decides every call:
// each is metered and carries the plan's RateLimit fields, and the next
// call asks the shared limiter again.
func TestSlowLimiterIsNotAnOutage(t *testing.T) {
	p := ratelimit.Policy{Rate: 1, Burst: 2, QuotaDay: 3}
	r := newLimiterRig(t, Config{LimiterTimeout: 5 * time.Second}, p)
	r.shared.set(300*time.Millisecond, nil)
	want := []int{200, 200, 200, 429}
	for i, st := range want {
		r.now = r.now.Add(2 * time.Second) // the rate never refuses
		status, policy, state := r.call()
		if status != st || policy != `"rate";q=2;w=2, "day";q=3;w=86400` || !strings.Contains(state, fmt.Sprintf(`"day";r=%d;`, max(2-i, 0))) {
			t.Errorf("call %d through a slow limiter: %d, RateLimit-Policy %q, RateLimit %q; want %d metered by the plan", i+1, status, policy, state, st)
		}
	}
	if n := r.shared.count(); n != len(want) {
		t.Errorf("the shared limiter decided %d of %d calls; want all", n, len(want))
	}
	if logs := r.logs.String(); logs != "" {
		t.Errorf("logs after slow answers: %s; want none", logs)
	}
}

// TestLimiterOutageEnforcesLocalShare: when the shared limiter fails, a
// fail-open node decides with its share of the rate (rate ÷ nodes, burst ÷
// nodes), says so in the RateLimit fields, asks the shared limiter again
// once after limiterRest (one call, the others still local), and logs one
// line per kind of failure per interval, with a count.
func TestLimiterOutageEnforcesLocalShare(t *testing.T) {
	p := ratelimit.Policy{Rate: 10, Burst: 4, QuotaDay: 1000}
	r := newLimiterRig(t, Config{LimiterTimeout: 50 * time.Millisecond, LimiterNodes: 2}, p)
	refused := fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	r.shared.set(0, refused)

	// The failing call and the next: admitted by the local share (rate 5,
	// burst 2); the third refused by it. Only the first asked Redis.
	admitted := int64(0) // while Redis is down
	call := func() (int, string, string) {
		status, policy, state := r.call()
		if status == 200 {
			admitted++
		}
		return status, policy, state
	}
	for i, st := range []int{200, 200, 429} {
		status, policy, state := call()
		if status != st || policy != `"rate";q=2;w=1` || !strings.HasPrefix(state, `"rate";r=`) || strings.Contains(state, "day") {
			t.Errorf("call %d during the outage: %d, RateLimit-Policy %q, RateLimit %q; want %d by the local share (rate 5, burst 2, no quota)", i+1, status, policy, state, st)
		}
	}
	if n := r.shared.count(); n != 1 {
		t.Errorf("the shared limiter was asked %d times within the rest; want once", n)
	}
	if v := testCounter(r.g, "open"); v != 3 {
		t.Errorf(`limiter errors{mode="open"} = %v; want 3`, v)
	}

	// Past the rest, one call asks again; the limiter never answers, so
	// only the 50 ms bound ends the call: a timeout, another kind.
	r.now = r.now.Add(limiterRest)
	r.shared.set(time.Hour, nil)
	if status, _, _ := call(); status != 200 {
		t.Errorf("call after the rest, the limiter timing out: %d; want 200 by the local share", status)
	}
	if n := r.shared.count(); n != 2 {
		t.Errorf("the shared limiter was asked %d times; want 2", n)
	}

	// More failures within the log interval are counted, not logged.
	for range 5 {
		r.now = r.now.Add(limiterRest)
		r.shared.set(0, refused)
		call()
	}
	r.now = r.now.Add(limiterLogEvery)
	call()
	var kinds []string
	for _, l := range r.logLines(t) {
		kinds = append(kinds, fmt.Sprintf("%v×%v", l["kind"], l["count"]))
		if l["level"] != "ERROR" || !strings.Contains(fmt.Sprint(l["msg"]), "fail-open") || l["nodes"] != float64(2) {
			t.Errorf("log line %v", l)
		}
	}
	if got := strings.Join(kinds, " "); got != "unreachable×1 timeout×1 unreachable×6" {
		t.Errorf("log lines by kind×count: %s; want unreachable×1 timeout×1 unreachable×6", got)
	}

	// Redis answers again: the plan's own fields, decided by it; the
	// calls admitted meanwhile are added to its day count, so the quota is
	// exact: 1000 - the first call - those - this one.
	r.now = r.now.Add(limiterRest)
	r.shared.set(0, nil)
	if status, policy, _ := r.call(); status != 200 || policy != `"rate";q=4;w=1, "day";q=1000;w=86400` {
		t.Errorf("call after Redis came back: %d, RateLimit-Policy %q; want 200 with the plan's policy", status, policy)
	}
	select {
	case n := <-r.shared.added:
		if n != admitted {
			t.Errorf("%d calls added back to the shared counts; want the %d admitted during the outage", n, admitted)
		}
	case <-time.After(time.Minute):
		t.Fatal("the calls admitted during the outage were never added back")
	}
	r.now = r.now.Add(limiterRest)
	want := fmt.Sprintf(`"day";r=%d;`, 1000-1-admitted-1)
	if status, _, state := r.call(); status != 200 || !strings.Contains(state, want) {
		t.Errorf("call after the calls were added back: %d, RateLimit %q; want 200 with %s", status, state, want)
	}
}

// TestLimiterPayBackRetries: calls admitted during an outage that cannot
// be added back yet stay owed, and are added with a later answer.
func TestLimiterPayBackRetries(t *testing.T) {
	r := newLimiterRig(t, Config{LimiterNodes: 1}, ratelimit.Policy{Rate: 100, Burst: 100, QuotaMonth: 50})
	down := fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, syscall.ECONNREFUSED)
	r.shared.set(0, down)
	for range 4 {
		if status, _, _ := r.call(); status != 200 {
			t.Fatalf("call during the outage: %d", status)
		}
	}
	added := func(want int64) {
		t.Helper()
		select {
		case n := <-r.shared.added:
			if n != want {
				t.Errorf("%d calls added back; want %d", n, want)
			}
		case <-time.After(time.Minute):
			t.Fatal("no calls added back")
		}
		for r.g.limiter.paying.Load() { // the payback ends just after
			time.Sleep(time.Millisecond)
		}
	}
	// Redis decides again, but taking counts back fails: still owed.
	r.now = r.now.Add(limiterRest)
	r.shared.set(0, nil)
	r.shared.setAddErr(down)
	if status, _, _ := r.call(); status != 200 {
		t.Fatal("call after the outage refused")
	}
	added(4)
	r.shared.setAddErr(nil)
	if status, _, _ := r.call(); status != 200 {
		t.Fatal("second call after the outage refused")
	}
	added(4)
	// 50 - 4 owed - the 3 calls Redis decided.
	if status, _, state := r.call(); status != 200 || !strings.Contains(state, `"month";r=43;`) {
		t.Errorf("after the payback: %d, RateLimit %q; want 200 with \"month\";r=43", status, state)
	}
}

// TestLimiterOutageFailClosed: with LimiterFailClosed every call the
// shared limiter cannot decide is a 503 limiter_unavailable.
func TestLimiterOutageFailClosed(t *testing.T) {
	r := newLimiterRig(t, Config{LimiterFailClosed: true, LimiterNodes: 2}, ratelimit.Policy{Rate: 10, Burst: 4})
	r.shared.set(0, fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, syscall.ECONNRESET))
	for i := range 3 {
		w := httptest.NewRecorder()
		p := r.g.enforcePlan(context.Background(), w, r.api, r.a)
		if p == nil || p.Status() != 503 || p.CauseID != "limiter_unavailable" {
			t.Errorf("call %d: %v; want 503 limiter_unavailable", i+1, p)
		}
	}
	if v := testCounter(r.g, "closed"); v != 3 {
		t.Errorf(`limiter errors{mode="closed"} = %v; want 3`, v)
	}
}

// testCounter is gatehouse_limiter_errors_total{mode}.
func testCounter(g *Gateway, mode string) float64 {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(g.limiterErrors)
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "mode" && l.GetValue() == mode {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestLocalShare(t *testing.T) {
	for _, c := range []struct {
		p    ratelimit.Policy
		n    int
		want ratelimit.Policy
	}{
		{ratelimit.Policy{Rate: 50, Burst: 50, QuotaDay: 10}, 2, ratelimit.Policy{Rate: 25, Burst: 25}},
		{ratelimit.Policy{Rate: 10, Burst: 5}, 3, ratelimit.Policy{Rate: 10.0 / 3, Burst: 2}},
		{ratelimit.Policy{Rate: 1, Burst: 1}, 4, ratelimit.Policy{Rate: 0.25, Burst: 1}},
		{ratelimit.Policy{Rate: 1, Burst: 1}, 0, ratelimit.Policy{Rate: 1, Burst: 1}},
		{ratelimit.Policy{QuotaDay: 10}, 2, ratelimit.Policy{}},
	} {
		if got := localShare(c.p, c.n); got != c.want {
			t.Errorf("localShare(%+v, %d) = %+v; want %+v", c.p, c.n, got, c.want)
		}
	}
}
