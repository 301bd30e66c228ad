package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"gatehouse/internal/config"
	"gatehouse/internal/docs"
	"gatehouse/internal/gateway"
	"gatehouse/internal/health"
	"gatehouse/internal/keys"
	"gatehouse/internal/oauth"
	"gatehouse/internal/plans"
	"gatehouse/internal/portal"
	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	redislimit "gatehouse/internal/ratelimit/redis"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/server"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/usage"
)

// platform is what every command opens: configuration, store, keys and
// the managers operators act through.
type platform struct {
	cfg   config.Config
	store *sqlstore.DB
	// health holds what the store's calls showed (readiness, the token
	// endpoint's answer during an outage).
	health  *health.Tracker
	keys    *keys.Manager
	clients *oauth.ClientManager
	apis    *gateway.APIManager
	plans   *plans.Manager
	users   *oauth.UserManager
}

// open loads the configuration named by --config (or GATEHOUSE_CONFIG) and
// opens the store and the signing keys, generating what a first start needs.
func open(ctx context.Context, configPath string, getenv func(string) string) (*platform, error) {
	if configPath == "" {
		configPath = getenv("GATEHOUSE_CONFIG")
	}
	cfg, err := config.Load(configPath, getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.EnsureSecrets(); err != nil {
		return nil, err
	}
	st, err := sqlstore.Open(ctx, cfg.Database())
	if err != nil {
		return nil, fmt.Errorf("opening the database %s: %w", redactURL(cfg.Database()), operatorError(err))
	}
	tracker := health.NewTracker(nil)
	st.Timeout = cfg.StoreTimeout
	st.Observe = tracker.ObserveStore
	km := &keys.Manager{Store: st, Secret: cfg.Secret, Retention: cfg.KeyRetention}
	if err := km.Load(ctx); err != nil {
		st.Close()
		return nil, err
	}
	cm := &oauth.ClientManager{Store: st, SecretGrace: cfg.SecretRotationGrace,
		DefinedScopes: func(ctx context.Context) ([]string, error) { return definedScopes(ctx, st) }}
	am := &gateway.APIManager{Store: st, Reserved: server.ReservedPaths, Secret: cfg.Secret}
	if err := seedSandboxAPIs(ctx, st, am); err != nil {
		st.Close()
		return nil, err
	}
	pm := &plans.Manager{Store: st}
	if err := pm.SeedDefaults(ctx); err != nil {
		st.Close()
		return nil, err
	}
	um := &oauth.UserManager{Store: st}
	return &platform{cfg: cfg, store: st, health: tracker, keys: km, clients: cm, apis: am, plans: pm, users: um}, nil
}

// seedSandboxAPIs mounts the built-in sandbox APIs on a fresh platform, so
// `serve` on defaults has APIs to try at once. It runs only while no API
// was ever written (generation 0): an operator's later deletions stick.
func seedSandboxAPIs(ctx context.Context, st *sqlstore.DB, am *gateway.APIManager) error {
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
func definedScopes(ctx context.Context, st *sqlstore.DB) ([]string, error) {
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

// redactURL hides a password in a database URL for messages.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.LastIndex(s, "@"); at > i {
			if colon := strings.Index(s[i+3:at], ":"); colon >= 0 {
				return s[:i+3+colon] + ":***" + s[at:]
			}
		}
	}
	return s
}

// running is a built platform: its handlers and what must be closed on
// shutdown.
type running struct {
	srv    *server.Server
	render *problem.Renderer
	usage  *usage.Recorder
	limits io.Closer    // the shared limiter's connection, nil in memory
	quotas *quotaKeeper // the in-memory limiter's quota counts, nil with Redis
}

// close writes pending usage and releases the limiter, after the listeners
// stopped. Its error is the usage recorder's: a *usage.LostError when
// counted calls could not be written by the end of ctx.
func (r *running) close(ctx context.Context, logger *slog.Logger) error {
	err := r.usage.Close(ctx)
	if r.quotas != nil {
		if qerr := r.quotas.save(ctx); qerr != nil {
			err = errors.Join(err, fmt.Errorf("saving quota counts: %w", qerr))
		}
	}
	if r.limits != nil {
		if lerr := r.limits.Close(); lerr != nil {
			logger.Warn("closing the limiter's Redis connection failed", "err", lerr)
		}
	}
	return err
}

