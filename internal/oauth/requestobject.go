package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// Signed request objects, passed by value in the request parameter of the
// authorization endpoint and the backchannel authentication endpoint
// (RFC 9101; OpenID Connect Core §6.1; CIBA Core §7.1.1). The CAMARA
// Security and Interoperability Profile requires the authorization server
// to handle them ("Signed Authentication Requests"; CIBA "Authentication
// Request"), to use only the parameters they contain, and sharpens the
// claims: iss, aud, iat, exp and jti are required, iat may not be later
// than the time of receipt, and exp may not be more than 300 seconds after
// iat. Request objects by reference (request_uri) are not supported.

// requestObjectRules are what one endpoint requires of its request objects.
type requestObjectRules struct {
	// endpoint is the endpoint's path; its URL is accepted as aud beside
	// the issuer (the profile recommends the endpoint's URL, and allows
	// the issuer).
	endpoint string
	// requireClientID requires the client_id claim (RFC 9101 §6.3: it must
	// be identical to the client_id parameter of an authorization request).
	requireClientID bool
	// requireNBF requires the nbf claim (CIBA Core §7.1.1).
	requireNBF bool
}

// requestObjectClaims are the JWT claims of a request object, which are
// not request parameters.
var requestObjectClaims = []string{"iss", "aud", "exp", "iat", "nbf", "jti", "sub"}

// openRequestObject verifies raw, a request object that client c sent to
// the endpoint of rules, and returns the request parameters it carries.
// Keys are the client's registered JWKS, the same it signs private_key_jwt
// assertions with; algorithms are those of client assertions (never none
// or HMAC); the jti is single-use, kept in the store beside the client
// assertions' ids. params is not nil once the signature verified, even
// when a later check failed: the caller may then trust the object's own
// redirect_uri and state to report the error.
func (s *Server) openRequestObject(ctx context.Context, raw string, c *store.Client, rules requestObjectRules) (params url.Values, p *problem.Error) {
	parts := strings.Split(raw, ".")
	switch len(parts) {
	case 3:
	case 5:
		return nil, problem.New(problem.InvalidRequestObjectMalformed,
			"The request object is encrypted (a JWE); this server accepts signed request objects only: send the JWS without encrypting it.")
	default:
		return nil, problem.New(problem.InvalidRequestObjectMalformed,
			"The request parameter is not a compact JWS (three base64url parts separated by dots).")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil {
		return nil, problem.New(problem.InvalidRequestObjectMalformed, "The request object's JOSE header is not base64url-encoded JSON.")
	}
	if algs := assertionAlgorithmNames(); !slices.Contains(algs, header.Alg) {
		why := "is not accepted"
		switch {
		case header.Alg == "none":
			why = "means an unsigned request object, which is not accepted"
		case strings.HasPrefix(header.Alg, "HS"):
			why = "is an HMAC algorithm (a shared secret), which is not accepted"
		}
		return nil, problem.Newf(problem.InvalidRequestObjectAlgorithmNotAllowed,
			"The request object's alg %q %s; sign it with a registered key and one of: %s.", header.Alg, why, strings.Join(algs, ", "))
	}
	tok, err := parseAssertion(raw)
	var unverified map[string]json.RawMessage
	if err != nil || tok.unsafeClaims(&unverified) != nil || unverified == nil {
		return nil, problem.New(problem.InvalidRequestObjectMalformed,
			"The request object is not a JWS whose payload is a JSON object of request parameters.")
	}
	var set jose.JSONWebKeySet
	if c.JWKS == "" || json.Unmarshal([]byte(c.JWKS), &set) != nil || len(set.Keys) == 0 {
		return nil, problem.Newf(problem.InvalidRequestObjectClientKeysMissing,
			"The app %q has no registered public keys (JWKS) to verify its request objects with; register the key it signs them with.", c.Name)
	}
	var verified json.RawMessage // decoded here, with encoding/json, once verified
	var payload map[string]json.RawMessage
	if !tok.verify(set, &verified) {
		return nil, problem.Newf(problem.InvalidRequestObjectSignatureInvalid,
			"The request object's signature does not verify with any key the app %q registered (its kid, when set, must name one of them).", c.Name)
	}
	if json.Unmarshal(verified, &payload) != nil || payload == nil {
		return nil, problem.New(problem.InvalidRequestObjectMalformed,
			"The request object's payload is not a JSON object of request parameters.")
	}
	params, claims, p := requestParams(payload)
	if p != nil {
		return nil, p
	}
	return params, s.checkRequestObject(ctx, params, claims, c, rules)
}

// requestParams splits a verified payload into the request parameters
// (strings as they are, numbers and booleans as their JSON text, objects
// and arrays as JSON, as OpenID Connect Core §6.1 sends claims) and the
// JWT claims.
func requestParams(payload map[string]json.RawMessage) (url.Values, *jwt.Claims, *problem.Error) {
	params := url.Values{}
	for name, v := range payload {
		if slices.Contains(requestObjectClaims, name) {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case len(v) == 0 || string(v) == "null":
			continue
		case v[0] == '"':
			var str string
			if json.Unmarshal(v, &str) != nil {
				return nil, nil, problem.Newf(problem.InvalidRequestObjectMalformed, "The request object's %q member is not a valid JSON string.", name)
			}
			params.Set(name, str)
		default:
			params.Set(name, string(v))
		}
	}
	registered := map[string]json.RawMessage{}
	for _, name := range requestObjectClaims {
		if v, ok := payload[name]; ok {
			registered[name] = v
		}
	}
	b, _ := json.Marshal(registered)
	var claims jwt.Claims
	if err := json.Unmarshal(b, &claims); err != nil {
		return nil, nil, problem.New(problem.InvalidRequestObjectMalformed,
			"The request object's iss, aud, exp, iat, nbf or jti has the wrong JSON type (iss and jti are strings, aud a string or an array of strings, the times numbers of seconds).")
	}
	return params, &claims, nil
}

// checkRequestObject checks a verified request object's claims and
// records its jti.
func (s *Server) checkRequestObject(ctx context.Context, params url.Values, claims *jwt.Claims, c *store.Client, rules requestObjectRules) *problem.Error {
	for _, nested := range []string{"request", "request_uri"} {
		if params.Has(nested) {
			return problem.Newf(problem.InvalidRequestObjectNestedRequest,
				"The request object holds a %s member; a request object may not contain request or request_uri (RFC 9101 section 4).", nested)
		}
	}
	switch {
	case claims.Issuer == "":
		return missingClaim("iss", "the client_id")
	case claims.Issuer != c.ID:
		return problem.Newf(problem.InvalidRequestObjectIssuerMismatch,
			"The request object's iss is %q; it must be the client_id of the app that sends it, %q.", claims.Issuer, c.ID)
	case len(claims.Audience) == 0:
		return missingClaim("aud", "the URL of the endpoint it is sent to, or the issuer")
	case !s.requestObjectAudienceOK(claims.Audience, rules.endpoint):
		return problem.Newf(problem.InvalidRequestObjectAudienceMismatch,
			"The request object's aud %q names neither this endpoint, %s, nor the issuer, %s.",
			strings.Join(claims.Audience, " "), s.cfg.Issuer+rules.endpoint, s.cfg.Issuer)
	}
	if id, ok := params["client_id"]; ok && id[0] != c.ID {
		return problem.Newf(problem.InvalidRequestObjectClientIDMismatch,
			"The request object's client_id %q differs from the client_id of the request, %q.", id[0], c.ID)
	} else if !ok && rules.requireClientID {
		return problem.Newf(problem.InvalidRequestObjectClientIDMismatch,
			"The request object carries no client_id; it must hold the same client_id as the request, %q (RFC 9101 section 6.3).", c.ID)
	}
	switch {
	case claims.Expiry == nil:
		return missingClaim("exp", "when it expires, at most 300 seconds after iat")
	case claims.IssuedAt == nil:
		return missingClaim("iat", "when it was signed")
	case claims.ID == "":
		return missingClaim("jti", "a value unique to this request object")
	case claims.NotBefore == nil && rules.requireNBF:
		return missingClaim("nbf", "from when it is valid, as CIBA Core section 7.1.1 requires")
	}
	now := s.cfg.Now()
	exp, iat := claims.Expiry.Time(), claims.IssuedAt.Time()
	switch {
	case !now.Before(exp.Add(clockSkew)):
		return problem.Newf(problem.InvalidRequestObjectExpired,
			"The request object expired at %s; sign a new one for every request.", exp.UTC().Format(time.RFC3339))
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(clockSkew)):
		return problem.Newf(problem.InvalidRequestObjectNotYetValid,
			"The request object is not valid before %s (nbf); check the signer's clock.", claims.NotBefore.Time().UTC().Format(time.RFC3339))
	case iat.After(now.Add(clockSkew)):
		return problem.Newf(problem.InvalidRequestObjectIssuedInFuture,
			"The request object's iat, %s, is later than the time it was received; check the signer's clock.", iat.UTC().Format(time.RFC3339))
	case exp.Sub(iat) > MaxAssertionLifetime*time.Second:
		return problem.Newf(problem.InvalidRequestObjectLifetimeTooLong,
			"The request object's exp is %d seconds after its iat; the CAMARA profile allows at most %d.", int64(exp.Sub(iat)/time.Second), MaxAssertionLifetime)
	}
	if err := s.cfg.Store.UseAssertionID(ctx, c.ID, "request:"+claims.ID, exp.Add(clockSkew)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return problem.New(problem.InvalidRequestObjectReplayed,
				"A request object with this jti was already used by this app; sign a new request object, with a new jti, for every request.")
		}
		return problem.FromOAuthStore(err)
	}
	return nil
}

