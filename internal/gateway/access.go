package gateway

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gatehouse/internal/health"
	"gatehouse/internal/logthin"
	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
)

// AccessSource is the storage of plans and subscriptions the gateway reads.
type AccessSource interface {
	FindSubscription(ctx context.Context, clientID, apiName string) (*store.Subscription, error)
	GetPlan(ctx context.Context, name string) (*store.Plan, error)
	AccessGeneration(ctx context.Context) (int64, error)
}

// access is what the gateway enforces for one app on one API.
type access struct {
	// refusal, when set, is the 403 to answer (not subscribed, pending).
	refusal *problem.Error
	plan    string
	policy  ratelimit.Policy
	// policyHeader is the RateLimit-Policy field value, built once.
	policyHeader string
	// key is the limiter key: one budget per subscription.
	key string
}

// accessCache keeps each app's access to each API, dropped whole when the
// store's access generation changes (polled) or this node changes a plan or
// subscription (Invalidate).
type accessCache struct {
	mu         sync.RWMutex
	entries    map[accessKey]*access
	generation int64
}

type accessKey struct{ client, api string }

const maxCachedAccess = 200_000

// InvalidateAccess drops cached subscriptions so changes made on this node
// apply to the next request.
func (g *Gateway) InvalidateAccess() {
	g.access.mu.Lock()
	clear(g.access.entries)
	g.access.mu.Unlock()
}

func (g *Gateway) pollAccess(ctx context.Context) error {
	gen, err := g.cfg.Access.AccessGeneration(ctx)
	if err != nil {
		return err
	}
	g.access.mu.Lock()
	if gen != g.access.generation {
		clear(g.access.entries)
		g.access.generation = gen
	}
	g.access.mu.Unlock()
	return nil
}

// checkEnvironment keeps a portal app's credentials to their side: sandbox
// credentials call sandbox APIs, production credentials the others, so a
// test key can never reach a live backend and a production key is never
// spent on the sandbox by mistake.
func checkEnvironment(api *compiledAPI, c *Caller) *problem.Error {
	sandboxAPI := api.rec.Status == store.APISandbox
	switch {
	case c.Environment == store.EnvironmentSandbox && !sandboxAPI:
		return problem.Newf(problem.PermissionDeniedEnvironmentMismatch,
			"The token belongs to the app's sandbox credentials, and %s is a live API: call it with the app's production credentials, which come with a subscription to it.", api.rec.Name)
	case c.Environment == store.EnvironmentProduction && sandboxAPI:
		return problem.Newf(problem.PermissionDeniedEnvironmentMismatch,
			"The token belongs to the app's production credentials, and %s is a sandbox API: call it with the app's sandbox credentials.", api.rec.Name)
	}
	return nil
}

// accessFor returns the app's access to the API: its subscription's plan;
// for a sandbox API without a subscription, the free sandbox plan; a 403
// otherwise.
func (g *Gateway) accessFor(ctx context.Context, api *compiledAPI, clientID string) (*access, *problem.Error) {
	k := accessKey{clientID, api.rec.Name}
	g.access.mu.RLock()
	a, ok := g.access.entries[k]
	g.access.mu.RUnlock()
	if ok {
		return a, nil
	}
	// Cached subscriptions keep being served while the store is down (a
	// change cannot be written then either); one not cached needs the
	// store, and every call waiting out its time limit would only pile
	// up connections.
	if p, down := g.cfg.StoreHealth.Failing(health.Store); down {
		return nil, storeUnavailable(p.Err)
	}
	a, err := g.loadAccess(ctx, api, clientID)
	if err != nil {
		if p := problem.StoreUnavailable(err); p != nil {
			return nil, p
		}
		return nil, problem.Internal(err)
	}
	g.access.mu.Lock()
	if len(g.access.entries) >= maxCachedAccess {
		clear(g.access.entries)
	}
	g.access.entries[k] = a
	g.access.mu.Unlock()
	return a, nil
}

// storeUnavailable is the 503 of a subscription check not made because the
// store is known to be down.
func storeUnavailable(err error) *problem.Error {
	return problem.New(problem.UnavailableStoreUnavailable, "The platform cannot reach its database to check the subscription; retry shortly.").
		Wrap(err).WithRetryAfter(problem.StoreRetryAfter)
}