// build assembles the platform's parts on an opened platform and starts
// their background work (revocation and key refresh, API and subscription
// reloads, usage flushes) until ctx is done. serve and the tests build the
// same way.
func build(ctx context.Context, p *platform, logger *slog.Logger) (*running, error) {
	cfg := p.cfg
	render := &problem.Renderer{DocsURL: cfg.Issuer + "/docs/errors", Logger: logger}
	registry := prometheus.NewRegistry()
	as := oauth.NewServer(oauth.Config{
		Issuer:            cfg.Issuer,
		Store:             p.store,
		StoreHealth:       p.health,
		Keys:              p.keys,
		Render:            render,
		AccessTokenTTL:    cfg.AccessTokenTTL,
		MaxFormBytes:      cfg.MaxFormBytes,
		Secret:            cfg.Secret,
		NetworkLogin:      cfg.NetworkLogin,
		RequirePKCE:       cfg.RequirePKCE,
		AbuseLimiter:      ratelimit.NewMemory(),
		ClientRate:        cfg.TokenRatePerClient,
		AddressRate:       cfg.TokenRatePerAddress,
		SignInAddressRate: cfg.SignInRatePerAddress,
		Logger:            logger,
	})
	if err := as.Run(ctx); err != nil {
		return nil, err
	}
	p.clients.OnChange = as.ForgetClient
	p.users.OnDelete = as.ForgetUser

	var limiter ratelimit.Limiter
	var limits io.Closer
	var quotas *quotaKeeper
	if cfg.RedisURL == "" {
		// One node: its quota counts are kept in the store, so that a
		// restart does not give every subscription its quotas afresh.
		mem := ratelimit.NewMemory()
		quotas = &quotaKeeper{mem: mem, store: p.store, logger: logger, now: time.Now}
		if err := quotas.restore(ctx); err != nil {
			return nil, err
		}
		go quotas.run(ctx, cfg.UsageFlushInterval)
		limiter = mem
	} else {
		redislimit.LogTo(logger)
		// A node starts while Redis is down: the gateway decides calls as
		// during any outage (a local share, or refusals when fail-closed),
		// says so in /readyz, and uses Redis once it answers.
		rl, err := redislimit.Dial(cfg.RedisURL, "gatehouse:", cfg.LimiterTimeout)
		if err != nil {
			return nil, fmt.Errorf("connecting to Redis for rate limits: %w", err)
		}
		limiter, limits = rl, rl
		if cfg.LimiterNodes == 0 {
			go rl.Heartbeat(ctx, 2*time.Second) // for LiveNodes
		}
	}
	rec := usage.New(usage.Config{Store: p.store, Interval: cfg.UsageFlushInterval, MaxBuckets: cfg.UsageMaxBuckets, Logger: logger})
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

	gw := gateway.New(gateway.Config{
		APIs:              p.store,
		Tokens:            server.Bearer{OAuth: as},
		Render:            render,
		Sandbox:           sandbox.Handler(),
		UpstreamTimeout:   cfg.UpstreamTimeout,
		BreakerFailures:   cfg.BreakerFailures,
		BreakerOpenFor:    cfg.BreakerOpenFor,
		BreakerMaxPause:   cfg.BreakerMaxPause,
		Access:            p.store,
		SandboxPlan:       plans.Sandbox,
		Limiter:           limiter,
		LimiterFailClosed: cfg.LimiterFailClosed,
		LimiterTimeout:    cfg.LimiterTimeout,
		LimiterNodes:      cfg.LimiterNodes,
		StoreHealth:       p.health,
		PortalURL:         cfg.Issuer,
		Usage:             rec,
		Registerer:        registry,
		Secret:            cfg.Secret,
		Logger:            logger,
	})
	if err := gw.Run(ctx); err != nil {
		return nil, fmt.Errorf("loading APIs: %w", err)
	}
	as.SetKnownScopes(func(s string) bool { return slices.Contains(oauth.PlatformScopes, s) || gw.KnownScope(s) })
	p.apis.OnChange = func() {
		if err := gw.Reload(ctx); err != nil {
			logger.Warn("reloading APIs failed", "err", err)
		}
	}
	p.plans.OnChange = gw.InvalidateAccess
	trusted, err := cfg.TrustedProxyPrefixes() // validated when loaded
	if err != nil {
		return nil, err
	}
	var site http.Handler
	if cfg.Portal {
		site, err = portal.New(portal.Config{
			APIs: p.store, Plans: p.store, Render: render, BaseURL: cfg.Issuer, Logger: logger,
			Theme: portal.Theme{Name: cfg.PortalName, LogoFile: cfg.PortalLogo, Accent: cfg.PortalAccent, AccentDark: cfg.PortalAccentDark},
		})
		if err != nil {
			return nil, err
		}
	}
	srv := server.New(server.Deps{
		OAuth:          as,
		Clients:        p.clients,
		Gateway:        gw,
		APIs:           p.apis,
		Plans:          p.plans,
		Usage:          p.store,
		Keys:           p.keys,
		Store:          p.store,
		Health:         p.health,
		Idempotency:    p.store,
		Secret:         cfg.Secret,
		StoreTimeout:   cfg.StoreTimeout,
		Render:         render,
		Docs:           &docs.Handler{Renderer: render},
		Portal:         site,
		PortalPaths:    portal.Paths,
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
	return &running{srv: srv, render: render, usage: rec, limits: limits, quotas: quotas}, nil
}

func (c *cli) serveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the platform: the public listener (OAuth, gateway, portal) and the admin listener",
		Long: `Run the platform until SIGINT or SIGTERM, then stop gracefully within shutdown_timeout.

On the embedded defaults the public listener is 127.0.0.1:8080 (issuer http://localhost:8080),
the admin listener 127.0.0.1:8081, and the data lives in ./gatehouse-data (SQLite).`,
		Example: `  gatehouse serve
  gatehouse serve --config /etc/gatehouse.yaml
  GATEHOUSE_DATABASE_URL=postgres://… GATEHOUSE_REDIS_URL=redis://… gatehouse serve`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{msg: fmt.Sprintf("serve takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), c.configPath, c.getenv, c.stdout, c.stderr)
		},
	}
}

func serve(ctx context.Context, configPath string, getenv func(string) string, stdout, stderr io.Writer) error {
	p, err := open(ctx, configPath, getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()
	cfg := p.cfg

	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	runCtx, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	rt, err := build(runCtx, p, logger)
	if err != nil {
		return err
	}
	srv, render := rt.srv, rt.render

	publicLn, err := net.Listen("tcp", cfg.PublicAddr)
	if err != nil {
		return fmt.Errorf("public listener: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		publicLn.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	errorLog := log.New(&slogWriter{logger}, "", 0)
	drain := &server.Drain{Grace: cfg.ShutdownIdleGrace}
	servers := []*http.Server{
		httpServer(srv.Public(), errorLog, drain),
		httpServer(srv.Admin(), errorLog, drain),
	}
	listeners := []net.Listener{publicLn, adminLn}
	failed := make(chan error, len(servers))
	for i, hs := range servers {
		go func() {
			err := hs.Serve(server.Listener(drain.Listener(listeners[i]), render))
			if !errors.Is(err, http.ErrServerClosed) && !drain.Draining() {
				failed <- err
			}
		}()
	}
	logger.Info("gatehouse started", "public", publicLn.Addr().String(), "admin", adminLn.Addr().String(),
		"issuer", cfg.Issuer, "database", redactURL(cfg.Database()))
	fmt.Fprintf(stdout, "gatehouse: serving %s on http://%s (admin on http://%s)\n", cfg.Issuer, publicLn.Addr(), adminLn.Addr())

	select {
	case <-ctx.Done():
	case err = <-failed:
		logger.Error("listener failed", "err", err)
	}
	// Graceful shutdown: stop accepting, answer what is in flight and what
	// keep-alive clients send within the idle grace (with Connection:
	// close), all within shutdown_timeout (see server.Drain); then write
	// the last usage counts within usage_flush_timeout of their own, stop
	// background work and close the store.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if derr := drain.Shutdown(shutdownCtx); derr != nil {
		// What still runs is cut off: its answer is not delivered, so
		// that no call is answered after the last usage flush.
		logger.Warn("shutdown did not finish cleanly: requests still running at shutdown_timeout are cut off", "err", derr)
		for _, hs := range servers {
			_ = hs.Close()
		}
	}
	for _, hs := range servers {
		if serr := hs.Shutdown(shutdownCtx); serr != nil {
			logger.Warn("shutdown did not finish cleanly", "err", serr)
		}
	}
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), cfg.UsageFlushTimeout)
	defer cancelFlush()
	if cerr := rt.close(flushCtx, logger); cerr != nil {
		// Counted calls that never reach the database make the exit
		// status non-zero: an operator or supervisor must see it.
		var lost *usage.LostError
		if errors.As(cerr, &lost) {
			logger.Error("writing the last usage counts failed: counted calls are lost",
				"lost_calls", lost.Calls+lost.Dropped, "unwritten_calls", lost.Calls,
				"unwritten_buckets", lost.Buckets, "dropped_calls", lost.Dropped, "err", lost.Err)
		} else {
			logger.Error("writing the last usage counts failed", "err", cerr)
		}
		err = errors.Join(err, cerr)
	}
	stopBackground()
	logger.Info("gatehouse stopped")
	return err
}

func httpServer(h http.Handler, errorLog *log.Logger, drain *server.Drain) *http.Server {
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
		// server.Listener).
		ConnContext: server.ConnContext,
	}
}

// slogWriter sends net/http's internal log lines to the structured log.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)), "source", "net/http")
	return len(p), nil
}
