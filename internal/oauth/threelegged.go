package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"gatehouse/internal/store"
)

// Lifetimes of what the three-legged flows issue.
const (
	// AuthCodeTTL is an authorization code's lifetime (RFC 6749 §4.1.2:
	// short-lived, at most ten minutes).
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

// UserRef is the end user an access token acts for, as the platform sees it.
type UserRef struct {
	ID string
	// Line is the subscriber's phone number in E.164, "" when unknown.
	Line string
}

// sealUser encrypts the user's id and line for the gh_usr claim
// (AES-256-GCM, key derived from the system secret): the client holding the
// token learns nothing, while the gateway and userinfo can tell whose line
// the token is for without a database read.
func (s *Server) sealUser(u *store.User) (string, error) {
	a, err := s.lineAEAD()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := a.Seal(nonce, nonce, []byte(u.ID+"\x00"+u.PhoneNumber), nil)
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// UserOf returns the end user of a 3-legged access token; ok is false for
// 2-legged tokens or a claim that does not decrypt.
func (s *Server) UserOf(c *AccessClaims) (UserRef, bool) {
	if c.user != nil {
		return *c.user, true
	}
	return s.decodeUser(c.User)
}

// decodeUser decrypts the gh_usr claim.
func (s *Server) decodeUser(claim string) (UserRef, bool) {
	if claim == "" {
		return UserRef{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(claim)
	if err != nil {
		return UserRef{}, false
	}
	a, err := s.lineAEAD()
	if err != nil || len(raw) < a.NonceSize() {
		return UserRef{}, false
	}
	plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], nil)
	if err != nil {
		return UserRef{}, false
	}
	id, line, _ := strings.Cut(string(plain), "\x00")
	return UserRef{ID: id, Line: line}, true
}

func (s *Server) lineAEAD() (cipher.AEAD, error) {
	s.lineOnce.Do(func() {
		block, err := aes.NewCipher(s.derivedKey("user claim"))
		if err != nil {
			s.lineErr = err
			return
		}
		s.line, s.lineErr = cipher.NewGCM(block)
	})
	return s.line, s.lineErr
}
