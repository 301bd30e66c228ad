package gateway

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// realm is the RFC 6750 realm of the gateway's challenges.
const realm = `Bearer realm="gatehouse"`

// Front returns a handler that serves API paths itself and hands every
// other request to platform. API base paths never overlap the platform's
// routes (they are refused at import), so the API traffic skips the
// platform's ServeMux and its matching work. Requests that reach platform's
// catch-all should go to ServeHTTP, which answers unknown API versions and
// unknown paths.
func (g *Gateway) Front(platform http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api, rel := g.table.Load().match(r.URL.Path)
		if api == nil {
			platform.ServeHTTP(w, r)
			return
		}
		// The route label of metrics, as a ServeMux would set it.
		r.Pattern = api.pattern
		g.serveAPI(w, r, api, rel)
	})
}

// ServeHTTP runs the pipeline for one API request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := g.table.Load()
	api, rel := t.match(r.URL.Path)
	if api == nil {
		if other := t.otherVersion(r.URL.Path); other != nil {
			g.render.APIAs(w, r, problem.Newf(problem.NotFoundAPIVersionUnknown,
				"%s is not served at this version; it is served at %s.", other.rec.Name, other.basePath), other.rec.ErrorMediaType)
			return
		}
		if g.cfg.NotFound != nil {
			g.cfg.NotFound.ServeHTTP(w, r)
			return
		}
		g.fail(w, r, problem.Newf(problem.NotFoundUnknownPath, "No API is served at %s.", r.URL.Path))
		return
	}
	g.serveAPI(w, r, api, rel)
}

// serveAPI runs the pipeline for a request to api and records its usage.
func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request, api *compiledAPI, rel string) {
	start := time.Now()
	if api.lifecycle != nil {
		setLifecycle(w.Header(), api)
	}
	var call callInfo
	p := g.serve(w, r, api, rel, &call)
	status := 0
	errKey := ""
	if p != nil {
		g.render.APICall(w, r, p, api.rec.ErrorMediaType)
		status, errKey = p.Status(), p.Entry.Key+"/"+p.CauseID
	} else if sr, ok := w.(interface{ Status() int }); ok {
		status = sr.Status()
	}
	if call.stage == store.StageUpstream && api.rec.Status != store.APIMaintenance {
		api.health.record(g.cfg.Now(), status >= 500)
	}
	if g.cfg.Usage != nil {
		g.cfg.Usage.Record(call.caller.ClientID, api.rec.Name, status, errKey, time.Since(start))
	}
	if g.cfg.Calls != nil {
		g.recordCall(r, api, &call, start, status, p)
	}
}

func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, p *problem.Error) {
	g.render.API(w, r, p)
}

