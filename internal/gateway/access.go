package gateway

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

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
	a, err := g.loadAccess(ctx, api, clientID)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			return nil, problem.New("unavailable", "store_unavailable", "The platform cannot reach its database to check the subscription; retry shortly.").
				Wrap(err).WithRetryAfter(problem.StoreRetryAfter)
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

func (g *Gateway) loadAccess(ctx context.Context, api *compiledAPI, clientID string) (*access, error) {
	name := api.rec.Name
	sub, err := g.cfg.Access.FindSubscription(ctx, clientID, name)
	planName := ""
	switch {
	case err == nil && sub.Status != store.SubscriptionActive:
		return &access{refusal: problem.Newf("permission_denied", "subscription_pending",
			"The app's subscription to %s on the %s plan waits for approval.", name, sub.PlanName)}, nil
	case err == nil:
		planName = sub.PlanName
	case errors.Is(err, store.ErrNotFound) && api.rec.Status == store.APISandbox && g.cfg.SandboxPlan != "":
		planName = g.cfg.SandboxPlan
	case errors.Is(err, store.ErrNotFound):
		return &access{refusal: problem.Newf("permission_denied", "not_subscribed",
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
	a.policyHeader = policyHeader(a.policy)
	return a, nil
}

// upgradeURL is the portal page where the app's plan for the API changes.
func (g *Gateway) upgradeURL(api string) string {
	return g.cfg.PortalURL + "/portal/apis/" + api + "#plans"
}

// policyHeader renders the IETF RateLimit-Policy field (draft-ietf-httpapi-
// ratelimit-headers): one item per promise, q the quota, w the window in
// seconds.
func policyHeader(p ratelimit.Policy) string {
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

// limiterTimeout bounds one limiter decision; limiterRest is how long the
// limiter is skipped after a failure.
const (
	limiterTimeout = 200 * time.Millisecond
	limiterRest    = time.Second
)

var errLimiterResting = errors.New("gateway: limiter failed recently; resting")

// enforcePlan applies the subscription's plan: rate limit, then quota. A
// refusal is a 429 with Retry-After and the RateLimit fields; an admitted
// request carries the fields on its response.
func (g *Gateway) enforcePlan(ctx context.Context, w http.ResponseWriter, api *compiledAPI, a *access) *problem.Error {
	if g.cfg.Limiter == nil || !a.policy.Limited() {
		return nil
	}
	now := g.cfg.Now()
	var d ratelimit.Decision
	var err error
	if down := g.limiterDownUntil.Load(); down != 0 && now.UnixNano() < down {
		err = errLimiterResting
	} else {
		// A shared limiter answers in a round trip; past this, the call
		// goes on unmetered (or is refused) instead of waiting.
		// The in-process limiter cannot block: no deadline (and none of
		// its allocations) on the hot path.
		lctx, cancel := ctx, context.CancelFunc(func() {})
		if !g.limiterInProcess {
			lctx, cancel = context.WithTimeout(ctx, limiterTimeout)
		}
		d, err = g.cfg.Limiter.Allow(lctx, a.key, a.policy, now)
		cancel()
		if err != nil && ctx.Err() == nil {
			// Let the backend rest a moment: callers get their answer at
			// once instead of each waiting for a timeout. (A caller that
			// went away says nothing about the backend.)
			g.limiterDownUntil.Store(now.Add(limiterRest).UnixNano())
		}
	}
	if err != nil {
		if g.cfg.LimiterFailClosed {
			g.limiterErrors.WithLabelValues("closed").Inc()
			return problem.New("unavailable", "limiter_unavailable",
				"Usage limits cannot be checked right now, and this platform refuses unmetered calls; retry shortly.").
				Wrap(err).WithRetryAfter(time.Second)
		}
		g.limiterErrors.WithLabelValues("open").Inc()
		g.cfg.Logger.Warn("rate limiter unavailable; serving unmetered (fail-open)", "err", err, "api", api.rec.Name)
		return nil
	}
	h := w.Header()
	h.Set("RateLimit-Policy", a.policyHeader)
	h.Set("RateLimit", stateHeader(a.policy, d))
	switch d.Refusal {
	case ratelimit.Admitted:
		return nil
	case ratelimit.RateExceeded:
		return problem.Newf("too_many_requests", "rate_limited",
			"The %s plan allows %g requests per second (burst %d) on %s; retry after the time in Retry-After.",
			a.plan, a.policy.Rate, a.policy.Burst, api.rec.Name).WithRetryAfter(d.RetryAfter)
	}
	cause, period, quota := "day_quota", "day", a.policy.QuotaDay
	if d.Refusal == ratelimit.MonthQuotaExceeded {
		cause, period, quota = "month_quota", "month", a.policy.QuotaMonth
	}
	url := g.upgradeURL(api.rec.Name)
	return problem.Newf("quota_exceeded", cause,
		"The %s plan's quota of %d requests per %s on %s is used up; upgrade the plan at %s or wait until it resets.",
		a.plan, quota, period, api.rec.Name, url).
		WithRetryAfter(d.RetryAfter).
		With("upgrade", url).
		WithHeader("Link", "<"+url+`>; rel="payment"`)
}
