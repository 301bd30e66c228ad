package oauth

import (
	"context"
	"errors"
	"slices"
	"strings"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

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
// requested (at most the scope originally granted, RFC 6749 §6) or, when
// none was, the scope originally granted, in both cases only what the client
// may still request now and what the platform or an API still defines
// (issue 9: a scope the operator removed from the client must not live on in
// refreshed tokens).
//
// Scopes dropped from an omitted scope are dropped silently: the response's
// scope member states the narrower scope (RFC 6749 §5.1, §3.3). An explicit
// request for a dropped scope is invalid_scope with the reason. A client
// that lost offline_access may no longer refresh at all, and a token family
// left with no scope beyond offline_access is over: both are invalid_grant,
// and the user must sign in again. The refresh token itself keeps the scope
// originally granted, so a scope the operator gives back is issued again at
// the next refresh, as the user consented to it.
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
		if err := s.revokeFamily(ctx, t.ClientID, t.FamilyID); err != nil {
			s.cfg.Logger.Error("revoking a reused refresh token's family failed", "err", err, "client", t.ClientID)
		}
	}
	return problem.New(problem.InvalidGrantRefreshTokenReused,
		"This refresh token was already exchanged; its whole family is now revoked. Sign the user in again.")
}
