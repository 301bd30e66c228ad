package oauth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// The authorization endpoint (RFC 6749 §3.1, §4.1; OpenID Connect Core
// §3.1.2) and the pages it shows end users.
//
// Errors are rendered by where they happen (DESIGN.md): until the client and
// its redirect URI are established, as an HTML page (errorPage) and never a
// redirect; after that, as a redirect to the redirect URI (redirectError).

// AuthorizeRoutes registers the authorization endpoint and the end-user
// pages: the sign-in and consent forms it shows, and the sandbox's CIBA
// approval page.
func (s *Server) AuthorizeRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+PathAuthorize, s.page(s.authorize))
	mux.Handle("POST "+PathAuthorize, s.page(s.authorize))
	mux.Handle("POST "+PathLogin, s.page(s.login))
	mux.Handle("POST "+PathConsent, s.page(s.consent))
	mux.Handle("GET "+PathCIBAApprove, s.page(s.cibaPage))
	mux.Handle("POST "+PathCIBAApprove, s.page(s.cibaAction))
}

// Response types (RFC 6749 §3.1.1, OAuth 2.0 Multiple Response Types §5).
const responseTypeCode = "code"

// responseTypesNotOffered are response types defined by OAuth or OpenID
// Connect that gatehouse does not offer (the implicit and hybrid flows).
var responseTypesNotOffered = map[string]bool{
	"token": true, "id_token": true, "id_token token": true, "code id_token": true,
	"code token": true, "code id_token token": true, "none": true,
}

// pkceChallenge is the syntax of a code_challenge (RFC 7636 §4.2): 43 to
// 128 characters of the unreserved set.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// authorize serves GET and POST /oauth2/authorize.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	params, p := s.authorizeParams(w, r)
	if p != nil {
		s.errorPage(w, r, p)
		return
	}
	if params.Has("request") && !params.Has("request_uri") {
		var errRedirect, errState string
		if params, errRedirect, errState, p = s.authorizeRequestObject(r.Context(), params); p != nil {
			if errRedirect == "" {
				s.errorPage(w, r, p)
			} else {
				s.redirectError(w, r, errRedirect, errState, p)
			}
			return
		}
	}
	client, redirectURI, given, p := s.authorizeClient(r.Context(), params)
	if p != nil {
		// A client_id or redirect_uri missing beside request_uri is likely
		// inside the unsupported request object: that is the cause to
		// show (still on the page, never redirected).
		if rp := requestObjectProblem(params); rp != nil && (p.Reason() == problem.InvalidRequestMissingParameter || p.Reason() == problem.InvalidRedirectURIRedirectURIMissing) {
			p = rp
		}
		s.errorPage(w, r, p)
		return
	}
	// From here on the redirect URI is trusted: errors go back to the app.
	state := ""
	if len(params["state"]) == 1 {
		state = params.Get("state")
	}
	pr, p := s.parseAuthorize(client, params)
	if p != nil {
		s.redirectError(w, r, redirectURI, state, p)
		return
	}
	pr.RedirectURI, pr.RedirectGiven = redirectURI, given

	ss, user, p := s.currentSession(r.Context(), r)
	if p != nil {
		s.redirectError(w, r, redirectURI, state, p)
		return
	}
	reauth := ss != nil && pr.MaxAge != nil &&
		(*pr.MaxAge == 0 || s.cfg.Now().Sub(ss.authTime()).Seconds() > float64(*pr.MaxAge))
	if pr.prompts("none") {
		// OpenID Connect Core §3.1.2.6: no page may be shown.
		switch {
		case ss == nil:
			p = problem.New(problem.LoginRequiredNoSession, "No user is signed in, and prompt=none forbids showing the sign-in page.")
		case reauth:
			p = problem.Newf(problem.LoginRequiredMaxAgeExceeded,
				"The user signed in more than max_age=%d seconds ago, and prompt=none forbids asking again.", *pr.MaxAge)
		case !ss.consented(client.ID, pr.Scopes):
			p = problem.New(problem.ConsentRequiredConsentMissing,
				"The user has not allowed these scopes to this app in this session, and prompt=none forbids asking.")
		}
		if p != nil {
			s.redirectError(w, r, redirectURI, state, p)
			return
		}
		s.issueCode(w, r, pr, user, ss)
		return
	}
	if ss == nil || reauth || pr.prompts("login") {
		f := loginForm{Username: pr.LoginHint}
		if ValidPhoneNumber(pr.LoginHint) {
			f.Phone = pr.LoginHint
		}
		s.renderLogin(w, r, pr, client, f, http.StatusOK)
		return
	}
	s.afterSignIn(w, r, pr, client, user, ss)
}

