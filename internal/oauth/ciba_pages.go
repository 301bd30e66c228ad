package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

type cibaItem struct {
	ID             string
	ClientName     string
	Scopes         []scopeLine
	BindingMessage string
	ExpiresIn      string
}

type cibaPageData struct {
	Title    string
	Notice   string
	SignedIn bool
	Username string
	Phone    string
	Requests []cibaItem
	Action   string
	CSRF     string
	Login    loginPage
}

// cibaNotices are the messages the CIBA page shows after an action; the
// result parameter selects one and is never echoed itself.
var cibaNotices = map[string]string{
	"approved":    "You approved the request. The app receives its tokens the next time it asks.",
	"denied":      "You denied the request. The app is told that you said no.",
	"unavailable": "That request can no longer be answered: it expired or was already answered.",
	"signedout":   "You are signed out.",
	"expired":     "Your session has ended; sign in again.",
}

// cibaPage serves GET /oauth2/ciba: the sandbox's stand-in for the
// subscriber's phone. Signed out, it shows the sign-in forms; signed in, the
// user's pending backchannel (CIBA) requests with Approve and Deny.
func (s *Server) cibaPage(w http.ResponseWriter, r *http.Request) {
	s.renderCIBA(w, r, cibaNotices[r.URL.Query().Get("result")], loginForm{}, http.StatusOK)
}

func (s *Server) renderCIBA(w http.ResponseWriter, r *http.Request, notice string, f loginForm, status int) {
	ctx := r.Context()
	ss, user, p := s.currentSession(ctx, r)
	if p != nil {
		s.errorPage(w, r, p)
		return
	}
	browser := s.browserID(w, r)
	action := s.issuerPath() + PathCIBAApprove
	data := cibaPageData{Title: "Sign-in requests for your line", Notice: notice, Action: action}
	if ss == nil {
		data.Login = loginPage{
			Action:       action,
			CSRF:         s.csrfToken(browser, "ciba", ""),
			NetworkLogin: s.cfg.NetworkLogin,
			Form:         f,
		}
		s.renderPage(w, r, "ciba", data, status)
		return
	}
	data.SignedIn, data.Username, data.Phone = true, user.Username, user.PhoneNumber
	data.CSRF = s.csrfToken(browser, "ciba", user.ID)
	list, err := s.cfg.Store.ListPendingCIBARequests(ctx, user.ID)
	if err != nil {
		s.errorPage(w, r, problem.FromOAuthStore(err))
		return
	}
	now := s.cfg.Now()
	for _, cr := range list {
		left := cr.ExpiresAt.Sub(now)
		if left <= 0 {
			continue
		}
		data.Requests = append(data.Requests, cibaItem{
			ID:             cr.ID,
			ClientName:     s.clientName(ctx, cr.ClientID),
			Scopes:         describeScopes(cr.Scopes),
			BindingMessage: cr.BindingMessage,
			ExpiresIn:      humanSeconds(left),
		})
	}
	s.renderPage(w, r, "ciba", data, status)
}

// clientName is the client's name for display, or its id when it is gone.
func (s *Server) clientName(ctx context.Context, id string) string {
	if c, err := s.clients.get(ctx, id); err == nil && c.Name != "" {
		return c.Name
	}
	return id
}

func humanSeconds(d time.Duration) string {
	n := int64((d + time.Second - 1) / time.Second)
	if n == 1 {
		return "1 second"
	}
	return strconv.FormatInt(n, 10) + " seconds"
}

// cibaAction serves POST /oauth2/ciba: sign in, sign out, approve, deny.
// Every action answers 303 See Other back to the page (post/redirect/get),
// except a failed sign-in, which shows the form again.
func (s *Server) cibaAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, p := s.readPageForm(w, r)
	if p != nil {
		s.errorPage(w, r, p)
		return
	}
	ss, user, p := s.currentSession(ctx, r)
	if p != nil {
		s.errorPage(w, r, p)
		return
	}
	back := func(result string) {
		to := s.issuerPath() + PathCIBAApprove
		if result != "" {
			to += "?result=" + result
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
	action := form.Get("action")
	if ss == nil && (action == "approve" || action == "deny" || action == "logout") {
		// The session ended while the page was open; nothing to forge.
		back("expired")
		return
	}
	uid := ""
	if user != nil {
		uid = user.ID
	}
	if p := s.checkCSRF(r, form, "ciba", uid); p != nil {
		s.errorPage(w, r, p)
		return
	}
	switch action {
	case "password", "network":
		u, retry, p := s.signIn(r, form, action)
		if p != nil {
			s.errorPage(w, r, p)
			return
		}
		if u == nil {
			s.renderCIBA(w, r, "", *retry, retry.status(w))
			return
		}
		if err := s.saveSession(w, s.newSession(r, u)); err != nil {
			s.errorPage(w, r, problem.Internal(err))
			return
		}
		back("")
	case "logout":
		s.endSession(w)
		back("signedout")
	case "approve", "deny":
		result, p := s.answerCIBA(ctx, user, form.Get("id"), action == "approve")
		if p != nil {
			s.errorPage(w, r, p)
			return
		}
		back(result)
	default:
		s.errorPage(w, r, problem.Newf(problem.InvalidRequestInvalidParameter,
			"The form's action %q is not one this page offers.", action))
	}
}

// errNotAnswerable means a CIBA request is not the user's, not pending, or
// expired; the page says the same for all three.
var errNotAnswerable = errors.New("oauth: CIBA request not answerable by this user")

// answerCIBA records the user's answer to one of their pending CIBA
// requests; the token endpoint's polling picks it up. It returns the page's
// result: approved, denied or unavailable.
func (s *Server) answerCIBA(ctx context.Context, u *store.User, id string, approve bool) (string, *problem.Error) {
	if id == "" {
		return "unavailable", nil
	}
	now := s.cfg.Now()
	status, result := store.CIBADenied, "denied"
	if approve {
		status, result = store.CIBAApproved, "approved"
	}
	cr, err := s.cfg.Store.UpdateCIBARequest(ctx, id, func(cr *store.CIBARequest) error {
		if cr.UserID != u.ID || cr.Status != store.CIBAPending || !now.Before(cr.ExpiresAt) {
			return errNotAnswerable
		}
		cr.Status, cr.AuthTime, cr.UpdatedAt = status, now, now
		return nil
	})
	switch {
	case errors.Is(err, errNotAnswerable) || errors.Is(err, store.ErrNotFound):
		return "unavailable", nil
	case err != nil:
		return "", problem.FromOAuthStore(err)
	}
	s.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "backchannel request answered",
		slog.String("result", result), slog.String("client_id", cr.ClientID), slog.String("user_id", u.ID))
	return result, nil
}
