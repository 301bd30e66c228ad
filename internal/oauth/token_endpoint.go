package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gatehouse/internal/health"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// tokenRequest is a parsed, client-authenticated token request.
type tokenRequest struct {
	form   url.Values
	client *store.Client
	scopes []string // requested and syntactically valid; nil when absent
	// bearer is the JWT bearer grant's assertion when it authenticated
	// the client itself (verified, its jti spent); nil otherwise.
	bearer *grantAssertion
}

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// grant is one grant type's handling. The dispatcher has already parsed the
// form, authenticated the client and checked the client may use the grant,
// so a grant cannot forget those steps.
type grant interface {
	// allowsPublicClients reports whether clients with method none may use
	// the grant.
	allowsPublicClients() bool
	handle(ctx context.Context, s *Server, req *tokenRequest) (*tokenResponse, *problem.Error)
}

// Token returns the token endpoint handler (RFC 6749 §3.2).
func (s *Server) Token() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, p := s.token(r.Context(), w, r)
		if p != nil {
			s.render.OAuth(w, r, p)
			return
		}
		body, err := json.Marshal(resp)
		if err != nil {
			s.render.OAuth(w, r, problem.Internal(err))
			return
		}
		writeJSON(w, http.StatusOK, body)
	})
}

func (s *Server) token(ctx context.Context, w http.ResponseWriter, r *http.Request) (*tokenResponse, *problem.Error) {
	// The address limit comes first so unauthenticated floods cost little;
	// the client limit counts only authenticated requests, so nobody can
	// spend another client's budget by sending its client_id.
	if p := s.throttle(ctx, "token-addr|"+remoteHost(r), s.cfg.AddressRate, "address"); p != nil {
		return nil, p
	}
	form, p := s.readForm(w, r)
	if p != nil {
		return nil, p
	}
	if p := s.storeDown(); p != nil {
		return nil, p
	}
	grantType := form.Get("grant_type")
	g, known := s.grants[grantType]
	if grantType == GrantJWTBearer && !carriesClientCredentials(r, form) {
		// The CAMARA profile's JWT bearer flow: the signed assertion is
		// the client's authentication (RFC 7521 §4.1 makes separate client
		// authentication optional).
		client, bearer, p := s.authenticateByGrantAssertion(ctx, form)
		if p != nil {
			return nil, p
		}
		return s.grant(ctx, client, grantType, form, bearer)
	}
	client, p := s.authenticateClient(r, form, PathToken, known && g.allowsPublicClients())
	if p != nil {
		return nil, p
	}
	return s.grant(ctx, client, grantType, form, nil)
}

// carriesClientCredentials reports whether a token request authenticates
// its client by any method (HTTP Basic, client_secret or
// client_assertion); client_id alone does not.
func carriesClientCredentials(r *http.Request, form url.Values) bool {
	return r.Header.Get("Authorization") != "" || form.Has("client_secret") || form.Has("client_assertion")
}

// storeDown is the 503 every token request gets while the store is known
// to be unreachable: issuing a token needs it (client records, codes,
// refresh tokens, assertion ids), so every client gets the same answer,
// whether or not its record happens to be cached on this node.
func (s *Server) storeDown() *problem.Error {
	if p, down := s.cfg.StoreHealth.Failing(health.Store); down {
		return problem.New(problem.TemporarilyUnavailableStoreUnavailable,
			"The authorization server cannot reach its database; retry after the time in Retry-After.").
			Wrap(p.Err).WithRetryAfter(problem.StoreRetryAfter)
	}
	return nil
}

// grant runs what every grant shares once the client is known: the
// client's token rate, the grant type's support and the client's
// permission for it, the scope's syntax, then the grant itself. The token
// endpoint calls it with the client it authenticated, IssueClientToken
// with one a trusted caller named. bearer is the JWT bearer assertion
// that authenticated the client, if one did.
func (s *Server) grant(ctx context.Context, client *store.Client, grantType string, form url.Values, bearer *grantAssertion) (*tokenResponse, *problem.Error) {
	if p := s.throttle(ctx, "token-client|"+client.ID, s.cfg.ClientRate, "client"); p != nil {
		return nil, p
	}
	g, known := s.grants[grantType]
	switch {
	case grantType == "":
		return nil, problem.New(problem.InvalidRequestMissingParameter, "The grant_type parameter is required.")
	case !known:
		return nil, problem.Newf(problem.UnsupportedGrantTypeUnknownGrantType,
			"grant_type %q is not supported here; supported: %s.", grantType, strings.Join(s.GrantTypes(), ", "))
	case !slices.Contains(client.GrantTypes, grantType):
		return nil, problem.Newf(problem.UnauthorizedClientGrantNotAllowed,
			"This client is not registered for the %s grant; it may use: %s.", grantType, strings.Join(client.GrantTypes, ", "))
	}
	scopes, p := parseScope(form.Get("scope"))
	if p != nil {
		return nil, p
	}
	return g.handle(ctx, s, &tokenRequest{form: form, client: client, scopes: scopes, bearer: bearer})
}

// GrantTypes returns the grant types the token endpoint supports, sorted.
func (s *Server) GrantTypes() []string {
	out := make([]string, 0, len(s.grants))
	for k := range s.grants {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// grantedScopes checks requested scopes against the client's allowed ones:
// every requested scope must be allowed; none requested means all allowed
// (RFC 6749 §3.3 lets the server pick a default).
func (s *Server) grantedScopes(c *store.Client, requested []string) ([]string, *problem.Error) {
	if requested == nil {
		return c.Scopes, nil
	}
	for _, sc := range requested {
		if slices.Contains(c.Scopes, sc) {
			continue
		}
		if s.cfg.KnownScopes != nil && s.cfg.KnownScopes(sc) {
			return nil, problem.Newf(problem.InvalidScopeScopeNotAllowed,
				"This client is not allowed the scope %q; allowed: %s.", sc, quoteList(c.Scopes))
		}
		return nil, problem.Newf(problem.InvalidScopeUnknownScope,
			"The scope %q does not exist; this client may request: %s.", sc, quoteList(c.Scopes))
	}
	return requested, nil
}

// PlatformScopes are the scopes the authorization server itself defines
// (OpenID Connect Core §5.4, §11; ScopeIntrospect); with those of the
// served APIs (Config.KnownScopes) they are every scope that exists.
var PlatformScopes = []string{ScopeOpenID, ScopePhone, ScopeOfflineAccess, ScopeIntrospect}

// scopeDefined reports whether the platform or a served API defines sc.
// With KnownScopes nil every scope counts as defined.
func (s *Server) scopeDefined(sc string) bool {
	return s.cfg.KnownScopes == nil || slices.Contains(PlatformScopes, sc) || s.cfg.KnownScopes(sc)
}

func quoteList(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
