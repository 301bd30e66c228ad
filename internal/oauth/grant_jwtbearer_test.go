package oauth

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/store"
	"gatehouse/internal/testhttp"
)

// TestJWTBearerGrant: a client asserts a subscriber with a JWT signed by
// its registered key (RFC 7523 §2.1) and gets a token acting for the
// subscriber's line, for the scopes of the assertion's scope claim. That
// the sandbox API verifies the number against it at the gateway is
// cmd/gatehouse's TestThreeLeggedTokensAtGateway.
func TestJWTBearerGrant(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	key := e.newAssertionKey()
	c := e.createClient("bearer app", "grant_types", "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"jwks", key.JWKS(t), "scopes", "number-verification:verify")
	tokenURL := e.ts.URL + PathToken
	grant := func(a string) (int, map[string]any) {
		return e.tokenForm(c, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {a}})
	}
	assertion := key.GrantAssertion(t, c.ID, tokenURL, "tel:+34600000001", "number-verification:verify", nil)
	status, tok := grant(assertion)
	if status != 200 || tok["access_token"] == nil || tok["refresh_token"] != nil {
		t.Fatalf("jwt-bearer: %d %v", status, tok)
	}
	// The token carries the line the gateway verifies numbers against.
	claims, p := e.srv.VerifyAccessToken(tok["access_token"].(string))
	if p != nil {
		t.Fatalf("the issued token does not verify: %v", p)
	}
	if ref, ok := e.srv.UserOf(claims); !ok || ref.Line != "+34600000001" {
		t.Errorf("the token acts for %+v (ok %v); want the line +34600000001", ref, ok)
	}
	if status, body := grant(assertion); status != 400 || body["error"] != "invalid_grant" || body["cause"] != "assertion_replayed" {
		t.Errorf("replayed assertion: %d %v", status, body)
	}
	other := e.newAssertionKey()
	now := e.clock.Now()
	for name, a := range map[string]string{
		"unknown subscriber": key.GrantAssertion(t, c.ID, tokenURL, "tel:+34600000004", "number-verification:verify", nil),
		"not a phone":        key.GrantAssertion(t, c.ID, tokenURL, "alice", "number-verification:verify", nil),
		"foreign key":        other.GrantAssertion(t, c.ID, tokenURL, "tel:+34600000001", "number-verification:verify", nil),
		"wrong audience":     key.GrantAssertion(t, c.ID, "https://elsewhere/token", "tel:+34600000001", "number-verification:verify", nil),
		"issued in the future": key.GrantAssertion(t, c.ID, tokenURL, "tel:+34600000001", "number-verification:verify", func(cl *jwt.Claims) {
			cl.IssuedAt = jwt.NewNumericDate(now.Add(2 * time.Minute))
			cl.Expiry = jwt.NewNumericDate(now.Add(3 * time.Minute))
		}),
	} {
		if status, body := grant(a); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v; want 400 invalid_grant", name, status, body)
		}
	}
	doc := e.discovery(PathOIDCDiscovery)
	for _, g := range []string{"authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba", "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_credentials"} {
		if !strings.Contains(testhttp.MustJSON(t, doc["grant_types_supported"]), g) {
			t.Errorf("discovery lacks grant %s", g)
		}
	}
}