// authorizeParams reads the request's parameters: the query of a GET, the
// form body of a POST (OpenID Connect Core §3.1.2.1). Repeated parameters
// are checked later, once errors can be redirected.
func (s *Server) authorizeParams(w http.ResponseWriter, r *http.Request) (url.Values, *problem.Error) {
	if r.Method != http.MethodPost {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, problem.New(problem.BadRequestMalformedRequest,
				"The query string is not valid percent-encoded name=value pairs.").Wrap(err)
		}
		return q, nil
	}
	return s.readPageForm(w, r)
}

// readPageForm reads a form posted by a page (or an app's POST to the
// authorization endpoint), bounded by MaxFormBytes.
func (s *Server) readPageForm(w http.ResponseWriter, r *http.Request) (url.Values, *problem.Error) {
	limit := s.cfg.MaxFormBytes
	if r.ContentLength > limit {
		return nil, problem.Newf(problem.PayloadTooLargeDeclaredTooLarge,
			"The body is %d bytes; this page accepts at most %d.", r.ContentLength, limit)
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, problem.Newf(problem.InvalidRequestWrongContentType,
			"The body must be application/x-www-form-urlencoded; got Content-Type %q.", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if p := problem.BodyTimeout(err); p != nil {
			return nil, p
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, problem.Newf(problem.PayloadTooLargeBodyTooLarge,
				"The body grew past %d bytes, the most this page accepts.", limit)
		}
		return nil, problem.New(problem.InvalidRequestMalformedBody, "The request body could not be read completely.").Wrap(err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, problem.New(problem.InvalidRequestMalformedBody,
			"The form body is not valid application/x-www-form-urlencoded data.").Wrap(err)
	}
	return form, nil
}

// authorizeClient establishes the client and the redirect URI, the two
// things that must hold before any error may be redirected (RFC 6749
// §4.1.2.1). given tells whether the request named the redirect URI.
func (s *Server) authorizeClient(ctx context.Context, params url.Values) (c *store.Client, redirectURI string, given bool, p *problem.Error) {
	for _, name := range []string{"client_id", "redirect_uri"} {
		if n := len(params[name]); n > 1 {
			return nil, "", false, problem.Newf(problem.InvalidRequestRepeatedParameter,
				"The parameter %q appears %d times; send it once (RFC 6749 section 3.1).", name, n)
		}
	}
	id := params.Get("client_id")
	if id == "" {
		return nil, "", false, problem.New(problem.InvalidRequestMissingParameter,
			"The client_id parameter is required: the app that sent you here did not say who it is.")
	}
	c, p = s.activeClient(ctx, id)
	if p != nil {
		return nil, "", false, p
	}
	redirectURI, given = params.Get("redirect_uri"), params.Has("redirect_uri")
	switch {
	case !given && len(c.RedirectURIs) == 1:
		return c, c.RedirectURIs[0], false, nil
	case !given || redirectURI == "":
		return nil, "", false, problem.Newf(problem.InvalidRedirectURIRedirectURIMissing,
			"The request carried no redirect_uri, and the app %q has %d redirect URIs registered, so the server cannot tell where to send you back.",
			c.Name, len(c.RedirectURIs))
	case checkRedirectURI(redirectURI) != nil:
		return nil, "", false, problem.Newf(problem.InvalidRedirectURIRedirectURIMalformed,
			"The redirect_uri %q is not an absolute URI without a fragment.", redirectURI)
	case !redirectURIRegistered(c.RedirectURIs, redirectURI):
		return nil, "", false, problem.Newf(problem.InvalidRedirectURIRedirectURINotRegistered,
			"The redirect_uri %q is not registered for the app %q; matching is exact.", redirectURI, c.Name)
	}
	return c, redirectURI, true, nil
}

// activeClient returns the client if it exists and is active; otherwise an
// error for the HTML error page.
func (s *Server) activeClient(ctx context.Context, id string) (*store.Client, *problem.Error) {
	c, err := s.clients.get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.Newf(problem.InvalidRequestClientIDUnknown, "No app with the client_id %q is registered here.", id)
	} else if err != nil {
		return nil, problem.FromOAuthStore(err)
	}
	if c.Status != store.ClientActive {
		return nil, problem.Newf(problem.InvalidRequestClientIDInactive, "The app %q is %s and cannot sign users in.", c.Name, c.Status)
	}
	return c, nil
}

// parseAuthorize checks the rest of the request; its errors are
// redirected.
func (s *Server) parseAuthorize(c *store.Client, params url.Values) (*pendingRequest, *problem.Error) {
	for name, vs := range params {
		if len(vs) > 1 {
			return nil, problem.Newf(problem.InvalidRequestRepeatedParameter,
				"The parameter %q appears %d times; send each parameter once (RFC 6749 section 3.1).", name, len(vs))
		}
	}
	if p := requestObjectProblem(params); p != nil {
		return nil, p
	}
	switch rt := params.Get("response_type"); {
	case rt == "":
		return nil, problem.New(problem.InvalidRequestMissingParameter, "The response_type parameter is required; send response_type=code.")
	case responseTypesNotOffered[rt]:
		return nil, problem.Newf(problem.UnsupportedResponseTypeResponseTypeNotOffered,
			"response_type=%s is not offered here (no implicit or hybrid flow); use response_type=code.", rt)
	case rt != responseTypeCode:
		return nil, problem.Newf(problem.UnsupportedResponseTypeUnknownResponseType,
			"response_type=%q is not a known response type; use response_type=code.", rt)
	}
	if !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		return nil, problem.Newf(problem.UnauthorizedClientResponseTypeNotAllowed,
			"The app %q is not registered for the authorization_code grant.", c.Name)
	}
	if rm := params.Get("response_mode"); rm != "" && rm != "query" {
		return nil, problem.Newf(problem.InvalidRequestInvalidParameter,
			"response_mode=%q is not supported; the only response mode is query.", rm)
	}

	pr := &pendingRequest{ClientID: c.ID, State: params.Get("state"), Nonce: params.Get("nonce")}
	// PKCE (RFC 7636 §4.3, RFC 9700 §2.1.1). An absent method means plain,
	// which is not accepted.
	challenge, method := params.Get("code_challenge"), params.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return nil, problem.New(problem.InvalidRequestMissingParameter,
			"code_challenge_method was sent without code_challenge.")
	case challenge == "" && c.TokenEndpointAuthMethod == AuthNone:
		return nil, problem.New(problem.InvalidRequestPKCERequired,
			"This app is a public client: send code_challenge (the S256 hash of a code_verifier) with code_challenge_method=S256.")
	case challenge == "" && s.cfg.RequirePKCE:
		return nil, problem.New(problem.InvalidRequestPKCERequired,
			"This server requires PKCE of every app: send code_challenge (the S256 hash of a code_verifier) with code_challenge_method=S256.")
	case challenge != "" && method != "S256":
		if method == "" {
			method = "plain (the default when code_challenge_method is absent)"
		}
		return nil, problem.Newf(problem.InvalidRequestUnsupportedChallengeMethod,
			"code_challenge_method %s is not accepted; send code_challenge_method=S256.", method)
	case challenge != "" && !pkceChallenge.MatchString(challenge):
		return nil, problem.New(problem.InvalidRequestInvalidParameter,
			"code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (the base64url S256 hash is 43).")
	}
	pr.CodeChallenge = challenge

	requested, p := parseScope(params.Get("scope"))
	if p != nil {
		return nil, p
	}
	if pr.Scopes, p = s.grantedScopes(c, requested); p != nil {
		return nil, p
	}
	if pr.Prompt, p = parsePrompt(params.Get("prompt")); p != nil {
		return nil, p
	}
	if raw := params.Get("max_age"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return nil, problem.Newf(problem.InvalidRequestInvalidParameter,
				"max_age must be a non-negative number of seconds; got %q.", raw)
		}
		pr.MaxAge = &n
	}
	hint := params.Get("login_hint")
	if phone, ok := strings.CutPrefix(hint, "tel:"); ok {
		hint = phone
	}
	if len(hint) <= 64 {
		pr.LoginHint = hint
	}
	pr.Expires = s.cfg.Now().Add(PendingRequestTTL).Unix()
	return pr, nil
}

