package problem

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Renderer writes registry errors in the format of each channel. It is the
// only place error bodies are built. The zero value works: links are relative
// and logs go to slog.Default().
type Renderer struct {
	// DocsURL is the absolute URL of the troubleshooting page, e.g.
	// "http://localhost:8080/docs/errors". Empty means "/docs/errors".
	DocsURL string
	// Logger receives one line per error (server errors at Error level,
	// client errors at Debug). Nil means slog.Default().
	Logger *slog.Logger
	// Observe, when set, is called with every error written, after the
	// response is sent (usage and metrics hooks).
	Observe func(r *http.Request, p *Error)
	// DiagnosisURL is the absolute base of the portal's diagnosis pages,
	// e.g. "http://localhost:8080/portal/logs/". When set, the error
	// bodies of gateway calls (APICall) carry `diagnosis`: the page that
	// shows the call's developer each decision, its cause and fix. Empty
	// (no portal, or no request log) leaves the member out.
	DiagnosisURL string
}

// DocURL returns the link to the entry's anchor on the troubleshooting page.
func (rd *Renderer) DocURL(e *Entry) string {
	base := "/docs/errors"
	if rd != nil && rd.DocsURL != "" {
		base = rd.DocsURL
	}
	return base + "#" + e.Key
}

func (rd *Renderer) logger() *slog.Logger {
	if rd != nil && rd.Logger != nil {
		return rd.Logger
	}
	return slog.Default()
}

// Report logs p under the registry's one log policy and passes it to
// Observe. Every renderer here calls it after writing an error; a channel
// that renders elsewhere (the authorization server's HTML error pages and
// redirects) calls it too, so every error is logged and counted alike.
func (rd *Renderer) Report(r *http.Request, p *Error) {
	rd.log(r, p)
	if rd != nil && rd.Observe != nil {
		rd.Observe(r, p)
	}
}

func (rd *Renderer) log(r *http.Request, p *Error) {
	// Server faults are errors; failed authentication and authorization
	// are worth an operator's attention (credential stuffing, leaked
	// tokens); other client mistakes are debug noise.
	level := slog.LevelDebug
	switch s := p.Status(); {
	case s >= 500:
		level = slog.LevelError
	case s == 401 || s == 403:
		level = slog.LevelInfo
	}
	l := rd.logger()
	if !l.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("error", p.Entry.Key),
		slog.String("cause", p.CauseID),
		slog.Int("status", p.Status()),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("correlator", Correlator(r.Context())),
	}
	if p.Detail != "" {
		attrs = append(attrs, slog.String("detail", p.Detail))
	}
	if p.Err != nil {
		attrs = append(attrs, slog.String("err", p.Err.Error()))
	}
	l.LogAttrs(r.Context(), level, "request failed", attrs...)
}

// SetHeaders sets p's extra headers and its Retry-After (RetryAfterSeconds)
// on h: what every channel sends with an error, whatever its body.
func (p *Error) SetHeaders(h http.Header) {
	for k, vs := range p.Header {
		if k == "Link" {
			h[k] = append(h[k], vs...) // beside the API's own links (a deprecation's)
			continue
		}
		h[k] = vs
	}
	if p.RetryAfter > 0 {
		h.Set("Retry-After", RetryAfterSeconds(p.RetryAfter))
	}
}

func (rd *Renderer) headers(w http.ResponseWriter, p *Error, contentType string) {
	h := w.Header()
	p.SetHeaders(h)
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
}

func (rd *Renderer) finish(w http.ResponseWriter, r *http.Request, p *Error, body any) {
	w.WriteHeader(p.Status())
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(body)
	}
	rd.Report(r, p)
}

// OAuthBody is the RFC 6749 §5.2 error response, with gatehouse's cause as an
// extension member.
type OAuthBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	URI         string `json:"error_uri,omitempty"`
	Cause       string `json:"cause,omitempty"`
	Correlator  string `json:"correlator,omitempty"`
}

// OAuth writes err as an RFC 6749 §5.2 JSON error (token, revoke,
// introspect, backchannel-authorize and register endpoints), with
// Cache-Control: no-store.
func (rd *Renderer) OAuth(w http.ResponseWriter, r *http.Request, err error) {
	p := From(err)
	code := p.Entry.OAuthCode
	if code == "" {
		code = oauthFallback(p.Status())
	}
	rd.headers(w, p, "application/json")
	w.Header().Set("Pragma", "no-cache")
	body := OAuthBody{
		Error:       code,
		Description: OAuthSafe(p.Message()),
		URI:         rd.DocURL(p.Entry),
		Correlator:  Correlator(r.Context()),
	}
	if !p.Concealed {
		body.Cause = p.CauseID
	}
	rd.finish(w, r, p, body)
}

