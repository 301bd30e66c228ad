// Package server builds gatehouse's parts (platform.go: OpenParts, Build)
// and wires them into the two HTTP listeners: the public one (OAuth/OIDC,
// gateway, portal, docs) and the admin one (admin API, metrics, health).
// routes.go shows the whole surface.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"gatehouse/internal/status"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/developers"
	"gatehouse/internal/gateway"
	"gatehouse/internal/health"
	"gatehouse/internal/keys"
	"gatehouse/internal/oauth"
	"gatehouse/internal/plans"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// UsageLister lists recorded call counts.
type UsageLister interface {
	ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error)
}

// Pinger reports whether the store is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the parts the server is built from.
type Deps struct {
	OAuth   *oauth.Server
	Clients *oauth.ClientManager
	// Gateway serves every path no platform route claims.
	Gateway *gateway.Gateway
	APIs    *gateway.APIManager
	Plans   *plans.Manager
	// Developers runs the portal's accounts; nil when the portal is off.
	Developers *developers.Manager
	// Status keeps the incidents of the public status page.
	Status *status.Manager
	// Usage lists recorded call counts.
	Usage UsageLister
	Keys  *keys.Manager
	Store Pinger
	// Health holds what real calls showed about the store (and other
	// dependencies); /readyz reports its failing conditions. Nil means
	// only the ping counts.
	Health *health.Tracker
	// Idempotency stores the Idempotency-Key records of admin POSTs. Nil
	// means the header is ignored.
	Idempotency store.Idempotency
	// Secret is the system secret; it seals the stored responses of admin
	// POSTs sent with an Idempotency-Key.
	Secret string
	// StoreTimeout is the store's time limit per call; an Idempotency-Key
	// left in progress ten times that (at least 5 s) counts as abandoned.
	StoreTimeout time.Duration
	Render       *problem.Renderer
	// Docs serves /docs/errors and /docs/errors.json.
	Docs http.Handler
	// Portal serves the developer portal: "/" exactly, and portal.Paths.
	// Nil leaves them to the gateway's 404.
	Portal http.Handler
	// AdminToken guards the admin API.
	AdminToken string
	// Audit records every admin action but reads; nil records none.
	// AuditLog is what GET /admin/audit reads.
	Audit    func(ctx context.Context, e store.AuditEntry)
	AuditLog store.AuditLog
	// Registry receives metrics. Nil means a new registry.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// MaxURIBytes and MaxHeaderBytes are the request limits.
	MaxURIBytes    int
	MaxHeaderBytes int
	// BodyReadTimeout bounds the time a public request's body may take to
	// arrive (408 beyond); 0 means no limit.
	BodyReadTimeout time.Duration
	// Profiling mounts net/http/pprof on the admin listener.
	Profiling bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client of a public request (see trustProxies).
	TrustedProxies []netip.Prefix
}

// Server holds the two handlers.
type Server struct {
	deps    Deps
	metrics *metrics
	// adminRoutes are the admin API's patterns, as Admin registered them
	// (its OpenAPI document is tested against them).
	adminRoutes []string
}

// New builds the server.
func New(d Deps) *Server {
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Server{deps: d, metrics: newMetrics(d.Registry)}
}

// channel picks the error format of a public request by where it landed.
func (s *Server) channel(r *http.Request) errorWriter {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/oauth2/"):
		return s.deps.Render.OAuth
	case strings.HasPrefix(p, "/admin/"):
		return s.deps.Render.Admin
	}
	return s.deps.Render.API
}

// notFoundOrMethod answers requests no route matched: 405 with Allow when
// the path exists for other methods, 404 otherwise.
func notFoundOrMethod(mux *http.ServeMux, channel func(*http.Request) errorWriter) http.Handler {
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			channel(r)(w, r, problem.Newf(problem.MethodNotAllowedMethodNotSupported,
				"%s is not allowed on %s; allowed: %s.", r.Method, r.URL.Path, strings.Join(allow, ", ")).
				WithHeader("Allow", strings.Join(allow, ", ")))
			return
		}
		channel(r)(w, r, problem.Newf(problem.NotFoundUnknownPath, "Nothing is served at %s.", r.URL.Path))
	})
}

// Bearer adapts the authorization server's token verification to what the
// gateway needs, so neither package imports the other.
type Bearer struct{ OAuth *oauth.Server }

// VerifyBearer implements gateway.TokenVerifier.
func (b Bearer) VerifyBearer(raw string) (gateway.Caller, *problem.Error) {
	c, p := b.OAuth.VerifyAccessToken(raw)
	if p != nil {
		return gateway.Caller{}, p
	}
	g := gateway.Caller{ClientID: c.ClientID, Subject: c.Subject, Scopes: c.Scopes(),
		Environment: b.OAuth.ClientEnvironment(c.ClientID)}
	if u, ok := b.OAuth.UserOf(c); ok {
		g.Line = u.Line
	}
	return g, nil
}

var _ gateway.TokenVerifier = Bearer{}

// ReservedPaths are the public path prefixes the platform serves itself;
// no API may be mounted over them.
var ReservedPaths = []string{"/oauth2", "/.well-known", "/docs", "/admin", "/portal", "/static", "/llms.txt", "/healthz", "/readyz", "/metrics", "/status"}

// requireAdmin guards the admin API with the admin token (Bearer), compared
// in constant time.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.deps.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if got == "" {
			s.deps.Render.Admin(w, r, problem.New(problem.UnauthenticatedMissingAdminToken,
				"The admin API needs `Authorization: Bearer <admin token>` (the token is in <data_dir>/admin-token unless GATEHOUSE_ADMIN_TOKEN is set).").
				WithHeader("WWW-Authenticate", `Bearer realm="gatehouse-admin"`))
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			s.deps.Render.Admin(w, r, problem.New(problem.UnauthenticatedInvalidAdminToken, "").
				WithHeader("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="invalid_token"`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// alive answers /healthz: the process is up.
func alive() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}

// ready answers /readyz: the store answers a ping within a second, and
// no condition the platform's real calls reported is failing (the
// database unreachable or timing out, writes refused for space or by a
// read-only database). The first failing condition is the cause; the detail
// lists them all. Degraded limits are reported too (limitsDegraded).
func (s *Server) ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		pingErr := s.deps.Store.Ping(ctx)
		problems := s.deps.Health.Problems()
		switch {
		case len(problems) > 0:
			names := make([]string, len(problems))
			for i, p := range problems {
				names[i] = fmt.Sprintf("%s (%s since %s)", p.Name, p.Cause, p.Since.UTC().Format(time.RFC3339))
			}
			// The health conditions are named by the unavailable entry's
			// causes (store_unavailable, storage_full, storage_read_only).
			reason, ok := problem.ReasonFor("unavailable", problems[0].Cause)
			if !ok {
				reason = problem.UnavailableStoreUnavailable
			}
			s.deps.Render.Admin(w, r, problem.Newf(reason, "Not ready: %s.", strings.Join(names, ", ")).
				Wrap(errors.Join(pingErr, problems[0].Err)).WithRetryAfter(problem.StoreRetryAfter))
			return
		case pingErr != nil:
			s.deps.Render.Admin(w, r, problem.New(problem.UnavailableStoreUnavailable, "The database does not answer.").
				Wrap(pingErr).WithRetryAfter(problem.StoreRetryAfter))
			return
		}
		if s.limitsDegraded(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
}
