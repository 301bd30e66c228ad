package portal

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// Two-step sign-in (developers/totp.go holds the rules):
//
//	GET  /portal/account/totp          set up: a new secret, as text, URI and QR code;
//	                                   when it is on, the form that turns it off
//	GET  /portal/account/totp/qr.png   the QR code of the secret being set up
//	POST /portal/account/totp          confirm the set-up with a current code
//	POST /portal/account/totp/disable  turn it off with the password and a code
//	POST /portal/account/totp/recovery make new recovery codes (the password)
//	POST /portal/signin/code           the second step of a sign-in
//
// Recovery codes (developers/recovery.go) appear in exactly one response:
// the answer that turned two-step sign-in on, or the one that made new
// codes (no-store, like every page here). Wherever a code is asked for
// once two-step sign-in is on, a recovery code does too.
//
// The secret being set up is never stored: it travels sealed (encrypted,
// bound to the developer, 10 minutes) in the confirmation form and in a
// cookie scoped to /portal/account/totp, which the QR code's URL reads, so
// no URL ever carries it. A sign-in whose password matched for an account
// with a second factor carries on in a signed hidden field, under a key
// bound to the browser's anti-forgery cookie, for SignInCodeTTL; the
// session starts only once the code is accepted.

const (
	totpCookie     = "gh_portal_totp"
	totpCookiePath = "/portal/account/totp"
	// SignInCodeTTL is how long a sign-in waits for its second step.
	SignInCodeTTL = 5 * time.Minute
)

// The pages of this file (see org.go's init).
func init() { pageNames = append(pageNames, "totp", "totpcode") }

func (p *Portal) totpRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/account/totp", p.totpPage)
	mux.HandleFunc("GET /portal/account/totp/qr.png", p.totpQR)
	mux.HandleFunc("POST /portal/account/totp", p.enableTOTP)
	mux.HandleFunc("POST /portal/account/totp/disable", p.disableTOTP)
	mux.HandleFunc("POST /portal/account/totp/recovery", p.regenerateRecovery)
	mux.HandleFunc("POST /portal/signin/code", p.signinCode)
}

// totpView is the two-step sign-in page.
type totpView struct {
	// On: the account has a second factor; the page offers to turn it off.
	On    bool
	Setup *developers.TOTPSetup
	// Link is the otpauth URI as a link (opens an authenticator app on
	// the same device).
	Link template.URL
	Form *formView
	// Codes are recovery codes just issued: this answer is the only one
	// that shows them. Replaced: they replace earlier ones (else two-step
	// sign-in was just turned on).
	Codes    []string
	Replaced bool
	// Remaining is the number of unused recovery codes (On).
	Remaining int
}

func (p *Portal) issuer() string {
	if p.cfg.Theme.Name != "" {
		return p.cfg.Theme.Name
	}
	return "gatehouse"
}

func (p *Portal) totpPage(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	if developers.HasTOTP(d) {
		p.renderTOTPOn(w, r, d, http.StatusOK, p.newForm(r))
		return
	}
	s, err := p.cfg.Developers.BeginTOTP(d, p.issuer())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.renderTOTP(w, r, http.StatusOK, totpView{Setup: s, Form: p.newForm(r)})
}

// renderTOTP shows the page; a set-up's pending secret goes to the cookie
// the QR code reads too.
func (p *Portal) renderTOTP(w http.ResponseWriter, r *http.Request, status int, v totpView) {
	if v.Setup != nil {
		v.Link = template.URL(v.Setup.URL)
		http.SetCookie(w, &http.Cookie{Name: totpCookie, Value: v.Setup.Pending, Path: totpCookiePath,
			MaxAge: int(developers.TOTPSetupTTL / time.Second), HttpOnly: true, Secure: p.secure(), SameSite: http.SameSiteStrictMode})
	}
	w.Header().Set("Cache-Control", "no-store") // it may show the secret or recovery codes
	title := "Two-step sign-in"
	switch {
	case v.Replaced:
		title = "New recovery codes"
	case v.Codes != nil:
		title = "Two-step sign-in is on"
	}
	p.render(w, r, status, "totp", page{Title: title, Nav: "account", Data: v})
}

func (p *Portal) clearTOTPCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: totpCookie, Value: "", Path: totpCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: p.secure(), SameSite: http.SameSiteStrictMode})
}

