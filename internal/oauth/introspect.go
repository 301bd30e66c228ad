package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// introspection is the RFC 7662 §2.2 response for an active token.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
}

var inactive = []byte(`{"active":false}`)

// Introspect returns the introspection endpoint handler (RFC 7662). The
// caller must authenticate as a client; a client sees its own tokens, and a
// client allowed the gatehouse:introspect scope (a resource server) sees
// every token. Anything else, like an invalid, expired or revoked token, is
// {"active": false} (RFC 7662 §2.2).
func (s *Server) Introspect() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, p := s.readForm(w, r)
		if p == nil {
			var client *store.Client
			if client, p = s.authenticateClient(r, form, PathIntrospect, false); p == nil {
				var raw string
				if raw, p = require(form, "token"); p == nil {
					s.writeIntrospection(w, client, raw)
					return
				}
			}
		}
		s.render.OAuth(w, r, p)
	})
}

func (s *Server) writeIntrospection(w http.ResponseWriter, client *store.Client, raw string) {
	claims, p := s.VerifyAccessToken(raw)
	if p != nil || (claims.ClientID != client.ID && !slices.Contains(client.Scopes, ScopeIntrospect)) {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	body, _ := json.Marshal(introspection{
		Active: true, Scope: claims.Scope, ClientID: claims.ClientID, TokenType: TokenTypeBearer,
		Exp: claims.Expiry, Iat: claims.IssuedAt, Nbf: claims.NotBefore, Sub: claims.Subject,
		Aud: claims.Audience, Iss: claims.Issuer, Jti: claims.ID,
	})
	writeJSON(w, http.StatusOK, body)
}

// revokeRefreshToken revokes a refresh token, its family and the access
// tokens issued from the family (RFC 7009 §2.1). A token that is neither an
// access nor a refresh token, or is already revoked, is answered 200: the
// client has nothing to fix.
func (s *Server) revokeRefreshToken(r *http.Request, client *store.Client, raw string) *problem.Error {
	rt, err := s.cfg.Store.GetRefreshToken(r.Context(), hashToken(raw))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return problem.FromOAuthStore(err)
	case rt.ClientID != client.ID:
		return problem.New(problem.UnauthorizedClientTokenNotOwned,
			"This token was issued to another client; a client may revoke only its own tokens (RFC 7009 §2.1).")
	}
	if err := s.revokeFamily(r.Context(), rt.ClientID, rt.FamilyID); err != nil {
		return problem.FromOAuthStore(err)
	}
	return nil
}

// Revoke returns the revocation endpoint handler (RFC 7009). A client may
// revoke tokens issued to it; an invalid or unknown token is answered 200,
// as §2.2 requires, since the client has nothing to fix.
func (s *Server) Revoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := s.revoke(w, r); p != nil {
			s.render.OAuth(w, r, p)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) *problem.Error {
	form, p := s.readForm(w, r)
	if p != nil {
		return p
	}
	client, p := s.authenticateClient(r, form, PathRevoke, true)
	if p != nil {
		return p
	}
	raw, p := require(form, "token")
	if p != nil {
		return p
	}
	// token_type_hint is only a hint: RFC 7009 §2.1 has the server search
	// every token type it supports whatever the hint says, so it is not
	// checked.
	claims, vp := s.VerifyAccessToken(raw)
	if vp != nil {
		return s.revokeRefreshToken(r, client, raw)
	}
	if claims.ClientID != client.ID {
		return problem.New(problem.UnauthorizedClientTokenNotOwned,
			"This token was issued to another client; a client may revoke only its own tokens (RFC 7009 §2.1).")
	}
	rt := &store.RevokedToken{ID: claims.ID, ClientID: client.ID, ExpiresAt: time.Unix(claims.Expiry, 0), RevokedAt: s.cfg.Now()}
	if err := s.cfg.Store.RevokeToken(r.Context(), rt); err != nil {
		return problem.FromOAuthStore(err)
	}
	s.revoked.add(rt.ID, rt.ExpiresAt)
	return nil
}
