package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// Developer sessions and anti-forgery tokens of the portal's forms.
//
// The session is a cookie holding the developer id and the time the
// session started (milliseconds), signed with HMAC-SHA256 (signin.Seal)
// under the portal's key. It is HttpOnly, SameSite=Lax, Secure when the
// portal is served over https, and lasts SessionTTL. Every request re-reads
// the developer: a session counts only while the account is active and
// started after its SessionsNotBefore, so signing out everywhere, a
// password change or a suspension ends every session on every node at once.
//
// Every form carries a CSRF token: an HMAC of a random per-browser cookie
// and of the signed-in developer (none before sign-in). A forged form from
// another site has neither the cookie's value nor the key, and SameSite=Lax
// keeps the cookies off its cross-site POST anyway. Tokens are compared in
// constant time.

const (
	sessionCookie = "gh_portal"
	browserCookie = "gh_portal_browser"
	// SessionTTL is how long a developer stays signed in to the portal.
	SessionTTL = 12 * time.Hour
)

type portalSession struct {
	Developer string `json:"d"`
	// Start is when the session started, Unix milliseconds.
	Start int64 `json:"s"`
}

type viewerKey struct{}

// viewer is the signed-in developer of a request, nil when none.
type viewer struct {
	Developer *store.Developer
	// browser is the anti-forgery cookie's value ("" when the browser has
	// none yet).
	browser string
}

func viewerOf(ctx context.Context) *viewer {
	v, _ := ctx.Value(viewerKey{}).(*viewer)
	return v
}

func (p *Portal) key(purpose string) []byte { return signin.MAC(p.cfg.Key, "portal "+purpose) }

func (p *Portal) secure() bool { return strings.HasPrefix(p.cfg.BaseURL, "https://") }

func (p *Portal) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.secure(), SameSite: http.SameSiteLaxMode})
}

// identify reads the session and the browser cookie into the request's
// context. A store failure leaves the request anonymous (the page still
// renders; acting on an account then asks to sign in).
func (p *Portal) identify(r *http.Request) *http.Request {
	v := &viewer{}
	if c, err := r.Cookie(browserCookie); err == nil && validBrowserID(c.Value) {
		v.browser = c.Value
	}
	if c, err := r.Cookie(sessionCookie); err == nil && p.cfg.Developers != nil {
		var s portalSession
		now := p.cfg.now()
		if signin.Open(p.key("session"), c.Value, &s) && s.Developer != "" {
			start := time.UnixMilli(s.Start)
			if now.Before(start.Add(SessionTTL)) {
				d, err := p.cfg.Developers.Developer(r.Context(), s.Developer)
				if err == nil && developers.SessionValid(d, start) {
					v.Developer = d
				}
			}
		}
	}
	return r.WithContext(context.WithValue(r.Context(), viewerKey{}, v))
}

// startSession signs the developer in on this browser.
func (p *Portal) startSession(w http.ResponseWriter, r *http.Request, d *store.Developer) {
	start := p.cfg.now()
	if start.Before(d.SessionsNotBefore) { // a password just changed in this millisecond
		start = d.SessionsNotBefore
	}
	v, err := signin.Seal(p.key("session"), portalSession{Developer: d.ID, Start: start.UnixMilli()})
	if err != nil {
		return
	}
	p.setCookie(w, sessionCookie, v, int(SessionTTL/time.Second))
	if vw := viewerOf(r.Context()); vw != nil {
		vw.Developer = d
	}
}

func (p *Portal) endSession(w http.ResponseWriter, r *http.Request) {
	p.setCookie(w, sessionCookie, "", -1)
	if vw := viewerOf(r.Context()); vw != nil {
		vw.Developer = nil
	}
}

// csrfToken returns the anti-forgery token of the request's forms, setting
// the browser cookie when there is none yet.
func (p *Portal) csrfToken(w http.ResponseWriter, r *http.Request) string {
	v := viewerOf(r.Context())
	if v == nil {
		return ""
	}
	if v.browser == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return ""
		}
		v.browser = base64.RawURLEncoding.EncodeToString(b)
		p.setCookie(w, browserCookie, v.browser, 0)
	}
	return p.csrfFor(v)
}

func (p *Portal) csrfFor(v *viewer) string {
	who := ""
	if v.Developer != nil {
		who = v.Developer.ID
	}
	return base64.RawURLEncoding.EncodeToString(signin.MAC(p.key("csrf"), v.browser, who))
}

// checkCSRF verifies a posted form's csrf field.
func (p *Portal) checkCSRF(r *http.Request) *problem.Error {
	v := viewerOf(r.Context())
	if v == nil || v.browser == "" {
		return problem.New(problem.AccessDeniedCsrfTokenInvalid,
			"The form was sent without this site's cookie; enable cookies for this site, reload the page and send it again.")
	}
	if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(p.csrfFor(v))) {
		return problem.New(problem.AccessDeniedCsrfTokenInvalid,
			"The form could not be verified: it was sent from another site, from another browser, or after you signed in or out. Reload the page and send it again.")
	}
	return nil
}

// validBrowserID accepts 43 base64url characters (32 random bytes).
func validBrowserID(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

// localNext returns next when it is a path on this site (no scheme, no
// host, not protocol-relative), else fallback: the sign-in page never
// redirects off-site.
func localNext(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.ContainsAny(next, "\r\n\t") {
		return fallback
	}
	return next
}

// requireDeveloper returns the signed-in developer, or sends the browser to
// the sign-in page (GET) or answers session_required (other methods).
func (p *Portal) requireDeveloper(w http.ResponseWriter, r *http.Request) *store.Developer {
	if v := viewerOf(r.Context()); v != nil && v.Developer != nil {
		return v.Developer
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		http.Redirect(w, r, "/portal/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil
	}
	p.fail(w, r, problem.New(problem.UnauthenticatedSessionRequired,
		"Sign in to the portal first: your session ended or you signed out. Sign in, then send the form again."))
	return nil
}
