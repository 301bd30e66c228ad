package oauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/testhttp"
)

// TestSignedAssertionEd25519 covers the alg Ed25519 path of
// parseAssertion and verify (RFC 9864 §2.2) piece by piece: what parses,
// which keys verify, and that nothing but an Ed25519 public key does.
func TestSignedAssertionEd25519(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	enc := base64.RawURLEncoding
	claims := `{"iss":"c","sub":"c","jti":"j"}`
	sign := func(header string) string {
		in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
		return in + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(in)))
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set := func(keys ...jose.JSONWebKey) jose.JSONWebKeySet { return jose.JSONWebKeySet{Keys: keys} }
	edKey := jose.JSONWebKey{Key: pub, KeyID: "ed"}

	good := sign(`{"alg":"Ed25519","kid":"ed"}`)
	a, err := parseAssertion(good)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var unverified jwt.Claims
	if err := a.unsafeClaims(&unverified); err != nil || unverified.Subject != "c" {
		t.Errorf("unsafeClaims: %+v, %v", unverified, err)
	}
	for _, tc := range []struct {
		name string
		set  jose.JSONWebKeySet
		want bool
	}{
		{"its key", set(edKey), true},
		{"its key declaring alg Ed25519", set(jose.JSONWebKey{Key: pub, KeyID: "ed", Algorithm: "Ed25519"}), true},
		{"its key declaring alg EdDSA", set(jose.JSONWebKey{Key: pub, KeyID: "ed", Algorithm: "EdDSA"}), true},
		{"its key declaring alg ES256", set(jose.JSONWebKey{Key: pub, KeyID: "ed", Algorithm: "ES256"}), false},
		{"its key under another kid", set(jose.JSONWebKey{Key: pub, KeyID: "other"}), false},
		{"an EC key with the kid", set(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "ed"}), false},
		{"the private key", set(jose.JSONWebKey{Key: priv, KeyID: "ed"}), false},
		{"an EC key, then its key", set(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "ed"}, edKey), true},
	} {
		var c jwt.Claims
		if got := a.verify(tc.set, &c); got != tc.want {
			t.Errorf("%s: verify = %v; want %v", tc.name, got, tc.want)
		}
	}
	for name, raw := range map[string]string{
		"two parts":       "e30.e30",
		"crit":            sign(`{"alg":"Ed25519","crit":["x"],"x":1}`),
		"b64":             sign(`{"alg":"Ed25519","b64":false}`),
		"kid not string":  sign(`{"alg":"Ed25519","kid":7}`),
		"header not JSON": enc.EncodeToString([]byte("{")) + ".e30." + enc.EncodeToString(make([]byte, 64)),
		"short signature": enc.EncodeToString([]byte(`{"alg":"Ed25519"}`)) + ".e30." + enc.EncodeToString(make([]byte, 63)),
		"padded payload":  enc.EncodeToString([]byte(`{"alg":"Ed25519"}`)) + ".e30=." + enc.EncodeToString(make([]byte, 64)),
		"alg none":        sign(`{"alg":"none"}`),
		"alg HS256":       sign(`{"alg":"HS256"}`),
		"alg ed25519":     sign(`{"alg":"ed25519"}`),
	} {
		if _, err := parseAssertion(raw); err == nil {
			t.Errorf("%s: parsed; want refused", name)
		}
	}
	// The claims verify holds are the signed ones.
	var c map[string]any
	if !a.verify(set(edKey), &c) || c["jti"] != "j" {
		t.Errorf("verified claims %v", c)
	}
	b, _ := json.Marshal(assertionAlgorithmNames())
	if string(b) != `["RS256","RS384","RS512","PS256","PS384","PS512","ES256","ES384","ES512","EdDSA","Ed25519"]` {
		t.Errorf("assertion algorithms %s", b)
	}
}

// signCompact signs claims as a compact JWS with the header given, using
// sign for the signature: a hand-made JWS, so that any alg label can be
// put on any signature.
func signCompact(t *testing.T, header map[string]any, claims any, sign func([]byte) []byte) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(testhttp.MustJSON(t, header))) + "." + enc.EncodeToString([]byte(testhttp.MustJSON(t, claims)))
	return input + "." + enc.EncodeToString(sign([]byte(input)))
}

// claimsFor returns an assertion's claims, issued now by the clock and
// valid for a minute.
func (e *authzEnv) claimsFor(clientID, sub, aud string) jwt.Claims {
	now := e.clock.Now()
	return jwt.Claims{
		Issuer: clientID, Subject: sub, Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
		ID: randomString(12),
	}
}

