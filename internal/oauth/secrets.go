package oauth

import (
	"crypto/rand"
	"hash/crc32"
	"strings"

	"gatehouse/internal/store"
)

// Client secrets are prefixed and checksummed, as GitHub's and Stripe's
// keys are: "gth_sbx_…" for an app's sandbox credentials, "gth_prd_…" for
// its production ones and "gth_op_…" for clients operators register. The
// prefix tells people and secret scanners what a string is and where it
// works; the checksum lets the token endpoint tell a copy that was
// truncated or altered from a wrong secret, without a lookup, and say so.
// Secrets issued before the format keep working: only a string with the
// prefix is held to it.
const secretPrefix = "gth_"

const (
	base62           = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	secretBodyLen    = 43 // base62 characters: 256 bits
	secretCheckLen   = 6  // base62 digits of a CRC-32 (62⁶ > 2³²)
	secretTailLength = secretBodyLen + secretCheckLen
)

// secretKind is the part of the prefix that names where a secret works.
func secretKind(environment string) string {
	switch environment {
	case store.EnvironmentSandbox:
		return "sbx"
	case store.EnvironmentProduction:
		return "prd"
	}
	return "op"
}

// newClientSecret returns a new secret for a client of environment.
func newClientSecret(environment string) string {
	var b strings.Builder
	b.Grow(len(secretPrefix) + 4 + secretTailLength)
	b.WriteString(secretPrefix)
	b.WriteString(secretKind(environment))
	b.WriteByte('_')
	body := make([]byte, 0, secretBodyLen)
	var buf [64]byte
	for len(body) < secretBodyLen {
		_, _ = rand.Read(buf[:])
		for _, c := range buf {
			// 248 = 4 × 62: rejecting the rest keeps every character
			// equally likely.
			if c < 248 && len(body) < secretBodyLen {
				body = append(body, base62[c%62])
			}
		}
	}
	b.Write(body)
	b.WriteString(secretChecksum(body))
	return b.String()
}

// secretChecksum is the CRC-32 (IEEE) of body in secretCheckLen base62
// digits.
func secretChecksum(body []byte) string {
	sum := crc32.ChecksumIEEE(body)
	var out [secretCheckLen]byte
	for i := secretCheckLen - 1; i >= 0; i-- {
		out[i] = base62[sum%62]
		sum /= 62
	}
	return string(out[:])
}

// garbledSecret reports whether secret carries gatehouse's prefix but is
// not a secret gatehouse could have issued: a known kind, the right length,
// only base62, and a matching checksum.
func garbledSecret(secret string) bool {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return false
	}
	kind, tail, ok := strings.Cut(rest, "_")
	if !ok || (kind != "sbx" && kind != "prd" && kind != "op") || len(tail) != secretTailLength {
		return true
	}
	for i := 0; i < len(tail); i++ {
		if strings.IndexByte(base62, tail[i]) < 0 {
			return true
		}
	}
	return secretChecksum([]byte(tail[:secretBodyLen])) != tail[secretBodyLen:]
}
