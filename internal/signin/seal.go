package signin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Seal encodes v as JSON and signs it: base64url(payload) "."
// base64url(HMAC-SHA256(key, base64url(payload))). The payload is readable
// by whoever holds the value; Seal is for cookies and hidden fields that
// must not be forged, not for secrets.
func Seal(key []byte, v any) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(MAC(key, p)), nil
}

// Open verifies a value made by Seal with key and decodes it into v; false
// when the signature does not verify or the payload is not v's JSON.
func Open(key []byte, token string, v any) bool {
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, MAC(key, p)) {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return false
	}
	return json.Unmarshal(payload, v) == nil
}

// MAC is HMAC-SHA256 under key of the parts, separated by NUL bytes so that
// ("ab", "c") and ("a", "bc") differ.
func MAC(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for i, part := range parts {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(part))
	}
	return m.Sum(nil)
}
