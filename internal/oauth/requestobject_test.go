package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/testhttp"
)

// testVerifier is the code_verifier of testChallenge (RFC 7636 appendix B).
const testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

// requestObject signs a request object (RFC 9101) of clientID with key:
// the claims the CAMARA profile requires (iss, aud, iat, exp a minute
// later, jti) and client_id, then params; mutate may change claims, and a
// claim it sets to nil is left out.
func (e *authzEnv) requestObject(key testhttp.AssertionKey, clientID, aud string, params map[string]any, mutate func(map[string]any)) string {
	e.t.Helper()
	now := e.clock.Now()
	claims := map[string]any{"iss": clientID, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"jti": randomString(12), "client_id": clientID}
	maps.Copy(claims, params)
	if mutate != nil {
		mutate(claims)
	}
	for k, v := range claims {
		if v == nil {
			delete(claims, k)
		}
	}
	return key.Sign(e.t, "oauth-authz-req+jwt", claims)
}

// jarParams are an authorization request's parameters for a request
// object: state, nonce and the PKCE challenge live only here.
func jarParams() map[string]any {
	return map[string]any{"response_type": "code", "redirect_uri": appRedirect, "scope": "openid phone",
		"state": "inner-state", "nonce": "inner-nonce", "code_challenge": testChallenge, "code_challenge_method": "S256"}
}

// newJARClient registers a private_key_jwt client for the authorization
// code flow and CIBA whose registered key signs its request objects.
func (e *authzEnv) newJARClient() (testClient, testhttp.AssertionKey) {
	e.t.Helper()
	key := e.newAssertionKey()
	c := e.createClient("signed requests", "token_endpoint_auth_method", "private_key_jwt", "jwks", key.JWKS(e.t),
		"grant_types", "authorization_code urn:openid:params:grant-type:ciba", "redirect_uris", appRedirect,
		"scopes", "openid phone sim-swap:check")
	return c, key
}

