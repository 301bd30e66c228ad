package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// jwtBearer is the JWT bearer authorization grant (RFC 7523 §2.1) as the
// CAMARA Security and Interoperability Profile profiles it ("JWT Bearer
// Flow"): the client asserts, with a JWT signed by a key it registered,
// that it acts for the subscriber in sub ("tel:+…" or
// "operatortoken:…"), for the scopes of the assertion's scope claim. The
// scope parameter is refused. The assertion authenticates the client by
// itself when the request carries no other client credentials (see
// Server.token); a client that authenticates separately as well is still
// served. No refresh token is issued.
type jwtBearer struct{}

func (jwtBearer) allowsPublicClients() bool { return false }

// grantAssertion is a verified JWT bearer grant assertion.
type grantAssertion struct {
	jwt.Claims
	// Scope is the scope claim, raw: its type is checked when it is read.
	Scope json.RawMessage `json:"scope,omitempty"`
}

func (jwtBearer) handle(ctx context.Context, s *Server, req *tokenRequest) (*tokenResponse, *problem.Error) {
	if req.form.Has("scope") {
		return nil, problem.New(problem.InvalidRequestScopeParameterNotAllowed,
			"The scope parameter is not allowed with the JWT bearer grant (CAMARA profile, JWT Bearer Flow): put the scopes in the assertion's scope claim and drop the parameter.")
	}
	claims := req.bearer
	if claims == nil {
		raw, p := require(req.form, "assertion")
		if p != nil {
			return nil, p
		}
		if claims, p = s.verifyGrantAssertion(ctx, raw, req.client, false); p != nil {
			return nil, p
		}
	}
	requested, p := claims.scopes()
	if p != nil {
		return nil, p
	}
	scopes, p := s.grantedScopes(req.client, requested)
	if p != nil {
		return nil, p
	}
	user, p := s.assertedSubscriber(ctx, claims.Subject)
	if p != nil {
		return nil, p
	}
	return s.userTokens(ctx, req.client, user, scopes, s.cfg.Now(), "", "jwt_"+newTokenID(), false)
}

// scopes reads the scope claim: mandatory in the CAMARA profile, a string
// of space-separated scopes (as RFC 8693 §4.2 writes a scope claim).
func (a *grantAssertion) scopes() ([]string, *problem.Error) {
	if len(a.Scope) == 0 || string(a.Scope) == "null" {
		return nil, problem.New(problem.InvalidGrantAssertionScopeMissing,
			"The assertion has no scope claim; put the scopes requested (the CAMARA scopes and the purpose) in its scope claim, separated by spaces.")
	}
	var raw string
	if json.Unmarshal(a.Scope, &raw) != nil {
		return nil, problem.New(problem.InvalidGrantInvalidAssertion,
			"The assertion's scope claim must be one string of scopes separated by single spaces, not a list or a number.")
	}
	if raw == "" {
		return nil, problem.New(problem.InvalidGrantAssertionScopeMissing,
			"The assertion's scope claim is empty; name the scopes requested in it, separated by spaces.")
	}
	return parseScope(raw)
}

// assertedSubscriber finds the user an assertion's sub names: tel:+<E.164>
// (in the sandbox the network knows every line but those ending in 4), or
// operatortoken:<token>, which Config.ResolveOperatorToken resolves.
func (s *Server) assertedSubscriber(ctx context.Context, sub string) (*store.User, *problem.Error) {
	if token, ok := strings.CutPrefix(sub, "operatortoken:"); ok && token != "" {
		if s.cfg.ResolveOperatorToken == nil {
			return nil, problem.New(problem.InvalidGrantOperatorTokenUnresolved,
				"The assertion's sub is an operatortoken: value, and this server has no operator token service to resolve it to a line; name the subscriber as tel:+<number>.")
		}
		phone, err := s.cfg.ResolveOperatorToken(ctx, token)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !e164.MatchString(phone)) {
			return nil, problem.New(problem.InvalidGrantOperatorTokenUnresolved,
				"The operator token in the assertion's sub does not resolve to a line of this network: it is unknown, expired or for another operator.")
		} else if err != nil {
			return nil, problem.FromOAuthStore(err)
		}
		sub = "tel:" + phone
	}
	phone, ok := strings.CutPrefix(sub, "tel:")
	if !ok || !e164.MatchString(phone) {
		return nil, problem.New(problem.InvalidGrantUnknownSubject,
			"The assertion's sub must name the subscriber as tel:+<number in E.164> or operatortoken:<token>.")
	}
	user, err := s.cfg.Store.GetUserByPhone(ctx, phone)
	if errors.Is(err, store.ErrNotFound) {
		if user, _ = s.subscriber(ctx, phone); user == nil {
			return nil, problem.New(problem.InvalidGrantUnknownSubject, "No subscriber has the phone number in the assertion's sub.")
		}
	} else if err != nil {
		return nil, problem.FromOAuthStore(err)
	}
	return user, nil
}

