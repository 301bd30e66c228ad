package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// jwtBearer is the JWT bearer authorization grant (RFC 7523 §2.1): the
// client asserts, with a JWT signed by a key it registered, that it acts for
// the subscriber in sub ("tel:+…").
type jwtBearer struct{}

func (jwtBearer) allowsPublicClients() bool { return false }

func (jwtBearer) handle(ctx context.Context, s *Server, req *tokenRequest) (*tokenResponse, *problem.Error) {
	raw, p := require(req.form, "assertion")
	if p != nil {
		return nil, p
	}
	claims, p := s.verifyGrantAssertion(ctx, raw, req.client)
	if p != nil {
		return nil, p
	}
	phone, ok := strings.CutPrefix(claims.Subject, "tel:")
	if !ok || !e164.MatchString(phone) {
		return nil, problem.New(problem.InvalidGrantUnknownSubject,
			"The assertion's sub must name the subscriber as tel:+<number in E.164>.")
	}
	user, err := s.cfg.Store.GetUserByPhone(ctx, phone)
	if errors.Is(err, store.ErrNotFound) {
		if user, p = s.subscriber(ctx, phone); p != nil {
			return nil, problem.New(problem.InvalidGrantUnknownSubject, "No subscriber has the phone number in the assertion's sub.")
		}
	} else if err != nil {
		return nil, problem.FromOAuthStore(err)
	}
	scopes, p := s.grantedScopes(req.client, req.scopes)
	if p != nil {
		return nil, p
	}
	return s.userTokens(ctx, req.client, user, scopes, s.cfg.Now(), "", "jwt_"+newTokenID(), false)
}

// verifyGrantAssertion checks a JWT bearer grant assertion (RFC 7523 §3):
// signed by a key of the client's registered JWKS, iss the client, aud this
// server, a lifetime of at most 300 s and a single-use jti.
func (s *Server) verifyGrantAssertion(ctx context.Context, raw string, client *store.Client) (*jwt.Claims, *problem.Error) {
	invalid := func(r problem.Reason, detail string) *problem.Error { return problem.New(r, detail) }
	tok, err := parseAssertion(raw)
	if err != nil {
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "assertion is not a JWS signed with an accepted algorithm (RS*, PS*, ES*, EdDSA, Ed25519).")
	}
	var set jose.JSONWebKeySet
	if client.JWKS == "" || json.Unmarshal([]byte(client.JWKS), &set) != nil {
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The client has no registered JWKS to verify the assertion with.")
	}
	var claims jwt.Claims
	if !tok.verify(set, &claims) {
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion's signature does not verify with any key the client registered.")
	}
	now := s.cfg.Now()
	switch {
	case claims.Issuer != client.ID:
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion's iss must be the client_id.")
	case claims.Expiry == nil || !now.Before(claims.Expiry.Time().Add(clockSkew)):
		return nil, invalid(problem.InvalidGrantAssertionExpired, "The assertion has expired or has no exp.")
	case claims.IssuedAt != nil && claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > MaxAssertionLifetime*time.Second+clockSkew,
		claims.IssuedAt == nil && claims.Expiry.Time().Sub(now) > MaxAssertionLifetime*time.Second+clockSkew:
		return nil, invalid(problem.InvalidGrantAssertionExpired, "The assertion lives longer than 300 seconds; shorten exp.")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(clockSkew)):
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion's iat is in the future.")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(clockSkew)):
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion is not valid yet (nbf).")
	case !s.assertionAudienceOK(claims.Audience, PathToken):
		return nil, invalid(problem.InvalidGrantAssertionAudience, "The assertion's aud must be the issuer or the token endpoint, "+s.cfg.Issuer+PathToken+".")
	case claims.ID == "":
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion must carry a jti.")
	}
	if err := s.cfg.Store.UseAssertionID(ctx, client.ID, "grant:"+claims.ID, claims.Expiry.Time().Add(clockSkew)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, invalid(problem.InvalidGrantInvalidAssertion, "This assertion's jti was already used; sign a new assertion for every request.")
		}
		return nil, problem.FromOAuthStore(err)
	}
	return &claims, nil
}