// requestObjectProblem refuses request objects by reference (request_uri:
// OpenID Connect Core §6.2, RFC 9101 §5.2, RFC 9126), which gatehouse does
// not support: ignoring one would act on the outer parameters the client
// meant to be overridden, or fail on missing ones with a misleading
// message. OpenID Connect Core §3.1.2.6 and RFC 9101 §7 name the code;
// discovery says request_uri_parameter_supported is false. Request
// objects by value (request) are verified by authorizeRequestObject
// before this runs, and their parameters hold neither.
func requestObjectProblem(params url.Values) *problem.Error {
	if params.Has("request_uri") {
		return problem.New(problem.RequestURINotSupportedRequestURINotSupported,
			"The request_uri parameter (a request object by reference, RFC 9101 section 5.2) is not supported here; send the signed request object by value in the request parameter, or the authorization parameters as plain query parameters.")
	}
	return nil
}

// authorizeRequestObject verifies the signed request object of an
// authorization request (RFC 9101, OpenID Connect Core §6.1, the CAMARA
// profile's "Signed Authentication Requests") and returns the parameters
// to use: the object's alone (RFC 9101 §6.3), with the client_id both
// carry. Parameters also sent beside the object must match it where the
// CAMARA profile says so (response_type, scope, redirect_uri); every
// other outer parameter is ignored.
//
// On failure, redirectURI is where the error may be sent, with state:
// the object's redirect_uri and state when its signature verified and the
// URI is registered; otherwise the outer ones when the outer parameters
// alone establish a registered redirect URI (authorizeClient); otherwise
// "" for the error page.
func (s *Server) authorizeRequestObject(ctx context.Context, outer url.Values) (params url.Values, redirectURI, state string, p *problem.Error) {
	if n := len(outer["client_id"]); n != 1 || outer.Get("client_id") == "" {
		if n > 1 {
			return nil, "", "", problem.Newf(problem.InvalidRequestRepeatedParameter,
				"The parameter %q appears %d times; send it once (RFC 6749 section 3.1).", "client_id", n)
		}
		return nil, "", "", problem.New(problem.InvalidRequestMissingParameter,
			"The client_id parameter is required beside the request object (RFC 9101 section 5): the app that sent you here did not say who it is.")
	}
	c, p := s.activeClient(ctx, outer.Get("client_id"))
	if p != nil {
		return nil, "", "", p
	}
	// Where an error may go before the object is trusted.
	fallback := func(p *problem.Error) (url.Values, string, string, *problem.Error) {
		if _, uri, _, perr := s.authorizeClient(ctx, outer); perr == nil {
			st := ""
			if len(outer["state"]) == 1 {
				st = outer.Get("state")
			}
			return nil, uri, st, p
		}
		return nil, "", "", p
	}
	if n := len(outer["request"]); n > 1 {
		return fallback(problem.Newf(problem.InvalidRequestRepeatedParameter,
			"The parameter %q appears %d times; send one request object.", "request", n))
	}
	inner, p := s.openRequestObject(ctx, outer.Get("request"), c, requestObjectRules{endpoint: PathAuthorize, requireClientID: true})
	if inner == nil {
		return fallback(p)
	}
	inner.Set("client_id", c.ID)
	if p == nil {
		p = outerParamsMismatch(outer, inner)
	}
	if p != nil {
		// The object is the client's own: report to its redirect URI, with
		// its state, once that is registered.
		if _, uri, _, perr := s.authorizeClient(ctx, inner); perr == nil {
			return nil, uri, inner.Get("state"), p
		}
		return fallback(p)
	}
	return inner, "", "", nil
}

