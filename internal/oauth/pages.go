package oauth

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// The end-user pages: sign-in, consent, the HTML error page of the
// authorization endpoint, and the sandbox's CIBA approval page (its
// handlers are in ciba_pages.go). They are server-rendered with
// html/template (every value is escaped for its context), embedded in the
// binary, and work without JavaScript.

//go:embed web/*.html
var webFS embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"code": codeSpans,
}).ParseFS(webFS, "web/*.html"))

// pagePolicy is the Content-Security-Policy of every page: nothing loads
// but inline styles, nothing may frame the page, and forms post to this
// server only. Pages that send the browser back to an app add the app's
// redirect origin to form-action, since browsers apply it to the redirect
// that follows a form submission.
const pagePolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// page wraps a page handler with the headers every page and every redirect
// from a page carries: no caching (codes, tokens and personal data pass
// through), no framing (clickjacking of Allow), the CSP, no MIME sniffing,
// and no Referer (the authorization request's query must not leak).
func (s *Server) page(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("Pragma", "no-cache")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", pagePolicy)
		if s.cfg.Secret == "" {
			// Without the secret, sessions and CSRF tokens would be
			// signed with a key anyone can derive.
			s.errorPage(w, r, problem.Internal(errors.New("oauth: Config.Secret is empty; the end-user pages need it")))
			return
		}
		h(w, r)
	})
}

// allowFormRedirect adds the redirect URI's origin to the page's
// form-action, so the browser follows the redirect back to the app after
// the form is posted.
func allowFormRedirect(w http.ResponseWriter, redirectURI string) {
	if src := cspSource(redirectURI); src != "" {
		w.Header().Set("Content-Security-Policy",
			strings.Replace(pagePolicy, "form-action 'self'", "form-action 'self' "+src, 1))
	}
}

