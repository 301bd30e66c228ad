// Package gateway serves the APIs gatehouse sells: routes come from each
// API's OpenAPI document, and every request passes, in order (Gateway.serve
// in pipeline.go), path and query checks (400), route (404, 405), content
// negotiation (406, 415), declared size (413), bearer token (401), scope
// (403), subscription (403) and the plan's rate and quota (429; 503 while
// its counters cannot be read), body size and validation (413, 400, 422),
// and the upstream (502, 503, 504; 503 for maintenance) — each failure one
// registry entry with its actual cause. Operations without a security
// requirement skip token to plan; every answer is counted in usage and,
// with Config.Calls, kept in the request log (calls.go).
package gateway

import (
	"context"
	"gatehouse/internal/health"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
)

// Caller is who calls an API, as the gateway knows it from a verified
// access token: the client and, for 3-legged tokens, the end user.
type Caller struct {
	ClientID string
	// Subject is the token's sub: the client itself for 2-legged tokens,
	// the end user (e.g. "tel:+34…") for 3-legged ones.
	Subject string
	Scopes  []string
	// Line is the end user's phone number (E.164) for 3-legged tokens,
	// when known; the upstream receives it as X-Gatehouse-Subject.
	Line string
	// Environment is the token's client's environment when it is a portal
	// app's credential (store.EnvironmentSandbox or
	// EnvironmentProduction); "" for a client an operator made, which may
	// call any API its subscriptions allow.
	Environment string
}

// ThreeLegged reports whether the token acts for an end user.
func (g *Caller) ThreeLegged() bool { return g.Subject != "" && g.Subject != g.ClientID }

// TokenVerifier checks bearer tokens locally (signature, issuer, audience,
// lifetime, revocation). Failures are invalid_token registry errors.
type TokenVerifier interface {
	VerifyBearer(raw string) (Caller, *problem.Error)
}

// APISource is the storage the gateway reads its APIs from.
type APISource interface {
	ListAPIs(ctx context.Context) ([]*store.API, error)
	APIsGeneration(ctx context.Context) (int64, error)
}