// TestRequestObjectAuthorize: a signed authorization request (RFC 9101,
// the CAMARA profile's "Signed Authentication Requests") whose state,
// nonce and PKCE challenge live only inside the object is served from the
// object's parameters: state comes back, the code exchange with the
// verifier works, and the ID token carries the nonce. Parameters beside
// the object are ignored, but those the profile names must match it.
func TestRequestObjectAuthorize(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	c, key := e.newJARClient()

	// RFC 9101 §5: only client_id and request outside, aud the issuer.
	q := e.fullFlow(e.browser, authorizeQuery("client_id", c.ID, "request", e.requestObject(key, c.ID, e.ts.URL, jarParams(), nil)))
	if got := q.Get("state"); got != "inner-state" {
		t.Errorf("state = %q; want the request object's, inner-state", got)
	}
	resp := e.postForm(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {appRedirect}, "code_verifier": {testVerifier},
		"client_assertion_type": {ClientAssertionTypeJWT}, "client_assertion": {key.Assertion(t, c.ID, e.ts.URL+PathToken, nil)}}, "", "")
	var tok map[string]any
	testhttp.DecodeJSON(t, resp, &tok)
	if resp.StatusCode != 200 || tok["scope"] != "openid phone" {
		t.Fatalf("code exchange: %d %v", resp.StatusCode, tok)
	}
	idt, _ := tok["id_token"].(string)
	parts := strings.Split(idt, ".")
	var idClaims map[string]any
	if len(parts) != 3 {
		t.Fatalf("id_token %q", idt)
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(b, &idClaims) != nil || idClaims["nonce"] != "inner-nonce" {
		t.Errorf("ID token claims %v; want the request object's nonce", idClaims)
	}

	// The profile's form: response_type, scope, redirect_uri and client_id
	// beside the object with the same values (scope in another order), aud
	// the authorization endpoint. The outer state, nonce and challenge
	// differ and are ignored. The session and the consent given above
	// answer at once.
	outer := authorizeQuery("response_type", "code", "scope", "phone openid", "redirect_uri", appRedirect, "client_id", c.ID,
		"state", "outer-state", "nonce", "outer-nonce", "code_challenge", strings.Repeat("x", 43), "code_challenge_method", "S256",
		"request", e.requestObject(key, c.ID, e.ts.URL+PathAuthorize, jarParams(), nil))
	q = e.redirectTo(e.get(e.browser, outer), http.StatusFound, appRedirect)
	if q.Get("state") != "inner-state" || q.Get("code") == "" {
		t.Fatalf("profile form: %v", q)
	}
	if ac := e.redeem(q.Get("code")); ac.Nonce != "inner-nonce" || ac.CodeChallenge != testChallenge || ac.RedirectURI != appRedirect {
		t.Errorf("stored code %+v; want the object's nonce, challenge and redirect_uri", ac)
	}

	// POST to the authorization endpoint carries the object as well.
	page := e.post(e.browser, PathAuthorize, url.Values{"client_id": {c.ID},
		"request": {e.requestObject(key, c.ID, e.ts.URL, jarParams(), nil)}})
	if q := e.redirectTo(page, http.StatusSeeOther, appRedirect); q.Get("state") != "inner-state" || q.Get("code") == "" {
		t.Errorf("POST: %v", q)
	}

	// prompt=none inside the object applies; outside it would be ignored.
	noPrompt := jarParams()
	noPrompt["prompt"] = "none"
	q = e.redirectTo(e.get(e.newBrowser(), authorizeQuery("client_id", c.ID, "request", e.requestObject(key, c.ID, e.ts.URL, noPrompt, nil))), http.StatusFound, appRedirect)
	if q.Get("error") != "login_required" || q.Get("state") != "inner-state" {
		t.Errorf("prompt=none inside the object: %v", q)
	}
	q = e.redirectTo(e.get(e.browser, authorizeQuery("client_id", c.ID, "prompt", "none", "max_age", "0",
		"request", e.requestObject(key, c.ID, e.ts.URL, jarParams(), nil))), http.StatusFound, appRedirect)
	if q.Get("code") == "" {
		t.Errorf("prompt=none and max_age=0 outside the object were not ignored: %v", q)
	}
}