func (g *Gateway) loadAccess(ctx context.Context, api *compiledAPI, clientID string) (*access, error) {
	name := api.rec.Name
	sub, err := g.cfg.Access.FindSubscription(ctx, clientID, name)
	planName := ""
	switch {
	case err == nil && sub.Status != store.SubscriptionActive:
		return &access{refusal: problem.Newf(problem.PermissionDeniedSubscriptionPending,
			"The app's subscription to %s on the %s plan waits for approval.", name, sub.PlanName)}, nil
	case err == nil:
		planName = sub.PlanName
	case errors.Is(err, store.ErrNotFound) && api.rec.Status == store.APISandbox && g.cfg.SandboxPlan != "":
		planName = g.cfg.SandboxPlan
	case errors.Is(err, store.ErrNotFound):
		return &access{refusal: problem.Newf(problem.PermissionDeniedNotSubscribed,
			"The app is not subscribed to %s; subscribe it to a plan in the portal.", name).
			With("upgrade", g.upgradeURL(name))}, nil
	default:
		return nil, err
	}
	plan, err := g.cfg.Access.GetPlan(ctx, planName)
	if err != nil {
		return nil, err
	}
	a := &access{
		plan:   plan.Name,
		policy: ratelimit.Policy{Rate: plan.RatePerSecond, Burst: plan.Burst, QuotaDay: plan.QuotaDay, QuotaMonth: plan.QuotaMonth},
		key:    clientID + "|" + name,
	}
	a.policyHeader = policyHeaderOf(a.policy)
	return a, nil
}

// upgradeURL is the portal page where the app's plan for the API changes.
func (g *Gateway) upgradeURL(api string) string {
	return g.cfg.PortalURL + "/portal/apis/" + api + "#plans"
}

// policyHeaderOf renders the IETF RateLimit-Policy field (draft-ietf-httpapi-
// ratelimit-headers): one item per promise, q the quota, w the window in
// seconds.
func policyHeaderOf(p ratelimit.Policy) string {
	var items []string
	if p.Rate > 0 {
		w := int64(math.Ceil(float64(p.Burst) / p.Rate))
		items = append(items, `"rate";q=`+strconv.FormatInt(p.Burst, 10)+`;w=`+strconv.FormatInt(max(w, 1), 10))
	}
	if p.QuotaDay > 0 {
		items = append(items, `"day";q=`+strconv.FormatInt(p.QuotaDay, 10)+`;w=86400`)
	}
	if p.QuotaMonth > 0 {
		items = append(items, `"month";q=`+strconv.FormatInt(p.QuotaMonth, 10)+`;w=2592000`)
	}
	return strings.Join(items, ", ")
}

// stateHeader renders the RateLimit field: remaining (r) and seconds to
// reset (t) of each promise.
func stateHeader(p ratelimit.Policy, d ratelimit.Decision) string {
	b := make([]byte, 0, 96)
	add := func(name string, r int64, t time.Duration) {
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `";r=`...)
		b = strconv.AppendInt(b, max(r, 0), 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, ceilSeconds(t), 10)
	}
	if p.Rate > 0 {
		add("rate", d.RateRemaining, d.RateReset)
	}
	if p.QuotaDay > 0 {
		add("day", d.DayRemaining, d.DayReset)
	}
	if p.QuotaMonth > 0 {
		add("month", d.MonthRemaining, d.MonthReset)
	}
	return string(b)
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// QuotaEvent is a subscription's quota reaching a mark: Percent 80 when
// the call just admitted used 80 % of it, 100 when it used the last call.
type QuotaEvent struct {
	ClientID string `json:"client_id"`
	API      string `json:"api"`
	Plan     string `json:"plan"`
	Period   string `json:"period"` // "day" or "month"
	Quota    int64  `json:"quota"`
	Percent  int    `json:"percent"`
	// Reset is when the period ends and the quota is whole again.
	Reset time.Time `json:"reset"`
}

