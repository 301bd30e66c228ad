package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// The developer's pages: sign up, verify, sign in and out, password reset,
// the account, and apps with their credentials. Each form posts to its own
// page; a form with a mistake comes back with the message beside the field
// and the answer 400 (422 for a refused sign-in would also do; 400 keeps one
// status for "fix the form").

// formView is a form page: the values to show again, the messages, where
// to go next.
type formView struct {
	Values  map[string]string
	Errors  map[string]string
	Message string // a message for the whole form
	Notice  string // a non-error message (e.g. "check your e-mail")
	Next    string
	Token   string // a link's token (reset)
	// MailConfigured tells whether e-mail links are sent.
	MailConfigured bool
}

func (f *formView) fieldError(err error) bool {
	var fe *developers.FieldError
	if errors.As(err, &fe) {
		if f.Errors == nil {
			f.Errors = map[string]string{}
		}
		f.Errors[fe.Field] = fe.Message
		return true
	}
	return false
}

func (p *Portal) newForm(r *http.Request, fields ...string) *formView {
	f := &formView{Values: map[string]string{}, MailConfigured: p.cfg.Developers.MailConfigured(),
		Next: localNext(r.FormValue("next"), "")}
	for _, k := range fields {
		f.Values[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	return f
}

// posted parses a form post and checks its anti-forgery token; false when
// it answered.
func (p *Portal) posted(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, problem.New(problem.BadRequestMalformedBody, "The form could not be read: it is not URL-encoded or is larger than 64 KiB."))
		return false
	}
	if pe := p.checkCSRF(r); pe != nil {
		p.fail(w, r, pe)
		return false
	}
	return true
}

