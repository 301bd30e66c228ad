package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
)

func TestAuthorizeErrorPages(t *testing.T) {
	e := newAuthzEnv(t, nil)
	cases := []struct {
		name, request     string
		status            int
		key, cause        string
		mentionsInDetails string
	}{
		{"missing client_id", authorizeQuery("response_type", "code"), 400, "invalid_request", "missing_parameter", "client_id"},
		{"unknown client", appRequest("client_id", "nope"), 400, "invalid_request", "client_id_unknown", "nope"},
		{"suspended client", appRequest("client_id", "frozen"), 400, "invalid_request", "client_id_inactive", "suspended"},
		{"repeated client_id", appRequest() + "&client_id=app", 400, "invalid_request", "repeated_parameter", "client_id"},
		{"unregistered redirect_uri", appRequest("redirect_uri", "https://evil.example/cb"), 400, "invalid_redirect_uri", "redirect_uri_not_registered", "evil.example"},
		{"redirect_uri prefix only", appRequest("redirect_uri", "https://app.example/cb"), 400, "invalid_redirect_uri", "redirect_uri_not_registered", ""},
		{"redirect_uri with fragment", appRequest("redirect_uri", appRedirect+"#x"), 400, "invalid_redirect_uri", "redirect_uri_malformed", ""},
		{"relative redirect_uri", appRequest("redirect_uri", "/cb"), 400, "invalid_redirect_uri", "redirect_uri_malformed", ""},
		{"empty redirect_uri", appRequest("redirect_uri", ""), 400, "invalid_redirect_uri", "redirect_uri_missing", ""},
		{"missing redirect_uri, several registered", appRequest("client_id", "multi", "redirect_uri", "-"), 400, "invalid_redirect_uri", "redirect_uri_missing", "2 redirect URIs"},
		{"repeated redirect_uri", appRequest() + "&redirect_uri=" + url.QueryEscape(appRedirect), 400, "invalid_request", "repeated_parameter", "redirect_uri"},
		{"malformed query", PathAuthorize + "?client_id=app&state=%zz", 400, "bad_request", "malformed_request", ""},
		{"unknown client, bad redirect too", appRequest("client_id", "nope", "redirect_uri", "https://evil.example/"), 400, "invalid_request", "client_id_unknown", ""},
		// Request objects (issue 14): without a client_id beside the
		// object, or a trusted redirect URI before the object verifies,
		// the error is shown on the page. request_uri is refused, not
		// ignored (issue 9). More in TestRequestObjectAuthorizeErrors.
		{"request object only", authorizeQuery("request", "eyJhbGciOiJub25lIn0.e30."), 400, "invalid_request", "missing_parameter", "client_id"},
		{"request_uri only", authorizeQuery("request_uri", "urn:ietf:params:oauth:request_uri:abc"), 400, "request_uri_not_supported", "request_uri_not_supported", "request_uri"},
		{"request object, redirect_uri inside", authorizeQuery("client_id", "multi", "response_type", "code", "request", "eyJhbGciOiJub25lIn0.e30."), 400, "invalid_request_object", "algorithm_not_allowed", "none"},
		{"request object, unknown client", appRequest("client_id", "nope", "request", "x.y.z"), 400, "invalid_request", "client_id_unknown", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.get(e.browser, tc.request)
			if p.StatusCode != tc.status {
				t.Fatalf("status %d; want %d\n%s", p.StatusCode, tc.status, p.body)
			}
			if loc := p.Header.Get("Location"); loc != "" {
				t.Errorf("redirected to %q; an untrusted request must get a page", loc)
			}
			for _, want := range []string{"<code>" + tc.key + "</code>", "<code>" + tc.cause + "</code>", "/docs/errors#" + tc.key} {
				if !strings.Contains(p.body, want) {
					t.Errorf("page lacks %q:\n%s", want, p.body)
				}
			}
			if tc.mentionsInDetails != "" && !strings.Contains(p.body, tc.mentionsInDetails) {
				t.Errorf("page does not mention %q:\n%s", tc.mentionsInDetails, p.body)
			}
			if strings.Contains(p.body, "<App>") {
				t.Error("the client's name is not escaped")
			}
		})
	}
	if n := e.st.codes.Load(); n != 0 {
		t.Errorf("%d codes stored; want none", n)
	}
}

