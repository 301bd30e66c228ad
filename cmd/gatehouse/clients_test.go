package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"gatehouse/internal/testhttp"
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
	testhttp.DecodeJSON(t, resp, &doc)
	return doc
}

// TestRealClients: golang.org/x/oauth2 gets a token knowing only the issuer
// (endpoints from discovery), go-oidc verifies it through the published
// JWKS, and both keep working across a key rotation.
func TestRealClients(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c := ts.createClient("real clients", "--scopes", "sim-swap:check")
	ctx := context.Background()

	doc := discovery(t, ts.Issuer)
	if doc["issuer"] != ts.Issuer {
		t.Fatalf("issuer = %v; want %s", doc["issuer"], ts.Issuer)
	}
	for _, path := range discoveryPaths {
		d := discoveryAt(t, ts.Issuer, path)
		if got := d["grant_types_supported"]; testhttp.MustJSON(t, got) != `["authorization_code","client_credentials","refresh_token","urn:ietf:params:oauth:grant-type:jwt-bearer","urn:openid:params:grant-type:ciba"]` {
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
	oldKid := testhttp.KeyIDOf(t, tok.AccessToken)
	var rotated map[string]string
	if err := json.Unmarshal([]byte(ts.cli("keys", "rotate", "--json")), &rotated); err != nil || rotated["kid"] == "" || rotated["kid"] == oldKid {
		t.Fatalf("keys rotate: %v %v", rotated, err)
	}
	var fresh *oauth2.Token
	testhttp.Eventually(t, 15*time.Second, "new tokens to be signed with the rotated key", func() bool {
		fresh, err = cfg.Token(ctx)
		return err == nil && testhttp.KeyIDOf(t, fresh.AccessToken) == rotated["kid"]
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
