package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// authorizationCode is the authorization_code grant (RFC 6749 §4.1.3) with
// PKCE (RFC 7636) and OpenID Connect.
type authorizationCode struct{}

func (authorizationCode) allowsPublicClients() bool { return true }

func (authorizationCode) handle(ctx context.Context, s *Server, req *tokenRequest) (*tokenResponse, *problem.Error) {
	code, p := require(req.form, "code")
	if p != nil {
		return nil, p
	}
	now := s.cfg.Now()
	ac, err := s.cfg.Store.RedeemAuthCode(ctx, hashToken(code), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, problem.New(problem.InvalidGrantCodeNotFound, "The authorization code is unknown; it may be mistyped or from another server.")
	case errors.Is(err, store.ErrConflict) && ac != nil:
		// A replayed code means it leaked: revoke everything issued from
		// it (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
		if rerr := s.revokeFamily(ctx, ac.ClientID, ac.GrantID); rerr != nil {
			s.cfg.Logger.Error("revoking the tokens of a replayed code failed", "err", rerr, "client", ac.ClientID)
		}
		return nil, problem.New(problem.InvalidGrantCodeAlreadyUsed,
			"This authorization code was already used; the tokens issued from it are now revoked. Start a new authorization.")
	case err != nil:
		return nil, problem.FromOAuthStore(err)
	}
	switch {
	case ac.ClientID != req.client.ID:
		return nil, problem.New(problem.InvalidGrantClientMismatch, "The authorization code was issued to another client.")
	case !now.Before(ac.ExpiresAt):
		return nil, problem.Newf(problem.InvalidGrantCodeExpired,
			"The authorization code expired (codes live %d seconds); start a new authorization.", int(AuthCodeTTL.Seconds()))
	}
	// RFC 6749 §4.1.3: a redirect_uri sent with the authorization request
	// must be repeated exactly; one sent only now must at least be
	// registered.
	ru := req.form.Get("redirect_uri")
	if (ac.RedirectURI != "" && ru != ac.RedirectURI) || (ac.RedirectURI == "" && ru != "" && !redirectURIRegistered(req.client.RedirectURIs, ru)) {
		return nil, problem.New(problem.InvalidGrantRedirectURIMismatch,
			"redirect_uri must be exactly the one sent with the authorization request.")
	}
	if p := checkPKCE(ac, req.form.Get("code_verifier")); p != nil {
		return nil, p
	}
	user, err := s.users.get(ctx, ac.UserID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, problem.New(problem.InvalidGrantUnknownSubject, "The user who authorized this code no longer exists.")
		}
		return nil, problem.FromOAuthStore(err)
	}
	return s.userTokens(ctx, req.client, user, ac.Scopes, ac.AuthTime, ac.Nonce, ac.GrantID, true)
}

// checkPKCE verifies the code_verifier against the stored S256 challenge
// (RFC 7636 §4.6). A verifier for a code issued without a challenge is
// refused too: it signals a PKCE downgrade (RFC 9700 §2.1.1).
func checkPKCE(ac *store.AuthCode, verifier string) *problem.Error {
	switch {
	case ac.CodeChallenge == "" && verifier == "":
		return nil
	case ac.CodeChallenge == "":
		return problem.New(problem.InvalidGrantPKCEVerifierMismatch,
			"A code_verifier was sent, but the authorization request had no code_challenge.")
	case verifier == "":
		return problem.New(problem.InvalidGrantPKCEVerifierMissing,
			"The authorization request had a code_challenge; send its code_verifier (RFC 7636 §4.5).")
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(ac.CodeChallenge)) != 1 {
		return problem.New(problem.InvalidGrantPKCEVerifierMismatch,
			"code_verifier does not match the code_challenge (S256) of the authorization request.")
	}
	return nil
}
