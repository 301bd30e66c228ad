package oauth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// cibaGrant is the CIBA token request (CIBA §10.1, poll mode).
type cibaGrant struct{}

func (cibaGrant) allowsPublicClients() bool { return false }

func (cibaGrant) handle(ctx context.Context, s *Server, req *tokenRequest) (*tokenResponse, *problem.Error) {
	id, p := require(req.form, "auth_req_id")
	if p != nil {
		return nil, p
	}
	now := s.cfg.Now()
	var verdict *problem.Error
	var issue bool
	r, err := s.cfg.Store.UpdateCIBARequest(ctx, id, func(r *store.CIBARequest) error {
		verdict, issue = nil, false
		switch {
		case r.ClientID != req.client.ID:
			verdict = problem.New(problem.InvalidGrantAuthReqIDUnknown, "The auth_req_id is unknown.")
			return errAbort
		case !now.Before(r.ExpiresAt):
			verdict = problem.New(problem.ExpiredTokenAuthReqIDExpired, "The backchannel request expired; start a new one.")
			return errAbort
		case r.Status == store.CIBAIssued:
			verdict = problem.New(problem.InvalidGrantAuthReqIDUsed, "Tokens were already issued for this auth_req_id.")
			return errAbort
		case r.Status == store.CIBADenied:
			verdict = problem.New(problem.AccessDeniedCibaDenied, "The subscriber denied the request.").WithStatus(http.StatusBadRequest)
			return errAbort
		case r.Status == store.CIBAApproved:
			r.Status, r.UpdatedAt, issue = store.CIBAIssued, now, true
			return nil
		}
		// Pending: poll no faster than the interval (CIBA §11).
		if !r.LastPollAt.IsZero() && now.Sub(r.LastPollAt) < time.Duration(r.Interval)*time.Second {
			r.Interval += 5
			verdict = problem.Newf(problem.SlowDownPollingTooFast,
				"Poll at most every %d seconds (the interval grew by 5 seconds).", r.Interval)
		} else {
			verdict = problem.New(problem.AuthorizationPendingPending, "The subscriber has not answered yet; poll again after the interval.")
		}
		r.LastPollAt, r.UpdatedAt = now, now
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, problem.New(problem.InvalidGrantAuthReqIDUnknown, "The auth_req_id is unknown.")
	case errors.Is(err, errAbort):
		return nil, verdict
	case err != nil:
		return nil, problem.FromOAuthStore(err)
	case !issue:
		return nil, verdict
	}
	user, err := s.users.get(ctx, r.UserID)
	if err != nil {
		return nil, problem.FromOAuthStore(err)
	}
	return s.userTokens(ctx, req.client, user, r.Scopes, r.AuthTime, "", "ciba_"+r.ID[:22], true)
}