func (p *Portal) signupPage(w http.ResponseWriter, r *http.Request) {
	if v := viewerOf(r.Context()); v.Developer != nil {
		http.Redirect(w, r, localNext(r.FormValue("next"), "/portal/apps"), http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusOK, "signup", page{Title: "Sign up", Nav: "signup", Data: p.newForm(r)})
}

func (p *Portal) signup(w http.ResponseWriter, r *http.Request) {
	if !p.posted(w, r) {
		return
	}
	f := p.newForm(r, "name", "email", "organization")
	out, err := p.cfg.Developers.SignUp(r.Context(), developers.SignUp{Name: f.Values["name"], Email: f.Values["email"],
		Password: r.PostFormValue("password"), Organization: f.Values["organization"], Next: f.Next})
	if f.fieldError(err) {
		p.render(w, r, http.StatusBadRequest, "signup", page{Title: "Sign up", Nav: "signup", Data: f})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.afterSetup(w, r, out, f.Next)
}

// afterSetup shows where a sign-up or verification left the developer.
func (p *Portal) afterSetup(w http.ResponseWriter, r *http.Request, out *developers.Outcome, next string) {
	switch {
	case out.CheckEmail:
		p.message(w, r, http.StatusOK, "Check your e-mail",
			"We sent a link to the address you gave. Open it to confirm your address and finish creating your account; it works for 48 hours.")
	case out.Ready == nil:
		p.message(w, r, http.StatusOK, "Your account waits for approval",
			"Your address is confirmed. The operator reviews new accounts before they can sign in; you will be able to sign in once it is approved.")
	default:
		p.startSession(w, r, out.Developer)
		s := out.Ready
		if s.App == nil { // joined an organisation earlier: nothing new to show
			http.Redirect(w, r, localNext(next, "/portal/apps"), http.StatusSeeOther)
			return
		}
		p.showApp(w, r, http.StatusCreated, s.App.ID, s.Credential, next,
			"Welcome, "+out.Developer.Name+". Your organisation "+s.Organization.Name+" has its first app, with sandbox credentials.")
	}
}

func (p *Portal) verify(w http.ResponseWriter, r *http.Request) {
	out, err := p.cfg.Developers.Verify(r.Context(), r.URL.Query().Get("token"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.afterSetup(w, r, out, localNext(out.Next, ""))
}

func (p *Portal) signinPage(w http.ResponseWriter, r *http.Request) {
	if v := viewerOf(r.Context()); v.Developer != nil {
		http.Redirect(w, r, localNext(r.FormValue("next"), "/portal/apps"), http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", Nav: "signin", Data: p.newForm(r)})
}

func (p *Portal) signin(w http.ResponseWriter, r *http.Request) {
	if !p.posted(w, r) {
		return
	}
	f := p.newForm(r, "email")
	again := func(status int, msg string) {
		f.Message = msg
		p.render(w, r, status, "signin", page{Title: "Sign in", Nav: "signin", Data: f})
	}
	if wait := p.cfg.Throttle.Wait(r, "developer|"+strings.ToLower(f.Values["email"])); wait > 0 {
		w.Header().Set("Retry-After", problem.RetryAfterSeconds(wait))
		again(http.StatusTooManyRequests, "Too many sign-in attempts. Wait "+problem.RetryAfterSeconds(wait)+" seconds, then try again.")
		return
	}
	d, err := p.cfg.Developers.Authenticate(r.Context(), f.Values["email"], r.PostFormValue("password"))
	switch {
	case errors.Is(err, developers.ErrInvalidCredentials):
		p.cfg.Logger.InfoContext(r.Context(), "developer sign-in failed", "reason", err.Error(), "correlator", problem.Correlator(r.Context()))
		again(http.StatusBadRequest, "The e-mail address or password is incorrect.")
	case errors.Is(err, developers.ErrUnverified):
		f.Values["unverified"] = "1"
		again(http.StatusBadRequest, "Confirm your e-mail address first: open the link we sent you. No e-mail? Send it again below.")
	case errors.Is(err, developers.ErrPendingApproval):
		again(http.StatusForbidden, "Your account waits for the operator's approval.")
	case errors.Is(err, developers.ErrSuspended):
		again(http.StatusForbidden, "Your account is suspended; contact the operator.")
	case err != nil:
		p.fail(w, r, err)
	case developers.HasTOTP(d): // the second step (totp.go)
		p.askCode(w, r, d, f.Next)
	default:
		p.cfg.Logger.InfoContext(r.Context(), "developer signed in", "developer_id", d.ID, "correlator", problem.Correlator(r.Context()))
		p.startSession(w, r, d)
		http.Redirect(w, r, localNext(f.Next, "/portal/apps"), http.StatusSeeOther)
	}
}

func (p *Portal) resendVerification(w http.ResponseWriter, r *http.Request) {
	if !p.posted(w, r) {
		return
	}
	if err := p.cfg.Developers.ResendVerification(r.Context(), r.PostFormValue("email")); err != nil {
		f := p.newForm(r, "email")
		if f.fieldError(err) {
			p.render(w, r, http.StatusBadRequest, "signin", page{Title: "Sign in", Nav: "signin", Data: f})
			return
		}
		p.fail(w, r, err)
		return
	}
	p.message(w, r, http.StatusOK, "Check your e-mail",
		"If that address has an account waiting for confirmation, a new link is on its way; it works for 48 hours.")
}

func (p *Portal) signout(w http.ResponseWriter, r *http.Request) {
	if !p.posted(w, r) {
		return
	}
	if v := viewerOf(r.Context()); v.Developer != nil && r.PostFormValue("everywhere") != "" {
		if err := p.cfg.Developers.SignOutEverywhere(r.Context(), v.Developer.ID); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	p.endSession(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *Portal) resetPage(w http.ResponseWriter, r *http.Request) {
	f := p.newForm(r)
	if f.Token = r.URL.Query().Get("token"); f.Token != "" {
		if err := p.cfg.Developers.CheckResetToken(r.Context(), f.Token); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	p.render(w, r, http.StatusOK, "reset", page{Title: "Reset your password", Data: f})
}

func (p *Portal) reset(w http.ResponseWriter, r *http.Request) {
	if !p.posted(w, r) {
		return
	}
	f := p.newForm(r, "email")
	if f.Token = r.PostFormValue("token"); f.Token != "" {
		d, err := p.cfg.Developers.ResetPassword(r.Context(), f.Token, r.PostFormValue("password"))
		if f.fieldError(err) {
			p.render(w, r, http.StatusBadRequest, "reset", page{Title: "Reset your password", Data: f})
			return
		}
		if err != nil {
			p.fail(w, r, err)
			return
		}
		if developers.SessionValid(d, d.SessionsNotBefore) && !developers.HasTOTP(d) { // else sign in with a code
			p.startSession(w, r, d)
		}
		p.message(w, r, http.StatusOK, "Your password is changed",
			"Every other session of your account was signed out. Use the new password from now on.")
		return
	}
	if !p.cfg.Developers.MailConfigured() {
		p.fail(w, r, problem.New(problem.UnavailableMailUnavailable,
			"This portal sends no e-mail (no smtp_url is configured), so it cannot send a reset link. Ask the operator to reset your password."))
		return
	}
	if err := p.cfg.Developers.RequestReset(r.Context(), f.Values["email"]); err != nil {
		if f.fieldError(err) {
			p.render(w, r, http.StatusBadRequest, "reset", page{Title: "Reset your password", Data: f})
			return
		}
		p.fail(w, r, err)
		return
	}
	p.message(w, r, http.StatusOK, "Check your e-mail",
		"If that address has an account, a link to choose a new password is on its way. It works for one hour, once.")
}

// accountPage shows the account: who is signed in, the password form and
// signing out everywhere.
func (p *Portal) accountPage(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	p.renderAccount(w, r, d, http.StatusOK, p.newForm(r))
}

type accountView struct {
	Developer     *store.Developer
	Organizations []developers.Member
	// RecoveryLeft is the number of unused recovery codes, when two-step
	// sign-in is on; RecoveryLow asks for new ones.
	RecoveryLeft int
	RecoveryLow  bool
	Form         *formView
}

func (p *Portal) renderAccount(w http.ResponseWriter, r *http.Request, d *store.Developer, status int, f *formView) {
	orgs, err := p.cfg.Developers.Organizations(r.Context(), d.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	left, err := p.cfg.Developers.RecoveryCodesLeft(d)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, status, "account", page{Title: "Your account", Nav: "account",
		Data: accountView{Developer: d, Organizations: orgs, Form: f,
			RecoveryLeft: left, RecoveryLow: developers.HasTOTP(d) && left <= developers.RecoveryCodesLow}})
}

func (p *Portal) changePassword(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	f := p.newForm(r)
	d2, err := p.cfg.Developers.ChangePassword(r.Context(), d.ID, r.PostFormValue("current_password"), r.PostFormValue("password"))
	if f.fieldError(err) {
		p.renderAccount(w, r, d, http.StatusBadRequest, f)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.startSession(w, r, d2)
	p.message(w, r, http.StatusOK, "Your password is changed", "Every other session of your account was signed out.")
}

// message is a page of one heading and one paragraph.
func (p *Portal) message(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	p.render(w, r, status, "message", page{Title: title, Data: messageView{Title: title, Text: text}})
}

type messageView struct{ Title, Text string }

// signinURL is the sign-in page that comes back to the request's page.
func signinURL(r *http.Request) string {
	return "/portal/signin?next=" + url.QueryEscape(r.URL.RequestURI())
}

// accountRoutes are the pages of developer accounts and apps.
func (p *Portal) accountRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/signup", p.signupPage)
	mux.HandleFunc("POST /portal/signup", p.signup)
	mux.HandleFunc("GET /portal/verify", p.verify)
	mux.HandleFunc("POST /portal/verify", p.resendVerification)
	mux.HandleFunc("GET /portal/signin", p.signinPage)
	mux.HandleFunc("POST /portal/signin", p.signin)
	mux.HandleFunc("POST /portal/signout", p.signout)
	mux.HandleFunc("GET /portal/reset", p.resetPage)
	mux.HandleFunc("POST /portal/reset", p.reset)
	mux.HandleFunc("GET /portal/account", p.accountPage)
	mux.HandleFunc("POST /portal/account/password", p.changePassword)
	mux.HandleFunc("GET /portal/apps", p.appsPage)
	mux.HandleFunc("POST /portal/apps", p.createApp)
	mux.HandleFunc("GET /portal/apps/{id}", p.appPage)
	mux.HandleFunc("POST /portal/apps/{id}/delete", p.deleteApp)
	mux.HandleFunc("POST /portal/apps/{id}/credentials/{env}/{action}", p.credentialAction)
	mux.HandleFunc("GET /portal/apps/{id}/credentials/{env}/secret", p.secretShown)
	mux.HandleFunc("POST /portal/subscriptions", p.subscribe)
	mux.HandleFunc("POST /portal/subscriptions/{id}/{action}", p.subscriptionAction)
	p.totpRoutes(mux)
	p.orgRoutes(mux)
}
