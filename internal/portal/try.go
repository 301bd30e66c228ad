package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// The try-it console (issue 12 §5): a form per operation at
// /portal/apis/{name}/try/{operationId}, posted to the same path. The
// portal calls the operation through the gateway in-process, with a token
// it mints for the signed-in developer's sandbox app: same origin (no
// CORS), no token in the browser, no JavaScript. The answer shows the
// status, the headers that matter, the body and, for an error, its
// registry entry with the actual cause and the fix; a curl line repeats
// the same call.

// TryConfig is what the try-it console needs. The console is on when
// Gateway and MintToken are set; otherwise the API pages link no try form
// and the try paths are the portal's 404.
type TryConfig struct {
	// Gateway answers the API calls the console makes. It is called
	// in-process with the request a client would send (the API's base
	// path and the operation's path with its parameters escaped, the
	// query, the JSON body, Authorization: Bearer <token>, a fresh
	// x-correlator, a loopback RemoteAddr), so it should be the gateway
	// behind the public listener's front (correlator, request limits),
	// which answers exactly what an app gets.
	Gateway http.Handler
	// MintToken issues the access token a client_credentials grant would
	// issue to clientID for scopes (oauth.Server.IssueClientToken). The
	// token goes to Gateway only: never to the browser.
	MintToken func(ctx context.Context, clientID string, scopes []string) (string, *problem.Error)
	// SandboxClient returns the client_id of the signed-in developer's
	// sandbox app; ok false means nobody is signed in: the form is shown,
	// and posting it asks the developer to sign in. Nil means the portal's
	// own sessions when it runs accounts (Config.Developers: the
	// developer's first sandbox credential, developers.Manager's
	// SandboxClient), else nobody is ever signed in.
	SandboxClient func(r *http.Request) (clientID string, ok bool)
	// CheckCSRF refuses a POST without the form's anti-forgery token,
	// sent in the field named by TryCSRFField; CSRFToken returns the
	// token the form carries. Nil means the portal's own when it runs
	// accounts (Config.Developers), else no check and no token.
	CheckCSRF func(r *http.Request) *problem.Error
	CSRFToken func(w http.ResponseWriter, r *http.Request) string
	// MaxBodyBytes caps the JSON body a developer may send. Zero means
	// 64 KiB.
	MaxBodyBytes int64
}

// TryCSRFField is the form field carrying the anti-forgery token: the
// one every portal form uses (checkCSRF).
const TryCSRFField = "csrf"

// maxShownBytes caps the answer body the console keeps and shows.
const maxShownBytes = 256 << 10

// shownHeaders are the response headers the result lists, in this order,
// when the answer has them.
var shownHeaders = []string{"X-Correlator", "RateLimit-Policy", "RateLimit", "Retry-After", "WWW-Authenticate", "Allow", "Content-Type", "Location"}

func (p *Portal) tryOn() bool { return p.cfg.Try.Gateway != nil && p.cfg.Try.MintToken != nil }

func (p *Portal) maxTryBody() int64 {
	if n := p.cfg.Try.MaxBodyBytes; n > 0 {
		return n
	}
	return 64 << 10
}

// tryable says whether the console may call the API: sandbox APIs always,
// live ones when the operator opened them (try_live), maintenance never.
func tryable(ref *reference) *problem.Error {
	switch ref.Status {
	case store.APISandbox:
		return nil
	case store.APILive:
		if ref.TryLive {
			return nil
		}
		return problem.Newf(problem.PermissionDeniedTryItDisabled,
			"%s is a live API, and its operator has not opened it to try-it; call it from your app instead.", ref.Title)
	}
	return problem.Newf(problem.UnavailableMaintenance, "%s is in maintenance, so try-it does not call it; try again later.", ref.Title)
}