// parsePrompt splits prompt (OpenID Connect Core §3.1.2.1): none, login,
// consent and select_account (treated as login: gatehouse has no account
// chooser); none may not be combined.
func parsePrompt(raw string) ([]string, *problem.Error) {
	if raw == "" {
		return nil, nil
	}
	var out []string
	for _, v := range strings.Split(raw, " ") {
		switch v {
		case "none", "login", "consent":
		case "select_account":
			v = "login"
		default:
			return nil, problem.Newf(problem.InvalidRequestInvalidParameter,
				"prompt=%q is not one of none, login, consent, select_account.", v)
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if slices.Contains(out, "none") && len(out) > 1 {
		return nil, problem.New(problem.InvalidRequestInvalidParameter, "prompt=none cannot be combined with other prompt values.")
	}
	return out, nil
}

// login serves POST /oauth2/login: the sign-in form of an authorization
// request. A failed sign-in answers 200 with the form and one message for
// every cause (no user enumeration): the page is a successful rendering of
// the form, and 401 would owe a WWW-Authenticate challenge that form sign-in
// does not have (RFC 9110 §15.5.2). Failures are logged at Info.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	form, pr, client, p := s.postedRequest(w, r)
	if p != nil {
		s.errorPage(w, r, p)
		return
	}
	if p := s.checkCSRF(r, form, "login", form.Get("request")); p != nil {
		s.errorPage(w, r, p)
		return
	}
	action := form.Get("action")
	if action == "cancel" {
		s.redirectError(w, r, pr.RedirectURI, pr.State,
			problem.New(problem.AccessDeniedUserDeclined, "The user cancelled the sign-in."))
		return
	}
	user, retry, p := s.signIn(r, form, action)
	if p != nil {
		s.errorPage(w, r, p)
		return
	}
	if user == nil {
		s.renderLogin(w, r, pr, client, *retry, retry.status(w))
		return
	}
	ss := s.newSession(r, user)
	if err := s.saveSession(w, ss); err != nil {
		s.errorPage(w, r, problem.Internal(err))
		return
	}
	s.afterSignIn(w, r, pr, client, user, ss)
}

// signIn runs the sign-in a form asked for: action "password" (username
// and password) or "network" (the sandbox identifies the line by its phone
// number). It returns the user, or the form to show again with a message,
// or an error for the error page.
func (s *Server) signIn(r *http.Request, form url.Values, action string) (*store.User, *loginForm, *problem.Error) {
	users := &UserManager{Store: s.cfg.Store, Now: s.cfg.Now}
	switch action {
	case "password":
		username := strings.TrimSpace(form.Get("username"))
		if wait := s.signInThrottled(r, "user|"+strings.ToLower(username)); wait > 0 {
			return nil, throttledForm(loginForm{Username: username}, wait), nil
		}
		u, err := users.Authenticate(r.Context(), username, form.Get("password"))
		if errors.Is(err, ErrInvalidCredentials) {
			// One message for unknown user, wrong password and
			// password-less user: no user enumeration.
			s.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "end-user sign-in failed",
				slog.String("reason", err.Error()), slog.String("path", r.URL.Path),
				slog.String("correlator", problem.Correlator(r.Context())))
			return nil, &loginForm{Username: username, Error: "The username or password is incorrect."}, nil
		} else if err != nil {
			return nil, nil, pageStoreError(err)
		}
		s.logSignIn(r, u, action)
		return u, nil, nil
	case "network":
		if !s.cfg.NetworkLogin {
			return nil, nil, problem.New(problem.InvalidRequestInvalidParameter,
				"Identification by the network is not offered on this server; sign in with a username and password.")
		}
		phone := strings.Join(strings.Fields(form.Get("phone")), "")
		if wait := s.signInThrottled(r, "line|"+phone); wait > 0 {
			return nil, throttledForm(loginForm{Phone: phone}, wait), nil
		}
		u, err := users.IdentifyLine(r.Context(), phone)
		var pe *problem.Error
		if errors.As(err, &pe) && (pe.Entry.Key == "bad_request" || pe.Entry.Key == "already_exists") {
			msg := "Enter the phone number in international format: + then country code and number, for example +34600000001."
			if pe.Entry.Key == "already_exists" {
				msg = "This line cannot be identified by the network; sign in with a username and password."
			}
			return nil, &loginForm{Phone: phone, Error: msg, PhoneError: true}, nil
		} else if err != nil {
			return nil, nil, pageStoreError(err)
		}
		s.logSignIn(r, u, action)
		return u, nil, nil
	}
	return nil, nil, problem.Newf(problem.InvalidRequestInvalidParameter, "The form's action %q is not one this page offers.", action)
}

