package oauth

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Lifetimes of what the three-legged flows issue.
const (
	// AuthCodeTTL is an authorization code's lifetime (RFC 9700 §4.2.1
	// asks for a short one).
	AuthCodeTTL = 60 * time.Second
	// RefreshTokenTTL bounds a refresh token family's life without use.
	RefreshTokenTTL = 30 * 24 * time.Hour
	// CIBARequestTTL is how long a backchannel request may wait.
	CIBARequestTTL = 120 * time.Second
	// CIBAInterval is the minimum polling interval, in seconds.
	CIBAInterval = 5
)

// OpenID Connect and gatehouse scopes with meaning to the authorization
// server itself (OpenID Connect Core §5.4, §11).
const (
	ScopeOpenID        = "openid"
	ScopeOfflineAccess = "offline_access"
	ScopePhone         = "phone"
)

// Paths of the three-legged endpoints, relative to the issuer.
const (
	PathAuthorize   = "/oauth2/authorize"
	PathUserinfo    = "/oauth2/userinfo"
	PathBCAuthorize = "/oauth2/bc-authorize"
	// PathLogin and PathConsent are the pages the authorization endpoint
	// shows end users; PathCIBAApprove is the sandbox's page where a
	// subscriber approves or denies pending backchannel requests.
	PathLogin       = "/oauth2/login"
	PathConsent     = "/oauth2/consent"
	PathCIBAApprove = "/oauth2/ciba"
)

// newOpaqueToken returns a 256-bit random token (authorization codes,
// refresh tokens, auth_req_id).
func newOpaqueToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashToken is how opaque tokens are stored: hex SHA-256, so a leaked
// database holds no usable code or refresh token.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// PairwiseSubject is the sub a client sees for a user (OpenID Connect Core
// §8.1): stable per client and user, unlinkable across clients, and never
// the phone number itself. key is derived from the system secret.
func PairwiseSubject(key []byte, clientID, userID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// derivedKey returns a 256-bit key for one purpose, derived from the system
// secret with HKDF, so one secret in configuration yields independent keys.
func (s *Server) derivedKey(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(s.cfg.Secret), nil, "gatehouse "+purpose+" v1", 32)
	if err != nil {
		panic("oauth: hkdf: " + err.Error()) // only for an impossible length
	}
	return k
}
