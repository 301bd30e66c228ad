package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// discovery fetches the OpenID configuration the way a client would.
func discovery(t *testing.T, issuer string) map[string]any {
	t.Helper()
	return discoveryAt(t, issuer, discoveryPaths[0])
}

// discoveryPaths are the two metadata documents: OpenID Connect Discovery
// and RFC 8414.
var discoveryPaths = []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"}

// discoveryAt fetches the metadata document at path.
func discoveryAt(t *testing.T, issuer, path string) map[string]any {
	t.Helper()
	resp, err := http.Get(issuer + path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	decode(t, resp, &doc)
	return doc
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Headers[0].KeyID
}

// TestRealClients: golang.org/x/oauth2 gets a token knowing only the issuer
// (endpoints from discovery), go-oidc verifies it through the published
// JWKS, and both keep working across a key rotation.
func TestRealClients(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.createClient("real clients", "--scopes", "sim-swap:check")
	ctx := context.Background()

	doc := discovery(t, ts.Issuer)
	if doc["issuer"] != ts.Issuer {
		t.Fatalf("issuer = %v; want %s", doc["issuer"], ts.Issuer)
	}
	for _, path := range discoveryPaths {
		d := discoveryAt(t, ts.Issuer, path)
		if got := d["grant_types_supported"]; mustJSON(t, got) != `["authorization_code","client_credentials","refresh_token","urn:ietf:params:oauth:grant-type:jwt-bearer","urn:openid:params:grant-type:ciba"]` {
			t.Errorf("%s grant_types_supported = %v; want exactly what is implemented", path, got)
		}
	}

	cfg := clientcredentials.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		TokenURL:     doc["token_endpoint"].(string),
		Scopes:       []string{"sim-swap:check"},
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatalf("x/oauth2 clientcredentials: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Errorf("token = %+v", tok)
	}

	provider, err := oidc.NewProvider(ctx, ts.Issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	verify := func(raw string) error {
		v := provider.Verifier(&oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{"ES256"}})
		_, err := v.Verify(ctx, raw)
		return err
	}
	if err := verify(tok.AccessToken); err != nil {
		t.Fatalf("go-oidc verification: %v", err)
	}
	keySet := oidc.NewRemoteKeySet(ctx, doc["jwks_uri"].(string))
	if _, err := keySet.VerifySignature(ctx, tok.AccessToken); err != nil {
		t.Fatalf("JWKS signature check: %v", err)
	}

	// A wrong secret surfaces as an oauth2.RetrieveError with the RFC 6749
	// fields filled.
	bad := cfg
	bad.ClientSecret = "wrong"
	_, err = bad.Token(ctx)
	var re *oauth2.RetrieveError
	if !asRetrieveError(err, &re) || re.ErrorCode != "invalid_client" || !strings.Contains(re.ErrorURI, "/docs/errors#invalid_client") {
		t.Errorf("wrong secret: err = %v; want RetrieveError invalid_client with error_uri", err)
	}

	// Rotate the signing key while the server runs.
	oldKid := kidOf(t, tok.AccessToken)
	var rotated map[string]string
	if err := json.Unmarshal([]byte(ts.cli("keys", "rotate", "--json")), &rotated); err != nil || rotated["kid"] == "" || rotated["kid"] == oldKid {
		t.Fatalf("keys rotate: %v %v", rotated, err)
	}
	var fresh *oauth2.Token
	eventually(t, 15*time.Second, "new tokens to be signed with the rotated key", func() bool {
		fresh, err = cfg.Token(ctx)
		return err == nil && kidOf(t, fresh.AccessToken) == rotated["kid"]
	})
	// A new verifier, as a resource server started after the rotation would
	// have: it must accept tokens from before and after.
	provider2, err := oidc.NewProvider(ctx, ts.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	v2 := provider2.Verifier(&oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{"ES256"}})
	for name, raw := range map[string]string{"old key": tok.AccessToken, "new key": fresh.AccessToken} {
		if _, err := v2.Verify(ctx, raw); err != nil {
			t.Errorf("token signed with the %s does not verify after rotation: %v", name, err)
		}
	}
	// The long-lived verifier re-fetches the JWKS on an unknown kid.
	if err := verify(fresh.AccessToken); err != nil {
		t.Errorf("existing verifier rejects the new key: %v", err)
	}
	if got := ts.introspect(c, tok.AccessToken)["active"]; got != true {
		t.Errorf("old-key token introspects active=%v; want true", got)
	}
}

func asRetrieveError(err error, re **oauth2.RetrieveError) bool {
	r, ok := err.(*oauth2.RetrieveError)
	if ok {
		*re = r
	}
	return ok
}

// TestIntrospectionAndRevocation covers RFC 7662 and RFC 7009 behaviour.
func TestIntrospectionAndRevocation(t *testing.T) {
	ts := startServer(t, nil)
	owner := ts.createClient("owner", "--scopes", "sim-swap:check")
	other := ts.createClient("other")
	resourceServer := ts.createClient("resource server", "--scopes", "gatehouse:introspect")
	tok := ts.token(owner, "")

	active := ts.introspect(owner, tok)
	if active["active"] != true || active["client_id"] != owner.ID || active["scope"] != "sim-swap:check" || active["token_type"] != "Bearer" {
		t.Errorf("introspection = %v", active)
	}
	if got := ts.introspect(other, tok)["active"]; got != false {
		t.Errorf("another client's introspection: active = %v; want false (it may see only its own tokens)", got)
	}
	if got := ts.introspect(resourceServer, tok)["active"]; got != true {
		t.Errorf("resource server (gatehouse:introspect) introspection: active = %v; want true", got)
	}
	// Suspending the token's client deactivates its tokens (RFC 7662 §2.2:
	// the client is no longer authorized); reactivating restores them.
	// The CLI writes the store from another process, as another node
	// would: the server sees it within its client cache's second.
	ts.cli("clients", "update", owner.ID, "--status", "suspended")
	eventually(t, 3*time.Second, "the suspended client's token to introspect inactive", func() bool {
		return mustJSON(t, ts.introspect(resourceServer, tok)) == `{"active":false}`
	})
	ts.cli("clients", "update", owner.ID, "--status", "active")
	eventually(t, 3*time.Second, "the reactivated client's token to introspect active", func() bool {
		return ts.introspect(resourceServer, tok)["active"] == true
	})
	for _, junk := range []string{"junk", "a.b.c", tok + "x"} {
		if got := ts.introspect(owner, junk); mustJSON(t, got) != `{"active":false}` {
			t.Errorf("introspect %q = %v; want exactly {\"active\":false}", junk, got)
		}
	}

	// Introspection needs client authentication.
	resp := ts.post("/oauth2/introspect", url.Values{"token": {tok}}, "", "")
	var e oauthError
	decode(t, resp, &e)
	if resp.StatusCode != 401 || e.Error != "invalid_client" {
		t.Errorf("unauthenticated introspection: %d %+v; want 401 invalid_client", resp.StatusCode, e)
	}
	resp = ts.post("/oauth2/introspect", url.Values{}, owner.ID, owner.Secret)
	decode(t, resp, &e)
	if resp.StatusCode != 400 || e.Error != "invalid_request" || e.Cause != "missing_parameter" {
		t.Errorf("introspection without token: %d %+v", resp.StatusCode, e)
	}

	// Only the owner may revoke.
	resp = ts.post("/oauth2/revoke", url.Values{"token": {tok}}, other.ID, other.Secret)
	decode(t, resp, &e)
	if resp.StatusCode != 400 || e.Error != "unauthorized_client" || e.Cause != "token_not_owned" {
		t.Errorf("revoking another client's token: %d %+v", resp.StatusCode, e)
	}
	if got := ts.introspect(owner, tok)["active"]; got != true {
		t.Fatalf("a refused revocation deactivated the token")
	}
	resp = ts.post("/oauth2/revoke", url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}}, owner.ID, owner.Secret)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	// Inactive at once.
	if got := ts.introspect(owner, tok); mustJSON(t, got) != `{"active":false}` {
		t.Errorf("revoked token introspects %v; want inactive at once", got)
	}
	// Revoking again, or revoking junk, is 200 (RFC 7009 §2.2).
	for _, raw := range []string{tok, "junk"} {
		resp = ts.post("/oauth2/revoke", url.Values{"token": {raw}}, owner.ID, owner.Secret)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("revoke %q again: %d; want 200", raw, resp.StatusCode)
		}
	}
	resp = ts.post("/oauth2/revoke", url.Values{"token": {tok}}, "", "")
	decode(t, resp, &e)
	if resp.StatusCode != 401 || e.Error != "invalid_client" {
		t.Errorf("unauthenticated revocation: %d %+v", resp.StatusCode, e)
	}

	// The revocation is durable: a restarted server still refuses it.
	ts.stop()
	ts2 := startWithEnv(t, ts.env)
	if got := ts2.introspect(owner, tok)["active"]; got != false {
		t.Errorf("after restart the revoked token is active")
	}
}

// TestSecretRotation: after rotate-secret both secrets work during the
// grace period, then only the new one.
func TestSecretRotation(t *testing.T) {
	ts := startServer(t, func(env map[string]string) { env["GATEHOUSE_SECRET_ROTATION_GRACE"] = "2s" })
	c := ts.createClient("rotating")
	var rotated client
	if err := json.Unmarshal([]byte(ts.cli("clients", "rotate-secret", c.ID, "--json")), &rotated); err != nil || rotated.Secret == "" || rotated.Secret == c.Secret {
		t.Fatalf("rotate-secret: %+v %v", rotated, err)
	}
	rotated.ID = c.ID
	status := func(cl client) int {
		resp := ts.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, cl.ID, cl.Secret)
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually(t, 10*time.Second, "the new secret to work", func() bool { return status(rotated) == 200 })
	if got := status(c); got != 200 {
		t.Errorf("old secret within the grace period: %d; want 200", got)
	}
	eventually(t, 15*time.Second, "the old secret to stop working after the grace period", func() bool { return status(c) == 401 })
	if got := status(rotated); got != 200 {
		t.Errorf("new secret after the grace period: %d; want 200", got)
	}
}