// TestRequestObjectAuthorizeErrors: every way a request object fails at
// the authorization endpoint answers invalid_request_object with its own
// cause: redirected to the client's registered redirect URI (with the
// object's state once its signature verified, else the state beside it),
// or on the error page when no trusted redirect URI is known.
func TestRequestObjectAuthorizeErrors(t *testing.T) {
	t.Parallel()
	var reported atomic.Pointer[problem.Error] // the last error the server reported
	e := newAuthzEnv(t, func(c *Config) {
		c.Render.Observe = func(_ *http.Request, p *problem.Error) { reported.Store(p) }
	})
	c, key := e.newJARClient()
	other := e.newAssertionKey()
	now := e.clock.Now()
	iss := e.ts.URL
	signed := func(mutate func(map[string]any)) string { return e.requestObject(key, c.ID, iss, jarParams(), mutate) }
	set := func(kv ...any) func(map[string]any) {
		return func(m map[string]any) {
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
		}
	}
	hs256 := func() string {
		enc := base64.RawURLEncoding
		in := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(`{"iss":"`+c.ID+`"}`))
		m := hmac.New(sha256.New, []byte("shared"))
		m.Write([]byte(in))
		return in + "." + enc.EncodeToString(m.Sum(nil))
	}
	replayed := signed(nil)
	e.mustBeLoginPage(e.get(e.newBrowser(), authorizeQuery("client_id", c.ID, "request", replayed))) // its first use
	cases := []struct {
		name        string
		query       string
		cause       string
		state       string // "" for no state
		description string
	}{
		{"not a JWS", authorizeQuery("client_id", c.ID, "state", "outer", "request", "abc.def"), "malformed", "outer", "compact JWS"},
		{"encrypted", authorizeQuery("client_id", c.ID, "request", "a.b.c.d.e"), "malformed", "", "encrypted"},
		{"alg none", authorizeQuery("client_id", c.ID, "request", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."), "algorithm_not_allowed", "", "unsigned"},
		{"alg HS256", authorizeQuery("client_id", c.ID, "request", hs256()), "algorithm_not_allowed", "", "HMAC"},
		{"client without keys", authorizeQuery("client_id", "app", "request", e.requestObject(key, "app", iss, jarParams(), nil)), "client_keys_missing", "", "no registered public keys"},
		{"another key", authorizeQuery("client_id", c.ID, "state", "outer", "request", e.requestObject(other, c.ID, iss, jarParams(), nil)), "signature_invalid", "outer", "signature"},
		{"iss another client", authorizeQuery("client_id", c.ID, "request", signed(set("iss", "app"))), "issuer_mismatch", "inner-state", "iss"},
		{"no iss", authorizeQuery("client_id", c.ID, "request", signed(set("iss", nil))), "claim_missing", "inner-state", "iss"},
		{"aud the token endpoint", authorizeQuery("client_id", c.ID, "request", signed(set("aud", iss+PathToken))), "audience_mismatch", "inner-state", PathAuthorize},
		{"aud another server", authorizeQuery("client_id", c.ID, "request", signed(set("aud", []string{"https://other.example"}))), "audience_mismatch", "inner-state", "aud"},
		{"no aud", authorizeQuery("client_id", c.ID, "request", signed(set("aud", nil))), "claim_missing", "inner-state", "aud"},
		{"client_id inside differs", authorizeQuery("client_id", c.ID, "request", signed(set("client_id", "app"))), "client_id_mismatch", "inner-state", "client_id"},
		{"no client_id inside", authorizeQuery("client_id", c.ID, "request", signed(set("client_id", nil))), "client_id_mismatch", "inner-state", "no client_id"},
		{"no exp", authorizeQuery("client_id", c.ID, "request", signed(set("exp", nil))), "claim_missing", "inner-state", "exp"},
		{"no iat", authorizeQuery("client_id", c.ID, "request", signed(set("iat", nil))), "claim_missing", "inner-state", "iat"},
		{"no jti", authorizeQuery("client_id", c.ID, "request", signed(set("jti", nil))), "claim_missing", "inner-state", "jti"},
		{"expired", authorizeQuery("client_id", c.ID, "request", signed(set("iat", now.Add(-3*time.Minute).Unix(), "exp", now.Add(-time.Minute).Unix()))), "expired", "inner-state", "expired"},
		{"nbf ahead", authorizeQuery("client_id", c.ID, "request", signed(set("nbf", now.Add(time.Minute).Unix()))), "not_yet_valid", "inner-state", "nbf"},
		{"iat ahead", authorizeQuery("client_id", c.ID, "request", signed(set("iat", now.Add(time.Minute).Unix(), "exp", now.Add(2*time.Minute).Unix()))), "issued_in_future", "inner-state", "iat"},
		{"exp 301 s after iat", authorizeQuery("client_id", c.ID, "request", signed(set("exp", now.Add(301*time.Second).Unix()))), "lifetime_too_long", "inner-state", "301 seconds"},
		{"replayed", authorizeQuery("client_id", c.ID, "request", replayed), "replayed", "inner-state", "jti"},
		{"scope beside differs", authorizeQuery("client_id", c.ID, "scope", "openid sim-swap:check", "request", signed(nil)), "parameter_mismatch", "inner-state", "scope"},
		{"response_type beside differs", authorizeQuery("client_id", c.ID, "response_type", "token", "request", signed(nil)), "parameter_mismatch", "inner-state", "response_type"},
		{"redirect_uri beside differs", authorizeQuery("client_id", c.ID, "redirect_uri", "https://app.example/cb", "request", signed(nil)), "parameter_mismatch", "inner-state", "redirect_uri"},
		{"request_uri inside", authorizeQuery("client_id", c.ID, "request", signed(set("request_uri", "https://app.example/r"))), "nested_request", "inner-state", "request_uri"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := e.redirectTo(e.get(e.newBrowser(), tc.query), http.StatusFound, appRedirect)
			if q.Get("error") != "invalid_request_object" || q.Has("code") {
				t.Fatalf("error = %q (%s); want invalid_request_object", q.Get("error"), q.Get("error_description"))
			}
			if !strings.HasSuffix(q.Get("error_uri"), "#invalid_request_object") {
				t.Errorf("error_uri %q", q.Get("error_uri"))
			}
			if d := q.Get("error_description"); !strings.Contains(d, tc.description) {
				t.Errorf("error_description %q lacks %q", d, tc.description)
			}
			if got := q.Get("state"); got != tc.state {
				t.Errorf("state = %q; want %q", got, tc.state)
			}
			if p := reported.Load(); p == nil || p.CauseID != tc.cause {
				t.Errorf("reported %v; want cause %s", p, tc.cause)
			}
		})
	}

	// No trusted redirect URI: the page, never a redirect.
	pages := []struct {
		name, query, key, cause string
	}{
		{"no client_id beside the object", authorizeQuery("request", signed(nil)), "invalid_request", "missing_parameter"},
		{"unknown client", authorizeQuery("client_id", "nope", "request", signed(nil)), "invalid_request", "client_id_unknown"},
		{"bad signature, unregistered redirect_uri beside", authorizeQuery("client_id", c.ID, "redirect_uri", "https://evil.example/cb",
			"request", e.requestObject(other, c.ID, iss, jarParams(), nil)), "invalid_request_object", "signature_invalid"},
		{"verified, unregistered redirect_uri inside", authorizeQuery("client_id", c.ID,
			"request", e.requestObject(key, c.ID, iss, map[string]any{"response_type": "code", "redirect_uri": "https://evil.example/cb", "scope": "openid"}, nil)),
			"invalid_redirect_uri", "redirect_uri_not_registered"},
		{"expired, unregistered redirect_uri inside and beside", authorizeQuery("client_id", c.ID, "redirect_uri", "https://evil.example/cb",
			"request", e.requestObject(key, c.ID, iss, map[string]any{"redirect_uri": "https://evil.example/cb"}, set("exp", now.Add(-time.Minute).Unix()))),
			"invalid_request_object", "expired"},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			p := e.get(e.newBrowser(), tc.query)
			if p.StatusCode != http.StatusBadRequest || p.Header.Get("Location") != "" {
				t.Fatalf("%d Location %q; want the 400 error page", p.StatusCode, p.Header.Get("Location"))
			}
			for _, want := range []string{"<code>" + tc.key + "</code>", "<code>" + tc.cause + "</code>"} {
				if !strings.Contains(p.body, want) {
					t.Errorf("page lacks %q:\n%s", want, p.body)
				}
			}
		})
	}
	if n := e.st.codes.Load(); n != 0 {
		t.Errorf("%d codes stored; want none", n)
	}
}