// quotaMarks tells OnQuota of the marks the call admitted with d reached.
// Each count is reached by exactly one call (the limiter counts calls one
// by one, on every node alike when it is shared), so each mark is told
// once per period.
func (g *Gateway) quotaMarks(api *compiledAPI, a *access, d ratelimit.Decision) {
	clientID, _, _ := strings.Cut(a.key, "|")
	mark := func(period string, quota, remaining int64, reset time.Duration) {
		if quota <= 0 {
			return
		}
		percent := 0
		switch used := quota - remaining; {
		case remaining == 0:
			percent = 100
		case used == (quota*8+9)/10: // the call that reached 80 %, rounded up
			percent = 80
		default:
			return
		}
		ev := QuotaEvent{ClientID: clientID, API: api.rec.Name, Plan: a.plan, Period: period, Quota: quota, Percent: percent,
			Reset: g.cfg.Now().Add(reset).UTC().Truncate(time.Second)}
		go g.cfg.OnQuota(ev)
	}
	mark("day", a.policy.QuotaDay, d.DayRemaining, d.DayReset)
	mark("month", a.policy.QuotaMonth, d.MonthRemaining, d.MonthReset)
}

// DefaultLimiterTimeout bounds one decision of a shared limiter when
// Config.LimiterTimeout is zero. A round trip to Redis takes well under a
// millisecond, but on a busy machine (or behind a busy network) it can take
// hundreds: that is a slow answer, to be waited for, not an outage.
const DefaultLimiterTimeout = 2 * time.Second

// limiterRest is how long the gateway decides locally after a shared
// limiter failed before it asks it again (one call asks; the others keep
// deciding locally until it answers).
const limiterRest = time.Second

// limiterLogEvery is the interval of the "limiter unavailable" log lines:
// one line per kind of failure per interval, with a count.
const limiterLogEvery = 10 * time.Second

// limiterState is the gateway's view of its limiter's health and what it
// does without it.
type limiterState struct {
	// inProcess is set for ratelimit.Memory, which never blocks or fails.
	inProcess bool
	timeout   time.Duration
	// downUntil (unix ns) is when the shared limiter may be asked again
	// after a failure; 0 while it answers.
	downUntil atomic.Int64
	// since (unix ns) is when the current outage began: the first failure
	// after the shared limiter last answered; 0 while it answers.
	since atomic.Int64
	// pinger, when the shared limiter has a Ping method, lets the gateway
	// probe it without a call to decide (probeLimiter); while it is down,
	// only the probe asks it again.
	pinger limiterPinger
	// restorer, when the shared limiter can lose its counts and take them
	// back, is asked for its epoch by the probe instead of a ping; epoch
	// is the last one seen (probe goroutine only) and seen the counts
	// this node's decisions reported (restore.go).
	restorer ratelimit.Restorer
	epoch    string
	seen     *seenCounts
	// local decides while the shared limiter is down, with each key's
	// local share of its rate.
	local *ratelimit.Memory
	nodes func() int

	log *logthin.Thinner // the "limiter unavailable" lines, by kind of failure

	// adder takes back the calls admitted locally against quotas (nil
	// when the limiter cannot): owed holds them until it answers again.
	adder  ratelimit.Adder
	owedMu sync.Mutex
	owed   map[owedKey]*owedCalls
	owing  atomic.Bool // owed is not empty; read on the hot path
	paying atomic.Bool // a payBack is under way
}

// owedKey is one key's calls admitted locally on one UTC day.
type owedKey struct {
	key string
	day int64
}

type owedCalls struct {
	policy ratelimit.Policy
	at     time.Time
	n      int64
}

// nodeCounter is a shared limiter that knows how many nodes share it
// (ratelimit/redis, through heartbeats).
type nodeCounter interface{ LiveNodes() int }

// limiterPinger is a shared limiter that can say whether it answers
// (ratelimit/redis).
type limiterPinger interface {
	Ping(ctx context.Context) error
}

func (g *Gateway) initLimiter() {
	l := &g.limiter
	_, l.inProcess = g.cfg.Limiter.(*ratelimit.Memory)
	l.timeout = g.cfg.LimiterTimeout
	if l.timeout <= 0 {
		l.timeout = DefaultLimiterTimeout
	}
	l.local = ratelimit.NewMemory()
	switch nc, ok := g.cfg.Limiter.(nodeCounter); {
	case g.cfg.LimiterNodes > 0:
		n := g.cfg.LimiterNodes
		l.nodes = func() int { return n }
	case ok:
		l.nodes = nc.LiveNodes
	default:
		l.nodes = func() int { return 1 }
	}
	l.log = logthin.New(limiterLogEvery)
	l.adder, _ = g.cfg.Limiter.(ratelimit.Adder)
	l.owed = map[owedKey]*owedCalls{}
	if !l.inProcess {
		l.pinger, _ = g.cfg.Limiter.(limiterPinger)
		if l.restorer, _ = g.cfg.Limiter.(ratelimit.Restorer); l.restorer != nil {
			l.seen = newSeenCounts()
		}
	}
}