// Config configures a Gateway. Zero values take the documented defaults.
type Config struct {
	// APIs is where API definitions are read from. Required.
	APIs APISource
	// Tokens verifies bearer tokens. Required.
	Tokens TokenVerifier
	// Render writes errors. Nil means a zero Renderer.
	Render *problem.Renderer
	// Sandbox serves APIs whose upstream is "sandbox:". Nil means such
	// APIs answer 502.
	Sandbox http.Handler
	// NotFound answers paths no API serves. Nil means a 404 problem.
	NotFound http.Handler
	// MaxBodyBytes is the default request body limit. Zero means 1 MiB.
	MaxBodyBytes int64
	// UpstreamTimeout bounds one upstream exchange. Zero means 10 s.
	UpstreamTimeout time.Duration
	// ReloadEvery is how often the API generation is polled to pick up
	// changes made by other processes. Zero means 250 ms.
	ReloadEvery time.Duration
	// BreakerFailures consecutive upstream failures open an upstream's
	// circuit (see breaker) for BreakerOpenFor, the first pause; each
	// failed half-open probe doubles the pause, up to BreakerMaxPause.
	// Zero means DefaultBreakerFailures (5), DefaultBreakerPause (250 ms)
	// and DefaultBreakerMaxPause (30 s). An API's upstream options
	// override each one for that API.
	BreakerFailures int
	BreakerOpenFor  time.Duration
	BreakerMaxPause time.Duration
	// Access is where subscriptions and plans are read. Nil means no
	// subscription is required and no plan is enforced.
	Access AccessSource
	// SandboxPlan is the plan of apps calling a sandbox API they have no
	// subscription to. Empty means such calls need a subscription too.
	SandboxPlan string
	// Limiter enforces plans. Nil means plans are not enforced. A shared
	// limiter with a Ping method (ratelimit/redis) is probed every second,
	// which ends an outage; one that is a ratelimit.Restorer gets back the
	// quota counts it lost (restore.go).
	Limiter ratelimit.Limiter
	// LimiterFailClosed refuses calls (503) when the limiter cannot be
	// reached; false decides them with this node's share of each rate,
	// adds them to the limiter's quota counts once it answers (when it is
	// a ratelimit.Adder) and counts them in metrics.
	LimiterFailClosed bool
	// LimiterTimeout bounds one decision of a shared limiter: a slower
	// answer is a failure. Zero means DefaultLimiterTimeout (2 s).
	LimiterTimeout time.Duration
	// LimiterNodes is how many nodes share the limiter, for the local
	// share of each rate a node enforces while the limiter is down. Zero
	// means what the limiter knows (its LiveNodes method), else 1.
	LimiterNodes int
	// StoreHealth tells whether the store is known to be unreachable: a
	// subscription the gateway has not cached is then refused at once
	// (503) instead of each call waiting out the store's time limit. Nil
	// means always ask the store.
	StoreHealth *health.Tracker
	// PortalURL is the developer portal's base URL, for the plan-upgrade
	// links of 403 and 429 answers.
	PortalURL string
	// Usage records every call. Nil records nothing.
	Usage UsageRecorder
	// Calls keeps every call's record for the request log (the stage
	// that decided it, its caller, timings). Nil keeps none.
	Calls CallRecorder
	// OnQuota, when set, is told (on a goroutine of its own) when an
	// admitted call uses 80 % of a quota, and when it uses the last call.
	OnQuota func(QuotaEvent)
	// Registerer receives the gateway's metrics. Nil means none.
	Registerer prometheus.Registerer
	// Secret is the system secret, which opens the upstream client keys
	// sealed in the store (ClientKeyPurpose). Empty means an API with a
	// client certificate is left out of the route table.
	Secret string
	// Logger receives operational logs. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Gateway is the API gateway. Create it with New and keep its routes
// current with Run.
type Gateway struct {
	cfg    Config
	render *problem.Renderer
	table  atomic.Pointer[routeTable]
	access accessCache
	// healthWindows are the APIs' health counts by name (apihealth.go).
	healthMu      sync.Mutex
	healthWindows map[string]*healthWindow

	limiterErrors *prometheus.CounterVec
	limiter       limiterState

	reloadMu   sync.Mutex
	generation int64
	upstreams  map[string]*httpUpstream // by upstreamKey, reused across reloads
	// jitter randomizes the breakers' pauses (see breaker); tests set
	// it to nil for exact ones.
	jitter func() float64
}

// New returns a Gateway with an empty route table; call Reload or Run.
func New(cfg Config) *Gateway {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = 10 * time.Second
	}
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = 250 * time.Millisecond
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.BreakerOpenFor <= 0 {
		cfg.BreakerOpenFor = DefaultBreakerPause
	}
	if cfg.BreakerMaxPause <= 0 {
		cfg.BreakerMaxPause = DefaultBreakerMaxPause
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gateway{cfg: cfg, render: cfg.Render, upstreams: map[string]*httpUpstream{}, jitter: rand.Float64}
	g.access.entries = map[accessKey]*access{}
	g.initLimiter()
	g.limiterErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_limiter_errors_total",
		Help: "Calls the shared limiter could not decide, by what the gateway did: open (decided with this node's share of the rate, counted against quotas later) or closed (refused 503).",
	}, []string{"mode"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(g.limiterErrors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_limiter_degraded",
			Help: "1 while the shared limiter (Redis) does not answer and limits are degraded: each rate is enforced as this node's share, quotas are counted to be added back (or calls are refused when fail-closed); 0 while limits are exact.",
		}, func() float64 {
			if g.LimiterStatus().Degraded {
				return 1
			}
			return 0
		}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_limiter_nodes",
			Help: "How many nodes share the limiter: what each rate is divided by while it does not answer (limiter_nodes, or the nodes heard through Redis heartbeats).",
		}, func() float64 { return float64(g.limiter.nodes()) }))
	}
	if g.render == nil {
		g.render = &problem.Renderer{}
	}
	g.table.Store(newRouteTable(nil))
	return g
}

// UsageRecorder counts calls (package usage).
type UsageRecorder interface {
	Record(clientID, api string, status int, errKey string, latency time.Duration)
}

