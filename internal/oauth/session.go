package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// End-user sessions and anti-forgery tokens of the authorization pages.
//
// Nothing is stored on the server before the user consents:
//
//   - The session is a cookie holding the user id, the time they signed in
//     and the consents given during the session, signed with HMAC-SHA256
//     under derivedKey("session"). It is HttpOnly, SameSite=Lax, Secure when
//     the issuer is https, scoped to the /oauth2/ paths, and lasts SessionTTL
//     from sign-in (an absolute lifetime: using it does not extend it).
//   - The validated authorization request travels from page to page as a
//     hidden form field, signed under derivedKey("authz-request") and valid
//     for PendingRequestTTL. Its signature proves the redirect URI was
//     checked, so later pages may redirect to it.
//   - Every form carries a CSRF token: HMAC-SHA256 under derivedKey("csrf")
//     of a random per-browser cookie and of what the form acts on (the
//     signed request, plus the signed-in user for consent and CIBA
//     approval). The browser cookie is the double-submit half: a forged
//     form from another site has neither the cookie's value nor the key, so
//     it cannot compute the token, and SameSite=Lax keeps the cookies off
//     its cross-site POST anyway. Tokens are compared in constant time.

// Cookie names. Both are scoped to the issuer's /oauth2/ path.
const (
	sessionCookie = "gh_session"
	browserCookie = "gh_browser"
)

const (
	// SessionTTL is how long an end user stays signed in on the
	// authorization pages.
	SessionTTL = 12 * time.Hour
	// PendingRequestTTL is how long the sign-in and consent pages of one
	// authorization request may take.
	PendingRequestTTL = 10 * time.Minute
	// maxRememberedConsents bounds the consents a session cookie carries
	// (the oldest are forgotten first), keeping the cookie small.
	maxRememberedConsents = 16
)

// session is the signed content of the session cookie.
type session struct {
	UserID string `json:"u"`
	// AuthTime is when the user signed in, Unix seconds (OpenID Connect
	// auth_time).
	AuthTime int64 `json:"t"`
	// Expires is when the session ends, Unix seconds.
	Expires int64 `json:"e"`
	// Consents are consentKey digests of the (client, scopes) pairs the
	// user allowed during this session, oldest first.
	Consents []string `json:"c,omitempty"`
}

func (ss *session) authTime() time.Time { return time.Unix(ss.AuthTime, 0) }

// consented reports whether the user allowed exactly these scopes to this
// client earlier in the session.
func (ss *session) consented(clientID string, scopes []string) bool {
	return slices.Contains(ss.Consents, consentKey(clientID, scopes))
}

// remember records a consent, forgetting the oldest beyond the bound.
func (ss *session) remember(clientID string, scopes []string) {
	k := consentKey(clientID, scopes)
	if slices.Contains(ss.Consents, k) {
		return
	}
	ss.Consents = append(ss.Consents, k)
	if n := len(ss.Consents); n > maxRememberedConsents {
		ss.Consents = ss.Consents[n-maxRememberedConsents:]
	}
}

// consentKey names a (client, set of scopes) pair in 128 bits. The cookie
// is signed, so a plain digest suffices.
func consentKey(clientID string, scopes []string) string {
	sorted := slices.Clone(scopes)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte(clientID + "\x00" + strings.Join(sorted, " ")))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// cookiePath is where the authorization pages live under the issuer, so the
// cookies reach them and nothing else.
func (s *Server) cookiePath() string {
	return s.issuerPath() + "/oauth2/"
}

// issuerPath is the path of the issuer URL ("" at the root), the prefix of
// every page's form action as the browser sees it.
func (s *Server) issuerPath() string {
	u, err := url.Parse(s.cfg.Issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

func (s *Server) secureCookies() bool {
	return strings.HasPrefix(strings.ToLower(s.cfg.Issuer), "https://")
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     s.cookiePath(),
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.secureCookies(),
		SameSite: http.SameSiteLaxMode,
	})
}

// newSession starts a session for a user who just signed in. Consents
// given in the browser's previous session carry over when the same user
// signs in again (max_age, prompt=login); another user starts with none.
func (s *Server) newSession(r *http.Request, u *store.User) *session {
	now := s.cfg.Now()
	ss := &session{UserID: u.ID, AuthTime: now.Unix(), Expires: now.Add(SessionTTL).Unix()}
	if old := s.sessionCookie(r); old != nil && old.UserID == u.ID {
		ss.Consents = old.Consents
	}
	return ss
}

// saveSession writes the session cookie; it expires with the session.
func (s *Server) saveSession(w http.ResponseWriter, ss *session) error {
	v, err := signin.Seal(s.derivedKey("session"), ss)
	if err != nil {
		return err
	}
	maxAge := int(ss.Expires - s.cfg.Now().Unix())
	if maxAge < 1 {
		maxAge = 1
	}
	s.setCookie(w, sessionCookie, v, maxAge)
	return nil
}

