package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// assertionAlgorithms are the JWS algorithms go-jose verifies for
// private_key_jwt client assertions and JWT bearer grants; alg Ed25519
// (RFC 9864) is accepted beside them (assertion.go). "none" and HMAC are
// never accepted.
var assertionAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// clockSkew is the leeway allowed on assertion times.
const clockSkew = 30 * time.Second

// HashSecret returns the digest a client secret is stored as. Secrets are
// 256-bit random values, so a fast digest is as strong as a slow KDF here and
// keeps client authentication cheap (see DESIGN.md).
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// unknownClientDigest is compared against when the client does not exist, so
// an unknown client_id and a wrong secret take the same path and time.
var unknownClientDigest = HashSecret("gatehouse: no such client")

// authenticateClient identifies and authenticates the client of a token,
// introspection or revocation request (RFC 6749 §2.3, RFC 7523 §3). allowNone
// lets public clients (method none) through with their client_id alone.
func (s *Server) authenticateClient(r *http.Request, form url.Values, endpoint string, allowNone bool) (*store.Client, *problem.Error) {
	basicID, basicSecret, hasBasic, perr := basicCredentials(r)
	if perr != nil {
		return nil, perr
	}
	postSecret, hasPost := form["client_secret"]
	assertion, hasAssertion := form["client_assertion"]
	methods := 0
	for _, used := range []bool{hasBasic, hasPost, hasAssertion} {
		if used {
			methods++
		}
	}
	if methods > 1 {
		return nil, problem.New(problem.InvalidRequestMultipleClientAuth,
			"The client authenticated with more than one method; use exactly one (RFC 6749 §2.3).")
	}
	challenge := func(p *problem.Error) *problem.Error {
		if hasBasic {
			p.WithHeader("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
		}
		return p
	}

	switch {
	case hasAssertion:
		if t := form.Get("client_assertion_type"); t != ClientAssertionTypeJWT {
			return nil, problem.Newf(problem.InvalidRequestInvalidParameter,
				"client_assertion_type must be %q; got %q.", ClientAssertionTypeJWT, t)
		}
		c, p := s.verifyClientAssertion(r.Context(), assertion[0], form.Get("client_id"), endpoint)
		return c, p
	case hasBasic:
		if id := form.Get("client_id"); id != "" && id != basicID {
			return nil, challenge(problem.New(problem.InvalidRequestInvalidParameter,
				"client_id in the body differs from the one in the Authorization header."))
		}
		c, p := s.checkSecret(r.Context(), basicID, basicSecret, AuthClientSecretBasic)
		if p != nil {
			return nil, challenge(p)
		}
		return c, nil
	case hasPost:
		id := form.Get("client_id")
		if id == "" {
			return nil, problem.New(problem.InvalidRequestMissingParameter,
				"client_secret was sent without client_id.")
		}
		return s.checkSecret(r.Context(), id, postSecret[0], AuthClientSecretPost)
	}

	id := form.Get("client_id")
	if id == "" {
		return nil, problem.New(problem.InvalidClientMissingCredentials,
			"No client credentials were sent: use HTTP Basic with client_id and client_secret, or the client's registered method.").
			WithHeader("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	c, err := s.clients.get(r.Context(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, problem.Newf(problem.InvalidClientUnknownClient, "client_id %s is not registered", id).Conceal()
		}
		return nil, problem.FromOAuthStore(err)
	}
	if c.TokenEndpointAuthMethod != AuthNone || !allowNone {
		return nil, problem.New(problem.InvalidClientMissingCredentials,
			"The client sent a client_id but no credentials; it must authenticate with its registered method.")
	}
	if c.Status != store.ClientActive {
		return nil, problem.Newf(problem.InvalidClientClientSuspended, "client %s is %s", c.ID, c.Status).Conceal()
	}
	return c, nil
}

// basicCredentials parses HTTP Basic client credentials, which RFC 6749
// §2.3.1 form-encodes before Base64.
func basicCredentials(r *http.Request) (id, secret string, ok bool, p *problem.Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, nil
	}
	scheme, _, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, problem.Newf(problem.InvalidClientMissingCredentials,
			"The token endpoint accepts HTTP Basic client authentication, not %q.", scheme).
			WithHeader("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	rawID, rawSecret, ok := r.BasicAuth()
	bad := problem.New(problem.InvalidClientMalformedBasicAuth,
		"The Authorization header is not valid HTTP Basic credentials (base64 of client_id:client_secret).").
		WithHeader("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	if !ok {
		return "", "", false, bad
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil || id == "" {
		return "", "", false, bad
	}
	return id, secret, true, nil
}

// checkSecret authenticates a client by secret in constant time. Unknown
// client, wrong secret and suspended client all hash and compare the same way
// and answer the same concealed invalid_client; the actual cause is logged.
func (s *Server) checkSecret(ctx context.Context, id, secret, method string) (*store.Client, *problem.Error) {
	// Said openly: the answer depends on the string alone, not the client.
	if garbledSecret(secret) {
		return nil, problem.New(problem.InvalidClientSecretGarbled,
			"The client_secret starts with gatehouse's gth_ prefix but its checksum does not match: it was truncated or changed when it was copied. Copy the whole secret again, or rotate it in the portal.")
	}
	c, err := s.clients.get(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, problem.FromOAuthStore(err)
	}
	digest := HashSecret(secret)
	current, previous := unknownClientDigest, unknownClientDigest
	previousValid := false
	if c != nil {
		if len(c.SecretHash) == sha256.Size {
			current = c.SecretHash
		}
		if len(c.PreviousSecretHash) == sha256.Size {
			previous = c.PreviousSecretHash
			previousValid = s.cfg.Now().Before(c.PreviousSecretExpiresAt)
		}
	}
	matchCurrent := subtle.ConstantTimeCompare(digest, current) == 1
	matchPrevious := subtle.ConstantTimeCompare(digest, previous) == 1 && previousValid
	switch {
	case c == nil:
		return nil, problem.Newf(problem.InvalidClientUnknownClient, "client_id %s is not registered", id).Conceal()
	case !matchCurrent && !matchPrevious:
		return nil, problem.Newf(problem.InvalidClientWrongSecret, "client %s sent a secret that matches neither its current nor a previous secret in its grace period", id).Conceal()
	case c.Status != store.ClientActive:
		return nil, problem.Newf(problem.InvalidClientClientSuspended, "client %s is %s", id, c.Status).Conceal()
	case c.TokenEndpointAuthMethod != method:
		return nil, problem.Newf(problem.InvalidClientAuthMethodMismatch,
			"This client is registered for %s but authenticated with %s.", c.TokenEndpointAuthMethod, method)
	}
	return c, nil
}

// assertionClaims are the claims of a private_key_jwt client assertion
// (RFC 7523 §3).
type assertionClaims struct {
	jwt.Claims
}

// verifyClientAssertion authenticates a client by a JWT signed with a key
// from its registered JWKS (private_key_jwt, RFC 7523 §2.2 and §3).
func (s *Server) verifyClientAssertion(ctx context.Context, raw, formClientID, endpoint string) (*store.Client, *problem.Error) {
	invalid := func(r problem.Reason, detail string) *problem.Error {
		return problem.New(r, detail)
	}
	tok, err := parseAssertion(raw)
	if err != nil {
		return nil, invalid(problem.InvalidClientInvalidAssertion, "client_assertion is not a JWS signed with an accepted algorithm (RS*, PS*, ES*, EdDSA, Ed25519).")
	}
	var unverified assertionClaims
	if err := tok.unsafeClaims(&unverified); err != nil || unverified.Subject == "" {
		return nil, invalid(problem.InvalidClientInvalidAssertion, "client_assertion must carry sub = the client_id.")
	}
	if formClientID != "" && formClientID != unverified.Subject {
		return nil, invalid(problem.InvalidClientInvalidAssertion, "client_id differs from the assertion's sub.")
	}
	c, err := s.clients.get(ctx, unverified.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.Newf(problem.InvalidClientUnknownClient, "client_id %s (the assertion's sub) is not registered", unverified.Subject).Conceal()
	} else if err != nil {
		return nil, problem.FromOAuthStore(err)
	}
	if c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		return nil, problem.Newf(problem.InvalidClientAuthMethodMismatch,
			"This client is registered for %s but authenticated with private_key_jwt.", c.TokenEndpointAuthMethod)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil {
		return nil, invalid(problem.InvalidClientInvalidAssertion, "The client has no usable registered JWKS.")
	}
	var claims assertionClaims
	if !tok.verify(set, &claims) {
		return nil, invalid(problem.InvalidClientInvalidAssertion, "The assertion's signature does not verify with any key in the client's registered JWKS.")
	}
	if claims.Issuer != c.ID || claims.Subject != c.ID {
		return nil, invalid(problem.InvalidClientInvalidAssertion, "The assertion's iss and sub must both be the client_id.")
	}
	now := s.cfg.Now()
	if claims.Expiry == nil {
		return nil, invalid(problem.InvalidClientAssertionExpired, "The assertion must carry exp.")
	}
	exp := claims.Expiry.Time()
	if !now.Before(exp.Add(clockSkew)) {
		return nil, invalid(problem.InvalidClientAssertionExpired, "The assertion has expired.")
	}
	issued := now
	if claims.IssuedAt != nil {
		issued = claims.IssuedAt.Time()
		if issued.After(now.Add(clockSkew)) {
			return nil, invalid(problem.InvalidClientInvalidAssertion, "The assertion's iat is in the future.")
		}
	}
	if exp.Sub(issued) > MaxAssertionLifetime*time.Second+clockSkew {
		return nil, invalid(problem.InvalidClientAssertionLifetimeTooLong,
			"The assertion's lifetime is too long: exp may be at most 300 seconds after iat (or after the time of receipt without iat); shorten exp.")
	}
	if claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(clockSkew)) {
		return nil, invalid(problem.InvalidClientInvalidAssertion, "The assertion is not valid yet (nbf).")
	}
	if !s.assertionAudienceOK(claims.Audience, endpoint) {
		return nil, invalid(problem.InvalidClientAssertionAudience, "The assertion's aud must be the issuer or this endpoint's URL, "+s.cfg.Issuer+".")
	}
	if claims.ID == "" {
		return nil, invalid(problem.InvalidClientInvalidAssertion, "The assertion must carry a jti.")
	}
	if err := s.cfg.Store.UseAssertionID(ctx, c.ID, claims.ID, exp.Add(clockSkew)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, invalid(problem.InvalidClientAssertionReplayed, "This assertion's jti was already used; sign a new assertion for every request.")
		}
		return nil, problem.FromOAuthStore(err)
	}
	if c.Status != store.ClientActive {
		return nil, problem.Newf(problem.InvalidClientClientSuspended, "client %s is %s", c.ID, c.Status).Conceal()
	}
	return c, nil
}

func (s *Server) assertionAudienceOK(aud jwt.Audience, endpoint string) bool {
	ok := []string{s.cfg.Issuer, s.cfg.Issuer + "/", s.cfg.Issuer + PathToken, s.cfg.Issuer + endpoint}
	return slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(ok, a) })
}