// signInThrottled counts a sign-in attempt for the account key and the
// request's address (signin.Throttle) and returns how long to wait when one
// of them is over its limit.
func (s *Server) signInThrottled(r *http.Request, account string) time.Duration {
	t := signin.Throttle{Limiter: s.cfg.AbuseLimiter, AddressRate: s.cfg.SignInAddressRate,
		Now: s.cfg.Now, Logger: s.cfg.Logger, What: "end-user"}
	return t.Wait(r, account)
}

// throttledForm is the sign-in form shown again after a throttled attempt.
func throttledForm(f loginForm, wait time.Duration) *loginForm {
	f.Error = "Too many sign-in attempts. Wait " + problem.RetryAfterSeconds(wait) + " seconds, then try again."
	f.retryAfter = wait
	return &f
}

func (s *Server) logSignIn(r *http.Request, u *store.User, method string) {
	s.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "end user signed in",
		slog.String("user_id", u.ID), slog.String("method", method), slog.String("path", r.URL.Path),
		slog.String("correlator", problem.Correlator(r.Context())))
}

// pageStoreError maps a failure of the store (or a cancelled request) to
// the error page.
func pageStoreError(err error) *problem.Error {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe
	}
	return problem.FromOAuthStore(err)
}

// afterSignIn continues a request once a user is signed in: straight back
// to the app with a code when the user already allowed these scopes to it
// in this session (and the app did not ask for prompt=consent), else the
// consent page.
func (s *Server) afterSignIn(w http.ResponseWriter, r *http.Request, pr *pendingRequest, c *store.Client, u *store.User, ss *session) {
	if ss.consented(c.ID, pr.Scopes) && !pr.prompts("consent") {
		s.issueCode(w, r, pr, u, ss)
		return
	}
	s.renderConsent(w, r, pr, c, u)
}