// tryView is the try page.
type tryView struct {
	API     *reference
	Op      *operation
	Action  string // the form's path
	BaseURL string
	Fields  []tryField
	// Scopes are the scopes the operation accepts (any one); Scope is
	// the one the token is asked for.
	Scopes  []string
	Scope   string
	HasBody bool
	Body    string
	// BodyNote says where the body is not JSON: shown beside the field,
	// while the call still goes to the gateway, whose answer counts.
	BodyNote    string
	BodyError   string
	ContentType string
	Presets     []tryPreset
	CSRFField   string
	CSRF        string
	SignedIn    bool
	SignInURL   string
	// NoApp is set when the developer is signed in but has no sandbox
	// credential to call with (the portal's own sessions only).
	NoApp bool
	// Refusal is why the portal did not make the call (sign in, a field,
	// the token); nil when it did or nothing was posted.
	Refusal *tryError
	Result  *tryResult
	// Diagnosis is the call's page in the request log, when the portal
	// keeps one.
	Diagnosis string
	// clientID is the signed-in developer's sandbox app.
	clientID string
}

// tryField is one parameter's form field.
type tryField struct {
	Name, In, Type, Description string
	Required                    bool
	// Field is the form field's name ("query.limit"), ID its element id.
	Field, ID   string
	Value       string
	Placeholder string
	Error       string
}

// tryPreset is a body the form can be filled with: a sandbox rule's
// example (with the answer it gets) or an example of the API reference.
type tryPreset struct {
	Label    string
	Body     string
	Status   int    // the sandbox's answer; 0 for an example
	Answer   string // the answer's code or body
	Key      string // the answer's registry entry, if any
	URL      string
	Selected bool
}

// tryResult is the gateway's answer as the page shows it.
type tryResult struct {
	Status     int
	StatusText string
	Headers    []shownHeader
	Body       string
	Truncated  bool
	Error      *tryError
	Curl       string
}

type shownHeader struct{ Name, Value string }

// tryError is a registry error as the console explains it: the entry, the
// cause that happened, what the answer said and the fix.
type tryError struct {
	Status  int
	Key     string // "" when the API answered a code the registry lacks
	Title   string
	Code    string // the CAMARA code of the answer
	Cause   string
	Message string
	Fix     string
	// Upstream marks an answer of the API behind the gateway (the
	// sandbox here), passed on as it came.
	Upstream bool
	// Action and ActionURL, when set, are the link the refusal offers:
	// sign in, create an app.
	Action, ActionURL string
}

// tryTarget finds the API and operation of a try path, or fails the
// request with the portal's 404.
func (p *Portal) tryTarget(w http.ResponseWriter, r *http.Request) (*reference, *operation, bool) {
	name, opID := r.PathValue("name"), r.PathValue("op")
	ref, err := p.reference(r.Context(), name)
	if err != nil {
		p.fail(w, r, apiError(err, name))
		return nil, nil, false
	}
	for _, op := range ref.Operations {
		if op.ID == opID {
			if pe := tryable(ref); pe != nil {
				p.fail(w, r, pe)
				return nil, nil, false
			}
			return ref, op, true
		}
	}
	p.fail(w, r, problem.Newf(problem.NotFoundResourceNotFound,
		"%s has no operation %q; its page at /portal/apis/%s lists every operation.", ref.Title, opID, ref.Name))
	return nil, nil, false
}

// quickTry is the try-it form of the page next names
// (/portal/apis/{name}/try/{op}), filled from its first preset, for the app
// page a new developer lands on: their first sandbox call is then one
// click away. Nil when next is not such a page or cannot be tried.
func (p *Portal) quickTry(w http.ResponseWriter, r *http.Request, next string) *tryView {
	rest, ok := strings.CutPrefix(localNext(next, ""), "/portal/apis/")
	if !ok || !p.tryOn() {
		return nil
	}
	name, opID, ok := strings.Cut(rest, "/try/")
	if !ok || strings.ContainsAny(opID, "/?#") {
		return nil
	}
	ref, err := p.reference(r.Context(), name)
	if err != nil || tryable(ref) != nil {
		return nil
	}
	for _, op := range ref.Operations {
		if op.ID == opID {
			v := p.newTryView(w, r, ref, op)
			if v.NoApp || !v.SignedIn {
				return nil
			}
			if len(v.Presets) > 0 {
				v.Body = v.Presets[0].Body
			}
			return &v
		}
	}
	return nil
}