// authenticateByGrantAssertion authenticates the client of a JWT bearer
// token request that carries no other client credentials by the grant's
// assertion (the CAMARA profile: "the assertion is interpreted as Client
// Authentication"): its iss names the client, whose registered keys must
// verify it. An unknown or suspended client is invalid_client, concealed
// as the other methods conceal it; so is a signature no registered key
// verifies, since then the client did not authenticate. Once the
// signature holds, the assertion's other faults are invalid_grant.
func (s *Server) authenticateByGrantAssertion(ctx context.Context, form url.Values) (*store.Client, *grantAssertion, *problem.Error) {
	raw := ""
	if v := form["assertion"]; len(v) == 1 {
		raw = v[0]
	}
	if raw == "" {
		return nil, nil, problem.New(problem.InvalidClientMissingCredentials,
			"No client credentials and no assertion were sent: the JWT bearer grant's assertion, signed with a registered key, authenticates the client.").
			WithHeader("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	tok, err := parseAssertion(raw)
	if err != nil {
		return nil, nil, problem.New(problem.InvalidGrantInvalidAssertion, "assertion is not a JWS signed with an accepted algorithm (RS*, PS*, ES*, EdDSA, Ed25519).")
	}
	var unverified jwt.Claims
	if err := tok.unsafeClaims(&unverified); err != nil || unverified.Issuer == "" {
		return nil, nil, problem.New(problem.InvalidGrantInvalidAssertion, "The assertion must carry iss = the client_id; it authenticates the client.")
	}
	if ids := form["client_id"]; len(ids) == 1 && ids[0] != "" && ids[0] != unverified.Issuer {
		return nil, nil, problem.New(problem.InvalidClientInvalidAssertion, "client_id differs from the assertion's iss.")
	}
	c, err := s.clients.get(ctx, unverified.Issuer)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, problem.Newf(problem.InvalidClientUnknownClient, "client_id %s (the JWT bearer assertion's iss) is not registered", unverified.Issuer).Conceal()
	} else if err != nil {
		return nil, nil, problem.FromOAuthStore(err)
	}
	claims, p := s.verifyGrantAssertion(ctx, raw, c, true)
	if p != nil {
		return nil, nil, p
	}
	if c.Status != store.ClientActive {
		return nil, nil, problem.Newf(problem.InvalidClientClientSuspended, "client %s is %s", c.ID, c.Status).Conceal()
	}
	return c, claims, nil
}

// verifyGrantAssertion checks a JWT bearer grant assertion (RFC 7523 §3,
// the CAMARA profile's list): signed by a key of the client's registered
// JWKS; iss the client; aud this server (the token endpoint or the
// issuer); exp, iat and jti present; iat not later than receipt; exp at
// most 300 s after iat and after receipt; nbf, if any, passed; the jti
// single-use. authenticates says the assertion is the client's only
// authentication, which makes a failed signature invalid_client.
func (s *Server) verifyGrantAssertion(ctx context.Context, raw string, client *store.Client, authenticates bool) (*grantAssertion, *problem.Error) {
	invalid := func(r problem.Reason, detail string) *problem.Error { return problem.New(r, detail) }
	badSignature := problem.InvalidGrantInvalidAssertion
	if authenticates {
		badSignature = problem.InvalidClientInvalidAssertion
	}
	tok, err := parseAssertion(raw)
	if err != nil {
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "assertion is not a JWS signed with an accepted algorithm (RS*, PS*, ES*, EdDSA, Ed25519).")
	}
	var set jose.JSONWebKeySet
	if client.JWKS == "" || json.Unmarshal([]byte(client.JWKS), &set) != nil {
		return nil, invalid(badSignature, "The client has no registered JWKS to verify the assertion with.")
	}
	var claims grantAssertion
	if !tok.verify(set, &claims) {
		return nil, invalid(badSignature, "The assertion's signature does not verify with any key the client registered.")
	}
	now := s.cfg.Now()
	const maxLifetime = MaxAssertionLifetime * time.Second
	switch {
	case claims.Issuer != client.ID:
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion's iss must be the client_id.")
	case claims.Expiry == nil:
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion must carry exp, at most 300 seconds after iat.")
	case claims.IssuedAt == nil:
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion must carry iat, the time it was signed (CAMARA profile).")
	case !now.Before(claims.Expiry.Time().Add(clockSkew)):
		return nil, invalid(problem.InvalidGrantAssertionExpired, "The assertion has expired (exp); sign a new one for every request.")
	case claims.IssuedAt.Time().After(now.Add(clockSkew)):
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion's iat is later than the time it was received; check the signer's clock.")
	case claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > maxLifetime+clockSkew,
		claims.Expiry.Time().Sub(now) > maxLifetime+clockSkew:
		return nil, invalid(problem.InvalidGrantAssertionLifetimeTooLong,
			"The assertion's lifetime is too long: exp may be at most 300 seconds after iat and after the time of receipt; shorten exp.")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(clockSkew)):
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion is not valid yet (nbf).")
	case !s.assertionAudienceOK(claims.Audience, PathToken):
		return nil, invalid(problem.InvalidGrantAssertionAudience, "The assertion's aud must be the token endpoint, "+s.cfg.Issuer+PathToken+", or the issuer.")
	case claims.ID == "":
		return nil, invalid(problem.InvalidGrantInvalidAssertion, "The assertion must carry a jti.")
	}
	if err := s.cfg.Store.UseAssertionID(ctx, client.ID, "grant:"+claims.ID, claims.Expiry.Time().Add(clockSkew)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, invalid(problem.InvalidGrantAssertionReplayed, "This assertion's jti was already used; sign a new assertion for every request.")
		}
		return nil, problem.FromOAuthStore(err)
	}
	return &claims, nil
}