func (p *Portal) totpQR(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	c, err := r.Cookie(totpCookie)
	if err != nil {
		p.fail(w, r, problem.New(problem.NotFoundResourceNotFound,
			"No two-step sign-in is being set up in this browser: open the set-up page from your account again."))
		return
	}
	s, err := p.cfg.Developers.PendingTOTP(d, c.Value)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	png, err := s.QRCode()
	if err != nil {
		p.fail(w, r, problem.Internal(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(png)
}

func (p *Portal) enableTOTP(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	f := p.newForm(r)
	pending := r.PostFormValue("pending")
	if wait := p.cfg.Throttle.Wait(r, "developer-totp|"+d.ID); wait > 0 {
		w.Header().Set("Retry-After", problem.RetryAfterSeconds(wait))
		p.totpAgain(w, r, d, pending, f, http.StatusTooManyRequests, "Too many codes tried. Wait "+problem.RetryAfterSeconds(wait)+" seconds, then try again.")
		return
	}
	d2, codes, err := p.cfg.Developers.EnableTOTP(r.Context(), d, pending, r.PostFormValue("code"))
	if f.fieldError(err) {
		p.totpAgain(w, r, d, pending, f, http.StatusBadRequest, "")
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.cfg.Logger.InfoContext(r.Context(), "developer turned two-step sign-in on", "developer_id", d.ID, "correlator", problem.Correlator(r.Context()))
	p.clearTOTPCookie(w)
	p.startSession(w, r, d2)
	p.renderTOTP(w, r, http.StatusOK, totpView{On: true, Codes: codes, Remaining: len(codes), Form: p.newForm(r)})
}

// regenerateRecovery replaces the recovery codes after checking the
// password, and shows the new ones once.
func (p *Portal) regenerateRecovery(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	f := p.newForm(r)
	if !developers.HasTOTP(d) {
		p.fail(w, r, problem.New(problem.IncompatibleStateWrongState,
			"Two-step sign-in is off for your account, and recovery codes come with it: turn it on from your account page."))
		return
	}
	if p.totpThrottled(w, r, d, f) {
		return
	}
	codes, err := p.cfg.Developers.RegenerateRecoveryCodes(r.Context(), d.ID, r.PostFormValue("recovery_password"))
	if f.fieldError(err) {
		p.renderTOTPOn(w, r, d, http.StatusBadRequest, f)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.cfg.Logger.InfoContext(r.Context(), "developer made new recovery codes", "developer_id", d.ID, "correlator", problem.Correlator(r.Context()))
	p.renderTOTP(w, r, http.StatusOK, totpView{On: true, Codes: codes, Replaced: true, Remaining: len(codes), Form: f})
}

// totpThrottled answers 429 on the two-step page, and reports true, while
// the developer's code attempts are throttled.
func (p *Portal) totpThrottled(w http.ResponseWriter, r *http.Request, d *store.Developer, f *formView) bool {
	wait := p.cfg.Throttle.Wait(r, "developer-totp|"+d.ID)
	if wait <= 0 {
		return false
	}
	w.Header().Set("Retry-After", problem.RetryAfterSeconds(wait))
	f.Message = "Too many attempts. Wait " + problem.RetryAfterSeconds(wait) + " seconds, then try again."
	p.renderTOTPOn(w, r, d, http.StatusTooManyRequests, f)
	return true
}

// totpAgain shows the set-up again with the same secret.
func (p *Portal) totpAgain(w http.ResponseWriter, r *http.Request, d *store.Developer, pending string, f *formView, status int, msg string) {
	s, err := p.cfg.Developers.PendingTOTP(d, pending)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	f.Message = msg
	p.renderTOTP(w, r, status, totpView{Setup: s, Form: f})
}

func (p *Portal) disableTOTP(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	f := p.newForm(r)
	if p.totpThrottled(w, r, d, f) {
		return
	}
	_, err := p.cfg.Developers.DisableTOTP(r.Context(), d.ID, r.PostFormValue("password"), r.PostFormValue("code"))
	if f.fieldError(err) {
		p.renderTOTPOn(w, r, d, http.StatusBadRequest, f)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.cfg.Logger.InfoContext(r.Context(), "developer turned two-step sign-in off", "developer_id", d.ID, "correlator", problem.Correlator(r.Context()))
	p.message(w, r, http.StatusOK, "Two-step sign-in is off",
		"Signing in now asks for your password only. You can turn two-step sign-in on again from your account page.")
}

// renderTOTPOn shows the page of an account with two-step sign-in on: its
// recovery codes left and the forms, with f's mistakes.
func (p *Portal) renderTOTPOn(w http.ResponseWriter, r *http.Request, d *store.Developer, status int, f *formView) {
	n, err := p.cfg.Developers.RecoveryCodesLeft(d)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.renderTOTP(w, r, status, totpView{On: true, Remaining: n, Form: f})
}

// halfSignin is a sign-in whose password matched, waiting for its code.
type halfSignin struct {
	Developer string `json:"d"`
	// Start is when the password was checked, Unix milliseconds.
	Start int64  `json:"s"`
	Next  string `json:"n,omitempty"`
}

// halfSigninKey binds the half-done sign-in to this browser's
// anti-forgery cookie: another browser cannot finish it.
func (p *Portal) halfSigninKey(r *http.Request) []byte {
	return signin.MAC(p.key("signin-code"), viewerOf(r.Context()).browser)
}

// codeView is the second step of a sign-in.
type codeView struct {
	Pending string
	Form    *formView
	// Problem is a registry error the code got (a used recovery code).
	Problem *errorView
	// Recovered: the sign-in is done, with a recovery code; Remaining
	// are left, and Next is where to go on.
	Recovered bool
	Remaining int
	Low       bool
	Next      string
}

// askCode answers a sign-in whose password matched for an account with a
// second factor: the page that asks for the code.
func (p *Portal) askCode(w http.ResponseWriter, r *http.Request, d *store.Developer, next string) {
	pending, err := signin.Seal(p.halfSigninKey(r), halfSignin{Developer: d.ID, Start: p.cfg.now().UnixMilli(), Next: next})
	if err != nil {
		p.fail(w, r, problem.Internal(err))
		return
	}
	p.render(w, r, http.StatusOK, "totpcode", page{Title: "Enter your sign-in code", Nav: "signin",
		Data: codeView{Pending: pending, Form: p.newForm(r)}})
}

func (p *Portal) signinCode(w http.ResponseWriter, r *http.Request) {
	if !p.posted(w, r) {
		return
	}
	f := p.newForm(r)
	var h halfSignin
	start := time.Time{}
	if signin.Open(p.halfSigninKey(r), r.PostFormValue("pending"), &h) && h.Developer != "" {
		start = time.UnixMilli(h.Start)
	}
	if start.IsZero() || !p.cfg.now().Before(start.Add(SignInCodeTTL)) {
		f.Message = "Your sign-in waited more than 5 minutes for its code, or was started in another browser. Sign in again."
		p.render(w, r, http.StatusBadRequest, "signin", page{Title: "Sign in", Nav: "signin", Data: f})
		return
	}
	f.Next = localNext(h.Next, "")
	again := func(status int, msg string) {
		f.Message = msg
		p.render(w, r, status, "totpcode", page{Title: "Enter your sign-in code", Nav: "signin",
			Data: codeView{Pending: r.PostFormValue("pending"), Form: f}})
	}
	if wait := p.cfg.Throttle.Wait(r, "developer-totp|"+h.Developer); wait > 0 {
		w.Header().Set("Retry-After", problem.RetryAfterSeconds(wait))
		again(http.StatusTooManyRequests, "Too many codes tried. Wait "+problem.RetryAfterSeconds(wait)+" seconds, then try again.")
		return
	}
	d, used, err := p.cfg.Developers.CheckTOTP(r.Context(), h.Developer, r.PostFormValue("code"))
	switch {
	case errors.Is(err, developers.ErrRecoveryCodeUsed):
		// A registry error shown beside the form, so that another code
		// can be tried without entering the password again.
		p.cfg.Logger.InfoContext(r.Context(), "developer sign-in code refused", "reason", "recovery code already used", "developer_id", h.Developer, "correlator", problem.Correlator(r.Context()))
		pe := problem.From(err)
		ev := p.errorView(r, pe)
		pe.SetHeaders(w.Header())
		p.render(w, r, pe.Status(), "totpcode", page{Title: "Enter your sign-in code", Nav: "signin",
			Data: codeView{Pending: r.PostFormValue("pending"), Form: f, Problem: &ev}})
		p.cfg.Render.Report(r, pe)
	case errors.Is(err, developers.ErrCodeUsed):
		p.cfg.Logger.InfoContext(r.Context(), "developer sign-in code refused", "reason", "already used", "developer_id", h.Developer, "correlator", problem.Correlator(r.Context()))
		again(http.StatusBadRequest, "This code was already used. Wait for your app to show the next one, then enter it.")
	case errors.Is(err, developers.ErrWrongCode):
		p.cfg.Logger.InfoContext(r.Context(), "developer sign-in code refused", "reason", "wrong code", "developer_id", h.Developer, "correlator", problem.Correlator(r.Context()))
		again(http.StatusBadRequest, "This is not the code your authenticator app shows now, nor one of your unused recovery codes. Check the entry for this portal and try again.")
	case err != nil && !errors.Is(err, developers.ErrNoTOTP):
		p.fail(w, r, err)
	case err != nil || !developers.SessionValid(d, start):
		// Since the first step, the password changed, the account was
		// suspended or signed out everywhere, or two-step sign-in was
		// turned off.
		f.Message = "Your account changed since you entered your password. Sign in again."
		p.render(w, r, http.StatusBadRequest, "signin", page{Title: "Sign in", Nav: "signin", Data: f})
	case used.Recovery:
		// Signed in; the page says how many codes are left and what to
		// do when the phone is lost, then goes on.
		p.cfg.Logger.InfoContext(r.Context(), "developer signed in", "developer_id", d.ID, "second_factor", "recovery_code",
			"recovery_codes_left", used.Remaining, "correlator", problem.Correlator(r.Context()))
		p.startSession(w, r, d)
		w.Header().Set("Cache-Control", "no-store")
		p.render(w, r, http.StatusOK, "totpcode", page{Title: "Signed in with a recovery code", Nav: "account",
			Data: codeView{Form: f, Recovered: true, Remaining: used.Remaining, Low: used.Remaining <= developers.RecoveryCodesLow,
				Next: localNext(h.Next, "/portal/apps")}})
	default:
		p.cfg.Logger.InfoContext(r.Context(), "developer signed in", "developer_id", d.ID, "second_factor", "totp", "correlator", problem.Correlator(r.Context()))
		p.startSession(w, r, d)
		http.Redirect(w, r, localNext(h.Next, "/portal/apps"), http.StatusSeeOther)
	}
}
