// Package problem is gatehouse's error registry: one table of every error the
// platform can return, and the renderers that turn an entry into the body each
// channel owes its caller (OAuth JSON, CAMARA ErrorInfo + RFC 9457, admin
// problem+json).
//
// Every failure anywhere in gatehouse is a *Error built by New from a Reason:
// a registry entry and the cause that actually happened. The Reasons are
// generated from the registry (reasons.go, `go generate ./internal/problem`),
// so the compiler finds every place an error is raised and a misspelt cause
// does not compile. The portal's troubleshooting page is generated from the
// same table (see Catalog), so the documentation and the behaviour cannot
// drift apart.
package problem

//go:generate go run ./genreasons

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"
)

// Cause is one documented reason an entry can happen. Its ID is stable and is
// what callers see in the `cause` member of an error body.
//
// A cause gatehouse does not raise itself is marked, and the troubleshooting
// page says so (raised_test.go fails on a cause that is neither raised nor
// marked, or marked but raised): Planned, Upstream or Reserved.
type Cause struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	// Planned names the filed issue whose feature will raise this cause
	// ("issue 12"); gatehouse does not raise it yet.
	Planned string `json:"planned,omitempty"`
	// Upstream marks a cause the API behind the gateway answers (the
	// built-in sandbox simulates some): the gateway passes the answer on
	// and never raises the cause itself. CAMARA APIs promise these codes.
	Upstream bool `json:"upstream,omitempty"`
	// Reserved says why a cause gatehouse never raises stays in the
	// registry: its id is in the published contract, or the specification
	// that defines the entry's code requires the entry.
	Reserved string `json:"reserved,omitempty"`
}

// Entry is one row of the registry.
type Entry struct {
	// Key is the stable identifier and the anchor on the troubleshooting page.
	Key string `json:"key"`
	// Status is the HTTP status the entry is answered with.
	Status int `json:"status"`
	// OAuthCode is the RFC 6749 / OIDC / CIBA error code, empty when the
	// entry has none (e.g. 414 on the gateway).
	OAuthCode string `json:"oauth_code,omitempty"`
	// CamaraCode is the CAMARA ErrorInfo code used on gateway responses.
	CamaraCode string `json:"camara_code"`
	// Title is the short human name ("Payload Too Large").
	Title string `json:"title"`
	// Description says what the error means.
	Description string `json:"description"`
	// Causes lists every reason gatehouse can raise this entry for.
	Causes []Cause `json:"causes"`
	// Fix says how to make the request succeed.
	Fix string `json:"fix"`
	// Group places the entry on the troubleshooting page.
	Group string `json:"group"`
}

// Cause returns the entry's cause with the given id and whether it exists.
func (e *Entry) Cause(id string) (Cause, bool) {
	for _, c := range e.Causes {
		if c.ID == id {
			return c, true
		}
	}
	return Cause{}, false
}

// Groups, in the order the troubleshooting page shows them.
const (
	GroupHTTP  = "HTTP status codes"
	GroupOAuth = "OAuth 2.0 & OpenID Connect error codes"
	GroupToken = "Token-related errors"
	GroupAPI   = "API (CAMARA) error codes"
)

var byKey = func() map[string]*Entry {
	m := make(map[string]*Entry, len(catalog))
	for i := range catalog {
		e := &catalog[i]
		if _, dup := m[e.Key]; dup {
			panic("problem: duplicate registry key " + e.Key)
		}
		seen := map[string]bool{}
		for _, c := range e.Causes {
			if seen[c.ID] {
				panic("problem: duplicate cause " + c.ID + " in " + e.Key)
			}
			seen[c.ID] = true
		}
		m[e.Key] = e
	}
	return m
}()

// Lookup returns the registry entry with the given key.
func Lookup(key string) (*Entry, bool) {
	e, ok := byKey[key]
	return e, ok
}

// Catalog returns every registry entry, grouped and in a stable order. The
// caller must not modify the entries.
func Catalog() []*Entry {
	out := make([]*Entry, 0, len(catalog))
	for i := range catalog {
		out = append(out, &catalog[i])
	}
	order := map[string]int{GroupHTTP: 0, GroupOAuth: 1, GroupToken: 2, GroupAPI: 3}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Group] < order[out[j].Group] })
	return out
}

// Error is one failure: a registry entry, the cause that happened, and a
// client-safe detail. Err, when set, is logged and never shown to clients.
type Error struct {
	Entry *Entry
	// CauseID names the entry's cause that happened.
	CauseID string
	// Detail is the client-safe, request-specific explanation. When empty the
	// cause's text is used.
	Detail string
	// Err is the underlying error, for logs only.
	Err error
	// RetryAfter, when positive, is sent as Retry-After (rounded up to
	// whole seconds).
	RetryAfter time.Duration
	// Header holds extra response headers (Allow, WWW-Authenticate, Link…).
	Header http.Header
	// Extra holds extension members added to JSON bodies (e.g. "scope").
	Extra map[string]any
	// status, when set, replaces the entry's status: one OAuth error can
	// owe different statuses at different endpoints (CIBA's access_denied
	// is 403 at the backchannel endpoint and 400 at the token endpoint).
	status int
	// Concealed keeps the cause and the detail out of the response body:
	// the caller sees the entry's description only. Used where naming the
	// failed check would help an attacker (which of client id or secret was
	// wrong); the actual cause and the detail are still logged and recorded
	// for the developer.
	Concealed bool
}