// tryForm shows an operation's form, filled from a preset (?preset=N)
// or, by default, the first one.
func (p *Portal) tryForm(w http.ResponseWriter, r *http.Request) {
	ref, op, ok := p.tryTarget(w, r)
	if !ok {
		return
	}
	v := p.newTryView(w, r, ref, op)
	presets := v.Presets
	n := 0
	if s := r.URL.Query().Get("preset"); s != "" {
		if i, err := strconv.Atoi(s); err == nil && i >= 0 && i < len(presets) {
			n = i
		}
	}
	if len(presets) > 0 {
		presets[n].Selected = true
		v.Body = presets[n].Body
	}
	p.renderTry(w, r, http.StatusOK, v)
}

// tryRun makes the call the posted form describes and shows its answer.
func (p *Portal) tryRun(w http.ResponseWriter, r *http.Request) {
	ref, op, ok := p.tryTarget(w, r)
	if !ok {
		return
	}
	// A form holds the body URL-encoded: up to three bytes for one.
	r.Body = http.MaxBytesReader(w, r.Body, 3*p.maxTryBody()+64<<10)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			p.fail(w, r, problem.Newf(problem.PayloadTooLargeBodyTooLarge,
				"The form is larger than try-it accepts; a body may have at most %d bytes.", p.maxTryBody()))
			return
		}
		if pe := problem.BodyTimeout(err); pe != nil {
			p.fail(w, r, pe)
			return
		}
		p.fail(w, r, problem.New(problem.BadRequestMalformedBody, "The form could not be read.").Wrap(err))
		return
	}
	if pe := p.tryCheckCSRF(r); pe != nil {
		p.fail(w, r, pe)
		return
	}
	v := p.newTryView(w, r, ref, op)
	call, refusal := p.readTryForm(r.PostForm, &v)
	switch {
	case v.NoApp && ref.Status == store.APISandbox:
		refusal = problem.New(problem.PermissionDeniedNoAppCredentials,
			"You have no app with sandbox credentials yet: create one on the Apps page (/portal/apps), then send the request again.")
	case v.NoApp:
		refusal = problem.Newf(problem.PermissionDeniedNoAppCredentials,
			"%s is a live API: try-it calls it with an app's production credentials, which come with a subscription. Subscribe an app to it (the Plans section of its page), then send the request again.", ref.Title)
	case !v.SignedIn:
		refusal = problem.New(problem.UnauthenticatedSessionRequired,
			"Sign in to send the request: the portal calls the API with your sandbox app's credentials.")
	}
	if refusal != nil {
		p.refuseTry(w, r, v, refusal)
		return
	}
	var token string
	if len(op.Scopes) > 0 {
		var pe *problem.Error
		if token, pe = p.cfg.Try.MintToken(r.Context(), v.clientID, []string{v.Scope}); pe != nil {
			p.refuseTry(w, r, v, pe)
			return
		}
	}
	req, err := call.request(r.Context(), p.cfg.BaseURL, token)
	if err != nil {
		p.fail(w, r, problem.Internal(err))
		return
	}
	rec := &tryRecorder{header: http.Header{}}
	p.cfg.Try.Gateway.ServeHTTP(rec, req)
	v.Result = newTryResult(rec, token)
	if c := rec.header.Get("X-Correlator"); c != "" && p.logsOn() {
		v.Diagnosis = DiagnosisPath(c)
	}
	v.Result.Curl = call.curl(p.cfg.BaseURL, v.clientID, v.Scope)
	p.renderTry(w, r, http.StatusOK, v)
}