// LimiterStatus is the state of the gateway's limiter, for /readyz.
type LimiterStatus struct {
	// Degraded is set while a shared limiter does not answer: calls are
	// then decided with this node's share of each rate (quotas counted
	// and added back later), or refused when FailClosed.
	Degraded bool
	// Since is when the limiter stopped answering (zero when not
	// Degraded).
	Since time.Time
	// FailClosed is Config.LimiterFailClosed.
	FailClosed bool
	// Nodes is how many nodes each rate is divided by while Degraded.
	Nodes int
}

// LimiterStatus reports whether the limits are exact or degraded. An
// in-process limiter, or none, is never degraded.
func (g *Gateway) LimiterStatus() LimiterStatus {
	l := &g.limiter
	st := LimiterStatus{FailClosed: g.cfg.LimiterFailClosed, Nodes: l.nodes()}
	if since := l.since.Load(); since != 0 {
		st.Degraded, st.Since = true, time.Unix(0, since).UTC()
	}
	return st
}

// limiterAnswered records that the shared limiter answered: the outage,
// if any, is over, and what was admitted without it is added back.
func (g *Gateway) limiterAnswered() {
	l := &g.limiter
	if l.downUntil.Load() != 0 {
		l.downUntil.Store(0)
	}
	if l.since.Load() != 0 {
		l.since.Store(0)
	}
	if l.owing.Load() && l.paying.CompareAndSwap(false, true) {
		go g.payBack()
	}
}

// limiterFailed records that the shared limiter did not answer at now:
// calls are decided locally for limiterRest.
func (g *Gateway) limiterFailed(now time.Time, err error, api string) {
	l := &g.limiter
	l.since.CompareAndSwap(0, now.UnixNano())
	l.downUntil.Store(g.cfg.Now().Add(limiterRest).UnixNano())
	g.logFailure(now, err, api)
}

// probeLimiter asks the shared limiter whether it answers every
// limiterRest until ctx is done, so that an outage shows (in /readyz and
// gatehouse_limiter_degraded) and ends, and the calls admitted during it
// are added back, whether or not calls come in.
// It also forgets, once an hour, the counts seen in past periods.
func (g *Gateway) probeLimiter(ctx context.Context) {
	t := time.NewTicker(limiterRest)
	defer t.Stop()
	pruned := g.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.pingLimiter(ctx)
			if now := g.cfg.Now(); g.limiter.seen != nil && now.Sub(pruned) >= time.Hour {
				g.limiter.seen.prune(now)
				pruned = now
			}
		}
	}
}

// pingLimiter asks the shared limiter once, within the limiter timeout:
// for its epoch when it has one, restoring the counts seen before when the
// epoch changed (the counts were lost), else a ping.
func (g *Gateway) pingLimiter(ctx context.Context) {
	l := &g.limiter
	pctx, cancel := context.WithTimeout(ctx, l.timeout)
	var err error
	if l.restorer != nil {
		var epoch string
		if epoch, err = l.restorer.Epoch(pctx); err == nil && epoch != l.epoch {
			if l.epoch != "" {
				// Restored before any call is decided by it again (decide
				// leaves it alone while the outage lasts); on failure the
				// next probe tries again.
				if err = g.restoreCounts(ctx, l.restorer); err == nil {
					g.cfg.Logger.Warn("the rate limiter's Redis lost its counts; restored the quota counts this node saw before",
						"epoch", epoch, "previous", l.epoch)
				}
			}
			if err == nil {
				l.epoch = epoch
			}
		}
	} else {
		err = l.pinger.Ping(pctx)
	}
	cancel()
	switch {
	case err == nil:
		g.limiterAnswered()
	case ctx.Err() == nil:
		g.limiterFailed(g.cfg.Now(), err, "")
	}
}