// TestRequestObjectCIBA: a signed backchannel authentication request (CIBA
// Core §7.1.1, the CAMARA profile's CIBA "Authentication Request"): the
// client authenticates beside it (private_key_jwt), scope and login_hint
// live only inside, outer ones are ignored, and each failure answers 400
// invalid_request_object with its cause.
func TestRequestObjectCIBA(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	c, key := e.newJARClient()
	other := e.newAssertionKey()
	now := e.clock.Now()
	bcURL := e.ts.URL + PathBCAuthorize
	ciba := map[string]any{"scope": "openid phone", "login_hint": "tel:+34600000001", "binding_message": "Demo 42", "nbf": now.Unix()}
	object := func(k testhttp.AssertionKey, aud string, mutate func(map[string]any)) string {
		return e.requestObject(k, c.ID, aud, ciba, func(m map[string]any) {
			delete(m, "client_id") // optional for CIBA
			if mutate != nil {
				mutate(m)
			}
		})
	}
	bc := func(form url.Values) (int, map[string]any) {
		form.Set("client_assertion_type", ClientAssertionTypeJWT)
		form.Set("client_assertion", key.Assertion(t, c.ID, bcURL, nil))
		resp := e.postForm(PathBCAuthorize, form, "", "")
		var body map[string]any
		testhttp.DecodeJSON(t, resp, &body)
		return resp.StatusCode, body
	}

	for _, aud := range []string{bcURL, e.ts.URL} {
		// An outer scope the client may not have and an outer hint that
		// would be refused are ignored: only the object counts.
		status, body := bc(url.Values{"request": {object(key, aud, nil)}, "scope": {"device-location:read"}, "login_hint": {"nonsense"}})
		if status != 200 || body["auth_req_id"] == nil {
			t.Fatalf("aud %s: %d %v", aud, status, body)
		}
		resp := e.postForm(PathToken, url.Values{"grant_type": {GrantCIBA}, "auth_req_id": {body["auth_req_id"].(string)},
			"client_assertion_type": {ClientAssertionTypeJWT}, "client_assertion": {key.Assertion(t, c.ID, e.ts.URL+PathToken, nil)}}, "", "")
		var tok map[string]any
		testhttp.DecodeJSON(t, resp, &tok)
		if resp.StatusCode != 200 || tok["scope"] != "openid phone" || tok["id_token"] == nil {
			t.Fatalf("poll: %d %v", resp.StatusCode, tok)
		}
		at, p := e.srv.VerifyAccessToken(tok["access_token"].(string))
		if p != nil {
			t.Fatal(p)
		}
		if ref, ok := e.srv.UserOf(at); !ok || ref.Line != "+34600000001" {
			t.Errorf("the token acts for %+v; want the object's login_hint", ref)
		}
	}

	set := func(kv ...any) func(map[string]any) {
		return func(m map[string]any) {
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
		}
	}
	replayed := object(key, bcURL, nil)
	if status, body := bc(url.Values{"request": {replayed}}); status != 200 {
		t.Fatalf("first use: %d %v", status, body)
	}
	cases := []struct{ name, request, cause, description string }{
		{"not a JWS", "x", "malformed", "compact JWS"},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", "algorithm_not_allowed", "unsigned"},
		{"another key", object(other, bcURL, nil), "signature_invalid", "signature"},
		{"iss another client", object(key, bcURL, set("iss", "machine")), "issuer_mismatch", "iss"},
		{"aud the authorization endpoint", object(key, e.ts.URL+PathAuthorize, nil), "audience_mismatch", PathBCAuthorize},
		{"client_id inside differs", object(key, bcURL, set("client_id", "app")), "client_id_mismatch", "client_id"},
		{"no nbf", object(key, bcURL, set("nbf", nil)), "claim_missing", "nbf"},
		{"no jti", object(key, bcURL, set("jti", nil)), "claim_missing", "jti"},
		{"expired", object(key, bcURL, set("iat", now.Add(-3*time.Minute).Unix(), "exp", now.Add(-time.Minute).Unix())), "expired", "expired"},
		{"exp 400 s after iat", object(key, bcURL, set("exp", now.Add(400*time.Second).Unix())), "lifetime_too_long", "400 seconds"},
		{"replayed", replayed, "replayed", "jti"},
		{"request inside", object(key, bcURL, set("request", "x")), "nested_request", "request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := bc(url.Values{"request": {tc.request}, "scope": {"openid"}, "login_hint": {"tel:+34600000001"}})
			if status != 400 || body["error"] != "invalid_request_object" || body["cause"] != tc.cause {
				t.Fatalf("%d %v; want 400 invalid_request_object/%s", status, body, tc.cause)
			}
			if d, _ := body["error_description"].(string); !strings.Contains(d, tc.description) {
				t.Errorf("error_description %q lacks %q", d, tc.description)
			}
		})
	}
}
