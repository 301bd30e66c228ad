package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// idTokenClaims are an ID token's claims (OpenID Connect Core §2, §3.1.3.6).
type idTokenClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	AZP      string `json:"azp"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	AuthTime int64  `json:"auth_time"`
	Nonce    string `json:"nonce,omitempty"`
	// AtHash is the left half of the access token's SHA-256, base64url
	// (§3.1.3.6), binding the ID token to the access token.
	AtHash string `json:"at_hash"`
}

// issueIDToken signs an ID token for the user (typ JWT, the current key).
func (s *Server) issueIDToken(clientID, subject string, authTime time.Time, nonce, accessToken string) (string, error) {
	sum := sha256.Sum256([]byte(accessToken))
	now := s.cfg.Now()
	payload, err := json.Marshal(idTokenClaims{
		Issuer: s.cfg.Issuer, Subject: subject, Audience: clientID, AZP: clientID,
		Expiry: now.Add(s.cfg.AccessTokenTTL).Unix(), IssuedAt: now.Unix(), AuthTime: authTime.Unix(),
		Nonce: nonce, AtHash: base64.RawURLEncoding.EncodeToString(sum[:16]),
	})
	if err != nil {
		return "", err
	}
	signer, err := s.cfg.Keys.Signer("JWT")
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("oauth: signing ID token: %w", err)
	}
	return jws.CompactSerialize()
}

// userTokens issues what a user's authorization earns: an access token, an
// ID token when openid was granted, and a refresh token when offline_access
// was. familyID names the token family: the refresh tokens' and the access
// token's (its gid claim, for revocation).
func (s *Server) userTokens(ctx context.Context, client *store.Client, user *store.User, scopes []string,
	authTime time.Time, nonce, familyID string, withRefresh bool) (*tokenResponse, *problem.Error) {
	sub := PairwiseSubject(s.derivedKey("pairwise"), client.ID, user.ID)
	at, claims, err := s.issueAccessToken(accessTokenSpec{
		ClientID: client.ID, Subject: sub, Scopes: scopes, FamilyID: familyID, User: user, AuthTime: authTime,
	})
	if err != nil {
		return nil, problem.Internal(err)
	}
	resp := &tokenResponse{AccessToken: at, TokenType: TokenTypeBearer, ExpiresIn: claims.Expiry - claims.IssuedAt, Scope: claims.Scope}
	if slices.Contains(scopes, ScopeOpenID) {
		if resp.IDToken, err = s.issueIDToken(client.ID, sub, authTime, nonce, at); err != nil {
			return nil, problem.Internal(err)
		}
	}
	if withRefresh && slices.Contains(scopes, ScopeOfflineAccess) {
		rt := newOpaqueToken()
		now := s.cfg.Now()
		rec := &store.RefreshToken{
			Hash: hashToken(rt), FamilyID: familyID, ClientID: client.ID, UserID: user.ID, Scopes: scopes,
			AuthTime: authTime, ExpiresAt: now.Add(RefreshTokenTTL), CreatedAt: now,
		}
		if err := s.cfg.Store.CreateRefreshToken(ctx, rec); err != nil {
			return nil, problem.FromOAuthStore(err)
		}
		resp.RefreshToken = rt
	}
	return resp, nil
}

// revokeFamily revokes a token family: every access token issued from one
// authorization and its refresh tokens, at once on this node and within a
// poll on others.
func (s *Server) revokeFamily(ctx context.Context, clientID, familyID string) error {
	now := s.cfg.Now()
	exp := now.Add(s.cfg.AccessTokenTTL)
	if err := s.cfg.Store.RevokeToken(ctx, &store.RevokedToken{ID: familyID, ClientID: clientID, ExpiresAt: exp, RevokedAt: now}); err != nil {
		return err
	}
	s.revoked.add(familyID, exp)
	return s.cfg.Store.RevokeRefreshFamily(ctx, familyID, now)
}
