package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// AccessClaims are the claims of a gatehouse access token (RFC 9068 §2.2).
type AccessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	// AuthTime is when the end user authenticated (3-legged tokens).
	AuthTime int64 `json:"auth_time,omitempty"`
	// Family names the token family the token came from (the authorization
	// code's and its refresh tokens'), so revoking the family revokes
	// every access token issued from it (RFC 9700 §4.5, §4.14).
	Family string `json:"gid,omitempty"`
	// User is the end user (id and line), encrypted for the platform:
	// clients see an opaque value, the gateway and userinfo decrypt it.
	User string `json:"gh_usr,omitempty"`

	// scopes is Scope split, and user the decrypted User, computed once
	// when the token is verified (verified tokens are cached and shared).
	scopes []string
	user   *UserRef
}

// accessTokenSpec is what an access token is issued for.
type accessTokenSpec struct {
	ClientID string
	// Subject is the client itself (2-legged) or the pairwise subject of
	// the end user (3-legged).
	Subject  string
	Scopes   []string
	FamilyID string
	User     *store.User
	AuthTime time.Time
}

// Scopes returns the token's scopes. The caller must not modify the slice.
func (c *AccessClaims) Scopes() []string {
	if c.scopes == nil && c.Scope != "" {
		return strings.Split(c.Scope, " ")
	}
	return c.scopes
}

// newTokenID returns a random 128-bit jti.
func newTokenID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// issueAccessToken signs an access token for the client and subject.
func (s *Server) issueAccessToken(g accessTokenSpec) (string, *AccessClaims, error) {
	now := s.cfg.Now()
	claims := &AccessClaims{
		Issuer:   s.cfg.Issuer,
		Subject:  g.Subject,
		Audience: []string{s.cfg.Audience},
		IssuedAt: now.Unix(),
		Expiry:   now.Add(s.cfg.AccessTokenTTL).Unix(),
		ID:       newTokenID(),
		ClientID: g.ClientID,
		Scope:    strings.Join(g.Scopes, " "),
		Family:   g.FamilyID,
	}
	if g.User != nil {
		claims.AuthTime = g.AuthTime.Unix()
		var err error
		if claims.User, err = s.sealUser(g.User); err != nil {
			return "", nil, err
		}
	}
	signer, err := s.cfg.Keys.Signer(AccessTokenJWTType)
	if err != nil {
		return "", nil, err
	}
	// Sign the encoded claims directly: jwt.Signed(...).Claims would
	// marshal, unmarshal into a map and marshal again (a sixth of the token
	// endpoint's CPU when measured).
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", nil, fmt.Errorf("oauth: encoding access token: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", nil, fmt.Errorf("oauth: signing access token: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", nil, fmt.Errorf("oauth: signing access token: %w", err)
	}
	return tok, claims, nil
}

// VerifyAccessToken checks an access token's signature, typ, issuer,
// audience, lifetime and revocation, and returns its claims. Failures are
// invalid_token errors naming the actual cause. Verified tokens are cached
// by digest, so repeated checks of one token cost a hash and a map lookup;
// revocation and expiry are still checked every time.
func (s *Server) VerifyAccessToken(raw string) (*AccessClaims, *problem.Error) {
	digest := tokenDigest(raw)
	claims, ok := s.verified.get(digest)
	if !ok {
		var p *problem.Error
		if claims, p = s.verifySignature(raw); p != nil {
			return nil, p
		}
		if claims.Issuer != s.cfg.Issuer {
			return nil, problem.New(problem.InvalidTokenWrongIssuer, "The token was issued by another authorization server.")
		}
		if !containsString(claims.Audience, s.cfg.Audience) {
			return nil, problem.New(problem.InvalidTokenWrongAudience, "The token was issued for another resource.")
		}
		if ref, ok := s.decodeUser(claims.User); ok {
			claims.user = &ref
		}
		s.verified.put(digest, claims)
	}
	now := s.cfg.Now().Unix()
	if now >= claims.Expiry {
		return nil, problem.New(problem.InvalidTokenExpired, "The access token has expired; request a new one.")
	}
	if claims.NotBefore > now+int64(clockSkew/time.Second) || claims.IssuedAt > now+int64(clockSkew/time.Second) {
		return nil, problem.New(problem.InvalidTokenNotYetValid, "The access token is not valid yet.")
	}
	if s.revoked.has(claims.ID) || (claims.Family != "" && s.revoked.has(claims.Family)) {
		return nil, problem.New(problem.InvalidTokenRevoked, "The access token was revoked.")
	}
	if p := s.clientActive(claims.ClientID); p != nil {
		return nil, p
	}
	if claims.User != "" {
		if p := s.userExists(claims); p != nil {
			return nil, p
		}
	}
	return claims, nil
}

