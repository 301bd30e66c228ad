package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// userTokens issues what a user's grant earns: an access token, an ID token
// when openid was granted, and a refresh token when offline_access was.
// familyID names the refresh token family (and the grant the access token
// belongs to, for revocation).
func (s *Server) userTokens(ctx context.Context, client *store.Client, user *store.User, scopes []string,
	authTime time.Time, nonce, familyID string, withRefresh bool) (*tokenResponse, *problem.Error) {
	sub := PairwiseSubject(s.derivedKey("pairwise"), client.ID, user.ID)
	at, claims, err := s.issueAccessToken(accessGrant{
		ClientID: client.ID, Subject: sub, Scopes: scopes, GrantID: familyID, User: user, AuthTime: authTime,
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

// revokeGrant revokes every access token issued from a grant and its
// refresh token family, at once on this node and within a poll on others.
func (s *Server) revokeGrant(ctx context.Context, clientID, grantID string) error {
	now := s.cfg.Now()
	exp := now.Add(s.cfg.AccessTokenTTL)
	if err := s.cfg.Store.RevokeToken(ctx, &store.RevokedToken{ID: grantID, ClientID: clientID, ExpiresAt: exp, RevokedAt: now}); err != nil {
		return err
	}
	s.revoked.add(grantID, exp)
	return s.cfg.Store.RevokeRefreshFamily(ctx, grantID, now)
}

// authorizationCode is the authorization_code grant (RFC 6749 §4.1.3) with
// PKCE (RFC 7636) and OpenID Connect.
type authorizationCode struct{}

func (authorizationCode) allowsPublicClients() bool { return true }

func (authorizationCode) handle(ctx context.Context, s *Server, req *tokenRequest) (*tokenResponse, *problem.Error) {
	code, p := require(req.form, "code")
	if p != nil {
		return nil, p
	}
	now := s.cfg.Now()
	ac, err := s.cfg.Store.RedeemAuthCode(ctx, hashToken(code), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, problem.New(problem.InvalidGrantCodeNotFound, "The authorization code is unknown; it may be mistyped or from another server.")
	case errors.Is(err, store.ErrConflict) && ac != nil:
		// A replayed code means it leaked: revoke everything issued from
		// it (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
		if rerr := s.revokeGrant(ctx, ac.ClientID, ac.GrantID); rerr != nil {
			s.cfg.Logger.Error("revoking the tokens of a replayed code failed", "err", rerr, "client", ac.ClientID)
		}
		return nil, problem.New(problem.InvalidGrantCodeAlreadyUsed,
			"This authorization code was already used; the tokens issued from it are now revoked. Start a new authorization.")
	case err != nil:
		return nil, problem.FromOAuthStore(err)
	}
	switch {
	case ac.ClientID != req.client.ID:
		return nil, problem.New(problem.InvalidGrantClientMismatch, "The authorization code was issued to another client.")
	case !now.Before(ac.ExpiresAt):
		return nil, problem.Newf(problem.InvalidGrantCodeExpired,
			"The authorization code expired (codes live %d seconds); start a new authorization.", int(AuthCodeTTL.Seconds()))
	}
	// RFC 6749 §4.1.3: a redirect_uri sent with the authorization request
	// must be repeated exactly; one sent only now must at least be
	// registered.
	ru := req.form.Get("redirect_uri")
	if (ac.RedirectURI != "" && ru != ac.RedirectURI) || (ac.RedirectURI == "" && ru != "" && !redirectURIRegistered(req.client.RedirectURIs, ru)) {
		return nil, problem.New(problem.InvalidGrantRedirectURIMismatch,
			"redirect_uri must be exactly the one sent with the authorization request.")
	}
	if p := checkPKCE(ac, req.form.Get("code_verifier")); p != nil {
		return nil, p
	}
	user, err := s.users.get(ctx, ac.UserID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, problem.New(problem.InvalidGrantUnknownSubject, "The user who authorized this code no longer exists.")
		}
		return nil, problem.FromOAuthStore(err)
	}
	return s.userTokens(ctx, req.client, user, ac.Scopes, ac.AuthTime, ac.Nonce, ac.GrantID, true)
}

// checkPKCE verifies the code_verifier against the stored S256 challenge
// (RFC 7636 §4.6). A verifier for a code issued without a challenge is
// refused too: it signals a PKCE downgrade (RFC 9700 §2.1.1).
func checkPKCE(ac *store.AuthCode, verifier string) *problem.Error {
	switch {
	case ac.CodeChallenge == "" && verifier == "":
		return nil
	case ac.CodeChallenge == "":
		return problem.New(problem.InvalidGrantPKCEVerifierMismatch,
			"A code_verifier was sent, but the authorization request had no code_challenge.")
	case verifier == "":
		return problem.New(problem.InvalidGrantPKCEVerifierMissing,
			"The authorization request had a code_challenge; send its code_verifier (RFC 7636 §4.5).")
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(ac.CodeChallenge)) != 1 {
		return problem.New(problem.InvalidGrantPKCEVerifierMismatch,
			"code_verifier does not match the code_challenge (S256) of the authorization request.")
	}
	return nil
}

// refreshToken is the refresh_token grant (RFC 6749 §6) with rotation on
// every use and reuse detection (RFC 9700 §4.14.2).
type refreshToken struct{}

func (refreshToken) allowsPublicClients() bool { return true }

func (refreshToken) handle(ctx context.Context, s *Server, req *tokenRequest) (*tokenResponse, *problem.Error) {
	raw, p := require(req.form, "refresh_token")
	if p != nil {
		return nil, p
	}
	hash := hashToken(raw)
	old, err := s.cfg.Store.GetRefreshToken(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, problem.New(problem.InvalidGrantRefreshTokenUnknown, "The refresh token is unknown.")
	case err != nil:
		return nil, problem.FromOAuthStore(err)
	case old.ClientID != req.client.ID:
		return nil, problem.New(problem.InvalidGrantClientMismatch, "The refresh token was issued to another client.")
	case !old.RevokedAt.IsZero():
		return nil, problem.New(problem.InvalidGrantRefreshTokenRevoked, "The refresh token was revoked; sign the user in again.")
	case !old.RotatedAt.IsZero():
		return nil, s.refreshReused(ctx, old)
	case !s.cfg.Now().Before(old.ExpiresAt):
		return nil, problem.New(problem.InvalidGrantRefreshTokenExpired, "The refresh token expired; sign the user in again.")
	}
	scopes, p := s.refreshScopes(req.client, old.Scopes, req.scopes)
	if p != nil {
		return nil, p
	}
	user, err := s.users.get(ctx, old.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.New(problem.InvalidGrantUnknownSubject, "The user of this refresh token no longer exists.")
	} else if err != nil {
		return nil, problem.FromOAuthStore(err)
	}
	now := s.cfg.Now()
	next := newOpaqueToken()
	rec := &store.RefreshToken{
		Hash: hashToken(next), FamilyID: old.FamilyID, ClientID: old.ClientID, UserID: old.UserID, Scopes: old.Scopes,
		AuthTime: old.AuthTime, ExpiresAt: now.Add(RefreshTokenTTL), CreatedAt: now,
	}
	stored, err := s.cfg.Store.RotateRefreshToken(ctx, hash, now, rec)
	if errors.Is(err, store.ErrConflict) {
		// Another request rotated it first: that is reuse too.
		return nil, s.refreshReused(ctx, stored)
	} else if err != nil {
		return nil, problem.FromOAuthStore(err)
	}
	resp, p := s.userTokens(ctx, req.client, user, scopes, old.AuthTime, "", old.FamilyID, false)
	if p != nil {
		return nil, p
	}
	resp.RefreshToken = next
	return resp, nil
}

// refreshScopes returns the scope of a refreshed access token: the scope
// requested (at most the original grant, RFC 6749 §6) or, when none was,
// the original grant, in both cases only what the client may still request
// now and what the platform or an API still defines (issue 9: a scope the
// operator removed from the client must not live on in refreshed tokens).
//
// Scopes dropped from an omitted scope are dropped silently: the response's
// scope member states the narrower scope (RFC 6749 §5.1, §3.3). An explicit
// request for a dropped scope is invalid_scope with the reason. A client
// that lost offline_access may no longer refresh at all, and a grant left
// with no scope beyond offline_access is over: both are invalid_grant, and
// the user must sign in again. The refresh token itself keeps the original
// grant, so a scope the operator gives back is issued again at the next
// refresh, as the user consented to it.
func (s *Server) refreshScopes(c *store.Client, granted, requested []string) ([]string, *problem.Error) {
	if !slices.Contains(c.Scopes, ScopeOfflineAccess) {
		return nil, problem.New(problem.InvalidGrantOfflineAccessWithdrawn,
			"This client is no longer allowed offline_access, so its refresh tokens no longer work; sign the user in again.")
	}
	if requested != nil {
		for _, sc := range requested {
			switch {
			case !slices.Contains(granted, sc):
				return nil, problem.Newf(problem.InvalidScopeScopeExceedsGrant,
					"The scope %q was not granted with this refresh token; a refresh may only narrow the scope.", sc)
			case !slices.Contains(c.Scopes, sc):
				return nil, problem.Newf(problem.InvalidScopeScopeNoLongerAllowed,
					"The scope %q was granted, but the operator has since removed it from this client; it may request: %s.", sc, quoteList(c.Scopes))
			case !s.scopeDefined(sc):
				return nil, problem.Newf(problem.InvalidScopeScopeNoLongerDefined,
					"The scope %q was granted, but no API defines it any more; omit scope to get what remains of the grant.", sc)
			}
		}
		return requested, nil
	}
	scopes := make([]string, 0, len(granted))
	for _, sc := range granted {
		if slices.Contains(c.Scopes, sc) && s.scopeDefined(sc) {
			scopes = append(scopes, sc)
		}
	}
	if !slices.ContainsFunc(scopes, func(sc string) bool { return sc != ScopeOfflineAccess }) {
		return nil, problem.Newf(problem.InvalidGrantGrantScopesWithdrawn,
			"None of the scopes granted with this refresh token (%s) may still be issued to this client; sign the user in again.", strings.Join(granted, " "))
	}
	return scopes, nil
}

// refreshReused revokes the family of a refresh token used after rotation:
// either the client or an attacker holds a stolen copy, and the server
// cannot tell which (RFC 9700 §4.14.2).
func (s *Server) refreshReused(ctx context.Context, t *store.RefreshToken) *problem.Error {
	if t != nil {
		if err := s.revokeGrant(ctx, t.ClientID, t.FamilyID); err != nil {
			s.cfg.Logger.Error("revoking a reused refresh token's family failed", "err", err, "client", t.ClientID)
		}
	}
	return problem.New(problem.InvalidGrantRefreshTokenReused,
		"This refresh token was already exchanged; its whole family is now revoked. Sign the user in again.")
}