// Reason is one cause of one registry entry: what New raises. The values are
// the variables of reasons.go, generated from the catalog and named after the
// entry and the cause (InvalidGrantCodeExpired). Its fields are unexported:
// other packages get a Reason from those variables (or ReasonFor), never
// from strings they spell themselves.
type Reason struct{ key, cause string }

// Key is the registry key of the reason's entry.
func (r Reason) Key() string { return r.key }

// CauseID is the id of the reason's cause.
func (r Reason) CauseID() string { return r.cause }

// String is "key/cause".
func (r Reason) String() string { return r.key + "/" + r.cause }

// ReasonFor returns the Reason of the entry key's cause causeID, and whether
// the registry has it. It is for causes chosen at run time (the failing
// condition /readyz reports); code that raises a known cause names its
// variable instead.
func ReasonFor(key, causeID string) (Reason, bool) {
	e, ok := byKey[key]
	if !ok {
		return Reason{}, false
	}
	if _, ok := e.Cause(causeID); !ok {
		return Reason{}, false
	}
	return Reason{key, causeID}, true
}

// New builds an error from the registry. It panics when r is the zero
// Reason or names a cause that is no longer in the registry (a stale
// reasons.go): programming errors caught by tests, never input.
func New(r Reason, detail string) *Error {
	e, ok := byKey[r.key]
	if !ok {
		panic("problem: unknown registry key " + strconv.Quote(r.key))
	}
	if _, ok := e.Cause(r.cause); !ok {
		panic("problem: unknown cause " + r.cause + " for " + r.key)
	}
	return &Error{Entry: e, CauseID: r.cause, Detail: detail}
}

// Newf is New with a formatted detail.
func Newf(r Reason, format string, args ...any) *Error {
	return New(r, fmt.Sprintf(format, args...))
}

// Internal wraps an unexpected error as a 500 whose client-facing text says
// nothing about err.
func Internal(err error) *Error {
	p := New(InternalUnexpected, "")
	p.Err = err
	return p
}

// Error implements error.
func (p *Error) Error() string {
	s := p.Entry.Key + "/" + p.CauseID
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	if p.Err != nil {
		s += ": " + p.Err.Error()
	}
	return s
}

// Unwrap returns the logged cause.
func (p *Error) Unwrap() error { return p.Err }

// Status is the HTTP status of the answer: the entry's, unless WithStatus
// set another.
func (p *Error) Status() int {
	if p.status != 0 {
		return p.status
	}
	return p.Entry.Status
}

// WithStatus answers with another status than the entry's and returns p.
// Use it only where a specification fixes the status per endpoint.
func (p *Error) WithStatus(code int) *Error { p.status = code; return p }

// Reason returns the entry and cause that happened, to compare with a
// Reason variable: p.Reason() == problem.BadRequestSchemaViolation.
func (p *Error) Reason() Reason { return Reason{p.Entry.Key, p.CauseID} }

// Cause returns the cause that happened.
func (p *Error) Cause() Cause {
	c, _ := p.Entry.Cause(p.CauseID)
	return c
}

// Message is the client-facing explanation: the detail, or the cause text;
// for a concealed error, the entry's description.
func (p *Error) Message() string {
	if p.Concealed {
		return p.Entry.Description
	}
	if p.Detail != "" {
		return p.Detail
	}
	return p.Cause().Text
}

// Wrap records err as the logged cause and returns p.
func (p *Error) Wrap(err error) *Error { p.Err = err; return p }

// Conceal hides the cause from the response body and returns p.
func (p *Error) Conceal() *Error { p.Concealed = true; return p }

// WithErr records the underlying error for the log and returns p.
func (p *Error) WithErr(err error) *Error { p.Err = err; return p }

// WithRetryAfter sets Retry-After and returns p.
func (p *Error) WithRetryAfter(d time.Duration) *Error { p.RetryAfter = d; return p }

// WithHeader adds a response header and returns p.
func (p *Error) WithHeader(key, value string) *Error {
	if p.Header == nil {
		p.Header = http.Header{}
	}
	p.Header.Add(key, value)
	return p
}

// With adds an extension member to JSON bodies and returns p.
func (p *Error) With(key string, value any) *Error {
	if p.Extra == nil {
		p.Extra = map[string]any{}
	}
	p.Extra[key] = value
	return p
}

// From turns any error into a *Error: registry errors pass through, anything
// else becomes a 500 `internal` whose text is never shown.
func From(err error) *Error {
	var p *Error
	if errors.As(err, &p) {
		return p
	}
	return Internal(err)
}

// BodyTimeout returns the 408 request_timeout error, with Connection: close,
// when err comes from reading a request body past the connection's read
// deadline (the server's body_read_timeout); nil for any other error. Every
// handler that reads a body checks it first, so a client that stalls
// mid-body gets the same answer on every endpoint.
func BodyTimeout(err error) *Error {
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return New(RequestTimeoutBodyReadTimeout,
		"The request body did not arrive completely in time; send it right after the headers.").
		Wrap(err).WithHeader("Connection", "close")
}

// RetryAfterSeconds is d as a Retry-After value: whole seconds, rounded up,
// at least 1.
func RetryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}