// endSession deletes the session cookie (sign out).
func (s *Server) endSession(w http.ResponseWriter) {
	s.setCookie(w, sessionCookie, "", -1)
}

// currentSession returns the signed-in user and their session, or nils when
// there is no valid, unexpired session or its user was deleted. Only a store
// failure is an error.
func (s *Server) currentSession(ctx context.Context, r *http.Request) (*session, *store.User, *problem.Error) {
	ss := s.sessionCookie(r)
	if ss == nil {
		return nil, nil, nil
	}
	u, err := s.users.get(ctx, ss.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, problem.FromOAuthStore(err)
	}
	return ss, u, nil
}

// sessionCookie returns the request's session when its cookie verifies and
// has not expired, without looking the user up.
func (s *Server) sessionCookie(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	var ss session
	if !signin.Open(s.derivedKey("session"), c.Value, &ss) || ss.UserID == "" {
		return nil
	}
	now := s.cfg.Now().Unix()
	if now >= ss.Expires || ss.AuthTime > now+int64(clockSkew/time.Second) {
		return nil
	}
	return &ss
}

// browserID returns the per-browser anti-forgery value, setting the cookie
// when the browser has none yet. A page calls it once, before rendering its
// forms.
func (s *Server) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && validBrowserID(c.Value) {
		return c.Value
	}
	id := newOpaqueToken()
	// A session cookie (no Max-Age): it lives as long as the browser.
	s.setCookie(w, browserCookie, id, 0)
	return id
}

// validBrowserID accepts what newOpaqueToken makes: 43 base64url characters.
func validBrowserID(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

// csrfToken is the anti-forgery token of a form acting on subject, for the
// browser with the given id.
func (s *Server) csrfToken(browser string, subject ...string) string {
	return base64.RawURLEncoding.EncodeToString(signin.MAC(s.derivedKey("csrf"), append([]string{browser}, subject...)...))
}

// checkCSRF verifies a posted form's csrf field against the browser cookie
// and the subject the form acts on, in constant time.
func (s *Server) checkCSRF(r *http.Request, form url.Values, subject ...string) *problem.Error {
	c, err := r.Cookie(browserCookie)
	if err != nil || !validBrowserID(c.Value) {
		return problem.New(problem.AccessDeniedCsrfTokenInvalid,
			"The form was sent without this site's cookie; enable cookies for this site, then start again from the app.")
	}
	got := []byte(form.Get("csrf"))
	want := []byte(s.csrfToken(c.Value, subject...))
	if !hmac.Equal(got, want) {
		return problem.New(problem.AccessDeniedCsrfTokenInvalid,
			"The form could not be verified: it was sent from another site, from another browser, or after you signed in as someone else. Start again from the app.")
	}
	return nil
}

// pendingRequest is a validated authorization request on its way through
// the sign-in and consent pages.
type pendingRequest struct {
	ClientID    string `json:"c"`
	RedirectURI string `json:"r"`
	// RedirectGiven tells whether the request named redirect_uri (RFC 6749
	// §4.1.3: then the token request must repeat it).
	RedirectGiven bool     `json:"rg,omitempty"`
	State         string   `json:"s,omitempty"`
	Scopes        []string `json:"sc,omitempty"`
	Nonce         string   `json:"n,omitempty"`
	CodeChallenge string   `json:"cc,omitempty"`
	// MaxAge is max_age in seconds; nil when absent.
	MaxAge *int64 `json:"ma,omitempty"`
	// Prompt holds the prompt values (none, login, consent).
	Prompt []string `json:"p,omitempty"`
	// LoginHint prefills the sign-in form.
	LoginHint string `json:"lh,omitempty"`
	// Expires is when the pages must have been completed, Unix seconds.
	Expires int64 `json:"e"`
}

func (pr *pendingRequest) prompts(v string) bool { return slices.Contains(pr.Prompt, v) }

// sealPending signs a pending request for a hidden form field.
func (s *Server) sealPending(pr *pendingRequest) (string, error) {
	return signin.Seal(s.derivedKey("authz-request"), pr)
}

// openPending verifies the hidden request field of a posted page.
func (s *Server) openPending(raw string) (*pendingRequest, *problem.Error) {
	var pr pendingRequest
	if raw == "" || !signin.Open(s.derivedKey("authz-request"), raw, &pr) || pr.ClientID == "" || pr.RedirectURI == "" {
		return nil, problem.New(problem.InvalidRequestAuthorizationRequestInvalid,
			"The form did not carry a valid authorization request. Go back to the app and start the sign-in again.")
	}
	if s.cfg.Now().Unix() >= pr.Expires {
		return nil, problem.New(problem.InvalidRequestAuthorizationRequestExpired,
			"This sign-in page was open for more than 10 minutes and has expired. Go back to the app and start the sign-in again.")
	}
	return &pr, nil
}