func TestAuthorizeErrorRedirects(t *testing.T) {
	e := newAuthzEnv(t, nil)
	cases := []struct {
		name, request string
		redirectURI   string
		code          string
		description   string // a fragment of error_description
		noState       bool
	}{
		{"missing response_type", appRequest("response_type", "-"), appRedirect, "invalid_request", "response_type", false},
		{"implicit flow", appRequest("response_type", "token"), appRedirect, "unsupported_response_type", "not offered", false},
		{"hybrid flow", appRequest("response_type", "code id_token"), appRedirect, "unsupported_response_type", "not offered", false},
		{"unknown response_type", appRequest("response_type", "cod"), appRedirect, "unsupported_response_type", "not a known", false},
		{"client without authorization_code", appRequest("client_id", "machine", "scope", "sim-swap:check"), appRedirect, "unauthorized_client", "authorization_code", false},
		{"plain PKCE", appRequest("code_challenge_method", "plain"), appRedirect, "invalid_request", "S256", false},
		{"PKCE method defaulting to plain", appRequest("code_challenge_method", "-"), appRedirect, "invalid_request", "plain", false},
		{"unknown PKCE method", appRequest("code_challenge_method", "S512"), appRedirect, "invalid_request", "S512", false},
		{"method without challenge", appRequest("code_challenge", "-"), appRedirect, "invalid_request", "code_challenge_method was sent without", false},
		{"short challenge", appRequest("code_challenge", "abc"), appRedirect, "invalid_request", "43 to 128", false},
		{"challenge with bad characters", appRequest("code_challenge", strings.Repeat("a", 42)+"="), appRedirect, "invalid_request", "43 to 128", false},
		{"public client without PKCE", authorizeQuery("response_type", "code", "client_id", "spa", "state", "s1"), spaRedirect, "invalid_request", "public client", false},
		{"unknown scope", appRequest("scope", "openid nope:read"), appRedirect, "invalid_scope", "does not exist", false},
		{"scope not allowed", appRequest("scope", "openid device-location:read"), appRedirect, "invalid_scope", "not allowed", false},
		{"malformed scope", appRequest("scope", "openid  phone"), appRedirect, "invalid_scope", "single spaces", false},
		{"repeated parameter", appRequest() + "&nonce=again", appRedirect, "invalid_request", "nonce", false},
		{"repeated state", appRequest() + "&state=other", appRedirect, "invalid_request", "state", true},
		{"unknown prompt", appRequest("prompt", "maybe"), appRedirect, "invalid_request", "prompt", false},
		{"prompt none with login", appRequest("prompt", "none login"), appRedirect, "invalid_request", "prompt=none", false},
		{"negative max_age", appRequest("max_age", "-1"), appRedirect, "invalid_request", "max_age", false},
		{"response_mode fragment", appRequest("response_mode", "fragment"), appRedirect, "invalid_request", "response_mode", false},
		{"prompt none without session", appRequest("prompt", "none"), appRedirect, "login_required", "No user is signed in", false},
		// An unsigned request object (alg none) is refused, not ignored
		// (issue 9, issue 14), before response_type is looked at.
		{"request object", appRequest("request", "eyJhbGciOiJub25lIn0.e30."), appRedirect, "invalid_request_object", "unsigned", false},
		{"request object without response_type", appRequest("response_type", "-", "request", "eyJhbGciOiJub25lIn0.e30."), appRedirect, "invalid_request_object", "unsigned", false},
		{"request_uri", appRequest("request_uri", "urn:ietf:params:oauth:request_uri:abc"), appRedirect, "request_uri_not_supported", "request_uri", false},
		{"request_uri with prompt none", appRequest("request_uri", "https://app.example/req.jwt", "prompt", "none"), appRedirect, "request_uri_not_supported", "request_uri", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.get(e.browser, tc.request)
			q := e.redirectTo(p, http.StatusFound, tc.redirectURI)
			if got := q.Get("error"); got != tc.code {
				t.Errorf("error = %q; want %q (%s)", got, tc.code, q.Get("error_description"))
			}
			if got := q.Get("error_description"); !strings.Contains(got, tc.description) {
				t.Errorf("error_description %q lacks %q", got, tc.description)
			}
			wantState := "st-123"
			if tc.redirectURI == spaRedirect {
				wantState = "s1"
			}
			if tc.noState {
				wantState = ""
			}
			if got := q.Get("state"); got != wantState {
				t.Errorf("state = %q; want %q", got, wantState)
			}
			if !strings.Contains(q.Get("error_uri"), "/docs/errors#") {
				t.Errorf("error_uri = %q", q.Get("error_uri"))
			}
			if q.Has("code") {
				t.Error("an error redirect carries a code")
			}
		})
	}
	if n := e.st.codes.Load(); n != 0 {
		t.Errorf("%d codes stored; want none", n)
	}
}