// owe remembers a call admitted locally against a's quotas, to add to the
// shared limiter's counts once it answers.
func (g *Gateway) owe(a *access, now time.Time) {
	l := &g.limiter
	if l.adder == nil || (a.policy.QuotaDay <= 0 && a.policy.QuotaMonth <= 0) {
		return
	}
	k := owedKey{a.key, ratelimit.DayStart(now).Unix()}
	l.owedMu.Lock()
	o := l.owed[k]
	if o == nil {
		o = &owedCalls{}
		l.owed[k] = o
	}
	o.policy, o.at = a.policy, now
	o.n++
	l.owing.Store(true)
	l.owedMu.Unlock()
}

// payBack adds the calls admitted locally during an outage to the shared
// limiter's quota counts, so that a quota is exact over its period; what
// cannot be added yet stays owed. Run it once at a time (paying).
func (g *Gateway) payBack() {
	l := &g.limiter
	defer l.paying.Store(false)
	l.owedMu.Lock()
	owed := l.owed
	l.owed = map[owedKey]*owedCalls{}
	l.owing.Store(false)
	l.owedMu.Unlock()
	var unpaid []owedKey
	var lastErr error
	for k, o := range owed {
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		err := l.adder.Add(ctx, k.key, o.policy, o.at, o.n)
		cancel()
		if err != nil {
			unpaid, lastErr = append(unpaid, k), err
		}
	}
	if len(unpaid) == 0 {
		return
	}
	g.logFailure(g.cfg.Now(), lastErr, "")
	l.owedMu.Lock()
	for _, k := range unpaid {
		if o := l.owed[k]; o != nil {
			o.n += owed[k].n
		} else {
			l.owed[k] = owed[k]
		}
	}
	l.owing.Store(true)
	l.owedMu.Unlock()
}

var errLimiterResting = errors.New("gateway: the shared limiter failed recently; deciding locally")

// localShare is the part of p one of n nodes enforces on its own while the
// shared limiter is down: rate ÷ n with burst ÷ n (at least 1). Quotas are
// not enforced locally: a node does not know how much of them the others
// used.
func localShare(p ratelimit.Policy, n int) ratelimit.Policy {
	if p.Rate <= 0 {
		return ratelimit.Policy{}
	}
	n = max(n, 1)
	return ratelimit.Policy{Rate: p.Rate / float64(n), Burst: max(1, (p.Burst+int64(n)-1)/int64(n))}
}

// limiterFailureKind names the kind of a shared limiter's failure for the
// logs: timeout (no answer within the bound), unreachable (the connection
// failed or could not be made) or error (the backend answered with an
// error).
func limiterFailureKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, new(*net.OpError)) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed):
		return "unreachable"
	}
	return "error"
}

// logFailure writes one line per kind of failure per limiterLogEvery, with
// the number of failures of that kind since the previous line.
func (g *Gateway) logFailure(now time.Time, err error, api string) {
	kind := limiterFailureKind(err)
	n, write := g.limiter.log.Tick(now, kind)
	if !write {
		return
	}
	if g.cfg.LimiterFailClosed {
		g.cfg.Logger.Error("rate limiter unavailable; refusing calls (fail-closed)",
			"kind", kind, "count", n, "interval", limiterLogEvery, "err", err, "api", api)
		return
	}
	g.cfg.Logger.Error("rate limiter unavailable; enforcing this node's share of each rate, counting calls against quotas to add back (fail-open)",
		"kind", kind, "count", n, "interval", limiterLogEvery, "nodes", g.limiter.nodes(), "err", err, "api", api)
}