// OAuthSafe makes s fit the alphabet of RFC 6749 §5.2 error_description and
// RFC 6750 §3 quoted challenge values
// (%x20-21 / %x23-5B / %x5D-7E): double quotes become single quotes, a
// backslash a slash, "§" the word "section", and any other character outside
// printable ASCII a question mark. Details are written for people and may
// quote values; this keeps them legal on the wire.
func OAuthSafe(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteByte('\'')
		case r == '\\':
			b.WriteByte('/')
		case r == '§':
			b.WriteString("section")
		case r == '—' || r == '–':
			b.WriteByte('-')
		case r == '’' || r == '‘':
			b.WriteByte('\'')
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// oauthFallback picks the RFC 6749 code for entries that have none of their
// own, such as 413 or 406 answered by the token endpoint.
func oauthFallback(status int) string {
	switch {
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		return "temporarily_unavailable"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request"
	}
}

// causeBody is the `cause` extension member.
type causeBody struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

func (rd *Renderer) problemBody(r *http.Request, p *Error) map[string]any {
	body := make(map[string]any, 12+len(p.Extra))
	for k, v := range p.Extra {
		body[k] = v
	}
	body["type"] = rd.DocURL(p.Entry)
	body["title"] = p.Entry.Title
	body["status"] = p.Status()
	body["detail"] = p.Message()
	body["instance"] = r.URL.Path
	body["fix"] = p.Entry.Fix
	body["correlator"] = Correlator(r.Context())
	if !p.Concealed {
		c := p.Cause()
		body["cause"] = causeBody{ID: c.ID, Text: c.Text}
	}
	return body
}

// API writes err for gateway APIs and userinfo: one JSON object that is both
// a CAMARA ErrorInfo {status, code, message} and RFC 9457 problem details.
func (rd *Renderer) API(w http.ResponseWriter, r *http.Request, err error) {
	rd.APIAs(w, r, err, "application/json")
}

// APIMediaTypes are the Content-Types an API may choose for its error
// bodies (the body is the same; some clients dispatch on problem+json).
var APIMediaTypes = []string{"application/json", "application/problem+json"}

// APIAs is API with the Content-Type an API chose for its errors.
func (rd *Renderer) APIAs(w http.ResponseWriter, r *http.Request, err error, mediaType string) {
	rd.api(w, r, err, mediaType, false)
}

// APICall is APIAs for a call the gateway keeps in the request log: with
// DiagnosisURL set, the body also carries the extension member
// `diagnosis`, the absolute URL of the call's page in the portal
// (DiagnosisURL and the correlator, path-escaped). RFC 9457's `instance`
// stays the request path, as clients already read it.
func (rd *Renderer) APICall(w http.ResponseWriter, r *http.Request, err error, mediaType string) {
	rd.api(w, r, err, mediaType, true)
}

func (rd *Renderer) api(w http.ResponseWriter, r *http.Request, err error, mediaType string, diagnosed bool) {
	p := From(err)
	body := rd.problemBody(r, p)
	body["code"] = p.Entry.CamaraCode
	body["message"] = p.Message()
	if diagnosed && rd != nil && rd.DiagnosisURL != "" {
		if c := Correlator(r.Context()); c != "" {
			body["diagnosis"] = rd.DiagnosisURL + url.PathEscape(c)
		}
	}
	rd.headers(w, p, mediaType)
	rd.finish(w, r, p, body)
}

// Admin writes err as RFC 9457 application/problem+json for the admin API and
// the portal's JSON endpoints. `code` carries the registry key.
func (rd *Renderer) Admin(w http.ResponseWriter, r *http.Request, err error) {
	p := From(err)
	body := rd.problemBody(r, p)
	body["code"] = p.Entry.Key
	rd.headers(w, p, "application/problem+json")
	rd.finish(w, r, p, body)
}

type correlatorKey struct{}

// correlatorCtx carries a correlator: what context.WithValue would do, in
// one allocation instead of two (the context and the boxed string), on
// every request. Value answers the key with the context itself, so that
// reading the correlator does not box the string either.
type correlatorCtx struct {
	context.Context
	id string
}

func (c *correlatorCtx) Value(key any) any {
	if key == (correlatorKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func (c *correlatorCtx) String() string { return "problem.WithCorrelator(" + c.id + ")" }

// WithCorrelator returns ctx carrying the request's correlator.
func WithCorrelator(ctx context.Context, id string) context.Context {
	return &correlatorCtx{Context: ctx, id: id}
}

// Correlator returns the request's correlator, or "" when none was set.
func Correlator(ctx context.Context) string {
	if c, ok := ctx.Value(correlatorKey{}).(*correlatorCtx); ok {
		return c.id
	}
	return ""
}

// NewCorrelator returns a random UUIDv4 string.
func NewCorrelator() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j] = hex[c>>4]
		out[j+1] = hex[c&0xf]
		j += 2
	}
	return string(out)
}