// bodyBuffers recycles request body buffers.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// serve is the pipeline after the API is known. It returns the failure to
// render, or nil once a response was written.
// call receives what the request log keeps (calls.go): the stage
// reached, the operation, the caller once the token is verified, the plan
// and the upstream's answer.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, api *compiledAPI, rel string, call *callInfo) *problem.Error {
	// 1. The path as routed and the query as validated are what the
	// upstream receives (issue 9). Only API paths are checked: the
	// platform's endpoints answer in their own format (OAuth's under
	// /oauth2/), and a path no API serves is a 404 whatever it holds.
	if p := checkPath(r.URL); p != nil {
		return p
	}
	if r.URL.RawQuery != "" {
		if p := checkQuery(r.URL.RawQuery); p != nil {
			return p
		}
	}

	// 2. Route.
	call.stage = store.StageRoute
	n := api.root.lookup(rel)
	if n == nil {
		return problem.Newf(problem.NotFoundUnknownPath, "%s serves no path %s; see its API reference.", api.rec.Name, rel)
	}
	op := n.ops[r.Method]
	if op == nil && r.Method == http.MethodHead {
		op = n.ops[http.MethodGet] // HEAD is GET without the body (RFC 9110 §9.3.2)
	}
	if op == nil {
		return problem.Newf(problem.MethodNotAllowedMethodNotSupported,
			"%s is not allowed on %s; allowed: %s.", r.Method, r.URL.Path, n.allow).WithHeader("Allow", n.allow)
	}

	// 3. Content negotiation and declared size.
	call.op, call.stage = op, store.StageContent
	if !acceptable(r.Header.Values("Accept"), op.produces) {
		return problem.Newf(problem.NotAcceptableAcceptUnsatisfiable,
			"This operation answers %s; the Accept header (%s) excludes it.", strings.Join(op.produces, ", "), r.Header.Get("Accept"))
	}
	hasBody := r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
	if hasBody {
		if p := checkContentType(r.Header.Get("Content-Type"), op); p != nil {
			return p
		}
	}
	if r.ContentLength > api.maxBody {
		return problem.Newf(problem.PayloadTooLargeDeclaredTooLarge,
			"The body is %d bytes; %s accepts at most %d.", r.ContentLength, api.rec.Name, api.maxBody)
	}

	// 4–5. Token and scope.
	var caller Caller
	if op.security != nil {
		var p *problem.Error
		call.stage = store.StageToken
		if caller, p = g.authenticate(r); p != nil {
			return p
		}
		call.caller, call.stage = caller, store.StageScope
		if p := checkScope(op, &caller); p != nil {
			return p
		}
		call.stage = store.StageEnvironment
		if p := checkEnvironment(api, &caller); p != nil {
			return p
		}
		// 5–6. Subscription, then the plan's rate and quota.
		if g.cfg.Access != nil {
			call.stage = store.StageSubscription
			a, p := g.accessFor(r.Context(), api, caller.ClientID)
			if p != nil {
				return p
			}
			if a.refusal != nil {
				return a.refusal
			}
			call.plan, call.stage = a.plan, store.StageRate
			if p := g.enforcePlan(r.Context(), w, api, a); p != nil {
				return p
			}
		}
	}

	// 7. Validation: read the body (never more than the limit), then
	// parameters, schema and the identifier rules.
	call.stage = store.StageValidation
	var body []byte
	if hasBody {
		buf := bodyBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		defer bodyBuffers.Put(buf)
		n, err := buf.ReadFrom(io.LimitReader(r.Body, api.maxBody+1))
		if n > api.maxBody {
			return problem.Newf(problem.PayloadTooLargeBodyTooLarge,
				"The body grew past %d bytes, the most %s accepts.", api.maxBody, api.rec.Name)
		}
		if err != nil {
			if p := problem.BodyTimeout(err); p != nil {
				return p
			}
			return problem.New(problem.BadRequestMalformedBody, "The request body could not be read completely.").Wrap(err)
		}
		body = buf.Bytes()
	}
	if p := validate(r, api, op, rel, body, &caller); p != nil {
		return p
	}

	// 8. Upstream.
	call.stage = store.StageUpstream
	if api.rec.Status == "maintenance" {
		return problem.Newf(problem.UnavailableMaintenance, "%s is in maintenance; retry later.", api.rec.Name).
			WithRetryAfter(maintenanceRetryAfter)
	}
	call.upstreamStart = time.Now()
	return api.upstream.forward(w, r, rel, body, &caller, api.rec.Upstream.AllowUnderscoreHeaders)
}

// maintenanceRetryAfter is the Retry-After of an API in maintenance.
const maintenanceRetryAfter = 60 * time.Second