// refuseTry shows the form again with why the call was not made, under
// the error's status, and reports the error like every other.
func (p *Portal) refuseTry(w http.ResponseWriter, r *http.Request, v tryView, pe *problem.Error) {
	v.Refusal = explainProblem(pe)
	switch pe.Reason() {
	case problem.UnauthenticatedSessionRequired:
		v.Refusal.Action, v.Refusal.ActionURL = "Sign in", v.SignInURL
	case problem.PermissionDeniedNoAppCredentials:
		v.Refusal.Action, v.Refusal.ActionURL = "Create an app", "/portal/apps"
		if v.API.Status != store.APISandbox {
			v.Refusal.Action, v.Refusal.ActionURL = "Subscribe an app", "/portal/apis/"+url.PathEscape(v.API.Name)+"#plans"
		}
	}
	pe.SetHeaders(w.Header())
	p.renderTry(w, r, pe.Status(), v)
	p.cfg.Render.Report(r, pe)
}

func (p *Portal) renderTry(w http.ResponseWriter, r *http.Request, status int, v tryView) {
	title := "Try " + v.Op.ID
	p.render(w, r, status, "try", page{Title: title + " · " + v.API.Title, Nav: "apis", Data: v})
}

// newTryView is the form of op, empty but for the parameters' examples.
func (p *Portal) newTryView(w http.ResponseWriter, r *http.Request, ref *reference, op *operation) tryView {
	action := "/portal/apis/" + url.PathEscape(ref.Name) + "/try/" + url.PathEscape(op.ID)
	v := tryView{
		API: ref, Op: op, Action: action, BaseURL: p.cfg.BaseURL, Scopes: op.Scopes,
		HasBody: op.Body != nil, CSRFField: TryCSRFField,
		SignInURL: signinURL(r),
	}
	if len(op.Scopes) > 0 {
		v.Scope = op.Scopes[0]
	}
	if op.Body != nil {
		v.ContentType = op.Body.ContentType
	}
	v.clientID, v.SignedIn, v.NoApp = p.tryClient(r, ref)
	v.CSRF = p.tryCSRFToken(w, r)
	for _, pr := range op.Params {
		if pr.In == "cookie" || pr.In == "header" && ignoredHeader(pr.Name) {
			continue
		}
		f := tryField{
			Name: pr.Name, In: pr.In, Type: pr.Type, Description: pr.Description, Required: pr.Required,
			Field: pr.In + "." + pr.Name, ID: "f-" + pr.In + "-" + anchorSafe(pr.Name), Value: pr.Example,
		}
		if pr.In == "header" && strings.EqualFold(pr.Name, "x-correlator") {
			// A fixed example would give every call the same
			// correlator; the gateway makes a fresh one.
			f.Value, f.Placeholder = "", "a fresh one when empty"
		}
		v.Fields = append(v.Fields, f)
	}
	v.Presets = tryPresets(ref, op, action)
	return v
}

// tryClient is the credential the console calls ref with: the developer's
// first app's credential of the API's environment (sandbox for a sandbox
// API, production for the others). signedIn when there is one; noApp when
// the portal's own session names a developer without one.
func (p *Portal) tryClient(r *http.Request, ref *reference) (clientID string, signedIn, noApp bool) {
	if f := p.cfg.Try.SandboxClient; f != nil {
		clientID, signedIn = f(r)
		return clientID, signedIn, false
	}
	if p.cfg.Developers == nil {
		return "", false, false
	}
	v := viewerOf(r.Context())
	if v == nil || v.Developer == nil {
		return "", false, false
	}
	env := store.EnvironmentProduction
	if ref.Status == store.APISandbox {
		env = store.EnvironmentSandbox
	}
	clientID, ok := p.cfg.Developers.AppClient(r.Context(), v.Developer.ID, env)
	return clientID, ok, !ok
}

func (p *Portal) tryCSRFToken(w http.ResponseWriter, r *http.Request) string {
	switch {
	case p.cfg.Try.CSRFToken != nil:
		return p.cfg.Try.CSRFToken(w, r)
	case p.cfg.Developers != nil:
		return p.csrfToken(w, r)
	}
	return ""
}

func (p *Portal) tryCheckCSRF(r *http.Request) *problem.Error {
	switch {
	case p.cfg.Try.CheckCSRF != nil:
		return p.cfg.Try.CheckCSRF(r)
	case p.cfg.Developers != nil:
		return p.checkCSRF(r)
	}
	return nil
}

