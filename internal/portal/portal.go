// Package portal is the developer portal on the public listener: the pages a
// developer uses to discover the APIs, read their reference, compare plans
// and (in later parts) sign up, get credentials, try and buy.
//
// Pages are rendered on the server with html/template from the same records
// the gateway serves (the API documents, the plans, the error registry): the
// portal reads them through the store, never a copy. Every page works
// without JavaScript; assets are embedded, served same-origin under
// content-hashed names with long caching and gzip variants, under a strict
// Content-Security-Policy (no inline script, no third-party origin).
//
// Routes (see Handler): / (landing), /portal/apis (catalog),
// /portal/apis/{name} (an API's page), /portal/apis/{name}.md and
// /portal/apis/{name}/openapi (the same as Markdown and the raw document),
// /portal/apis/{name}/sandbox-rules.json (the sandbox's rules table),
// /portal/apis/{name}/try/{operationId} (the try-it console, try.go),
// /portal/plans (plan comparison), /llms.txt, /static/… (assets); with
// accounts, the account pages, and /portal/logs and
// /portal/logs/{correlator} (the request log and a call's diagnosis,
// logs.go).
package portal

import (
	"bytes"
	"context"
	"gatehouse/internal/status"
	"gatehouse/internal/webhooks"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
	"gatehouse/internal/webpage"
)

// Config is what the portal reads.
type Config struct {
	// APIs and Plans are the store's records (read only).
	APIs  store.APIs
	Plans store.Plans
	// Render reports errors (one log policy) and links the registry.
	Render *problem.Renderer
	// BaseURL is the public base URL (the issuer), used in code samples.
	BaseURL string
	// Theme brands the pages.
	Theme Theme
	// Try is the try-it console's (try.go); its zero value turns it off.
	Try TryConfig
	// Logs is the request log (logs.go); nil, or no Developers, turns
	// the Logs pages off. LogRetention is how long it keeps calls, for
	// the pages' words.
	Logs         LogReader
	LogRetention time.Duration
	// SyncLogs, when set, is called before the Logs pages read the log,
	// so that every call made until then shows (the request log's
	// Flush); a failure is logged and the page shows what is written.
	SyncLogs func(ctx context.Context) error
	// Usage is the usage store (usage.go); nil, or no Developers, turns
	// the Usage page off. SyncUsage, when set, writes the counts pending
	// before the page reads them. LiveLimits reads a subscription's
	// budget now; nil leaves the page's live limits out.
	Usage      UsageReader
	SyncUsage  func(ctx context.Context) error
	LiveLimits LiveLimitsFunc
	// Status assembles the public status page (/status); nil turns it
	// off.
	Status func(ctx context.Context) (*status.Page, error)
	// Webhooks keeps the organisations' webhooks; nil turns their page
	// off.
	Webhooks *webhooks.Manager
	// Audit records every form a developer (or a visitor: sign-up,
	// sign-in) sends; nil records none.
	Audit func(ctx context.Context, e store.AuditEntry)
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	// Developers runs the accounts; nil serves the discovery pages only
	// (no sign-up, sign-in or apps).
	Developers *developers.Manager
	// Key signs the portal's cookies and forms (derived from the
	// platform secret).
	Key []byte
	// Throttle limits sign-in attempts (the one the authorization pages
	// use, under keys of its own).
	Throttle *signin.Throttle
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Portal serves the portal's pages.
type Portal struct {
	cfg    Config
	assets *assets
	pages  map[string]*template.Template
	md     *markdown
	mux    *http.ServeMux

	mu         sync.Mutex
	refs       map[string]cachedRef       // by API name
	changelogs map[string]cachedChangelog // by API name
}

type cachedRef struct {
	updated time.Time
	ref     *reference
	err     error
}

// New builds the portal. It fails only on a theme it cannot use (a logo
// file of an unknown type).
func New(cfg Config) (*Portal, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	a, err := newAssets(cfg.Theme)
	if err != nil {
		return nil, err
	}
	p := &Portal{cfg: cfg, assets: a, md: newMarkdown(), refs: map[string]cachedRef{}}
	p.pages = parsePages(a)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.landing)
	mux.HandleFunc("GET /portal/{$}", p.landing)
	mux.HandleFunc("GET /portal", p.landing)
	mux.HandleFunc("GET /portal/apis", p.catalog)
	mux.HandleFunc("GET /portal/apis/{name}", p.apiPage)
	mux.HandleFunc("GET /portal/apis/{name}/openapi", p.apiDocument)
	mux.HandleFunc("GET /portal/apis/{name}/sandbox-rules.json", p.sandboxRules)
	if p.tryOn() {
		mux.HandleFunc("GET /portal/apis/{name}/try/{op}", p.tryForm)
		mux.HandleFunc("POST /portal/apis/{name}/try/{op}", p.tryRun)
	}
	mux.HandleFunc("GET /portal/plans", p.plansPage)
	mux.HandleFunc("GET /llms.txt", p.llmsTxt)
	mux.HandleFunc("GET /static/", p.static)
	if cfg.Developers != nil {
		p.accountRoutes(mux)
	}
	if p.logsOn() {
		p.logRoutes(mux)
	}
	if p.usageOn() {
		p.usageRoutes(mux)
	}
	if cfg.Webhooks != nil && cfg.Developers != nil {
		p.webhookRoutes(mux)
	}
	if cfg.Status != nil {
		mux.HandleFunc("GET /status", p.statusPage)
		mux.HandleFunc("GET /status.json", p.statusJSON)
	}
	p.mux = mux
	return p, nil
}

// Paths are the paths the portal answers; the public listener routes them
// here. "/" is the landing page only (the exact path).
var Paths = []string{"/portal", "/portal/", "/static/", "/llms.txt", "/status", "/status.json"}