// decide asks the limiter for a decision on a's call. A shared limiter
// gets the configured time to answer; a slow answer is still an answer.
// Only a failure (no answer within the bound, a broken connection, an
// error reply) makes the gateway decide locally for limiterRest, after
// which one call asks the shared limiter again while the others keep
// deciding locally until it answers.
func (g *Gateway) decide(ctx context.Context, api *compiledAPI, a *access, now time.Time) (ratelimit.Decision, error) {
	l := &g.limiter
	if l.inProcess {
		// The in-process limiter cannot block: no deadline (and none of
		// its allocations) on the hot path.
		return g.cfg.Limiter.Allow(ctx, a.key, a.policy, now)
	}
	if down := l.downUntil.Load(); down != 0 {
		// Resting. With a probe, only the probe ends the outage (after
		// restoring lost counts); without one, the first call past the
		// rest asks again, extending the rest for the others while it
		// does.
		if l.pinger != nil || now.UnixNano() < down || !l.downUntil.CompareAndSwap(down, now.Add(limiterRest).UnixNano()) {
			return ratelimit.Decision{}, errLimiterResting
		}
	}
	lctx, cancel := context.WithTimeout(ctx, l.timeout)
	d, err := g.cfg.Limiter.Allow(lctx, a.key, a.policy, now)
	cancel()
	switch {
	case err == nil:
		if l.seen != nil {
			l.seen.see(a.key, a.policy, now, d)
		}
		g.limiterAnswered()
	case ctx.Err() == nil:
		// A caller that went away says nothing about the backend.
		g.limiterFailed(now, err, api.rec.Name)
	}
	return d, err
}

// enforcePlan applies the subscription's plan: rate limit, then quota. A
// refusal is a 429 with Retry-After and the RateLimit fields; an admitted
// request carries the fields on its response.
//
// When the shared limiter cannot decide, a fail-closed gateway refuses the
// call (503 limiter_unavailable); a fail-open one decides it with this
// node's share of the rate (rate ÷ the nodes sharing the limiter) and says
// so in the RateLimit fields, which then describe that local share. The
// quotas are not checked then, but each call admitted is counted and added
// to the shared limiter's counts when it answers again (payBack), so a
// quota stays exact over its period. Either way the call is counted in
// gatehouse_limiter_errors_total.
func (g *Gateway) enforcePlan(ctx context.Context, w http.ResponseWriter, api *compiledAPI, a *access) *problem.Error {
	if g.cfg.Limiter == nil || !a.policy.Limited() {
		return nil
	}
	now := g.cfg.Now()
	policy, policyHeader := a.policy, a.policyHeader
	d, err := g.decide(ctx, api, a, now)
	if err != nil {
		if g.cfg.LimiterFailClosed {
			g.limiterErrors.WithLabelValues("closed").Inc()
			return problem.New(problem.UnavailableLimiterUnavailable,
				"Usage limits cannot be checked right now, and this platform refuses unmetered calls; retry shortly.").
				Wrap(err).WithRetryAfter(time.Second)
		}
		g.limiterErrors.WithLabelValues("open").Inc()
		policy = localShare(a.policy, g.limiter.nodes())
		if policy.Limited() {
			policyHeader = policyHeaderOf(policy)
			d, _ = g.limiter.local.Allow(ctx, a.key, policy, now)
		}
		if d.Allowed() {
			g.owe(a, now)
		}
		if !policy.Limited() {
			return nil // no rate to share, and the quotas are not known here
		}
	}
	// Set in canonical form ("RateLimit" is not): Header.Set would
	// allocate the canonical name again on every request.
	h := w.Header()
	h["Ratelimit-Policy"] = []string{policyHeader}
	h["Ratelimit"] = []string{stateHeader(policy, d)}
	switch d.Refusal {
	case ratelimit.Admitted:
		if err == nil && g.cfg.OnQuota != nil {
			g.quotaMarks(api, a, d)
		}
		return nil
	case ratelimit.RateExceeded:
		return problem.Newf(problem.TooManyRequestsRateLimited,
			"The %s plan allows %g requests per second (burst %d) on %s; retry after the time in Retry-After.",
			a.plan, a.policy.Rate, a.policy.Burst, api.rec.Name).WithRetryAfter(d.RetryAfter)
	}
	reason, period, quota := problem.QuotaExceededDayQuota, "day", a.policy.QuotaDay
	if d.Refusal == ratelimit.MonthQuotaExceeded {
		reason, period, quota = problem.QuotaExceededMonthQuota, "month", a.policy.QuotaMonth
	}
	url := g.upgradeURL(api.rec.Name)
	return problem.Newf(reason,
		"The %s plan's quota of %d requests per %s on %s is used up; upgrade the plan at %s or wait until it resets.",
		a.plan, quota, period, api.rec.Name, url).
		WithRetryAfter(d.RetryAfter).
		With("upgrade", url).
		WithHeader("Link", "<"+url+`>; rel="payment"`)
}
