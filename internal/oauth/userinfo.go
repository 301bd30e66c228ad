package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// userinfo is the UserInfo response (OpenID Connect Core §5.3.2).
type userinfo struct {
	Subject             string `json:"sub"`
	PhoneNumber         string `json:"phone_number,omitempty"`
	PhoneNumberVerified *bool  `json:"phone_number_verified,omitempty"`
}

// Userinfo returns the UserInfo endpoint: the bearer token of a signed-in
// user with the openid scope gets its claims; errors are RFC 6750
// challenges with gatehouse's API error body.
func (s *Server) Userinfo() http.Handler {
	const realm = `Bearer realm="gatehouse"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(p *problem.Error) { s.render.API(w, r, p) }
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			fail(problem.Newf(problem.MethodNotAllowedMethodNotSupported, "%s is not allowed on %s; use GET or POST.", r.Method, r.URL.Path).
				WithHeader("Allow", "GET, POST"))
			return
		}
		h := r.Header.Get("Authorization")
		if h == "" {
			fail(problem.New(problem.UnauthenticatedMissingToken, "Send the access token as `Authorization: Bearer <token>`.").
				WithHeader("WWW-Authenticate", realm))
			return
		}
		scheme, raw, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
			fail(problem.New(problem.UnauthenticatedMissingToken, "The UserInfo endpoint accepts Bearer access tokens only.").
				WithHeader("WWW-Authenticate", realm))
			return
		}
		claims, p := s.VerifyAccessToken(strings.TrimSpace(raw))
		if p != nil {
			fail(p.WithHeader("WWW-Authenticate", realm+`, error="invalid_token", error_description="`+problem.OAuthSafe(p.Message())+`"`))
			return
		}
		ref, ok := s.UserOf(claims)
		if !ok || !slices.Contains(claims.Scopes(), ScopeOpenID) {
			fail(problem.New(problem.InsufficientScopeScopeMissing,
				"UserInfo needs a token a user granted with the openid scope.").With("scope", ScopeOpenID).
				WithHeader("WWW-Authenticate", realm+`, error="insufficient_scope", scope="openid"`))
			return
		}
		user, err := s.users.get(r.Context(), ref.ID)
		if errors.Is(err, store.ErrNotFound) {
			fail(problem.New(problem.InvalidTokenRevoked, "The user of this token no longer exists.").
				WithHeader("WWW-Authenticate", realm+`, error="invalid_token"`))
			return
		} else if err != nil {
			fail(problem.FromStore(err, "user", ref.ID))
			return
		}
		out := userinfo{Subject: claims.Subject}
		if slices.Contains(claims.Scopes(), ScopePhone) && user.PhoneNumber != "" {
			verified := true // the network identified the line
			out.PhoneNumber, out.PhoneNumberVerified = user.PhoneNumber, &verified
		}
		body, _ := json.Marshal(out)
		writeJSON(w, http.StatusOK, body)
	})
}