// ignoredHeader reports the header parameters OpenAPI ignores (3.0
// §4.7.12.1) and the console sets itself.
func ignoredHeader(name string) bool {
	switch strings.ToLower(name) {
	case "accept", "content-type", "authorization", "host", "content-length", "cookie":
		return true
	}
	return false
}

// tryPresets are the bodies the form offers: for a sandbox API, the
// examples of its rules table that a two-legged token can send (the
// console's tokens are client credentials), then the reference's
// examples.
func tryPresets(ref *reference, op *operation, action string) []tryPreset {
	if op.Body == nil {
		return nil // a preset is a body
	}
	var out []tryPreset
	if ref.Sandbox {
		for _, rule := range op.Rules {
			if rule.ThreeLegged || rule.Body == "" {
				continue
			}
			out = append(out, tryPreset{Label: rule.When, Body: indentJSON(rule.Body), Status: rule.Status, Answer: rule.Answer, Key: rule.Key})
		}
	}
	for _, ex := range op.Body.Examples {
		label := "Example " + ex.Name
		if ex.Summary != "" {
			label += ": " + ex.Summary
		}
		out = append(out, tryPreset{Label: label, Body: ex.JSON})
	}
	for i := range out {
		out[i].URL = action + "?preset=" + strconv.Itoa(i)
	}
	return out
}

func indentJSON(s string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "", "  ") != nil {
		return s
	}
	return b.String()
}

// tryCall is one request the console sends, built from the form: what the
// gateway receives and what the curl line repeats.
type tryCall struct {
	Method string
	// Path is the escaped path: the API's base path and the operation's
	// path with each parameter escaped as one segment.
	Path string
	// Query is the raw query ("" for none), in the parameters' order.
	Query string
	// Header holds the header parameters given, in order.
	Header      [][2]string
	ContentType string
	Body        string // sent when HasBody
	HasBody     bool
}

// readTryForm reads the posted form into v (the values shown again) and
// the call it describes. It refuses only what no HTTP request could carry
// and what exceeds the console's limit; values the API would refuse go to
// the gateway, whose answer the developer needs to see.
func (p *Portal) readTryForm(form url.Values, v *tryView) (tryCall, *problem.Error) {
	op := v.Op
	call := tryCall{Method: op.Method, Path: op.Path}
	var refusal *problem.Error
	var query []string
	for i := range v.Fields {
		f := &v.Fields[i]
		f.Value = form.Get(f.Field)
		switch f.In {
		case "path":
			call.Path = strings.ReplaceAll(call.Path, "{"+f.Name+"}", url.PathEscape(f.Value))
		case "query":
			if f.Value != "" {
				query = append(query, url.QueryEscape(f.Name)+"="+url.QueryEscape(f.Value))
			}
		case "header":
			if f.Value == "" {
				continue
			}
			if strings.ContainsFunc(f.Value, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				f.Error = "A header value cannot hold line breaks or other control characters."
				if refusal == nil {
					refusal = problem.Newf(problem.BadRequestInvalidParameter, "The header %s holds a control character, which no HTTP request can carry.", f.Name)
				}
				continue
			}
			call.Header = append(call.Header, [2]string{f.Name, f.Value})
		}
	}
	call.Query = strings.Join(query, "&")
	if s := form.Get("scope"); s != "" {
		if !slices.Contains(v.Scopes, s) {
			if refusal == nil {
				refusal = problem.Newf(problem.BadRequestInvalidParameter, "The scope %q is not one this operation accepts (%s).", s, strings.Join(v.Scopes, ", "))
			}
		} else {
			v.Scope = s
		}
	}
	if v.HasBody {
		// Browsers send a textarea's line breaks as CRLF; the developer
		// typed (and the curl line repeats) LF.
		v.Body = strings.ReplaceAll(form.Get("body"), "\r\n", "\n")
		if strings.TrimSpace(v.Body) != "" {
			call.Body, call.HasBody, call.ContentType = v.Body, true, v.ContentType
		}
		switch max := p.maxTryBody(); {
		case int64(len(v.Body)) > max:
			v.BodyError = fmt.Sprintf("The body is %d bytes; try-it sends at most %d.", len(v.Body), max)
			if refusal == nil {
				refusal = problem.Newf(problem.PayloadTooLargeBodyTooLarge, "The body is %d bytes; try-it sends at most %d.", len(v.Body), max)
			}
		case call.HasBody && strings.Contains(v.ContentType, "json"):
			v.BodyNote = jsonSyntaxNote(v.Body)
		}
	}
	return call, refusal
}

