package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
)

// LiveLimits is an app's budget on one API at one instant: what the
// gateway's RateLimit fields would say on a call admitted then (issue 13
// §2). The portal shows it beside the plan.
type LiveLimits struct {
	// At is the instant the budget was read.
	At time.Time
	// Plan is the plan in force and Policy what it promises.
	Plan   string
	Policy ratelimit.Policy
	// Budget is the budget left: remaining and time to reset of each
	// promise the policy makes. Its Refusal and RetryAfter say what a
	// call now would get.
	Budget ratelimit.Decision
	// PolicyField and StateField are the RateLimit-Policy and RateLimit
	// field values for this budget, built by the code that writes them on
	// the gateway's answers.
	PolicyField, StateField string
}

// ErrLiveLimitsUnavailable is returned by LiveLimits when the budget
// cannot be read now: the shared limiter does not answer, or the gateway's
// limiter cannot report a budget without spending it.
var ErrLiveLimitsUnavailable = errors.New("gateway: live limits unavailable")

// LiveLimits returns the client's budget on the API at the gateway's now.
// The error is a *problem.Error when the client has no access to the API
// (not subscribed, waiting for approval, no such API), and wraps
// ErrLiveLimitsUnavailable when the budget cannot be read now. A plan that
// limits nothing has a zero Policy and Budget.
func (g *Gateway) LiveLimits(ctx context.Context, clientID, apiName string) (*LiveLimits, error) {
	var api *compiledAPI
	for _, a := range g.table.Load().apis {
		if a.rec.Name == apiName {
			api = a
		}
	}
	if api == nil {
		return nil, problem.Newf(problem.NotFoundResourceNotFound, "No API named %q is served.", apiName)
	}
	a, pe := g.accessFor(ctx, api, clientID)
	if pe != nil {
		return nil, pe
	}
	if a.refusal != nil {
		return nil, a.refusal
	}
	out := &LiveLimits{At: g.cfg.Now(), Plan: a.plan, Policy: a.policy}
	if g.cfg.Limiter == nil || !a.policy.Limited() {
		return out, nil
	}
	peeker, ok := g.cfg.Limiter.(ratelimit.Peeker)
	if !ok {
		return nil, fmt.Errorf("%w: %T cannot report a budget", ErrLiveLimitsUnavailable, g.cfg.Limiter)
	}
	if g.limiter.downUntil.Load() != 0 {
		return nil, fmt.Errorf("%w: the shared limiter is not answering", ErrLiveLimitsUnavailable)
	}
	if !g.limiter.inProcess {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.limiter.timeout)
		defer cancel()
	}
	d, err := peeker.Peek(ctx, a.key, a.policy, out.At)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLiveLimitsUnavailable, err)
	}
	out.Budget = d
	out.PolicyField, out.StateField = a.policyHeader, stateHeader(a.policy, d)
	return out, nil
}