// consent serves POST /oauth2/consent: Allow or Deny.
func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	form, pr, client, p := s.postedRequest(w, r)
	if p != nil {
		s.errorPage(w, r, p)
		return
	}
	ss, user, p := s.currentSession(r.Context(), r)
	if p != nil {
		s.errorPage(w, r, p)
		return
	}
	if ss == nil {
		// The session ended while the consent page was open.
		s.renderLogin(w, r, pr, client, loginForm{Error: "Your session has ended; sign in again."}, http.StatusOK)
		return
	}
	if p := s.checkCSRF(r, form, "consent", user.ID, form.Get("request")); p != nil {
		s.errorPage(w, r, p)
		return
	}
	switch form.Get("action") {
	case "deny":
		s.redirectError(w, r, pr.RedirectURI, pr.State,
			problem.New(problem.AccessDeniedConsentDenied, "The user did not allow the app the access it asked for."))
	case "allow":
		ss.remember(client.ID, pr.Scopes)
		if err := s.saveSession(w, ss); err != nil {
			s.errorPage(w, r, problem.Internal(err))
			return
		}
		s.issueCode(w, r, pr, user, ss)
	default:
		s.errorPage(w, r, problem.Newf(problem.InvalidRequestInvalidParameter,
			"The form's action %q is not one this page offers.", form.Get("action")))
	}
}