func TestAuthorizeCodeFlow(t *testing.T) {
	e := newAuthzEnv(t, nil)
	login := e.get(e.browser, appRequest())
	e.mustBeLoginPage(login)
	for _, want := range []string{
		"Sign in to continue to Demo &lt;App&gt;",
		"Confirm that you are signed in", "See your phone number",
		"Check whether your SIM card was changed recently",
		"Identify by the network (sandbox)",
		`autocomplete="current-password"`, `<label for="username">`,
	} {
		if !strings.Contains(login.body, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
	if csp := login.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.example;") {
		t.Errorf("CSP %q does not let the form redirect to the app's origin", csp)
	}

	consent := e.signIn(e.browser, login, testUsername)
	e.mustBeConsentPage(consent)
	if !strings.Contains(consent.body, "alice") || !strings.Contains(consent.body, "Allow Demo &lt;App&gt; access?") {
		t.Errorf("consent page does not name the user and the app:\n%s", consent.body)
	}
	var sessionCookie string
	for _, c := range consent.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, sessionPattern) {
			sessionCookie = c
		}
	}
	for _, attr := range []string{"Path=/oauth2/", "HttpOnly", "SameSite=Lax", "Max-Age=43200"} {
		if !strings.Contains(sessionCookie, attr) {
			t.Errorf("session cookie %q lacks %s", sessionCookie, attr)
		}
	}
	if strings.Contains(sessionCookie, "Secure") {
		t.Errorf("session cookie %q is Secure on an http issuer", sessionCookie)
	}

	q := e.redirectTo(e.post(e.browser, PathConsent, formOf(t, consent.body, "action", "allow")), http.StatusSeeOther, appRedirect)
	if got := q.Get("state"); got != "st-123" {
		t.Errorf("state = %q", got)
	}
	code := q.Get("code")
	if len(code) != 43 {
		t.Fatalf("code %q; want 256 bits base64url", code)
	}
	ac := e.redeem(code)
	alice, _ := e.st.GetUserByUsername(context.Background(), testUsername)
	now := e.clock.Now()
	if ac.ClientID != "app" || ac.UserID != alice.ID || ac.RedirectURI != appRedirect || ac.Nonce != "n-456" ||
		ac.CodeChallenge != testChallenge || ac.CodeChallengeMethod != "S256" || ac.GrantID == "" ||
		strings.Join(ac.Scopes, " ") != appScopes || !ac.AuthTime.Equal(now.Truncate(time.Second)) ||
		!ac.ExpiresAt.Equal(now.Add(AuthCodeTTL)) {
		t.Errorf("stored code = %+v", ac)
	}
	if n := e.st.codes.Load(); n != 1 {
		t.Errorf("%d codes stored; want 1", n)
	}
}

func TestAuthorizeDefaultsAndPost(t *testing.T) {
	e := newAuthzEnv(t, nil)
	// A public client with its only redirect URI omitted, by POST.
	form := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "code_challenge": {testChallenge},
		"code_challenge_method": {"S256"}, "state": {"xyz"}}
	login := e.post(e.browser, PathAuthorize, form)
	consent := e.signIn(e.browser, login, testUsername)
	e.mustBeConsentPage(consent)
	if !strings.Contains(consent.body, "Confirm that you are signed in") {
		t.Errorf("no scope requested: the client's scopes (openid) apply; page:\n%s", consent.body)
	}
	if csp := consent.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://localhost:9000;") {
		t.Errorf("CSP %q", csp)
	}
	q := e.redirectTo(e.post(e.browser, PathConsent, formOf(t, consent.body, "action", "allow")), http.StatusSeeOther, spaRedirect)
	ac := e.redeem(q.Get("code"))
	if ac.RedirectURI != "" || strings.Join(ac.Scopes, " ") != "openid" || q.Get("state") != "xyz" {
		t.Errorf("stored code = %+v (redirect_uri was omitted: stored empty), state %q", ac, q.Get("state"))
	}
}

func TestAuthorizeSignInFailures(t *testing.T) {
	e := newAuthzEnv(t, nil)
	ctx := context.Background()
	if _, err := e.users.IdentifyLine(ctx, "+34600000099"); err != nil { // a user with no password
		t.Fatal(err)
	}
	login := e.get(e.browser, appRequest())
	for _, tc := range []struct{ username, password string }{
		{testUsername, "wrong password"},
		{"nobody", testPassword},
		{"+34600000099", ""},
		{"+34600000099", "anything at all"},
		{"bad user name!", testPassword},
	} {
		p := e.post(e.browser, PathLogin, formOf(t, login.body, "action", "password", "username", tc.username, "password", tc.password))
		e.mustBeLoginPage(p)
		if !strings.Contains(p.body, "The username or password is incorrect.") || !strings.Contains(p.body, `role="alert"`) {
			t.Errorf("%s/%s: page lacks the one failure message:\n%s", tc.username, tc.password, p.body)
		}
		for _, c := range p.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, sessionPattern) {
				t.Errorf("%s: a failed sign-in set a session", tc.username)
			}
		}
		login = p
	}
	// The username typed is kept, escaped.
	p := e.post(e.browser, PathLogin, formOf(t, login.body, "action", "password", "username", `"><script>`, "password", "x"))
	if strings.Contains(p.body, "<script>") || !strings.Contains(p.body, `value="&#34;&gt;&lt;script&gt;"`) {
		t.Errorf("typed username not kept escaped:\n%s", p.body)
	}
	if n := e.st.codes.Load(); n != 0 {
		t.Errorf("%d codes stored; want none", n)
	}
}

