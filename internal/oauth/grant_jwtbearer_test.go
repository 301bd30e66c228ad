package oauth

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/testhttp"
)

// TestJWTBearerGrant: a client asserts a subscriber with a JWT signed by
// its registered key (RFC 7523 §2.1) and gets a token acting for the
// subscriber's line. That the sandbox API verifies the number against it
// at the gateway is cmd/gatehouse's TestThreeLeggedTokensAtGateway.
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
	assertion := key.Assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) { cl.Subject = "tel:+34600000001" })
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
	if status, body := grant(assertion); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("replayed assertion: %d %v", status, body)
	}
	other := e.newAssertionKey()
	now := e.clock.Now()
	for name, a := range map[string]string{
		"unknown subscriber": key.Assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) { cl.Subject = "tel:+34600000004" }),
		"not a phone":        key.Assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) { cl.Subject = "alice" }),
		"foreign key":        other.Assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) { cl.Subject = "tel:+34600000001" }),
		"wrong audience":     key.Assertion(t, c.ID, "https://elsewhere/token", func(cl *jwt.Claims) { cl.Subject = "tel:+34600000001" }),
		"issued in the future": key.Assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) {
			cl.Subject = "tel:+34600000001"
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