// postedRequest reads a page's form and its signed authorization request,
// and checks again that the client is active and the redirect URI still
// registered: either may have changed while the page was open.
func (s *Server) postedRequest(w http.ResponseWriter, r *http.Request) (url.Values, *pendingRequest, *store.Client, *problem.Error) {
	form, p := s.readPageForm(w, r)
	if p != nil {
		return nil, nil, nil, p
	}
	pr, p := s.openPending(form.Get("request"))
	if p != nil {
		return nil, nil, nil, p
	}
	c, p := s.activeClient(r.Context(), pr.ClientID)
	if p != nil {
		return nil, nil, nil, p
	}
	if !redirectURIRegistered(c.RedirectURIs, pr.RedirectURI) {
		return nil, nil, nil, problem.Newf(problem.InvalidRedirectURIRedirectURINotRegistered,
			"The redirect_uri %q is no longer registered for the app %q.", pr.RedirectURI, c.Name)
	}
	return form, pr, c, nil
}

// issueCode issues an authorization code for the signed-in user and sends
// the browser back to the app with it (RFC 6749 §4.1.2, RFC 9207 iss).
//
// The code is stored by its SHA-256 only. AuthCode.RedirectURI is the
// redirect_uri as the authorization request sent it, empty when the request
// omitted it (the client's only registered URI was used): RFC 6749 §4.1.3
// requires the token request to repeat it exactly when it was sent.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, pr *pendingRequest, u *store.User, ss *session) {
	now := s.cfg.Now()
	code := newOpaqueToken()
	ac := &store.AuthCode{
		Hash:          hashToken(code),
		ClientID:      pr.ClientID,
		UserID:        u.ID,
		Scopes:        pr.Scopes,
		Nonce:         pr.Nonce,
		CodeChallenge: pr.CodeChallenge,
		AuthTime:      ss.authTime(),
		ExpiresAt:     now.Add(AuthCodeTTL),
		GrantID:       "gr_" + randomString(16), // the token family
		CreatedAt:     now,
	}
	if ac.Scopes == nil {
		ac.Scopes = []string{}
	}
	if pr.RedirectGiven {
		ac.RedirectURI = pr.RedirectURI
	}
	if pr.CodeChallenge != "" {
		ac.CodeChallengeMethod = "S256"
	}
	if err := s.cfg.Store.CreateAuthCode(r.Context(), ac); err != nil {
		s.redirectError(w, r, pr.RedirectURI, pr.State, problem.FromOAuthStore(err))
		return
	}
	q := url.Values{"code": {code}, "iss": {s.cfg.Issuer}}
	if pr.State != "" {
		q.Set("state", pr.State)
	}
	http.Redirect(w, r, withQuery(pr.RedirectURI, q), redirectStatus(r))
}

// redirectError sends an authorization error back to the app: a redirect
// to redirectURI with error, error_description, error_uri, state (when the
// request had one) and iss (RFC 6749 §4.1.2.1, RFC 9207). It is the only
// place authorization errors are redirected; call it only with a redirect
// URI that was checked against the client's registration.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, err error) {
	p := problem.From(err)
	code := p.Entry.OAuthCode
	if code == "" {
		code = "server_error"
		if p.Status() == http.StatusServiceUnavailable {
			code = "temporarily_unavailable"
		}
	}
	q := url.Values{
		"error":             {code},
		"error_description": {problem.OAuthSafe(p.Message())},
		"error_uri":         {s.render.DocURL(p.Entry)},
		"iss":               {s.cfg.Issuer},
	}
	if state != "" {
		q.Set("state", state)
	}
	s.render.Report(r, p)
	http.Redirect(w, r, withQuery(redirectURI, q), redirectStatus(r))
}

// withQuery appends params to a registered redirect URI, keeping its own
// query exactly as registered (RFC 6749 §3.1.2).
func withQuery(redirectURI string, params url.Values) string {
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
		if strings.HasSuffix(redirectURI, "?") || strings.HasSuffix(redirectURI, "&") {
			sep = ""
		}
	}
	return redirectURI + sep + params.Encode()
}

// redirectStatus is 302 Found after a GET and 303 See Other after a POST,
// so the browser follows with a GET either way.
func redirectStatus(r *http.Request) int {
	if r.Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}