// TestSignInThrottled: attempts on one account are limited (a burst of 10,
// then one per 10 s) before the password is checked, with 429 and
// Retry-After on the form; other accounts from the same address go on, and
// the account recovers with time.
func TestSignInThrottled(t *testing.T) {
	e := newAuthzEnv(t, func(c *Config) { c.AbuseLimiter, c.SignInAddressRate = ratelimit.NewMemory(), 2 })
	login := e.get(e.browser, appRequest())
	for i := range 10 {
		p := e.post(e.browser, PathLogin, formOf(t, login.body, "action", "password", "username", testUsername, "password", "wrong password"))
		e.mustBeLoginPage(p)
		if !strings.Contains(p.body, "The username or password is incorrect.") {
			t.Fatalf("attempt %d: not the failure message:\n%s", i+1, p.body)
		}
		login = p
	}
	// The 11th attempt is refused even with the right password, and the
	// username is matched without regard to case.
	p := e.post(e.browser, PathLogin, formOf(t, login.body, "action", "password", "username", strings.ToUpper(testUsername), "password", testPassword))
	if p.StatusCode != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many sign-in attempts. Wait 10 seconds") ||
		p.Header.Get("Retry-After") != "10" || !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("11th attempt: %d Retry-After %q; want 429, Retry-After 10 and the form with the message:\n%s", p.StatusCode, p.Header.Get("Retry-After"), p.body)
	}
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, sessionPattern) {
			t.Error("a throttled sign-in set a session")
		}
	}
	// Another account from the same address is not affected.
	other := e.newBrowser()
	e.mustBeConsentPage(e.signIn(other, e.get(other, appRequest()), otherUsername))
	// Ten seconds later the account may try once more.
	e.clock.Advance(10 * time.Second)
	e.mustBeConsentPage(e.signIn(e.browser, e.get(e.browser, appRequest()), testUsername))

	// Spraying many accounts from one address meets the address limit
	// (1 attempt/s, bursts of 10 here).
	spray := newAuthzEnv(t, func(c *Config) { c.AbuseLimiter, c.SignInAddressRate = ratelimit.NewMemory(), 1 })
	login = spray.get(spray.browser, appRequest())
	for i := range 10 {
		p := spray.post(spray.browser, PathLogin, formOf(t, login.body, "action", "password", "username", fmt.Sprintf("guess%d", i), "password", "123456"))
		spray.mustBeLoginPage(p)
		login = p
	}
	p = spray.post(spray.browser, PathLogin, formOf(t, login.body, "action", "password", "username", "guess10", "password", "123456"))
	if p.StatusCode != http.StatusTooManyRequests || p.Header.Get("Retry-After") != "1" {
		t.Errorf("11th account from one address: %d Retry-After %q; want 429 and 1", p.StatusCode, p.Header.Get("Retry-After"))
	}
}

func TestNetworkSignIn(t *testing.T) {
	e := newAuthzEnv(t, nil)
	ctx := context.Background()
	login := e.get(e.browser, appRequest())
	bad := e.post(e.browser, PathLogin, formOf(t, login.body, "action", "network", "phone", "600 000 003"))
	e.mustBeLoginPage(bad)
	if !strings.Contains(bad.body, "international format") || !strings.Contains(bad.body, `aria-invalid="true"`) {
		t.Errorf("bad number: page lacks the message:\n%s", bad.body)
	}
	consent := e.post(e.browser, PathLogin, formOf(t, bad.body, "action", "network", "phone", "+34 600 000 003"))
	e.mustBeConsentPage(consent)
	u, err := e.st.GetUserByPhone(ctx, "+34600000003")
	if err != nil || u.Username != "+34600000003" || u.PasswordHash != "" {
		t.Fatalf("network sign-in did not create the line's user: %+v, %v", u, err)
	}
	q := e.redirectTo(e.post(e.browser, PathConsent, formOf(t, consent.body, "action", "allow")), http.StatusSeeOther, appRedirect)
	if got := e.redeem(q.Get("code")).UserID; got != u.ID {
		t.Errorf("code for user %s; want %s", got, u.ID)
	}
	// An existing subscriber is found by number, not duplicated.
	other := e.newBrowser()
	consent = e.post(other, PathLogin, formOf(t, e.get(other, appRequest()).body, "action", "network", "phone", testPhone))
	e.mustBeConsentPage(consent)
	if !strings.Contains(consent.body, "<strong>alice</strong>") {
		t.Errorf("network sign-in with alice's number is not alice:\n%s", consent.body)
	}

	// login_hint=tel:… prefills the number.
	if p := e.get(e.newBrowser(), appRequest("login_hint", "tel:+34600000005")); !strings.Contains(p.body, `name="phone" value="&#43;34600000005"`) {
		t.Errorf("login_hint does not prefill the phone number:\n%s", p.body)
	}

	t.Run("disabled", func(t *testing.T) {
		e := newAuthzEnv(t, func(c *Config) { c.NetworkLogin = false })
		login := e.get(e.browser, appRequest())
		if strings.Contains(login.body, "Identify by the network") || strings.Contains(login.body, `name="phone"`) {
			t.Errorf("network sign-in offered while disabled")
		}
		p := e.post(e.browser, PathLogin, formOf(t, login.body, "action", "network", "phone", "+34600000004"))
		if p.StatusCode != 400 || !strings.Contains(p.body, "<code>invalid_parameter</code>") {
			t.Errorf("network sign-in while disabled: %d\n%s", p.StatusCode, p.body)
		}
		if _, err := e.st.GetUserByPhone(context.Background(), "+34600000004"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a user was created: %v", err)
		}
	})
}

