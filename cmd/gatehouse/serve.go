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
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/config"
	"gatehouse/internal/health"
	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	redislimit "gatehouse/internal/ratelimit/redis"
	"gatehouse/internal/requestlog"
	"gatehouse/internal/server"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/usage"
)

// platform is what every command opens: the configuration, the store
// and the managers operators act through (server.Parts), over the SQL store.
type platform struct {
	*server.Parts
	// store is Parts.Store as opened: the process closes it.
	store *sqlstore.DB
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
	parts, err := server.OpenParts(ctx, cfg, st, tracker)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &platform{Parts: parts, store: st}, nil
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
	calls  *requestlog.Recorder
	limits io.Closer    // the shared limiter's connection, nil in memory
	quotas *quotaKeeper // the in-memory limiter's quota counts, nil with Redis
}

// close writes pending usage and releases the limiter, after the listeners
// stopped. Its error is the usage recorder's: a *usage.LostError when
// counted calls could not be written by the end of ctx.
func (r *running) close(ctx context.Context, logger *slog.Logger) error {
	err := r.usage.Close(ctx)
	if r.calls != nil {
		// The request log is a diagnosis aid, not a bill: records it
		// could not write are logged, and the exit status stays the
		// usage counts'.
		if cerr := r.calls.Close(ctx); cerr != nil {
			logger.Warn("writing the last request log records failed", "err", cerr)
		}
	}
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

// build chooses the gateway's limiter (in memory, its quota counts kept in
// the store, or shared in Redis), builds the platform on p with it
// (server.Build) and starts the background work until ctx is done. serve
// and the tests build the same way.
func build(ctx context.Context, p *platform, logger *slog.Logger) (*running, error) {
	cfg := p.Config
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
	pl, err := server.Build(ctx, p.Parts, limiter, logger)
	if err != nil {
		if limits != nil {
			_ = limits.Close()
		}
		return nil, err
	}
	return &running{srv: pl.Server, render: pl.Render, usage: pl.Usage, calls: pl.RequestLog, limits: limits, quotas: quotas}, nil
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

// defaultGOGC is the garbage collector's target when GOGC is not set: the
// heap may grow to three times what is live before a collection, instead
// of Go's twice. gatehouse's live heap is small (about 6 MB) and a proxied
// request allocates about 4.5 KB, so at Go's default the collector ran
// every ~1,300 requests and took about 4 % of the CPU per request; at 200
// it takes about 2 %, for some 8 MB more resident memory.
// GOGC and GOMEMLIMIT in the environment still apply as Go documents.
const defaultGOGC = 200

func serve(ctx context.Context, configPath string, getenv func(string) string, stdout, stderr io.Writer) error {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGOGC)
	}
	p, err := open(ctx, configPath, getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()
	cfg := p.Config

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
		server.NewHTTPServer(srv.Public(), errorLog, drain),
		server.NewHTTPServer(srv.Admin(), errorLog, drain),
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

// slogWriter sends net/http's internal log lines to the structured log.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)), "source", "net/http")
	return len(p), nil
}
