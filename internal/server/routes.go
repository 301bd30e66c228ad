package server

import (
	"gatehouse/internal/server/adminapi"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gatehouse/internal/oauth"
	"gatehouse/internal/portal"
	"gatehouse/internal/store"
)

// Public returns the public listener's handler: OAuth/OIDC, the docs and
// the portal; every other path is the gateway's.
func (s *Server) Public() http.Handler {
	o := s.deps.OAuth
	mux := http.NewServeMux()
	mux.Handle("GET "+oauth.PathOIDCDiscovery, o.Discovery(true))
	mux.Handle("GET "+oauth.PathASDiscovery, o.Discovery(false))
	mux.Handle("GET "+oauth.PathJWKS, o.JWKS())
	// The OAuth endpoints take every method so that they answer a wrong
	// one with an OAuth JSON 405 and Allow: POST themselves.
	mux.Handle(oauth.PathToken, o.Token())
	mux.Handle(oauth.PathIntrospect, o.Introspect())
	mux.Handle(oauth.PathRevoke, o.Revoke())
	mux.Handle(oauth.PathBCAuthorize, o.BCAuthorize())
	mux.Handle(oauth.PathUserinfo, o.Userinfo())
	o.AuthorizeRoutes(mux)
	if s.deps.Docs != nil {
		mux.Handle("GET /docs/errors", s.deps.Docs)
		mux.Handle("GET /docs/errors.json", s.deps.Docs)
	}
	if p := s.deps.Portal; p != nil {
		mux.Handle("/{$}", p)
		for _, path := range portal.Paths {
			mux.Handle(path, p)
		}
	}
	// Every other path belongs to the gateway, which answers 404/405 for
	// paths no API serves through the same fallback as the platform's.
	fallback := notFoundOrMethod(mux, s.channel)
	var front http.Handler = mux
	if g := s.deps.Gateway; g != nil {
		g.SetNotFound(fallback)
		mux.Handle("/", g)
		front = g.Front(mux) // API paths skip the platform's routes
	} else {
		mux.Handle("/", fallback)
	}
	return s.wrap("public", trustProxies(bodyDeadline(front, s.deps.BodyReadTimeout), s.deps.TrustedProxies), s.channel)
}

// Admin returns the admin listener's handler: the admin API, metrics and
// health. Keep this listener on loopback or a private network.
func (s *Server) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", alive())
	mux.Handle("GET /readyz", s.ready())
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{}))

	a := &adminAPI{s: s}
	s.adminRoutes = nil
	admin := func(pattern string, h http.HandlerFunc) {
		if strings.HasPrefix(pattern, "POST ") {
			h = a.idempotent(h) // Idempotency-Key (idempotency.go)
		}
		var handler http.Handler = h
		if !strings.HasPrefix(pattern, "GET ") {
			handler = audited(pattern, s.deps.Audit, h)
		}
		mux.Handle(pattern, s.requireAdmin(handler))
		s.adminRoutes = append(s.adminRoutes, pattern)
	}
	admin("GET /admin/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(adminapi.Document)
	})
	admin("GET /admin/clients", a.listClients)
	admin("POST /admin/clients", a.createClient)
	admin("GET /admin/clients/{id}", a.getClient)
	admin("PATCH /admin/clients/{id}", a.updateClient)
	admin("DELETE /admin/clients/{id}", a.deleteClient)
	admin("POST /admin/clients/{id}/rotate-secret", a.rotateSecret)
	admin("GET /admin/apis", a.listAPIs)
	admin("POST /admin/apis", a.importAPI)
	admin("GET /admin/apis/{name}", a.getAPI)
	admin("GET /admin/apis/{name}/document", a.getAPIDocument)
	admin("PATCH /admin/apis/{name}", a.updateAPI)
	admin("DELETE /admin/apis/{name}", a.deleteAPI)
	admin("GET /admin/plans", a.listPlans)
	admin("POST /admin/plans", a.createPlan)
	admin("GET /admin/plans/{name}", a.getPlan)
	admin("PATCH /admin/plans/{name}", a.updatePlan)
	admin("DELETE /admin/plans/{name}", a.deletePlan)
	admin("GET /admin/subscriptions", a.listSubscriptions)
	admin("POST /admin/subscriptions", a.createSubscription)
	admin("GET /admin/subscriptions/{id}", a.getSubscription)
	admin("PATCH /admin/subscriptions/{id}", a.updateSubscription)
	admin("POST /admin/subscriptions/{id}/approve", a.approveSubscription)
	admin("POST /admin/subscriptions/{id}/refuse", a.refuseSubscription)
	admin("DELETE /admin/subscriptions/{id}", a.deleteSubscription)
	admin("GET /admin/developers", a.listDevelopers)
	admin("POST /admin/developers/{id}/approve", a.developerStatus(store.DeveloperActive))
	admin("POST /admin/developers/{id}/reinstate", a.developerStatus(store.DeveloperActive))
	admin("POST /admin/developers/{id}/suspend", a.developerStatus(store.DeveloperSuspended))
	admin("POST /admin/apps/{id}/suspend", a.appStatus(store.ClientSuspended))
	admin("POST /admin/apps/{id}/reinstate", a.appStatus(store.ClientActive))
	admin("GET /admin/orders", a.listOrders)
	admin("GET /admin/usage", a.listUsage)
	admin("GET /admin/keys", a.listKeys)
	admin("GET /admin/incidents", a.listIncidents)
	admin("POST /admin/incidents", a.openIncident)
	admin("PATCH /admin/incidents/{id}", a.updateIncident)
	admin("GET /admin/audit", a.listAudit)
	admin("POST /admin/keys/rotate", a.rotateKeys)
	if s.deps.Profiling {
		// Go's profiles, for measuring the running process (BENCHMARKS.md).
		admin("GET /debug/pprof/", pprof.Index)
		admin("GET /debug/pprof/cmdline", pprof.Cmdline)
		admin("GET /debug/pprof/profile", pprof.Profile)
		admin("GET /debug/pprof/symbol", pprof.Symbol)
		admin("GET /debug/pprof/trace", pprof.Trace)
	}

	channel := func(*http.Request) errorWriter { return s.deps.Render.Admin }
	mux.Handle("/", notFoundOrMethod(mux, channel))
	return s.wrap("admin", mux, channel)
}

// wrap puts the shared front (limits, correlator, panics) and metrics
// around a listener's mux.
func (s *Server) wrap(listener string, mux http.Handler, channel func(*http.Request) errorWriter) http.Handler {
	return limits(s.metrics.instrument(listener, mux), s.deps.MaxURIBytes, s.deps.MaxHeaderBytes, channel)
}