func TestDenyAndCancel(t *testing.T) {
	e := newAuthzEnv(t, nil)
	consent := e.signIn(e.browser, e.get(e.browser, appRequest()), testUsername)
	q := e.redirectTo(e.post(e.browser, PathConsent, formOf(t, consent.body, "action", "deny")), http.StatusSeeOther, appRedirect)
	if q.Get("error") != "access_denied" || q.Get("state") != "st-123" || q.Has("code") {
		t.Errorf("deny redirected with %v", q)
	}
	login := e.get(e.browser, appRequest("prompt", "login"))
	q = e.redirectTo(e.post(e.browser, PathLogin, formOf(t, login.body, "action", "cancel")), http.StatusSeeOther, appRedirect)
	if q.Get("error") != "access_denied" || q.Get("state") != "st-123" {
		t.Errorf("cancel redirected with %v", q)
	}
	if n := e.st.codes.Load(); n != 0 {
		t.Errorf("%d codes stored; want none", n)
	}
}

func TestCSRF(t *testing.T) {
	e := newAuthzEnv(t, nil)
	login := e.get(e.browser, appRequest())
	wantForbidden := func(t *testing.T, p page, cause string) {
		t.Helper()
		status := 403
		if cause != "csrf_token_invalid" {
			status = 400
		}
		if p.StatusCode != status || !strings.Contains(p.body, "<code>"+cause+"</code>") || p.Header.Get("Location") != "" {
			t.Errorf("status %d, Location %q; want a %d page naming %s:\n%s", p.StatusCode, p.Header.Get("Location"), status, cause, p.body)
		}
	}
	signIn := func(kv ...string) url.Values {
		return formOf(t, login.body, append([]string{"action", "password", "username", testUsername, "password", testPassword}, kv...)...)
	}
	t.Run("missing token", func(t *testing.T) {
		wantForbidden(t, e.post(e.browser, PathLogin, signIn("csrf", "")), "csrf_token_invalid")
	})
	t.Run("wrong token", func(t *testing.T) {
		wantForbidden(t, e.post(e.browser, PathLogin, signIn("csrf", strings.Repeat("A", 43))), "csrf_token_invalid")
	})
	t.Run("another browser", func(t *testing.T) {
		other := e.newBrowser()
		e.get(other, appRequest()) // it has a cookie of its own
		wantForbidden(t, e.post(other, PathLogin, signIn()), "csrf_token_invalid")
	})
	t.Run("no cookie", func(t *testing.T) {
		bare := &http.Client{CheckRedirect: e.browser.CheckRedirect}
		wantForbidden(t, e.post(bare, PathLogin, signIn()), "csrf_token_invalid")
	})
	t.Run("token of another request", func(t *testing.T) {
		other := e.get(e.browser, appRequest("state", "other"))
		f := signIn()
		f.Set("request", hidden(t, other.body, "request"))
		wantForbidden(t, e.post(e.browser, PathLogin, f), "csrf_token_invalid")
	})
	t.Run("altered request", func(t *testing.T) {
		f := signIn()
		f.Set("request", strings.Replace(f.Get("request"), ".", "x.", 1))
		wantForbidden(t, e.post(e.browser, PathLogin, f), "authorization_request_invalid")
	})
	t.Run("consent for another user", func(t *testing.T) {
		b := e.newBrowser()
		consent := e.signIn(b, e.get(b, appRequest()), testUsername)
		e.mustBeConsentPage(consent)
		// In another tab, the same browser signs in as bob.
		e.mustBeConsentPage(e.signIn(b, e.get(b, appRequest("prompt", "login")), otherUsername))
		wantForbidden(t, e.post(b, PathConsent, formOf(t, consent.body, "action", "allow")), "csrf_token_invalid")
	})
	t.Run("expired request", func(t *testing.T) {
		b := e.newBrowser()
		login := e.get(b, appRequest())
		e.clock.Advance(PendingRequestTTL + time.Second)
		defer e.clock.Advance(-PendingRequestTTL - time.Second)
		wantForbidden(t, e.signIn(b, login, testUsername), "authorization_request_expired")
	})
	t.Run("cross-site form", func(t *testing.T) {
		// What another site can post: the fields it saw in its own
		// browser, sent with the victim's cookies.
		attacker := e.newBrowser()
		f := formOf(t, e.get(attacker, appRequest()).body, "action", "cancel")
		victim := e.newBrowser()
		e.get(victim, appRequest())
		wantForbidden(t, e.post(victim, PathLogin, f), "csrf_token_invalid")
	})
	if n := e.st.codes.Load(); n != 0 {
		t.Errorf("%d codes stored; want none", n)
	}
}