// ServeHTTP answers the portal's paths, and every other path under
// /portal/ with an HTML 404 (or 405) built from the registry.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	webpage.SecurityHeaders(w.Header())
	r = p.identify(r)
	_, pattern := p.mux.Handler(r)
	if pattern == "" {
		p.notFoundOrMethod(w, r)
		return
	}
	if p.cfg.Audit == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		p.mux.ServeHTTP(w, r) // sets the path values Handler does not
		return
	}
	sw := &webpage.StatusWriter{ResponseWriter: w}
	p.mux.ServeHTTP(sw, r)
	e := store.AuditEntry{At: p.cfg.now(), ActorKind: store.ActorDeveloper, Action: pattern, Target: r.URL.Path,
		Address: r.RemoteAddr, Status: sw.Status(), Correlator: problem.Correlator(r.Context())}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.Address = host
	}
	if v := viewerOf(r.Context()); v != nil && v.Developer != nil {
		e.ActorID = v.Developer.ID
	}
	p.cfg.Audit(r.Context(), e)
}

func (p *Portal) notFoundOrMethod(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
		if _, pattern := p.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		if slices.Contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		p.fail(w, r, problem.Newf(problem.MethodNotAllowedMethodNotSupported,
			"%s is not served at %s; use %s.", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return
	}
	p.fail(w, r, problem.Newf(problem.NotFoundUnknownPath, "There is no portal page at %s.", r.URL.Path))
}

func (p *Portal) static(w http.ResponseWriter, r *http.Request) {
	if !p.assets.serve(w, r) {
		p.fail(w, r, problem.Newf(problem.NotFoundUnknownPath, "There is no portal asset at %s; asset names change with their content, so reload the page that linked it.", r.URL.Path))
	}
}

// errorView is the registry error an HTML page shows.
type errorView struct {
	Status     int
	Title      string
	Cause      string
	Detail     string
	Fix        string
	DocURL     string
	Key        string
	CauseID    string
	Correlator string
}

// fail answers with the registry error as a portal page, and reports it
// under the registry's log policy like every other channel.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, err error) {
	pe := problem.From(err)
	pe.SetHeaders(w.Header())
	p.render(w, r, pe.Status(), "error", page{Title: pe.Entry.Title, Data: p.errorView(r, pe)})
	p.cfg.Render.Report(r, pe)
}

// errorView is what a page shows of pe: the error page, or a form that
// shows a registry error beside itself (the sign-in code step).
func (p *Portal) errorView(r *http.Request, pe *problem.Error) errorView {
	v := errorView{
		Status: pe.Status(), Title: pe.Entry.Title, Detail: pe.Detail, Fix: pe.Entry.Fix,
		DocURL: p.cfg.Render.DocURL(pe.Entry), Key: pe.Entry.Key, CauseID: pe.CauseID, Correlator: problem.Correlator(r.Context()),
	}
	if c, ok := pe.Entry.Cause(pe.CauseID); ok {
		v.Cause = c.Text
	}
	if pe.Status() >= 500 {
		v.Detail = "" // the log has it; the page must not leak internals
	}
	return v
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string // the active section: apis, plans, docs, apps, account
	Theme Theme
	Data  any
	// Developer is who is signed in (nil when nobody); CSRF is the
	// anti-forgery token of the page's forms.
	Developer *store.Developer
	CSRF      string
	// Accounts tells whether sign-up and sign-in are offered; Logs
	// whether the request log is (its link and the correlator box).
	Accounts bool
	Logs     bool
	Usage    bool
}

// render writes a page, gzip-compressed when the client accepts it.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, pg page) {
	pg.Theme = p.cfg.Theme
	pg.Accounts = p.cfg.Developers != nil
	pg.Logs = p.logsOn()
	pg.Usage = p.usageOn()
	if v := viewerOf(r.Context()); v != nil && pg.Accounts {
		pg.Developer = v.Developer
		pg.CSRF = p.csrfToken(w, r)
	}
	var buf bytes.Buffer
	if err := p.pages[name].ExecuteTemplate(&buf, "layout", pg); err != nil {
		p.cfg.Logger.Error("portal: rendering a page failed", "page", name, "err", err)
		if name != "error" {
			p.fail(w, r, problem.Internal(err))
		} else {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Cache-Control") == "" { // a page with a secret set no-store
		h.Set("Cache-Control", "no-cache")
	}
	webpage.Write(w, r, status, buf.Bytes())
}

// references returns every API's page model, reading documents again only
// for APIs whose record changed.
func (p *Portal) references(ctx context.Context) ([]*reference, error) {
	apis, err := p.cfg.APIs.ListAPIs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*reference, 0, len(apis))
	p.mu.Lock()
	defer p.mu.Unlock()
	live := make(map[string]bool, len(apis))
	for _, a := range apis {
		live[a.Name] = true
		ref, err := p.referenceLocked(a)
		if err != nil {
			p.cfg.Logger.Warn("portal: an API's document cannot be shown", "api", a.Name, "err", err)
			continue
		}
		out = append(out, ref)
	}
	for name := range p.refs {
		if !live[name] {
			delete(p.refs, name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Title < out[j].Title })
	return out, nil
}

// reference returns one API's page model.
func (p *Portal) reference(ctx context.Context, name string) (*reference, error) {
	a, err := p.cfg.APIs.GetAPI(ctx, name)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.referenceLocked(a)
}

func (p *Portal) referenceLocked(a *store.API) (*reference, error) {
	if c, ok := p.refs[a.Name]; ok && c.updated.Equal(a.UpdatedAt) {
		return c.ref, c.err
	}
	ref, err := newReference(a, p.md)
	p.refs[a.Name] = cachedRef{updated: a.UpdatedAt, ref: ref, err: err}
	return ref, err
}