// statusCheckTimeout bounds the store read behind the client and user
// checks of a verified token (once per ClientCacheTTL per client or user).
const statusCheckTimeout = 250 * time.Millisecond

// userExists refuses the tokens of an end user who was deleted after they
// were issued (the user's codes, refresh tokens and CIBA requests went with
// the user).
// Like clientActive, it reads through a cache and accepts the token when
// the store cannot be read.
func (s *Server) userExists(claims *AccessClaims) *problem.Error {
	ref, ok := s.UserOf(claims)
	if !ok {
		return nil // a claim this server cannot read names no user to check
	}
	_, err := s.users.getWithin(ref.ID, statusCheckTimeout)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return problem.New(problem.InvalidTokenUserDeleted,
			"The subscriber this token acts for no longer exists.")
	case err != nil && !errors.Is(err, errStoreFailedRecently):
		s.cfg.Logger.Warn("checking a token's end user failed; the token is accepted", "err", err)
	}
	return nil
}

// clientActive refuses the tokens of an app that was suspended or deleted
// after they were issued. The record comes from the client cache, so the
// change takes effect everywhere within ClientCacheTTL (at once on the node
// that made it). When the store cannot be read, the last known record
// decides, and with none the token is accepted: it was valid when issued,
// and a database outage must not turn into a refusal of every API call
// (nor into a database wait on each one: see recordCache.getWithin).
func (s *Server) clientActive(id string) *problem.Error {
	c, err := s.clients.getWithin(id, statusCheckTimeout)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return problem.New(problem.InvalidTokenClientInactive,
			"The app this token was issued to has been deleted.")
	case errors.Is(err, errStoreFailedRecently):
		return nil
	case err != nil:
		s.cfg.Logger.Warn("checking the status of a token's client failed; the token is accepted", "client_id", id, "err", err)
		return nil
	case c.Status != store.ClientActive && c.AppID != "":
		// A portal app the operator suspended: the token is sound, the
		// app may not use it (403), and only the operator can change that.
		return problem.New(problem.PermissionDeniedAppSuspended,
			"The operator has suspended this app; its calls are refused until the operator reinstates it. Contact the API provider's support with the app's client id.")
	case c.Status != store.ClientActive:
		return problem.New(problem.InvalidTokenClientInactive,
			"The app this token was issued to is suspended; its tokens are refused until it is reactivated.")
	}
	return nil
}

// ClientEnvironment returns the environment of a portal app's credential
// (store.EnvironmentSandbox or EnvironmentProduction), "" for a client an
// operator made or one the cache cannot read now. It reads the client
// cache that VerifyAccessToken has just filled.
func (s *Server) ClientEnvironment(id string) string {
	c, err := s.clients.getWithin(id, statusCheckTimeout)
	if err != nil {
		return ""
	}
	return c.Environment
}

func (s *Server) verifySignature(raw string) (*AccessClaims, *problem.Error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256, jose.EdDSA})
	if err != nil {
		if alg, ok := jwsAlgorithm(raw); ok {
			return nil, problem.Newf(problem.InvalidTokenBadSignature, "The token is signed with %s, which this server does not use.", alg)
		}
		return nil, problem.New(problem.InvalidTokenMalformed, "The token is not a well-formed JWT.")
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, AccessTokenJWTType) && !strings.EqualFold(typ, "application/"+AccessTokenJWTType) {
		return nil, problem.New(problem.InvalidTokenWrongTokenType, "The token is not an access token (typ must be at+jwt, RFC 9068).")
	}
	key, alg, ok := s.cfg.Keys.PublicKey(h.KeyID)
	if !ok || string(alg) != h.Algorithm {
		return nil, problem.New(problem.InvalidTokenBadSignature, "The token is not signed by a key of this server.")
	}
	var claims AccessClaims
	if err := tok.Claims(key, &claims); err != nil {
		return nil, problem.New(problem.InvalidTokenBadSignature, "The token's signature does not verify.")
	}
	if claims.ID == "" || claims.Expiry == 0 {
		return nil, problem.New(problem.InvalidTokenMalformed, "The token lacks jti or exp.")
	}
	if claims.Scope != "" {
		claims.scopes = strings.Split(claims.Scope, " ")
	}
	return &claims, nil
}