func TestSessionReuse(t *testing.T) {
	e := newAuthzEnv(t, nil)
	q := e.fullFlow(e.browser, appRequest())
	first := e.redeem(q.Get("code"))

	// Same client and scopes: no page at all, straight back with a code.
	e.clock.Advance(time.Minute)
	q = e.redirectTo(e.get(e.browser, appRequest("state", "again")), http.StatusFound, appRedirect)
	second := e.redeem(q.Get("code"))
	if q.Get("state") != "again" || second.UserID != first.UserID || !second.AuthTime.Equal(first.AuthTime) || second.GrantID == first.GrantID {
		t.Errorf("second code %+v; want the same user and auth_time, a new grant", second)
	}
	// Other scopes: consent again, but no sign-in.
	consent := e.get(e.browser, appRequest("scope", "openid"))
	e.mustBeConsentPage(consent)
	// prompt=consent asks even for approved scopes; prompt=login signs in again.
	e.mustBeConsentPage(e.get(e.browser, appRequest("prompt", "consent")))
	e.mustBeLoginPage(e.get(e.browser, appRequest("prompt", "login")))
	e.mustBeLoginPage(e.get(e.browser, appRequest("prompt", "select_account")))

	// prompt=none: a code when nothing needs asking, consent_required otherwise.
	q = e.redirectTo(e.get(e.browser, appRequest("prompt", "none")), http.StatusFound, appRedirect)
	e.redeem(q.Get("code"))
	q = e.redirectTo(e.get(e.browser, appRequest("prompt", "none", "scope", "openid")), http.StatusFound, appRedirect)
	if q.Get("error") != "consent_required" || q.Get("state") != "st-123" {
		t.Errorf("prompt=none with unapproved scopes: %v", q)
	}

	// The session ends after SessionTTL.
	e.clock.Advance(SessionTTL)
	e.mustBeLoginPage(e.get(e.browser, appRequest()))
	q = e.redirectTo(e.get(e.browser, appRequest("prompt", "none")), http.StatusFound, appRedirect)
	if q.Get("error") != "login_required" {
		t.Errorf("prompt=none after the session ended: %v", q)
	}

	t.Run("deleted user", func(t *testing.T) {
		b := e.newBrowser()
		if _, err := e.users.IdentifyLine(context.Background(), "+34600000077"); err != nil {
			t.Fatal(err)
		}
		consent := e.post(b, PathLogin, formOf(t, e.get(b, appRequest()).body, "action", "network", "phone", "+34600000077"))
		e.mustBeConsentPage(consent)
		u, _ := e.st.GetUserByPhone(context.Background(), "+34600000077")
		if err := e.users.Delete(context.Background(), u.ID); err != nil {
			t.Fatal(err)
		}
		e.mustBeLoginPage(e.get(b, appRequest()))
		p := e.post(b, PathConsent, formOf(t, consent.body, "action", "allow"))
		e.mustBeLoginPage(p)
		if !strings.Contains(p.body, "Your session has ended") {
			t.Errorf("consent without a session:\n%s", p.body)
		}
	})
}

func TestMaxAge(t *testing.T) {
	e := newAuthzEnv(t, nil)
	e.fullFlow(e.browser, appRequest())
	e.clock.Advance(2 * time.Minute)
	e.mustBeLoginPage(e.get(e.browser, appRequest("max_age", "60")))
	e.mustBeLoginPage(e.get(e.browser, appRequest("max_age", "0")))
	q := e.redirectTo(e.get(e.browser, appRequest("max_age", "600")), http.StatusFound, appRedirect)
	e.redeem(q.Get("code"))
	q = e.redirectTo(e.get(e.browser, appRequest("max_age", "60", "prompt", "none")), http.StatusFound, appRedirect)
	if q.Get("error") != "login_required" || !strings.Contains(q.Get("error_description"), "max_age=60") {
		t.Errorf("prompt=none with an old session: %v", q)
	}
	// Signing in again resets auth_time, and the request goes through.
	login := e.get(e.browser, appRequest("max_age", "60"))
	next := e.signIn(e.browser, login, testUsername)
	q = e.redirectTo(next, http.StatusSeeOther, appRedirect) // consent remembered in the session
	ac := e.redeem(q.Get("code"))
	if !ac.AuthTime.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Errorf("auth_time %v; want the new sign-in at %v", ac.AuthTime, e.clock.Now())
	}
}

