package oauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
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
