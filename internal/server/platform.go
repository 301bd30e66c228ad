package server

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"gatehouse/internal/status"
	"gatehouse/internal/webhooks"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/config"
	"gatehouse/internal/developers"
	"gatehouse/internal/docs"
	"gatehouse/internal/gateway"
	"gatehouse/internal/health"
	"gatehouse/internal/keys"
	"gatehouse/internal/mail"
	"gatehouse/internal/oauth"
	"gatehouse/internal/plans"
	"gatehouse/internal/portal"
	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/requestlog"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
	"gatehouse/internal/usage"
)

// Parts are what every gatehouse command works through: the
// configuration, the store and the managers that the CLI and the admin API
// share. OpenParts makes them; Build builds the listeners on them.
type Parts struct {
	Config config.Config
	// Store is the opened store; its owner closes it.
	Store store.Store
	// Health holds what the store's calls showed (readiness, the token
	// endpoint's answer during an outage).
	Health  *health.Tracker
	Keys    *keys.Manager
	Clients *oauth.ClientManager
	APIs    *gateway.APIManager
	Plans   *plans.Manager
	Users   *oauth.UserManager
	// Now is the clock of the gateway's limits, the usage counts and the
	// portal's pages, so that a test can stop it and compare what they
	// say at one instant; nil means time.Now.
	Now func() time.Time
}

// startupStoreTimeout is the least time limit of OpenParts' store calls.
const startupStoreTimeout = 30 * time.Second

// OpenParts makes the managers over st, which the caller opened (the
// backend is its choice) and closes: it loads the signing keys, generating
// the first on a fresh store, and on a fresh store mounts the built-in
// sandbox APIs and creates the default plans.
func OpenParts(ctx context.Context, cfg config.Config, st store.Store, h *health.Tracker) (*Parts, error) {
	// store_timeout bounds what a request waits for; starting is not a
	// request, and a node must not fail to start because its first writes
	// (the first key, the sandbox APIs) took longer on a busy database.
	ctx = store.WithTimeout(ctx, max(cfg.StoreTimeout, startupStoreTimeout))
	km := &keys.Manager{Store: st, Secret: cfg.Secret, Retention: cfg.KeyRetention}
	if err := km.Load(ctx); err != nil {
		return nil, err
	}
	cm := &oauth.ClientManager{Store: st, SecretGrace: cfg.SecretRotationGrace,
		DefinedScopes: func(ctx context.Context) ([]string, error) { return definedScopes(ctx, st) }}
	am := &gateway.APIManager{Store: st, Reserved: ReservedPaths, Secret: cfg.Secret}
	if err := seedSandboxAPIs(ctx, st, am); err != nil {
		return nil, err
	}
	pm := &plans.Manager{Store: st}
	if err := pm.SeedDefaults(ctx); err != nil {
		return nil, err
	}
	return &Parts{Config: cfg, Store: st, Health: h, Keys: km, Clients: cm, APIs: am, Plans: pm,
		Users: &oauth.UserManager{Store: st}}, nil
}

// seedSandboxAPIs mounts the built-in sandbox APIs on a fresh platform, so
// `serve` on defaults has APIs to try at once. It runs only while no API
// was ever written (generation 0): an operator's later deletions stick.
func seedSandboxAPIs(ctx context.Context, st store.Store, am *gateway.APIManager) error {
	gen, err := st.APIsGeneration(ctx)
	if err != nil || gen != 0 {
		return err
	}
	for _, d := range sandbox.Definitions() {
		_, err := am.Import(ctx, d.Document, gateway.ImportOptions{Name: d.Name, BasePath: d.BasePath, Upstream: gateway.SandboxUpstream})
		var p *problem.Error
		if errors.As(err, &p) && p.Entry.Key == "already_exists" {
			continue // another process seeded it first
		}
		if err != nil {
			return fmt.Errorf("mounting the sandbox API %s: %w", d.Name, err)
		}
	}
	return nil
}

