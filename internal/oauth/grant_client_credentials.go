package oauth

import (
	"context"

	"gatehouse/internal/problem"
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