var (
	cspScheme = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	cspHost   = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]{1,5})?$`)
)

// cspSource is the CSP source expression matching a redirect URI: its
// origin for http(s), its scheme for a native app's private-use scheme.
// Hosts CSP cannot express (IPv6 literals) fall back to the scheme.
func cspSource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if !cspScheme.MatchString(scheme) {
		return ""
	}
	host := strings.ToLower(u.Host)
	if (scheme == "http" || scheme == "https") && cspHost.MatchString(host) {
		return scheme + "://" + host
	}
	return scheme + ":"
}

// scopeText says in words what each scope lets an app do, for the consent
// and CIBA pages. Unknown scopes are shown as themselves.
var scopeText = map[string]string{
	ScopeOpenID:                  "Confirm that you are signed in",
	ScopePhone:                   "See your phone number",
	ScopeOfflineAccess:           "Keep access when you are not using the app",
	"number-verification:verify": "Check whether a phone number is the one on this device",
	"number-verification:device-phone-number:read": "See the phone number of this device",
	"sim-swap:check":               "Check whether your SIM card was changed recently",
	"sim-swap:retrieve-date":       "See when your SIM card was last changed",
	"location-verification:verify": "Check whether your device is in a given area",
}

type scopeLine struct{ Scope, Text string }

func describeScopes(scopes []string) []scopeLine {
	out := make([]scopeLine, len(scopes))
	for i, sc := range scopes {
		text, ok := scopeText[sc]
		if !ok {
			text = sc
		}
		out[i] = scopeLine{Scope: sc, Text: text}
	}
	return out
}

// loginForm is what the sign-in forms show again after a failed attempt.
type loginForm struct {
	Error      string
	Username   string
	Phone      string
	PhoneError bool // the message is about the phone number

	// retryAfter is set when the sign-in was refused for too many
	// attempts: the form is shown again with 429 and Retry-After.
	retryAfter time.Duration
}

// status sets Retry-After for a throttled sign-in and returns the status
// the form is shown with.
func (f *loginForm) status(w http.ResponseWriter) int {
	if f.retryAfter <= 0 {
		return http.StatusOK
	}
	w.Header().Set("Retry-After", problem.RetryAfterSeconds(f.retryAfter))
	return http.StatusTooManyRequests
}

// loginPage is the data of the sign-in forms ("loginforms" in
// web/layout.html), on the sign-in page and the signed-out CIBA page.
type loginPage struct {
	Title        string
	ClientName   string
	Scopes       []scopeLine
	Action       string
	Request      string // the signed pending request; empty on the CIBA page
	CSRF         string
	NetworkLogin bool
	Cancel       bool
	Form         loginForm
}

type consentPage struct {
	Title      string
	ClientName string
	Username   string
	Phone      string
	Scopes     []scopeLine
	Action     string
	Request    string
	CSRF       string
}

type errorPageData struct {
	Title      string
	Message    string
	Fix        string
	Key        string
	Cause      string
	Correlator string
	DocURL     string
}

// renderPage executes a page template and writes it with status.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, name string, data any, status int) {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		if name != "error" {
			s.errorPage(w, r, problem.Internal(fmt.Errorf("rendering page %s: %w", name, err)))
			return
		}
		s.cfg.Logger.Error("rendering the error page failed", "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("Internal error.\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows an error as an HTML page with the entry's status: the
// renderer of the authorization endpoint for errors that must not be
// redirected (unknown client, bad redirect URI) and of the end-user pages
// (expired request, failed CSRF check, store failures).
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	p := problem.From(err)
	p.SetHeaders(w.Header())
	data := errorPageData{
		Title:      p.Entry.Title,
		Message:    p.Message(),
		Fix:        p.Entry.Fix,
		Key:        p.Entry.Key,
		Correlator: problem.Correlator(r.Context()),
		DocURL:     s.render.DocURL(p.Entry),
	}
	if !p.Concealed {
		data.Cause = p.CauseID
	}
	s.render.Report(r, p)
	s.renderPage(w, r, "error", data, p.Status())
}

// requestPage prepares a page whose forms carry a pending request: the
// signed request, the browser's anti-forgery id, and the CSP that lets the
// forms' redirects reach the app. ok is false when an error page was
// written instead.
func (s *Server) requestPage(w http.ResponseWriter, r *http.Request, pr *pendingRequest) (blob, browser string, ok bool) {
	blob, err := s.sealPending(pr)
	if err != nil {
		s.errorPage(w, r, problem.Internal(err))
		return "", "", false
	}
	allowFormRedirect(w, pr.RedirectURI)
	return blob, s.browserID(w, r), true
}

// renderLogin shows the sign-in page of an authorization request.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, pr *pendingRequest, c *store.Client, f loginForm, status int) {
	blob, browser, ok := s.requestPage(w, r, pr)
	if !ok {
		return
	}
	s.renderPage(w, r, "login", loginPage{
		Title:        "Sign in to " + c.Name,
		ClientName:   c.Name,
		Scopes:       describeScopes(pr.Scopes),
		Action:       s.issuerPath() + PathLogin,
		Request:      blob,
		CSRF:         s.csrfToken(browser, "login", blob),
		NetworkLogin: s.cfg.NetworkLogin,
		Cancel:       true,
		Form:         f,
	}, status)
}

// renderConsent shows the consent page to the signed-in user.
func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, pr *pendingRequest, c *store.Client, u *store.User) {
	blob, browser, ok := s.requestPage(w, r, pr)
	if !ok {
		return
	}
	s.renderPage(w, r, "consent", consentPage{
		Title:      "Allow " + c.Name + " access?",
		ClientName: c.Name,
		Username:   u.Username,
		Phone:      u.PhoneNumber,
		Scopes:     describeScopes(pr.Scopes),
		Action:     s.issuerPath() + PathConsent,
		Request:    blob,
		CSRF:       s.csrfToken(browser, "consent", u.ID, blob),
	}, http.StatusOK)
}

// codeSpans escapes s and shows the parts between backticks as code, the
// convention of the registry's texts.
func codeSpans(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(part) + "</code>")
			continue
		}
		b.WriteString(template.HTMLEscapeString(part))
	}
	return template.HTML(b.String())
}
