package oauth

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// clientCredentials is the client_credentials grant (RFC 6749 §4.4): the
// client acts on its own behalf, so sub is the client_id.
type clientCredentials struct{}

func (clientCredentials) allowsPublicClients() bool { return false }

func (clientCredentials) handle(_ context.Context, s *Server, req *tokenRequest) (*tokenResponse, *problem.Error) {
	scopes, p := s.grantedScopes(req.client, req.scopes)
	if p != nil {
		return nil, p
	}
	tok, claims, err := s.issueAccessToken(accessTokenSpec{ClientID: req.client.ID, Subject: req.client.ID, Scopes: scopes})
	if err != nil {
		return nil, problem.Internal(err)
	}
	return &tokenResponse{
		AccessToken: tok,
		TokenType:   TokenTypeBearer,
		ExpiresIn:   claims.Expiry - claims.IssuedAt,
		Scope:       claims.Scope,
	}, nil
}

// IssueClientToken returns the access token a client_credentials grant
// issues to the client clientID for scopes (none: every scope the client
// is allowed, as when the scope parameter is absent): the same claims and
// lifetime, through the same steps as the token endpoint once a client has
// authenticated (its token rate, its permission for the grant, the scopes'
// syntax and the client's allowance for each). The client must exist and be
// active.
//
// It is for trusted in-process callers acting for the client's owner, such
// as the portal's try-it console, which has no secret to send: it never
// authenticates the client, so it must not be reachable with a client_id a
// caller chose. Its refusals are the registry errors the token endpoint
// answers with, not concealed (the caller is the platform itself).
func (s *Server) IssueClientToken(ctx context.Context, clientID string, scopes []string) (string, *problem.Error) {
	if p := s.storeDown(); p != nil {
		return "", p
	}
	c, err := s.clients.get(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", problem.Newf(problem.InvalidClientUnknownClient, "No client %q is registered.", clientID)
	case err != nil:
		return "", problem.FromOAuthStore(err)
	case c.Status != store.ClientActive:
		return "", problem.Newf(problem.InvalidClientClientSuspended, "The client %s is %s.", c.ID, c.Status)
	}
	if slices.Contains(scopes, "") {
		// Joined, an empty scope would read as no scope parameter: every
		// scope the client is allowed.
		return "", problem.New(problem.InvalidScopeMalformedScope, "An empty scope was requested.")
	}
	resp, p := s.grant(ctx, c, GrantClientCredentials, url.Values{"scope": {strings.Join(scopes, " ")}}, nil)
	if p != nil {
		return "", p
	}
	return resp.AccessToken, nil
}