// TestEd25519Assertions: private_key_jwt assertions and JWT bearer grants
// signed with alg Ed25519 (RFC 9864's fully specified name) are accepted
// beside EdDSA (issue 9), discovery publishes Ed25519, and no alg label can
// move a signature to another key type: an Ed25519 signature labelled
// ES256, and an ES256 signature labelled Ed25519, are refused.
func TestEd25519Assertions(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	d := e.discovery(PathOIDCDiscovery)
	for _, member := range []string{"token_endpoint_auth_signing_alg_values_supported", "revocation_endpoint_auth_signing_alg_values_supported"} {
		var algs []string
		_ = json.Unmarshal([]byte(testhttp.MustJSON(t, d[member])), &algs)
		if !slices.Contains(algs, "Ed25519") || !slices.Contains(algs, "EdDSA") {
			t.Errorf("%s = %v; want Ed25519 and EdDSA", member, algs)
		}
	}

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := testhttp.MustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "ed", Use: "sig"}}})
	c := e.createClient("ed25519 app", "token_endpoint_auth_method", "private_key_jwt", "jwks", set,
		"grant_types", "client_credentials urn:ietf:params:oauth:grant-type:jwt-bearer", "scopes", "sim-swap:check number-verification:verify")
	tokenURL := e.ts.URL + PathToken
	edSign := func(b []byte) []byte { return ed25519.Sign(priv, b) }
	withAssertion := func(a string, form url.Values) (int, testhttp.OAuthError, map[string]any) {
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
		resp := e.postForm(PathToken, form, "", "")
		var body map[string]any
		testhttp.DecodeJSON(t, resp, &body)
		var oe testhttp.OAuthError
		_ = json.Unmarshal([]byte(testhttp.MustJSON(t, body)), &oe)
		return resp.StatusCode, oe, body
	}
	cc := func() url.Values { return url.Values{"grant_type": {"client_credentials"}} }

	// alg Ed25519, hand-signed with crypto/ed25519.
	a := signCompact(t, map[string]any{"alg": "Ed25519", "kid": "ed", "typ": "JWT"}, e.claimsFor(c.ID, c.ID, tokenURL), edSign)
	if status, oe, body := withAssertion(a, cc()); status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("alg Ed25519 client assertion: %d %+v", status, oe)
	}
	// alg EdDSA, signed by go-jose.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", "ed"))
	if err != nil {
		t.Fatal(err)
	}
	a, err = jwt.Signed(signer).Claims(e.claimsFor(c.ID, c.ID, tokenURL)).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if status, oe, _ := withAssertion(a, cc()); status != http.StatusOK {
		t.Fatalf("alg EdDSA client assertion: %d %+v", status, oe)
	}
	// The JWT bearer grant with alg Ed25519, the client authenticated by an
	// Ed25519 assertion too.
	grantClaims := struct {
		jwt.Claims
		Scope string `json:"scope"`
	}{e.claimsFor(c.ID, "tel:+34600000001", tokenURL), "number-verification:verify"}
	grant := signCompact(t, map[string]any{"alg": "Ed25519", "kid": "ed"}, grantClaims, edSign)
	client := signCompact(t, map[string]any{"alg": "Ed25519"}, e.claimsFor(c.ID, c.ID, tokenURL), edSign)
	if status, oe, _ := withAssertion(client, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {grant}}); status != http.StatusOK {
		t.Fatalf("alg Ed25519 JWT bearer grant: %d %+v", status, oe)
	}

	refused := []struct {
		name string
		jws  string
	}{
		{"Ed25519 key, header ES256", signCompact(t, map[string]any{"alg": "ES256", "kid": "ed"}, e.claimsFor(c.ID, c.ID, tokenURL), edSign)},
		{"Ed25519 key, header none", signCompact(t, map[string]any{"alg": "none", "kid": "ed"}, e.claimsFor(c.ID, c.ID, tokenURL), edSign)},
		{"Ed25519 with crit", signCompact(t, map[string]any{"alg": "Ed25519", "crit": []string{"exp"}, "exp": 1}, e.claimsFor(c.ID, c.ID, tokenURL), edSign)},
		{"Ed25519, tampered claims", func() string {
			a := signCompact(t, map[string]any{"alg": "Ed25519"}, e.claimsFor(c.ID, c.ID, tokenURL), edSign)
			parts := strings.Split(a, ".")
			other := signCompact(t, map[string]any{"alg": "Ed25519"}, e.claimsFor(c.ID, c.ID, "https://x.example"), edSign)
			return parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
		}()},
		{"Ed25519, another key", signCompact(t, map[string]any{"alg": "Ed25519"}, e.claimsFor(c.ID, c.ID, tokenURL), func(b []byte) []byte {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			return ed25519.Sign(other, b)
		})},
	}
	for _, tc := range refused {
		if status, oe, _ := withAssertion(tc.jws, cc()); status != http.StatusUnauthorized || oe.Error != "invalid_client" || oe.Cause != "invalid_assertion" {
			t.Errorf("%s: %d %+v; want 401 invalid_client (invalid_assertion)", tc.name, status, oe)
		}
	}

	// An EC client's valid ES256 signature (64 bytes, like Ed25519's) over
	// a header saying Ed25519: the EC key never verifies alg Ed25519.
	key := e.newAssertionKey()
	ec := e.createClient("ec app", "token_endpoint_auth_method", "private_key_jwt", "jwks", key.JWKS(t), "scopes", "sim-swap:check")
	relabelled := signCompact(t, map[string]any{"alg": "Ed25519", "kid": key.KeyID}, e.claimsFor(ec.ID, ec.ID, tokenURL), func(b []byte) []byte {
		sum := sha256.Sum256(b)
		r, s, err := ecdsa.Sign(rand.Reader, key.Key, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	})
	if status, oe, _ := withAssertion(relabelled, cc()); status != http.StatusUnauthorized || oe.Cause != "invalid_assertion" {
		t.Errorf("ES256 signature labelled Ed25519: %d %+v; want 401 invalid_assertion", status, oe)
	}
	// The same signature labelled ES256 is valid: the test signs correctly.
	es := signCompact(t, map[string]any{"alg": "ES256", "kid": key.KeyID}, e.claimsFor(ec.ID, ec.ID, tokenURL), func(b []byte) []byte {
		sum := sha256.Sum256(b)
		r, s, _ := ecdsa.Sign(rand.Reader, key.Key, sum[:])
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	})
	if status, oe, _ := withAssertion(es, cc()); status != http.StatusOK {
		t.Errorf("hand-signed ES256 control: %d %+v; want 200", status, oe)
	}
}