// definedScopes returns every scope that exists: the platform's own and
// every scope an operation of a stored API requires (the gateway's
// compiled scopes, read from the store so that the CLI, which runs no
// gateway, and every node agree). An API whose document does not load
// defines none: the gateway does not serve it either.
func definedScopes(ctx context.Context, st store.Store) ([]string, error) {
	apis, err := st.ListAPIs(ctx)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(oauth.PlatformScopes)
	for _, a := range apis {
		spec, err := gateway.LoadSpec(a.Document)
		if err != nil {
			continue
		}
		for _, sc := range spec.Scopes {
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// derivedKey is the key for one purpose, derived from the platform secret
// (HKDF-SHA256), so that no two uses share a key.
func derivedKey(secret, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(secret), nil, "gatehouse "+purpose+" v1", 32)
	if err != nil {
		panic("server: hkdf: " + err.Error()) // only for an impossible length
	}
	return k
}

// Platform is a built platform: the server, and what its owner stops
// once the listeners have.
type Platform struct {
	Server *Server
	Render *problem.Renderer
	// Usage holds the counted gateway calls not yet written; close it
	// after the listeners stopped.
	Usage *usage.Recorder
	// RequestLog holds the gateway calls' records not yet written; close
	// it after the listeners stopped.
	RequestLog *requestlog.Recorder
}

// Build assembles the platform on p: the authorization server, the gateway
// (limiter decides its rates and quotas: in memory or shared, the caller
// chooses the backend), usage counting and the server over them. It hooks
// the managers to them, so that an operator's change applies at once, and
// starts their background work (revocation and key refresh, API and
// subscription reloads, usage flushes) until ctx is done. serve and the
// server's tests build the same way.
func Build(ctx context.Context, p *Parts, limiter ratelimit.Limiter, logger *slog.Logger) (*Platform, error) {
	cfg := p.Config
	render := &problem.Renderer{DocsURL: cfg.Issuer + "/docs/errors", Logger: logger}
	if cfg.Portal {
		// Gateway error bodies link the call's diagnosis page.
		render.DiagnosisURL = cfg.Issuer + "/portal/logs/"
	}
	registry := prometheus.NewRegistry()
	// One abuse limiter for the sign-in forms of subscribers and
	// developers and the token endpoint: an address spraying passwords at
	// both counts once.
	abuse := ratelimit.NewMemory()
	as := oauth.NewServer(oauth.Config{
		Issuer:            cfg.Issuer,
		Store:             p.Store,
		StoreHealth:       p.Health,
		Keys:              p.Keys,
		Render:            render,
		AccessTokenTTL:    cfg.AccessTokenTTL,
		MaxFormBytes:      cfg.MaxFormBytes,
		Secret:            cfg.Secret,
		NetworkLogin:      cfg.NetworkLogin,
		RequirePKCE:       cfg.RequirePKCE,
		AbuseLimiter:      abuse,
		ClientRate:        cfg.TokenRatePerClient,
		AddressRate:       cfg.TokenRatePerAddress,
		SignInAddressRate: cfg.SignInRatePerAddress,
		Logger:            logger,
	})
	if err := as.Run(ctx); err != nil {
		return nil, err
	}
	p.Clients.OnChange = as.ForgetClient
	p.Users.OnDelete = as.ForgetUser

	rec := usage.New(usage.Config{Store: p.Store, Interval: cfg.UsageFlushInterval, MaxBuckets: cfg.UsageMaxBuckets, Logger: logger, Now: p.Now})
	registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_usage_pending_calls",
			Help: "Counted gateway calls not yet written to the database (they grow while it refuses writes).",
		}, func() float64 { calls, _ := rec.Pending(); return float64(calls) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_usage_dropped_calls_total",
			Help: "Counted gateway calls dropped because usage_max_buckets buckets were waiting to be written.",
		}, func() float64 { return float64(rec.Dropped()) }),
	)

	calls := requestlog.New(requestlog.Config{Store: p.Store, Retention: cfg.RequestLogRetention, Logger: logger})
	registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_request_log_pending",
			Help: "Gateway calls' request log records not yet written to the database.",
		}, func() float64 { return float64(calls.Pending()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_request_log_dropped_total",
			Help: "Gateway calls' request log records dropped because too many were waiting to be written.",
		}, func() float64 { return float64(calls.Dropped()) }),
	)

	hooks := &webhooks.Manager{Store: p.Store, Secret: cfg.Secret, AllowPrivate: cfg.WebhookAllowPrivate, Logger: logger, Now: p.Now}
	hooks.Start(ctx)
	var accounts *developers.Manager // the portal's, once made below
	notify := func(ctx context.Context, organizationID, event string, data any) {
		if err := hooks.Emit(ctx, organizationID, event, data); err != nil {
			logger.Warn("webhooks: queueing an event failed; it is not sent", "event", event, "organization", organizationID, "err", err)
		}
		if accounts == nil || event == webhooks.EventTest {
			return
		}
		// And by e-mail to the organisation's owners and admins, off the
		// caller's path: an SMTP server may take seconds.
		subject, text := eventMail(cfg.PortalName, cfg.Issuer, event, data)
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := accounts.MailManagers(ctx, organizationID, subject, text); err != nil {
				logger.Warn("notifications: mailing an event failed", "event", event, "organization", organizationID, "err", err)
			}
		}()
	}
	// A quota's 80 % mark and its end go to the organisation's webhooks.
	onQuota := func(ev gateway.QuotaEvent) {
		if org := organizationOfClient(ctx, p.Store, ev.ClientID); org != "" {
			event := webhooks.EventQuotaWarning
			if ev.Percent == 100 {
				event = webhooks.EventQuotaExhausted
			}
			notify(ctx, org, event, ev)
		}
	}
	gw := gateway.New(gateway.Config{
		APIs:              p.Store,
		Tokens:            Bearer{OAuth: as},
		Render:            render,
		Sandbox:           sandbox.Handler(),
		UpstreamTimeout:   cfg.UpstreamTimeout,
		BreakerFailures:   cfg.BreakerFailures,
		BreakerOpenFor:    cfg.BreakerOpenFor,
		BreakerMaxPause:   cfg.BreakerMaxPause,
		Access:            p.Store,
		SandboxPlan:       plans.Sandbox,
		Limiter:           limiter,
		LimiterFailClosed: cfg.LimiterFailClosed,
		LimiterTimeout:    cfg.LimiterTimeout,
		LimiterNodes:      cfg.LimiterNodes,
		StoreHealth:       p.Health,
		PortalURL:         cfg.Issuer,
		Usage:             rec,
		Calls:             calls,
		OnQuota:           onQuota,
		Registerer:        registry,
		Secret:            cfg.Secret,
		Logger:            logger,
		Now:               p.Now,
	})
	if err := gw.Run(ctx); err != nil {
		return nil, fmt.Errorf("loading APIs: %w", err)
	}
	as.SetKnownScopes(func(s string) bool { return slices.Contains(oauth.PlatformScopes, s) || gw.KnownScope(s) })
	p.APIs.OnChange = func() {
		if err := gw.Reload(ctx); err != nil {
			logger.Warn("reloading APIs failed", "err", err)
		}
	}
	p.Plans.OnChange = gw.InvalidateAccess
	trusted, err := cfg.TrustedProxyPrefixes() // validated when loaded
	if err != nil {
		return nil, err
	}
	statusPage := &status.Manager{Store: p.Store, Health: gw.Health, Now: p.Now,
		APIExists: func(ctx context.Context, name string) (bool, error) {
			_, err := p.Store.GetAPI(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		}}
	p.APIs.OnDeprecated = func(ctx context.Context, name string, l store.APILifecycle) {
		notifyDeprecation(ctx, p.Store, notify, cfg.Issuer, name, l, time.Now())
	}
	p.Plans.OnDecision = func(ctx context.Context, d plans.Decision) {
		o := d.Order
		org := o.OrganizationID
		if org == "" { // an operator's subscription: the client's app says
			org = organizationOfClient(ctx, p.Store, o.ClientID)
		}
		if org == "" {
			return
		}
		event := webhooks.EventSubscriptionRefused
		if d.Approved {
			event = webhooks.EventSubscriptionApproved
		}
		notify(ctx, org, event, map[string]any{"subscription_id": o.SubscriptionID, "api": o.APIName, "plan": o.ToPlan,
			"previous_plan": o.FromPlan, "client_id": o.ClientID, "app_id": o.AppID})
	}
	audit := startAudit(ctx, p.Store, logger).record
	var site http.Handler
	errorsPage := &docs.Handler{Renderer: render}
	if cfg.Portal {
		accounts = &developers.Manager{
			Store: p.Store, Clients: p.Clients, BaseURL: cfg.Issuer, Key: derivedKey(cfg.Secret, "developers"),
			Secret:         cfg.Secret, // seals second factors at rest (internal/seal)
			ApproveSignups: cfg.PortalApproveSignups, Params: p.Users.Params, Logger: logger, Plans: p.Plans, Notify: notify,
			APIScopes: func(ctx context.Context, name string) ([]string, error) {
				a, err := p.Store.GetAPI(ctx, name)
				if err != nil {
					return nil, problem.FromStore(err, "API", name)
				}
				spec, err := gateway.LoadSpec(a.Document)
				if err != nil {
					return nil, problem.Internal(err)
				}
				return spec.Scopes, nil
			},
			SandboxScopes: func(ctx context.Context) ([]string, error) {
				all, err := definedScopes(ctx, p.Store)
				return slices.DeleteFunc(all, func(s string) bool { return s == oauth.ScopeIntrospect }), err
			},
		}
		if cfg.SMTPURL == "" {
			logger.Info("portal: no smtp_url configured: developer sign-ups are verified at once and e-mail is written to the log")
		} else {
			sender, err := mail.Open(cfg.SMTPURL, cfg.MailFrom(), logger)
			if err != nil {
				return nil, fmt.Errorf("smtp_url: %w", err)
			}
			accounts.Mail = func(ctx context.Context, to, subject, text string) error {
				return sender.Send(ctx, mail.Message{To: to, Subject: subject, Text: text})
			}
		}
		pt, err := portal.New(portal.Config{
			APIs: p.Store, Plans: p.Store, Render: render, BaseURL: cfg.Issuer, Logger: logger,
			// The log pages write the calls pending first: a call shows at
			// once, not after the next flush.
			Logs: p.Store, LogRetention: cfg.RequestLogRetention, SyncLogs: calls.Flush,
			Usage: p.Store, SyncUsage: rec.Flush, LiveLimits: gw.LiveLimits, Now: p.Now, Status: statusPage.Status, Webhooks: hooks,
			Audit:      audit,
			Theme:      portal.Theme{Name: cfg.PortalName, LogoFile: cfg.PortalLogo, Accent: cfg.PortalAccent, AccentDark: cfg.PortalAccentDark},
			Developers: accounts,
			Key:        derivedKey(cfg.Secret, "portal"),
			Throttle: &signin.Throttle{Limiter: abuse, AddressRate: cfg.SignInRatePerAddress, Now: time.Now,
				Logger: logger, What: "developer"},
			Try: portal.TryConfig{
				// The gateway behind the public front, as an app's call
				// meets it (correlator, request limits, panics).
				Gateway: limits(gw, cfg.MaxURIBytes, cfg.MaxHeaderBytes, func(*http.Request) errorWriter { return render.API }),
				// It calls for the signed-in developer's sandbox app, with
				// the portal's CSRF check (its defaults with Developers).
				MintToken: as.IssueClientToken,
			},
		})
		if err != nil {
			return nil, err
		}
		site = pt
		// The troubleshooting page marks the entries a signed-in
		// developer's calls met.
		errorsPage.Yours = pt.Yours
	}
	srv := New(Deps{
		OAuth:          as,
		Clients:        p.Clients,
		Gateway:        gw,
		APIs:           p.APIs,
		Plans:          p.Plans,
		Developers:     accounts,
		Status:         statusPage,
		Audit:          audit,
		AuditLog:       p.Store,
		Usage:          p.Store,
		Keys:           p.Keys,
		Store:          p.Store,
		Health:         p.Health,
		Idempotency:    p.Store,
		Secret:         cfg.Secret,
		StoreTimeout:   cfg.StoreTimeout,
		Render:         render,
		Docs:           errorsPage,
		Portal:         site,
		AdminToken:     cfg.AdminToken,
		Registry:       registry,
		Logger:         logger,
		MaxURIBytes:    cfg.MaxURIBytes,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		Profiling:      cfg.Profiling,
		TrustedProxies: trusted,
		// A stalled request body is cut off (408).
		BodyReadTimeout: cfg.BodyReadTimeout,
	})
	return &Platform{Server: srv, Render: render, Usage: rec, RequestLog: calls}, nil
}