// authenticate extracts and verifies the bearer token (RFC 6750 §2.1). The
// token must come in the Authorization header: query and form tokens are
// not accepted (RFC 6750 §2.3, RFC 9700 §4.3.2), and sending one besides the header is two
// credentials at once.
func (g *Gateway) authenticate(r *http.Request) (Caller, *problem.Error) {
	h := r.Header.Values("Authorization")
	inQuery := r.URL.RawQuery != "" && r.URL.Query().Has("access_token")
	switch {
	case len(h) > 1 || (len(h) == 1 && inQuery):
		return Caller{}, problem.New(problem.InvalidRequestMultipleCredentials,
			"The request carries more than one access token; send exactly one, in the Authorization header.").
			WithHeader("WWW-Authenticate", realm+`, error="invalid_request"`)
	case len(h) == 0:
		detail := "Send the access token as `Authorization: Bearer <token>`; get one from the token endpoint."
		if inQuery {
			detail = "Access tokens in the query string are not accepted (RFC 9700 §4.3.2); send `Authorization: Bearer <token>`."
		}
		return Caller{}, problem.New(problem.UnauthenticatedMissingToken, detail).WithHeader("WWW-Authenticate", realm)
	}
	scheme, raw, _ := strings.Cut(h[0], " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme is no authentication at all as far as RFC 6750
		// §3.1 goes: a bare challenge, no error code.
		return Caller{}, problem.Newf(problem.UnauthenticatedMissingToken,
			"The gateway accepts only Bearer access tokens; the request used %s. Send `Authorization: Bearer <token>`.",
			printableScheme(scheme)).WithHeader("WWW-Authenticate", realm)
	}
	if raw == "" {
		return Caller{}, problem.New(problem.InvalidTokenMalformed,
			"The Authorization header must be `Bearer <token>`.").
			WithHeader("WWW-Authenticate", realm+`, error="invalid_token", error_description="The Authorization header must use the Bearer scheme"`)
	}
	caller, p := g.cfg.Tokens.VerifyBearer(raw)
	if p != nil {
		return Caller{}, p.WithHeader("WWW-Authenticate",
			realm+`, error="invalid_token", error_description="`+problem.OAuthSafe(p.Message())+`"`)
	}
	return caller, nil
}

// printableScheme keeps a client-chosen scheme name short and printable.
func printableScheme(s string) string {
	if len(s) > 20 {
		s = s[:20]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// checkScope requires every scope of at least one of the operation's
// security alternatives.
func checkScope(op *operation, caller *Caller) *problem.Error {
	for _, alt := range op.security {
		ok := true
		for _, sc := range alt {
			if !slices.Contains(caller.Scopes, sc) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return problem.Newf(problem.InsufficientScopeScopeMissing,
		"This operation needs the scope %q; the token has %q.", op.scopeHint, strings.Join(caller.Scopes, " ")).
		With("scope", op.scopeHint).
		WithHeader("WWW-Authenticate", realm+`, error="insufficient_scope", scope="`+op.scopeHint+`"`)
}

// checkContentType answers 415 for a body whose media type the operation
// does not take.
func checkContentType(ct string, op *operation) *problem.Error {
	if len(op.consumes) == 0 {
		return problem.Newf(problem.UnsupportedMediaTypeContentTypeUnsupported,
			"%s %s takes no request body.", op.method, op.template)
	}
	if ct == "" {
		return problem.Newf(problem.UnsupportedMediaTypeContentTypeMissing,
			"The request has a body but no Content-Type; send %s.", strings.Join(op.consumes, " or "))
	}
	var mt string
	var err error
	if strings.IndexByte(ct, ';') < 0 {
		// No parameters: the common case, without ParseMediaType's map.
		// A malformed type cannot equal one of the document's.
		mt = strings.ToLower(strings.TrimSpace(ct))
	} else {
		mt, _, err = mime.ParseMediaType(ct)
	}
	if err != nil || !slices.Contains(op.consumes, mt) {
		return problem.Newf(problem.UnsupportedMediaTypeContentTypeUnsupported,
			"Content-Type %s is not accepted here; send %s.", ct, strings.Join(op.consumes, " or "))
	}
	return nil
}

// acceptable reports whether the Accept header values allow one of the
// produced media types (RFC 9110 §12.5.1). No Accept header accepts all.
func acceptable(accept []string, produces []string) bool {
	if len(accept) == 0 {
		return true
	}
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			rng, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			rng = strings.ToLower(strings.TrimSpace(rng))
			if qZero(params) {
				continue
			}
			for _, mt := range produces {
				if rng == "*/*" || rng == mt {
					return true
				}
				if typ, ok := strings.CutSuffix(rng, "/*"); ok && strings.HasPrefix(mt, typ+"/") {
					return true
				}
			}
		}
	}
	return false
}

func qZero(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}