func missingClaim(name, what string) *problem.Error {
	return problem.Newf(problem.InvalidRequestObjectClaimMissing,
		"The request object has no %s claim; it must carry %s.", name, what)
}

// requestObjectAudienceOK accepts the endpoint's URL and the issuer (with
// or without a trailing slash).
func (s *Server) requestObjectAudienceOK(aud jwt.Audience, endpoint string) bool {
	ok := []string{s.cfg.Issuer, s.cfg.Issuer + "/", s.cfg.Issuer + endpoint}
	return slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(ok, a) })
}

// outerParamsMismatch returns the first of the parameters the CAMARA
// profile requires beside an authorization request's object (response_type,
// scope, redirect_uri; client_id is checked by openRequestObject) whose
// value differs from the object's; scopes compare as sets. A parameter sent
// only inside the object is accepted, as RFC 9101 §5 allows.
func outerParamsMismatch(outer, inner url.Values) *problem.Error {
	for _, name := range []string{"response_type", "scope", "redirect_uri"} {
		if !outer.Has(name) {
			continue
		}
		o, i := outer.Get(name), inner.Get(name)
		if name == "scope" {
			outerScopes, _ := parseScope(o)
			innerScopes, _ := parseScope(i)
			slices.Sort(outerScopes)
			slices.Sort(innerScopes)
			if slices.Equal(outerScopes, innerScopes) {
				continue
			}
		} else if o == i {
			continue
		}
		return problem.Newf(problem.InvalidRequestObjectParameterMismatch,
			"The %s parameter (%q) differs from the %s inside the request object (%q); send the same value in both, or only inside the object.", name, o, name, i)
	}
	return nil
}
