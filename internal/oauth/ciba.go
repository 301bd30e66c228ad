package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// e164 is a phone number in E.164 form, as CAMARA writes it.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{4,14}$`)

// maxBindingMessage bounds a CIBA binding_message: it is shown on the
// subscriber's device.
const maxBindingMessage = 64

// BCAuthorize returns the backchannel authentication endpoint (OpenID
// Connect CIBA §7, poll mode): a confidential client names the subscriber
// with login_hint=tel:+…, and gets an auth_req_id to poll the token
// endpoint with. The parameters may come in a signed request object
// (request, CIBA §7.1.1), as the CAMARA profile recommends.
func (s *Server) BCAuthorize() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, p := s.bcAuthorize(w, r)
		if p != nil {
			s.render.OAuth(w, r, p)
			return
		}
		writeJSON(w, http.StatusOK, body)
	})
}

func (s *Server) bcAuthorize(w http.ResponseWriter, r *http.Request) ([]byte, *problem.Error) {
	ctx := r.Context()
	form, p := s.readForm(w, r)
	if p != nil {
		return nil, p
	}
	client, p := s.authenticateClient(r, form, PathBCAuthorize, false)
	if p != nil {
		return nil, p
	}
	if !slices.Contains(client.GrantTypes, GrantCIBA) {
		return nil, problem.Newf(problem.UnauthorizedClientGrantNotAllowed,
			"This client is not registered for the CIBA grant (%s).", GrantCIBA)
	}
	if form.Has("request") {
		// A signed authentication request (CIBA Core §7.1.1, RFC 9101):
		// only the object's parameters count; the client authentication
		// parameters beside it were used above.
		params, p := s.openRequestObject(ctx, form.Get("request"), client, requestObjectRules{endpoint: PathBCAuthorize, requireNBF: true})
		if p != nil {
			return nil, p
		}
		form = params
	}
	scopes, p := parseScope(form.Get("scope"))
	if p != nil {
		return nil, p
	}
	if !slices.Contains(scopes, ScopeOpenID) {
		return nil, problem.New(problem.InvalidScopeOpenidMissing, "A backchannel authentication request must include the openid scope (CIBA §7.1).")
	}
	if scopes, p = s.grantedScopes(client, scopes); p != nil {
		return nil, p
	}
	hints := 0
	for _, h := range []string{"login_hint", "login_hint_token", "id_token_hint"} {
		if form.Get(h) != "" {
			hints++
		}
	}
	if hints != 1 {
		return nil, problem.New(problem.InvalidRequestMultipleHints,
			"Send exactly one of login_hint, login_hint_token and id_token_hint (CIBA §7.1); gatehouse takes login_hint=tel:+<number>.")
	}
	hint := form.Get("login_hint")
	phone, ok := strings.CutPrefix(hint, "tel:")
	if !ok || !e164.MatchString(phone) {
		return nil, problem.New(problem.InvalidRequestInvalidLoginHint,
			"login_hint must be a phone number in E.164 form prefixed with tel:, e.g. tel:+34600000001.")
	}
	bm := form.Get("binding_message")
	if utf8.RuneCountInString(bm) > maxBindingMessage || strings.ContainsAny(bm, "\r\n\t") {
		return nil, problem.Newf(problem.InvalidBindingMessageBindingMessageTooLong,
			"binding_message must be one line of at most %d characters.", maxBindingMessage)
	}
	ttl := CIBARequestTTL
	if v := form.Get("requested_expiry"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 600 {
			return nil, problem.New(problem.InvalidRequestInvalidParameter, "requested_expiry must be a whole number of seconds from 1 to 600.")
		}
		ttl = time.Duration(n) * time.Second
	}
	user, p := s.subscriber(ctx, phone)
	if p != nil {
		return nil, p
	}
	now := s.cfg.Now()
	req := &store.CIBARequest{
		ID: newOpaqueToken(), ClientID: client.ID, UserID: user.ID, Scopes: scopes, BindingMessage: bm,
		Status: store.CIBAPending, Interval: CIBAInterval, ExpiresAt: now.Add(ttl), CreatedAt: now, UpdatedAt: now,
	}
	if s.cfg.NetworkLogin {
		sandboxCIBADecision(req, phone, now)
	}
	if err := s.cfg.Store.CreateCIBARequest(ctx, req); err != nil {
		return nil, problem.FromOAuthStore(err)
	}
	body, _ := json.Marshal(map[string]any{"auth_req_id": req.ID, "expires_in": int(ttl.Seconds()), "interval": req.Interval})
	return body, nil
}

// subscriber finds the user behind a phone number. In the sandbox the
// "network" knows every line but those ending in 4 (as the sandbox APIs
// answer IDENTIFIER_NOT_FOUND for them), creating users on first sight.
func (s *Server) subscriber(ctx context.Context, phone string) (*store.User, *problem.Error) {
	u, err := s.cfg.Store.GetUserByPhone(ctx, phone)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, problem.FromOAuthStore(err)
	}
	unknown := problem.New(problem.UnknownUserIDPhoneNumberUnknown, "No subscriber has this phone number.")
	if !s.cfg.NetworkLogin || strings.HasSuffix(phone, "4") {
		return nil, unknown
	}
	now := s.cfg.Now()
	u = &store.User{ID: "usr_" + newTokenID(), Username: phone, PhoneNumber: phone, CreatedAt: now, UpdatedAt: now}
	if err := s.cfg.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) { // created concurrently
			if u, err = s.cfg.Store.GetUserByPhone(ctx, phone); err == nil {
				return u, nil
			}
		}
		return nil, problem.FromOAuthStore(err)
	}
	return u, nil
}

// sandboxCIBADecision is the sandbox subscriber's answer, by the number's
// last digit: 0 denies, 8 waits for the approval page, 9 never answers (the
// request expires), any other approves at once.
func sandboxCIBADecision(r *store.CIBARequest, phone string, now time.Time) {
	switch phone[len(phone)-1] {
	case '0':
		r.Status = store.CIBADenied
	case '8', '9':
	default:
		r.Status, r.AuthTime = store.CIBAApproved, now
	}
}

// errAbort ends an update closure without writing.
var errAbort = errors.New("oauth: abort update")
