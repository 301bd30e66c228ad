package oauth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AlgEd25519 is the fully specified JWS algorithm name for EdDSA with
// Ed25519 (RFC 9864 §2.2), which current clients send in place of the
// polymorphic EdDSA. go-jose v4.1 does not know it, so signedAssertion
// verifies it with crypto/ed25519 itself.
const AlgEd25519 = "Ed25519"

// assertionAlgorithmNames are the alg values accepted for client and grant
// assertions, as discovery publishes them.
func assertionAlgorithmNames() []string {
	out := make([]string, 0, len(assertionAlgorithms)+1)
	for _, a := range assertionAlgorithms {
		out = append(out, string(a))
	}
	return append(out, AlgEd25519)
}

// signedAssertion is a compact JWS assertion (private_key_jwt client
// assertion or JWT bearer grant), parsed but not verified. Algorithms
// go-jose knows go through go-jose; alg Ed25519 takes a narrow path of its
// own: exactly three parts, no crit or b64 header, a 64-byte signature,
// verified with crypto/ed25519 by Ed25519 public keys only, so that no
// other key type can be confused with it.
type signedAssertion struct {
	jose *jwt.JSONWebToken // nil for alg Ed25519
	kid  string

	// The alg Ed25519 form.
	signingInput, signature, payload []byte
}

var errAssertionSyntax = errors.New("oauth: not a compact JWS signed with an accepted algorithm")

// parseAssertion parses raw without verifying it.
func parseAssertion(raw string) (*signedAssertion, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errAssertionSyntax
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errAssertionSyntax
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, errAssertionSyntax
	}
	var alg string
	if json.Unmarshal(h["alg"], &alg) != nil || alg != AlgEd25519 {
		tok, err := jwt.ParseSigned(raw, assertionAlgorithms)
		if err != nil {
			return nil, errAssertionSyntax
		}
		return &signedAssertion{jose: tok, kid: tok.Headers[0].KeyID}, nil
	}
	// alg Ed25519. Critical extensions and unencoded payloads (RFC 7797)
	// are not understood here, so such a JWS is refused (RFC 7515 §4.1.11).
	if _, ok := h["crit"]; ok {
		return nil, errAssertionSyntax
	}
	if _, ok := h["b64"]; ok {
		return nil, errAssertionSyntax
	}
	a := &signedAssertion{signingInput: []byte(parts[0] + "." + parts[1])}
	if k, ok := h["kid"]; ok && json.Unmarshal(k, &a.kid) != nil {
		return nil, errAssertionSyntax
	}
	if a.payload, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		return nil, errAssertionSyntax
	}
	if a.signature, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil || len(a.signature) != ed25519.SignatureSize {
		return nil, errAssertionSyntax
	}
	return a, nil
}

// unsafeClaims decodes the claims without verifying the signature, to find
// the client the assertion claims to come from.
func (a *signedAssertion) unsafeClaims(out any) error {
	if a.jose != nil {
		return a.jose.UnsafeClaimsWithoutVerification(out)
	}
	return json.Unmarshal(a.payload, out)
}

// verify decodes the claims into out if the signature verifies with one of
// the public keys of set (the key named by kid, when the header has one).
func (a *signedAssertion) verify(set jose.JSONWebKeySet, out any) bool {
	for _, k := range set.Keys {
		if (a.kid != "" && k.KeyID != a.kid) || !k.IsPublic() {
			continue
		}
		if a.jose != nil {
			if a.jose.Claims(k.Key, out) == nil {
				return true
			}
			continue
		}
		// A key that names its algorithm is used with that one only.
		pub, ok := k.Key.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize ||
			(k.Algorithm != "" && k.Algorithm != AlgEd25519 && k.Algorithm != string(jose.EdDSA)) {
			continue
		}
		if ed25519.Verify(pub, a.signingInput, a.signature) {
			dec := json.NewDecoder(bytes.NewReader(a.payload))
			return dec.Decode(out) == nil
		}
	}
	return false
}