// NewHTTPServer returns the http.Server that serves a listener's handler h:
// drain sees its connections (see Drain), errorLog receives net/http's own
// log lines. Serve it on Listener(drain.Listener(l), render).
func NewHTTPServer(h http.Handler, errorLog *log.Logger, drain *Drain) *http.Server {
	return &http.Server{
		Handler:           drain.Handler(h),
		ConnState:         drain.ConnState,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Far above the configured header limit, so that our handler sees
		// and answers oversized URIs (414) and headers (431) itself.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       errorLog,
		// Handlers reach the connection's framing scan through it (see
		// Listener).
		ConnContext: ConnContext,
	}
}

// organizationOfClient returns the organisation of the client's app, ""
// when it has none (or it cannot be read).
func organizationOfClient(ctx context.Context, st store.Store, clientID string) string {
	c, err := st.GetClient(ctx, clientID)
	if err != nil || c.AppID == "" {
		return ""
	}
	a, err := st.GetApp(ctx, c.AppID)
	if err != nil {
		return ""
	}
	return a.OrganizationID
}

// deprecationAudience is how far back a call makes an organisation one to
// tell of its API's deprecation.
const deprecationAudience = 30 * 24 * time.Hour

// notifyDeprecation tells the organisations whose apps called the API in
// the last 30 days (from the usage counts) of its deprecation.
func notifyDeprecation(ctx context.Context, st store.Store, notify func(context.Context, string, string, any), issuer, name string, l store.APILifecycle, now time.Time) {
	rs, err := st.ListUsage(ctx, store.UsageFilter{APIName: name, From: now.Add(-deprecationAudience)})
	if err != nil {
		return
	}
	data := map[string]any{"api": name, "deprecated_at": l.DeprecatedAt.UTC(), "portal_url": issuer + "/portal/apis/" + name}
	if !l.SunsetAt.IsZero() {
		data["sunset_at"] = l.SunsetAt.UTC()
	}
	if l.Successor != "" {
		data["successor"] = l.Successor
	}
	told := map[string]bool{}
	seen := map[string]bool{}
	for _, r := range rs {
		if r.ClientID == "" || seen[r.ClientID] {
			continue
		}
		seen[r.ClientID] = true
		if org := organizationOfClient(ctx, st, r.ClientID); org != "" && !told[org] {
			told[org] = true
			notify(ctx, org, webhooks.EventAPIDeprecated, data)
		}
	}
}