// TestJWTBearerCAMARAProfile: the JWT bearer flow as the CAMARA Security
// and Interoperability Profile has it ("JWT Bearer Flow"): the assertion
// authenticates the client by itself, the scopes come from its mandatory
// scope claim (never the scope parameter: a request for one scope gets
// that scope, not every scope the client may have), iat is mandatory, the
// lifetime is at most 300 s, sub is tel:+… or operatortoken:…, and no
// refresh token is issued. Each refusal names its own cause.
func TestJWTBearerCAMARAProfile(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, func(c *Config) {
		c.ResolveOperatorToken = func(_ context.Context, token string) (string, error) {
			if token == "ts43-alice" {
				return testPhone, nil
			}
			return "", store.ErrNotFound
		}
	})
	key := e.newAssertionKey()
	c := e.createClient("camara app", "token_endpoint_auth_method", "private_key_jwt", "jwks", key.JWKS(t),
		"grant_types", "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"scopes", "openid offline_access number-verification:verify sim-swap:check")
	tokenURL := e.ts.URL + PathToken
	const scope = "number-verification:verify"
	// post sends the grant with the assertion as the only credential.
	post := func(form url.Values) (int, map[string]any) {
		t.Helper()
		form.Set("grant_type", GrantJWTBearer)
		resp := e.postForm(PathToken, form, "", "")
		var body map[string]any
		testhttp.DecodeJSON(t, resp, &body)
		return resp.StatusCode, body
	}
	asserting := func(a string) url.Values { return url.Values{"assertion": {a}} }

	status, tok := post(asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, nil)))
	if status != 200 || tok["scope"] != scope || tok["refresh_token"] != nil || tok["id_token"] != nil {
		t.Fatalf("assertion as the client authentication: %d %v; want 200 with scope %q only, no refresh or ID token", status, tok, scope)
	}
	if claims, p := e.srv.VerifyAccessToken(tok["access_token"].(string)); p != nil || claims.Scope != scope || claims.ClientID != c.ID {
		t.Errorf("issued token: %+v %v; want scope %q for %s", claims, p, scope, c.ID)
	}
	// client_id beside the assertion, as openid-client's None() sends it.
	form := asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, "sim-swap:check openid", nil))
	form.Set("client_id", c.ID)
	if status, tok := post(form); status != 200 || tok["scope"] != "sim-swap:check openid" || tok["id_token"] == nil {
		t.Errorf("with client_id: %d %v", status, tok)
	}
	// sub as a TS.43 operator token the network resolves.
	if status, tok := post(asserting(key.GrantAssertion(t, c.ID, tokenURL, "operatortoken:ts43-alice", scope, nil))); status != 200 {
		t.Errorf("operatortoken sub: %d %v", status, tok)
	} else if claims, _ := e.srv.VerifyAccessToken(tok["access_token"].(string)); claims != nil {
		if ref, ok := e.srv.UserOf(claims); !ok || ref.Line != testPhone {
			t.Errorf("the operator token's token acts for %+v; want %s", ref, testPhone)
		}
	}

	now := e.clock.Now()
	other := e.newAssertionKey()
	withClientID := func(a, id string) url.Values { f := asserting(a); f.Set("client_id", id); return f }
	withScope := func(a string) url.Values { f := asserting(a); f.Set("scope", scope); return f }
	noScope := key.Assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) { cl.Subject = "tel:" + testPhone })
	cases := []struct {
		name          string
		form          url.Values
		status        int
		code, cause   string
		inDescription string
	}{
		{"scope parameter", withScope(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, nil)), 400, "invalid_request", "scope_parameter_not_allowed", "scope claim"},
		{"no scope claim", asserting(noScope), 400, "invalid_grant", "assertion_scope_missing", "scope claim"},
		{"empty scope claim", asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, "", nil)), 400, "invalid_grant", "assertion_scope_missing", "empty"},
		{"scope claim not a string", asserting(key.Sign(t, "JWT", e.claimsFor(c.ID, "tel:"+testPhone, tokenURL), map[string]any{"scope": []string{scope}})), 400, "invalid_grant", "invalid_assertion", "one string"},
		{"scope not allowed", asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, "device-location:read", nil)), 400, "invalid_scope", "scope_not_allowed", "device-location:read"},
		{"unknown scope", asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, "teleport:now", nil)), 400, "invalid_scope", "unknown_scope", "teleport:now"},
		{"unknown client", asserting(key.GrantAssertion(t, "gh_nobody", tokenURL, "tel:"+testPhone, scope, nil)), 401, "invalid_client", "", ""}, // concealed: the log says unknown_client
		{"signed by another key", asserting(other.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, nil)), 401, "invalid_client", "invalid_assertion", "signature"},
		{"client_id differs from iss", withClientID(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, nil), "app"), 401, "invalid_client", "invalid_assertion", "client_id"},
		{"no assertion", url.Values{}, 401, "invalid_client", "missing_credentials", "assertion"},
		{"not a JWS", asserting("not.a.jws"), 400, "invalid_grant", "invalid_assertion", "JWS"},
		{"no iat", asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, func(cl *jwt.Claims) { cl.IssuedAt = nil })), 400, "invalid_grant", "invalid_assertion", "iat"},
		{"expired", asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, func(cl *jwt.Claims) {
			cl.IssuedAt, cl.Expiry = jwt.NewNumericDate(now.Add(-3*time.Minute)), jwt.NewNumericDate(now.Add(-time.Minute))
		})), 400, "invalid_grant", "assertion_expired", "expired"},
		{"exp - iat over 300 s", asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, func(cl *jwt.Claims) {
			cl.IssuedAt, cl.Expiry = jwt.NewNumericDate(now.Add(-4*time.Minute)), jwt.NewNumericDate(now.Add(2*time.Minute))
		})), 400, "invalid_grant", "assertion_lifetime_too_long", "300 seconds"},
		{"exp over 300 s after receipt", asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, func(cl *jwt.Claims) {
			cl.Expiry = jwt.NewNumericDate(now.Add(10 * time.Minute))
		})), 400, "invalid_grant", "assertion_lifetime_too_long", "300 seconds"},
		{"no jti", asserting(key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, func(cl *jwt.Claims) { cl.ID = "" })), 400, "invalid_grant", "invalid_assertion", "jti"},
		{"aud the authorization endpoint", asserting(key.GrantAssertion(t, c.ID, e.ts.URL+PathAuthorize, "tel:"+testPhone, scope, nil)), 400, "invalid_grant", "assertion_audience", "token endpoint"},
		{"unknown operator token", asserting(key.GrantAssertion(t, c.ID, tokenURL, "operatortoken:ts43-nobody", scope, nil)), 400, "invalid_grant", "operator_token_unresolved", "does not resolve"},
		{"sub neither tel nor operatortoken", asserting(key.GrantAssertion(t, c.ID, tokenURL, "ipport:10.0.0.1:80", scope, nil)), 400, "invalid_grant", "unknown_subject", "operatortoken:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.form)
			if cause, _ := body["cause"].(string); status != tc.status || body["error"] != tc.code || cause != tc.cause {
				t.Fatalf("%d %v; want %d %s/%s", status, body, tc.status, tc.code, tc.cause)
			}
			if d, _ := body["error_description"].(string); !strings.Contains(d, tc.inDescription) {
				t.Errorf("error_description %q lacks %q", d, tc.inDescription)
			}
		})
	}

	// A client that authenticates separately (here with a client
	// assertion, private_key_jwt) is still served; the scope claim rules
	// hold all the same.
	form = url.Values{"grant_type": {GrantJWTBearer},
		"assertion":             {key.GrantAssertion(t, c.ID, tokenURL, "tel:"+testPhone, scope, nil)},
		"client_assertion_type": {ClientAssertionTypeJWT}, "client_assertion": {key.Assertion(t, c.ID, tokenURL, nil)}}
	resp := e.postForm(PathToken, form, "", "")
	var body map[string]any
	testhttp.DecodeJSON(t, resp, &body)
	if resp.StatusCode != 200 || body["scope"] != scope {
		t.Errorf("with a client assertion as well: %d %v", resp.StatusCode, body)
	}
	// Without a resolver, an operator token is refused with the same cause.
	plain := newAuthzEnv(t, nil)
	pk := plain.newAssertionKey()
	pc := plain.createClient("camara app", "token_endpoint_auth_method", "private_key_jwt", "jwks", pk.JWKS(t),
		"grant_types", GrantJWTBearer, "scopes", scope)
	resp = plain.postForm(PathToken, url.Values{"grant_type": {GrantJWTBearer},
		"assertion": {pk.GrantAssertion(t, pc.ID, plain.ts.URL+PathToken, "operatortoken:abc", scope, nil)}}, "", "")
	body = nil
	testhttp.DecodeJSON(t, resp, &body)
	if resp.StatusCode != 400 || body["cause"] != "operator_token_unresolved" {
		t.Errorf("operator token without a resolver: %d %v", resp.StatusCode, body)
	}
}