// jsonSyntaxNote says where body stops being JSON ("" when it is JSON).
func jsonSyntaxNote(body string) string {
	var x any
	err := json.Unmarshal([]byte(body), &x)
	if err == nil {
		return ""
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		// Offset is the bytes read when it failed: the culprit is the last.
		line, col := 1, 1
		for _, r := range body[:min(max(int(syn.Offset)-1, 0), len(body))] {
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Sprintf("This is not valid JSON (line %d, column %d: %s). It was sent as typed; the gateway's answer is below.", line, col, syn.Error())
	}
	return "This is not valid JSON (" + err.Error() + "). It was sent as typed; the gateway's answer is below."
}

// request is the call as the gateway receives it from a client: the
// request line, Host and headers as a server parses them, the token in
// Authorization, a fresh correlator and a loopback peer.
func (c tryCall) request(ctx context.Context, baseURL, token string) (*http.Request, error) {
	uri := c.Path
	if c.Query != "" {
		uri += "?" + c.Query
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, fmt.Errorf("portal: try-it built an invalid request URI %q: %w", uri, err)
	}
	host := "localhost"
	if b, err := url.Parse(baseURL); err == nil && b.Host != "" {
		host = b.Host
	}
	correlator := problem.NewCorrelator()
	req := &http.Request{
		Method: c.Method, URL: u, RequestURI: uri, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: host, RemoteAddr: "127.0.0.1:0", Body: http.NoBody,
	}
	for _, h := range c.Header {
		req.Header.Add(h[0], h[1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if req.Header.Get("X-Correlator") == "" {
		req.Header.Set("X-Correlator", correlator)
	} else {
		correlator = req.Header.Get("X-Correlator")
	}
	if c.HasBody {
		req.Header.Set("Content-Type", c.ContentType)
		req.Body = io.NopCloser(strings.NewReader(c.Body))
		req.ContentLength = int64(len(c.Body))
	}
	// The front replaces the correlator by a fresh one when the header's
	// is not valid; a gateway without a front reads this one.
	return req.WithContext(problem.WithCorrelator(ctx, correlator)), nil
}

// curl is the same call as a shell command, with a client-credentials
// token for the developer's sandbox app fetched first: $TOKEN, never the
// token the console used.
func (c tryCall) curl(baseURL, clientID, scope string) string {
	var b strings.Builder
	auth := scope != ""
	if auth {
		fmt.Fprintf(&b, "TOKEN=$(curl -s -u %s:\"$CLIENT_SECRET\" \\\n  -d grant_type=client_credentials -d scope=%s \\\n  %s | jq -r .access_token)\n\n",
			shellQuote(clientID), shellQuote(scope), baseURL+"/oauth2/token")
	}
	target := baseURL + c.Path
	if c.Query != "" {
		target += "?" + c.Query
	}
	fmt.Fprintf(&b, "curl -i -X %s %s", c.Method, shellQuote(target))
	if auth {
		b.WriteString(" \\\n  -H \"Authorization: Bearer $TOKEN\"")
	}
	for _, h := range c.Header {
		fmt.Fprintf(&b, " \\\n  -H %s", shellQuote(h[0]+": "+h[1]))
	}
	if c.HasBody {
		fmt.Fprintf(&b, " \\\n  -H %s \\\n  --data-raw %s", shellQuote("Content-Type: "+c.ContentType), shellQuote(c.Body))
	}
	return b.String()
}

// tryRecorder keeps the gateway's answer, up to maxShownBytes of body.
type tryRecorder struct {
	header    http.Header
	status    int
	body      bytes.Buffer
	truncated bool
}

func (w *tryRecorder) Header() http.Header { return w.header }

func (w *tryRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *tryRecorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if room := maxShownBytes - w.body.Len(); len(b) > room {
		w.body.Write(b[:room])
		w.truncated = true
	} else {
		w.body.Write(b)
	}
	return len(b), nil
}

// Status is the answer's status, 0 before it started (what the gateway's
// usage count reads).
func (w *tryRecorder) Status() int { return w.status }

// Flush does nothing: the answer is shown once complete.
func (w *tryRecorder) Flush() {}

// newTryResult describes the answer. token, should the answer echo it, is
// blanked out: it must never reach the browser.
func newTryResult(rec *tryRecorder, token string) *tryResult {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	hide := func(s string) string {
		if token == "" {
			return s
		}
		return strings.ReplaceAll(s, token, "[access token]")
	}
	res := &tryResult{Status: status, StatusText: http.StatusText(status), Truncated: rec.truncated}
	for _, name := range shownHeaders {
		for _, v := range rec.header.Values(name) {
			res.Headers = append(res.Headers, shownHeader{Name: name, Value: hide(v)})
		}
	}
	raw := rec.body.Bytes()
	switch {
	case len(raw) == 0:
	case !rec.truncated && json.Valid(raw):
		var b bytes.Buffer
		_ = json.Indent(&b, raw, "", "  ")
		res.Body = hide(b.String())
	case utf8.Valid(raw):
		res.Body = hide(string(raw))
	default:
		res.Body = fmt.Sprintf("(%d bytes that are not text)", len(raw))
	}
	if status >= 400 && !rec.truncated {
		res.Error = explainAnswer(status, raw)
	}
	return res
}

// explainAnswer finds the registry entry of an error answer: the gateway's
// own errors name it in type (the troubleshooting page's anchor) with the
// cause; an upstream's CAMARA ErrorInfo is matched by status and code, as
// the API reference links them.
func explainAnswer(status int, raw []byte) *tryError {
	var b struct {
		Type, Title, Detail, Message, Code, Fix string
		Cause                                   *struct{ ID, Text string }
	}
	if json.Unmarshal(raw, &b) != nil {
		return nil
	}
	te := &tryError{Status: status, Code: b.Code, Message: b.Detail}
	if te.Message == "" {
		te.Message = b.Message
	}
	var entry *problem.Entry
	if i := strings.LastIndexByte(b.Type, '#'); i >= 0 {
		entry, _ = problem.Lookup(b.Type[i+1:])
	}
	if entry != nil {
		if b.Cause != nil {
			if c, ok := entry.Cause(b.Cause.ID); ok {
				te.Cause = c.Text
			}
		}
	} else if key := registryKey(status, b.Code); key != "" {
		entry, _ = problem.Lookup(key)
		te.Upstream = true
		for _, c := range entry.Causes {
			if c.Upstream {
				te.Cause = c.Text
				break
			}
		}
	}
	if entry == nil {
		if b.Code == "" {
			return nil
		}
		te.Upstream = true
		return te // the API's own code: its reference documents it
	}
	te.Key, te.Title, te.Fix = entry.Key, entry.Title, entry.Fix
	if te.Cause == "" {
		te.Cause = entry.Description
	}
	return te
}

// explainProblem is a refusal of the portal itself as the page shows it.
func explainProblem(pe *problem.Error) *tryError {
	te := &tryError{
		Status: pe.Status(), Key: pe.Entry.Key, Title: pe.Entry.Title, Code: pe.Entry.CamaraCode,
		Cause: pe.Cause().Text, Fix: pe.Entry.Fix,
	}
	if pe.Detail != "" && pe.Status() < 500 {
		te.Message = pe.Detail
	}
	return te
}