// eventMail is the e-mail of an event to an organisation's managers.
func eventMail(portal, issuer, event string, data any) (subject, text string) {
	var d map[string]any
	if b, err := json.Marshal(data); err == nil {
		_ = json.Unmarshal(b, &d)
	}
	str := func(k string) string { v, _ := d[k].(string); return v }
	switch event {
	case webhooks.EventSubscriptionApproved:
		subject = fmt.Sprintf("Subscription approved: %s on the %s plan", str("api"), str("plan"))
	case webhooks.EventSubscriptionRefused:
		subject = fmt.Sprintf("Subscription refused: %s on the %s plan", str("api"), str("plan"))
	case webhooks.EventSecretRotated:
		subject = fmt.Sprintf("A secret was rotated: %s (%s)", str("app"), str("environment"))
	case webhooks.EventQuotaWarning:
		subject = fmt.Sprintf("80 %% of your %s quota on %s is used", str("period"), str("api"))
	case webhooks.EventQuotaExhausted:
		subject = fmt.Sprintf("Your %s quota on %s is used up", str("period"), str("api"))
	case webhooks.EventAPIDeprecated:
		subject = fmt.Sprintf("%s is deprecated", str("api"))
	default:
		subject = event
	}
	keys := slices.Sorted(maps.Keys(d))
	var b strings.Builder
	fmt.Fprintf(&b, "%s.\n\n", subject)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %v\n", k, d[k])
	}
	fmt.Fprintf(&b, "\nYour usage, limits and webhooks: %s/portal/usage and %s/portal/org/webhooks\n", issuer, issuer)
	return portal + ": " + subject, b.String()
}