// Run loads the APIs, then polls for changes until ctx is done. It returns
// after the first load; polling continues in the background. A shared
// limiter that can be pinged is asked once before Run returns and then
// every second in the background (probeLimiter).
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.Reload(ctx); err != nil {
		return err
	}
	if g.limiter.pinger != nil {
		// Asked once before serving, so that /readyz says from the first
		// request whether limits are exact, then every limiterRest.
		g.pingLimiter(ctx)
		go g.probeLimiter(ctx)
	}
	go func() {
		t := time.NewTicker(g.cfg.ReloadEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := g.reloadIfChanged(ctx); err != nil && ctx.Err() == nil {
					g.cfg.Logger.Warn("reloading APIs failed", "err", err)
				}
				if g.cfg.Access != nil {
					if err := g.pollAccess(ctx); err != nil && ctx.Err() == nil {
						g.cfg.Logger.Warn("checking subscriptions for changes failed", "err", err)
					}
				}
			}
		}
	}()
	return nil
}

func (g *Gateway) reloadIfChanged(ctx context.Context) error {
	gen, err := g.cfg.APIs.APIsGeneration(ctx)
	if err != nil {
		return err
	}
	g.reloadMu.Lock()
	same := gen == g.generation
	g.reloadMu.Unlock()
	if same {
		return nil
	}
	return g.Reload(ctx)
}

// Reload rebuilds the route table from the store now. An API whose
// document no longer compiles is left out and logged; the others serve.
func (g *Gateway) Reload(ctx context.Context) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	gen, err := g.cfg.APIs.APIsGeneration(ctx)
	if err != nil {
		return err
	}
	recs, err := g.cfg.APIs.ListAPIs(ctx)
	if err != nil {
		return err
	}
	var apis []*compiledAPI
	broken := map[string]error{}
	next := map[string]*httpUpstream{}
	for _, rec := range recs {
		a, err := g.compile(rec, next)
		if err != nil {
			broken[rec.Name] = err
			g.cfg.Logger.Error("API left out of the route table", "api", rec.Name, "err", err)
			continue
		}
		apis = append(apis, a)
	}
	t := newRouteTable(apis)
	t.broken = broken
	for _, a := range apis {
		for _, sc := range a.spec.Scopes {
			t.scopes[sc] = struct{}{}
		}
	}
	g.table.Store(t)
	g.generation = gen
	for key, u := range g.upstreams {
		if _, kept := next[key]; !kept {
			u.client.CloseIdleConnections() // requests in flight finish
		}
	}
	g.upstreams = next
	return nil
}

// compile builds the serving form of an API record.
func (g *Gateway) compile(rec *store.API, upstreams map[string]*httpUpstream) (*compiledAPI, error) {
	spec, err := LoadSpec(rec.Document)
	if err != nil {
		return nil, err
	}
	ops, err := spec.compileOperations()
	if err != nil {
		return nil, err
	}
	a := &compiledAPI{
		rec: rec, spec: spec, basePath: strings.TrimSuffix(rec.BasePath, "/"), pattern: strings.TrimSuffix(rec.BasePath, "/") + "/", root: newNode(),
		maxBody: rec.MaxBodyBytes, visitOpts: []openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), formatOption},
	}
	if spec.jsonSchema2020 {
		a.visitOpts = append(a.visitOpts, openapi3.EnableJSONSchema2020())
	}
	a.lifecycle = g.lifecycleHeader(rec)
	a.health = g.healthOf(rec.Name)
	if a.maxBody <= 0 {
		a.maxBody = g.cfg.MaxBodyBytes
	}
	for _, op := range ops {
		a.root.insert(op.template, op)
	}
	if f := unenforcedFormats(ops); len(f) > 0 {
		g.cfg.Logger.Warn("the API's request schemas use formats the gateway does not check; values in them pass unchecked",
			"api", rec.Name, "formats", f)
	}
	if a.upstream, err = g.upstreamFor(rec, spec.ServerPath, upstreams); err != nil {
		return nil, err
	}
	return a, nil
}

// SetNotFound sets the handler for paths no API serves (the server's
// platform-wide 404/405). It must be called before serving.
func (g *Gateway) SetNotFound(h http.Handler) { g.cfg.NotFound = h }

// KnownScope reports whether any served API defines the scope.
func (g *Gateway) KnownScope(scope string) bool {
	_, ok := g.table.Load().scopes[scope]
	return ok
}

// APIs returns the names of the APIs currently served.
func (g *Gateway) APIs() []string {
	var out []string
	for _, a := range g.table.Load().apis {
		out = append(out, a.rec.Name)
	}
	return out
}

// Serves reports whether some API's base path covers path; the server
// routes such requests to the gateway.
func (g *Gateway) Serves(path string) bool {
	a, _ := g.table.Load().match(path)
	return a != nil
}