func TestClientChangesWhileOnPage(t *testing.T) {
	e := newAuthzEnv(t, func(c *Config) { c.ClientCacheTTL = time.Nanosecond })
	login := e.get(e.browser, appRequest())
	if _, err := e.st.UpdateClient(context.Background(), "app", func(c *store.Client) error {
		c.Status = store.ClientSuspended
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	p := e.signIn(e.browser, login, testUsername)
	if p.StatusCode != 400 || !strings.Contains(p.body, "client_id_inactive") {
		t.Errorf("sign-in for a client suspended meanwhile: %d\n%s", p.StatusCode, p.body)
	}
}

func TestPagesNeedSecret(t *testing.T) {
	e := newAuthzEnv(t, func(c *Config) { c.Secret = "" })
	p := e.get(e.browser, appRequest())
	if p.StatusCode != 500 || p.Header.Get("Location") != "" {
		t.Errorf("no secret: status %d; want a 500 page", p.StatusCode)
	}
}

func TestCIBAApprovalPage(t *testing.T) {
	e := newAuthzEnv(t, nil)
	ctx := context.Background()
	alice, _ := e.st.GetUserByUsername(ctx, testUsername)
	bob, _ := e.st.GetUserByUsername(ctx, otherUsername)
	now := e.clock.Now()
	for _, r := range []*store.CIBARequest{
		{ID: "req-1", ClientID: "app", UserID: alice.ID, Scopes: []string{"openid", "sim-swap:check"}, BindingMessage: "K7Q2"},
		{ID: "req-2", ClientID: "spa", UserID: alice.ID, Scopes: []string{"openid"}},
		{ID: "req-old", ClientID: "app", UserID: alice.ID, Scopes: []string{"openid"}, BindingMessage: "OLD1", ExpiresAt: now.Add(-time.Second)},
		{ID: "req-bob", ClientID: "app", UserID: bob.ID, Scopes: []string{"openid"}, BindingMessage: "BOB9"},
	} {
		r.Status, r.Interval, r.CreatedAt, r.UpdatedAt = store.CIBAPending, CIBAInterval, now, now
		if r.ExpiresAt.IsZero() {
			r.ExpiresAt = now.Add(CIBARequestTTL)
		}
		if err := e.st.CreateCIBARequest(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	p := e.get(e.browser, PathCIBAApprove)
	if p.StatusCode != 200 || !strings.Contains(p.body, `name="password"`) || strings.Contains(p.body, "K7Q2") {
		t.Fatalf("signed out: want the sign-in forms only:\n%s", p.body)
	}
	// Without a valid token nothing happens.
	if p := e.post(e.browser, PathCIBAApprove, url.Values{"action": {"password"}, "username": {testUsername}, "password": {testPassword}}); p.StatusCode != 403 {
		t.Errorf("sign-in without CSRF token: %d", p.StatusCode)
	}
	bad := e.post(e.browser, PathCIBAApprove, formOf(t, p.body, "action", "password", "username", testUsername, "password", "nope"))
	if bad.StatusCode != 200 || !strings.Contains(bad.body, "The username or password is incorrect.") {
		t.Errorf("failed sign-in: %d\n%s", bad.StatusCode, bad.body)
	}
	in := e.post(e.browser, PathCIBAApprove, formOf(t, p.body, "action", "password", "username", testUsername, "password", testPassword))
	if in.StatusCode != http.StatusSeeOther || in.Header.Get("Location") != PathCIBAApprove {
		t.Fatalf("sign-in: %d %q", in.StatusCode, in.Header.Get("Location"))
	}
	p = e.get(e.browser, PathCIBAApprove)
	for _, want := range []string{"Demo &lt;App&gt;", "K7Q2", "Single Page", "Check whether your SIM card was changed recently", "expires in 120 seconds", "<strong>alice</strong>"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("approval page lacks %q:\n%s", want, p.body)
		}
	}
	for _, unwanted := range []string{"OLD1", "BOB9"} {
		if strings.Contains(p.body, unwanted) {
			t.Errorf("approval page shows %s (expired or another user's)", unwanted)
		}
	}

	answer := func(id, action string) page {
		return e.post(e.browser, PathCIBAApprove, formOf(t, p.body, "action", action, "id", id))
	}
	e.clock.Advance(3 * time.Second)
	if r := answer("req-1", "approve"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != PathCIBAApprove+"?result=approved" {
		t.Errorf("approve: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	got, _ := e.st.GetCIBARequest(ctx, "req-1")
	if got.Status != store.CIBAApproved || !got.AuthTime.Equal(e.clock.Now()) {
		t.Errorf("approved request = %+v", got)
	}
	if r := answer("req-2", "deny"); r.Header.Get("Location") != PathCIBAApprove+"?result=denied" {
		t.Errorf("deny: %q", r.Header.Get("Location"))
	}
	if got, _ := e.st.GetCIBARequest(ctx, "req-2"); got.Status != store.CIBADenied {
		t.Errorf("denied request = %+v", got)
	}
	for _, id := range []string{"req-1", "req-old", "req-bob", "nope", ""} {
		if r := answer(id, "approve"); r.Header.Get("Location") != PathCIBAApprove+"?result=unavailable" {
			t.Errorf("approve %q: %q; want unavailable", id, r.Header.Get("Location"))
		}
	}
	if got, _ := e.st.GetCIBARequest(ctx, "req-bob"); got.Status != store.CIBAPending {
		t.Errorf("alice answered bob's request: %+v", got)
	}
	after := e.get(e.browser, PathCIBAApprove+"?result=approved")
	if !strings.Contains(after.body, "You approved the request.") || strings.Contains(after.body, "K7Q2") {
		t.Errorf("page after answering:\n%s", after.body)
	}
	if r := e.get(e.browser, PathCIBAApprove+"?result=%3Cscript%3E"); strings.Contains(r.body, "<script") {
		t.Error("the result parameter is echoed")
	}

	// A signed-out browser cannot answer.
	other := e.newBrowser()
	e.get(other, PathCIBAApprove)
	if r := e.post(other, PathCIBAApprove, formOf(t, p.body, "action", "approve", "id", "req-bob")); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != PathCIBAApprove+"?result=expired" {
		t.Errorf("approve from a signed-out browser: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// Sign out.
	if r := e.post(e.browser, PathCIBAApprove, formOf(t, p.body, "action", "logout")); r.Header.Get("Location") != PathCIBAApprove+"?result=signedout" {
		t.Errorf("logout: %q", r.Header.Get("Location"))
	}
	if p := e.get(e.browser, PathCIBAApprove); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("still signed in after signing out")
	}

	t.Run("network sign-in", func(t *testing.T) {
		b := e.newBrowser()
		p := e.get(b, PathCIBAApprove)
		in := e.post(b, PathCIBAApprove, formOf(t, p.body, "action", "network", "phone", otherPhone))
		if in.StatusCode != http.StatusSeeOther {
			t.Fatalf("network sign-in: %d\n%s", in.StatusCode, in.body)
		}
		if p := e.get(b, PathCIBAApprove); !strings.Contains(p.body, "BOB9") {
			t.Errorf("bob's page lacks his request:\n%s", p.body)
		}
	})
}

func TestUserManager(t *testing.T) {
	e := newAuthzEnv(t, nil)
	ctx := context.Background()
	m := e.users
	for _, tc := range []struct{ username, password, phone, field string }{
		{"", testPassword, "", "username"},
		{"has space", testPassword, "", "username"},
		{strings.Repeat("a", 65), testPassword, "", "username"},
		{"carol", "short", "", "password"},
		{"carol", testPassword, "600000001", "phone"},
		{"carol", testPassword, "+0600000001", "phone"},
		{"carol", testPassword, "+3460000000123456", "phone"},
	} {
		_, err := m.Create(ctx, tc.username, tc.password, tc.phone)
		if p := problemOf(err); p == nil || p.Entry.Key != "bad_request" || p.Extra["field"] != tc.field {
			t.Errorf("Create(%q, %q, %q) = %v; want bad_request on %s", tc.username, tc.password, tc.phone, err, tc.field)
		}
	}
	for _, tc := range []struct{ username, phone string }{{testUsername, ""}, {"carol", testPhone}} {
		if _, err := m.Create(ctx, tc.username, testPassword, tc.phone); problemOf(err) == nil || problemOf(err).Entry.Key != "already_exists" {
			t.Errorf("duplicate %s/%s: %v; want already_exists", tc.username, tc.phone, err)
		}
	}
	v, err := m.Create(ctx, "carol@example.com", testPassword, "")
	if err != nil || !v.HasPassword || v.PhoneNumber != "" {
		t.Fatalf("Create = %+v, %v", v, err)
	}
	if u, err := m.Authenticate(ctx, "carol@example.com", testPassword); err != nil || u.ID != v.ID {
		t.Errorf("Authenticate = %v, %v", u, err)
	}
	if _, err := m.Authenticate(ctx, "carol@example.com", "wrong"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	list, err := m.List(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if err := m.Delete(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, v.ID); problemOf(err) == nil || problemOf(err).Entry.Key != "not_found" {
		t.Errorf("deleting again: %v; want not_found", err)
	}
	if _, err := m.IdentifyLine(ctx, "0034600000001"); problemOf(err) == nil {
		t.Errorf("IdentifyLine accepted a number that is not E.164")
	}
}

func problemOf(err error) *problem.Error {
	var p *problem.Error
	if errors.As(err, &p) {
		return p
	}
	return nil
}

// TestRequirePKCE: with RequirePKCE a confidential client must send a PKCE
// challenge too; without it, PKCE stays optional for confidential clients.
func TestRequirePKCE(t *testing.T) {
	noPKCE := appRequest("code_challenge", "-", "code_challenge_method", "-")
	strict := newAuthzEnv(t, func(c *Config) { c.RequirePKCE = true })
	q := strict.redirectTo(strict.get(strict.browser, noPKCE), http.StatusFound, appRedirect)
	if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "requires PKCE of every app") || q.Get("state") != "st-123" {
		t.Errorf("confidential client without PKCE under RequirePKCE: %v; want invalid_request naming the rule, state kept", q)
	}
	strict.mustBeLoginPage(strict.get(strict.browser, appRequest()))

	lax := newAuthzEnv(t, nil)
	lax.mustBeLoginPage(lax.get(lax.browser, noPKCE))
}