// jwsAlgorithm reads the alg of a compact JWS whose header decodes, to
// tell a token signed with a refused algorithm ("none", HS256) from one that
// is not a JWT at all.
func jwsAlgorithm(raw string) (string, bool) {
	head, _, ok := strings.Cut(raw, ".")
	if !ok || strings.Count(raw, ".") != 2 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &h) != nil || h.Alg == "" {
		return "", false
	}
	return printableAlg(h.Alg), true
}

// printableAlg keeps an attacker-chosen alg printable and short in details.
func printableAlg(alg string) string {
	if len(alg) > 16 {
		alg = alg[:16]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, alg)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// verifiedTokens caches the claims of tokens whose signature, issuer and
// audience were verified, keyed by the token's SHA-256. It is cleared when
// full (bounded memory, no per-entry bookkeeping on the hot path).
// tokenBuffers recycles the bytes tokenDigest hashes: converting the token
// to a slice would allocate a copy of it (some 600 bytes, an eighth of
// what a proxied request allocates) on every gateway call.
var tokenBuffers = sync.Pool{New: func() any { return new([]byte) }}

// tokenDigest is the SHA-256 of raw, the key of the verified-token cache.
func tokenDigest(raw string) [32]byte {
	bp := tokenBuffers.Get().(*[]byte)
	b := append((*bp)[:0], raw...)
	d := sha256.Sum256(b)
	if cap(b) <= 16<<10 { // a huge header's buffer is not kept
		*bp = b
		tokenBuffers.Put(bp)
	}
	return d
}

type verifiedTokens struct {
	max int
	mu  sync.RWMutex
	m   map[[32]byte]*AccessClaims
}

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{max: max, m: make(map[[32]byte]*AccessClaims)}
}

func (v *verifiedTokens) get(k [32]byte) (*AccessClaims, bool) {
	v.mu.RLock()
	c, ok := v.m[k]
	v.mu.RUnlock()
	return c, ok
}

func (v *verifiedTokens) put(k [32]byte, c *AccessClaims) {
	v.mu.Lock()
	if len(v.m) >= v.max {
		clear(v.m)
	}
	v.m[k] = c
	v.mu.Unlock()
}

// revocations mirrors the store's revocation list in memory. A revocation on
// this node applies at once; revocations from other nodes arrive with the
// next poll.
type revocations struct {
	st  store.Tokens
	now func() time.Time

	mu       sync.RWMutex
	jtis     map[string]time.Time // jti → token expiry
	lastSeen time.Time
}

func newRevocations(st store.Tokens, now func() time.Time) *revocations {
	return &revocations{st: st, now: now, jtis: map[string]time.Time{}}
}

func (rv *revocations) has(jti string) bool {
	rv.mu.RLock()
	_, ok := rv.jtis[jti]
	rv.mu.RUnlock()
	return ok
}

func (rv *revocations) add(jti string, expires time.Time) {
	rv.mu.Lock()
	rv.jtis[jti] = expires
	rv.mu.Unlock()
}

// load fetches every revocation recorded since the oldest token that could
// still be live, and the ones after lastSeen on later calls.
func (rv *revocations) load(ctx context.Context) error {
	rv.mu.RLock()
	since := rv.lastSeen
	rv.mu.RUnlock()
	if !since.IsZero() {
		// Overlap by a few seconds: clocks of writers differ, and a
		// transaction may commit after a later one.
		since = since.Add(-5 * time.Second)
	}
	list, err := rv.st.ListRevokedTokensSince(ctx, since)
	if err != nil {
		return fmt.Errorf("oauth: loading revocations: %w", err)
	}
	now := rv.now()
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for _, t := range list {
		if t.ExpiresAt.After(now) {
			rv.jtis[t.ID] = t.ExpiresAt
		}
		if t.RevokedAt.After(rv.lastSeen) {
			rv.lastSeen = t.RevokedAt
		}
	}
	if rv.lastSeen.IsZero() {
		rv.lastSeen = now
	}
	for jti, exp := range rv.jtis {
		if !exp.After(now) {
			delete(rv.jtis, jti)
		}
	}
	return nil
}

func (rv *revocations) poll(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := rv.load(ctx); err != nil && ctx.Err() == nil {
				log.Warn("polling revocations failed", "err", err)
			}
		}
	}
}
