package server

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"gatehouse/internal/config"
	"gatehouse/internal/problem"
	"gatehouse/internal/testmail"
)

// Two-step sign-in and organisations through the portal, with the real
// SMTP server where mail matters.

var (
	totpSecretOnPage = regexp.MustCompile(`id="totp-secret" class="copyable">([A-Z2-7 ]+)<`)
	totpURIOnPage    = regexp.MustCompile(`id="totp-uri">(otpauth://totp/[^<]+)<`)
	invitationIn     = regexp.MustCompile(`https?://\S+/portal/invitations/inv_\S+\?token=\S+`)
	orgIDOnPage      = regexp.MustCompile(`name="org" value="(org_[^"]+)"`)
	invitationLinkOn = regexp.MustCompile(`id="invitation-link">([^<]+)<`)
)

// shows reports whether an error page shows the registry's cause r.
func shows(page string, r problem.Reason) bool {
	e, _ := problem.Lookup(r.Key())
	c, ok := e.Cause(r.CauseID())
	return ok && strings.Contains(page, html.EscapeString(c.Text))
}

// fetch is a GET whose response headers matter.
func (b *browser) fetch(path string) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.c.Get(b.tp.Issuer + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// signIn signs in with a password (the first step when the account has a
// second factor).
func (b *browser) signIn(email, password string) (int, string) {
	b.t.Helper()
	b.get("/portal/signin")
	return b.post("/portal/signin", url.Values{"email": {email}, "password": {password}})
}

// signedIn reports whether the browser's session is good.
func (b *browser) signedIn() bool {
	b.t.Helper()
	_, page := b.get("/portal/account")
	return strings.Contains(page, "Your account") && !strings.Contains(page, `action="/portal/signin"`)
}

// signUpByMail signs up on a platform with mail and opens the
// verification link; it returns the page the link answers.
func (b *browser) signUpByMail(box *testmail.Server, name, email, password, org, next string) string {
	b.t.Helper()
	b.get("/portal/signup?next=" + url.QueryEscape(next))
	form := url.Values{"name": {name}, "email": {email}, "password": {password}, "organization": {org}}
	if next != "" {
		form.Set("next", next)
	}
	if status, page := b.post("/portal/signup", form); status != 200 || !strings.Contains(page, "Check your e-mail") {
		b.t.Fatalf("sign-up of %s = %d:\n%s", email, status, page)
	}
	status, page := b.get(mailedLink(b.t, box, b.tp, email))
	if status != http.StatusCreated {
		b.t.Fatalf("verification of %s = %d:\n%s", email, status, page)
	}
	return page
}

var totpOptions = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpCode is the code of the time step step (Unix time / 30).
func totpCode(t *testing.T, secret string, step int64) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totpOptions)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stepNow is the current time step. The platform's clock is the real
// one; a code for this step or the next is accepted whichever side of a
// step boundary the server reads its clock.
func stepNow() int64 { return time.Now().Unix() / 30 }

// wrongCode is six digits that are no code of the steps around now.
func wrongCode(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for s := stepNow() - 2; s <= stepNow()+3; s++ {
		valid[totpCode(t, secret, s)] = true
	}
	for _, c := range []string{"000000", "111111", "123456", "654321", "999999"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// TestPortalTOTP: setting two-step sign-in up (secret as text, URI and a
// same-origin QR code; a wrong code refused; confirming signs the other
// sessions out), then signing in: the password alone starts no session,
// a replayed or wrong code is refused, the half-done sign-in works in its
// own browser only, the right code signs in; a password reset keeps the
// second factor.
func TestPortalTOTP(t *testing.T) {
	t.Parallel()
	box := testmail.Start(t)
	tp := newTestPlatform(t, func(c *config.Config) { c.SMTPURL = box.URL() })
	const password = "correct horse battery"
	b := newBrowser(t, tp)
	b.signUpByMail(box, "Ana", "ana@example.com", password, "Acme", "")
	other := newBrowser(t, tp)
	if status, _ := other.signIn("ana@example.com", password); status != 200 || !other.signedIn() {
		t.Fatalf("sign-in of a second browser = %d", status)
	}

	// Set-up: the page shows the secret; the QR code is a PNG from this
	// site, read from the set-up's cookie.
	b.get("/portal/account")
	resp, body := b.fetch("/portal/account/totp")
	page := string(body)
	m, uri := totpSecretOnPage.FindStringSubmatch(page), totpURIOnPage.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || uri == nil {
		t.Fatalf("GET /portal/account/totp = %d, want the secret and its URI:\n%s", resp.StatusCode, page)
	}
	b.last = page
	if c := csrfField.FindStringSubmatch(page); c != nil {
		b.csrf = c[1]
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the set-up page (it shows the secret): Cache-Control %q, want no-store", cc)
	}
	if !strings.Contains(uri[1], "secret="+secret) || !strings.Contains(uri[1], "ana@example.com") || !strings.Contains(page, `src="/portal/account/totp/qr.png"`) {
		t.Errorf("the URI %s does not hold the secret and address, or the page has no QR code", uri[1])
	}
	if strings.Contains(page, `name="pending" value="`+secret) || strings.Contains(page, "pending\" value=\"\"") {
		t.Error("the pending set-up is empty or carries the secret in clear")
	}
	qr, png := b.fetch("/portal/account/totp/qr.png")
	if qr.StatusCode != 200 || qr.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(png), "\x89PNG") || qr.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("QR code = %d %s %q, want a PNG not stored", qr.StatusCode, qr.Header.Get("Content-Type"), qr.Header.Get("Cache-Control"))
	}
	if qr, _ := other.fetch("/portal/account/totp/qr.png"); qr.StatusCode != 404 {
		t.Errorf("QR code in a browser that set nothing up = %d, want 404", qr.StatusCode)
	}
	pending := regexp.MustCompile(`name="pending" value="([^"]+)"`).FindStringSubmatch(page)[1]

	// The form is refused without its anti-forgery token, and with a
	// wrong code.
	if status, page := b.post("/portal/account/totp", url.Values{"pending": {pending}, "code": {totpCode(t, secret, stepNow())}, "csrf": {"forged"}}); status != 403 || !shows(page, problem.AccessDeniedCsrfTokenInvalid) {
		t.Errorf("set-up with a forged CSRF token = %d", status)
	}
	if status, page := b.post("/portal/account/totp", url.Values{"pending": {pending}, "code": {wrongCode(t, secret)}}); status != 400 || !strings.Contains(page, `id="e-code"`) || !strings.Contains(page, secret[:4]) {
		t.Errorf("set-up with a wrong code = %d, want 400 with the message beside the code and the same secret:\n%s", status, page)
	}
	enrolStep := stepNow()
	if status, page := b.post("/portal/account/totp", url.Values{"pending": {pending}, "code": {totpCode(t, secret, enrolStep)}}); status != 200 || !strings.Contains(page, "Two-step sign-in is on") {
		t.Fatalf("set-up with the current code = %d:\n%s", status, page)
	}
	if !b.signedIn() {
		t.Error("the browser that set two-step sign-in up was signed out")
	}
	if other.signedIn() {
		t.Error("another session survived turning two-step sign-in on")
	}
	if _, page := b.get("/portal/account"); !strings.Contains(page, "Manage two-step sign-in") {
		t.Error("the account page does not show two-step sign-in as on")
	}

	// Sign-in: the password leads to the code page, no session yet.
	b.get("/portal/account")
	b.post("/portal/signout", url.Values{})
	status, page := b.signIn("ana@example.com", password)
	half := regexp.MustCompile(`name="pending" value="([^"]+)"`).FindStringSubmatch(page)
	if status != 200 || !strings.Contains(page, "Enter your sign-in code") || half == nil {
		t.Fatalf("password of an account with two-step sign-in = %d, want the code page:\n%s", status, page)
	}
	codePage := page
	if b.signedIn() {
		t.Fatal("the password alone started a session")
	}
	b.last = codePage
	b.csrf = csrfField.FindStringSubmatch(codePage)[1]
	signinCode := func(br *browser, code string) (int, string) {
		return br.post("/portal/signin/code", url.Values{"pending": {half[1]}, "code": {code}})
	}
	// The code that confirmed the set-up was used: refused.
	if status, page := signinCode(b, totpCode(t, secret, enrolStep)); status != 400 || !strings.Contains(page, "already used") {
		t.Errorf("the set-up's code replayed = %d, want 400 already used:\n%s", status, page)
	}
	if status, page := signinCode(b, wrongCode(t, secret)); status != 400 || !strings.Contains(page, "not the code") {
		t.Errorf("a wrong code = %d, want 400", status)
	}
	// The half-done sign-in does not move to another browser.
	thief := newBrowser(t, tp)
	thief.get("/portal/signin")
	if status, page := signinCode(thief, totpCode(t, secret, max(enrolStep+1, stepNow()))); status != 400 || !strings.Contains(page, "Sign in again") || thief.signedIn() {
		t.Errorf("the pending sign-in posted from another browser = %d, want 400 sign in again", status)
	}
	signinStep := max(enrolStep+1, stepNow())
	good := totpCode(t, secret, signinStep)
	if status, page := signinCode(b, good); status != 200 || !strings.Contains(page, "My first app") {
		t.Fatalf("the right code = %d, want the apps page:\n%s", status, page)
	}
	if !b.signedIn() {
		t.Fatal("the right code started no session")
	}
	// The same code again, in a new sign-in: refused.
	other.signIn("ana@example.com", password)
	half = regexp.MustCompile(`name="pending" value="([^"]+)"`).FindStringSubmatch(other.last)
	if status, page := signinCode(other, good); status != 400 || !strings.Contains(page, "already used") || other.signedIn() {
		t.Errorf("a code replayed in another sign-in = %d, want 400 already used", status)
	}

	// A password reset keeps the second factor: no session from the
	// reset, and the next sign-in asks for the code.
	r := newBrowser(t, tp)
	r.get("/portal/reset")
	r.post("/portal/reset", url.Values{"email": {"ana@example.com"}})
	reset := mailedLink(t, box, tp, "ana@example.com")
	r.get(reset)
	if status, page := r.post("/portal/reset", url.Values{"token": {strings.SplitN(reset, "token=", 2)[1]}, "password": {"a new passphrase"}}); status != 200 || !strings.Contains(page, "password is changed") {
		t.Fatalf("reset = %d:\n%s", status, page)
	}
	if r.signedIn() {
		t.Error("a password reset signed an account with two-step sign-in in")
	}
	if status, page := r.signIn("ana@example.com", "a new passphrase"); status != 200 || !strings.Contains(page, "Enter your sign-in code") {
		t.Errorf("sign-in after the reset = %d, want the code page", status)
	}
	if b.signedIn() {
		t.Error("the reset did not sign the other sessions out")
	}
}

// TestPortalTOTPDisable: turning two-step sign-in off takes the password
// and an unused current code; afterwards the password alone signs in.
func TestPortalTOTPDisable(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	const password = "correct horse battery"
	b := newBrowser(t, tp)
	b.signUp("Bo", "bo@example.com", password)
	b.get("/portal/account/totp")
	secret := strings.ReplaceAll(totpSecretOnPage.FindStringSubmatch(b.last)[1], " ", "")
	pending := regexp.MustCompile(`name="pending" value="([^"]+)"`).FindStringSubmatch(b.last)[1]
	enrolStep := stepNow()
	if status, page := b.post("/portal/account/totp", url.Values{"pending": {pending}, "code": {totpCode(t, secret, enrolStep)}}); status != 200 {
		t.Fatalf("set-up = %d:\n%s", status, page)
	}
	// The set-up cannot be confirmed twice.
	if status, _ := b.post("/portal/account/totp", url.Values{"pending": {pending}, "code": {totpCode(t, secret, enrolStep)}}); status != 409 {
		t.Errorf("confirming again = %d, want 409", status)
	}
	if _, page := b.get("/portal/account/totp"); !strings.Contains(page, `action="/portal/account/totp/disable"`) || totpSecretOnPage.MatchString(page) {
		t.Fatalf("the page of an account with two-step sign-in lacks the form to turn it off, or shows a secret:\n%s", page)
	}
	// A sign-in waits at its second step while the factor is turned off.
	half := newBrowser(t, tp)
	if _, page := half.signIn("bo@example.com", password); !strings.Contains(page, "Enter your sign-in code") {
		t.Fatalf("sign-in with two-step sign-in on: no code page:\n%s", page)
	}
	halfPending := regexp.MustCompile(`name="pending" value="([^"]+)"`).FindStringSubmatch(half.last)[1]
	next := totpCode(t, secret, max(enrolStep+1, stepNow()))
	for _, tc := range []struct {
		name        string
		form        url.Values
		status      int
		field, text string
	}{
		{"forged CSRF", url.Values{"password": {password}, "code": {next}, "csrf": {"forged"}}, 403, "", "anti-forgery"},
		{"wrong password", url.Values{"password": {"not my password"}, "code": {next}}, 400, "password", "not your current password"},
		{"used code", url.Values{"password": {password}, "code": {totpCode(t, secret, enrolStep)}}, 400, "code", "already used"},
		{"wrong code", url.Values{"password": {password}, "code": {wrongCode(t, secret)}}, 400, "code", "not the code"},
	} {
		status, page := b.post("/portal/account/totp/disable", tc.form)
		if status != tc.status || !strings.Contains(page, tc.text) || (tc.field != "" && !strings.Contains(page, `id="e-`+tc.field+`"`)) {
			t.Errorf("turning off with a %s = %d, want %d with %q:\n%s", tc.name, status, tc.status, tc.text, page)
		}
		b.get("/portal/account/totp")
	}
	if status, page := b.post("/portal/account/totp/disable", url.Values{"password": {password}, "code": {next}}); status != 200 || !strings.Contains(page, "Two-step sign-in is off") {
		t.Fatalf("turning off = %d:\n%s", status, page)
	}
	if status, page := half.post("/portal/signin/code", url.Values{"pending": {halfPending}, "code": {next}}); status != 400 || !strings.Contains(page, "Sign in again") || half.signedIn() {
		t.Errorf("the second step after the factor was turned off = %d, want 400 sign in again:\n%s", status, page)
	}
	b.get("/portal/account")
	b.post("/portal/signout", url.Values{})
	if status, page := b.signIn("bo@example.com", password); status != 200 || strings.Contains(page, "sign-in code") || !b.signedIn() {
		t.Errorf("sign-in after turning it off = %d, want signed in with the password alone", status)
	}
}

// developerID looks a developer up by address in the admin API.
func (tp *testPlatform) developerID(email string) string {
	tp.t.Helper()
	resp, body := tp.adminCall("GET", "/admin/developers", tp.adminToken(), "", "")
	var list struct {
		Developers []struct{ ID, Email string } `json:"developers"`
	}
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 {
		tp.t.Fatalf("GET /admin/developers = %d %s", resp.StatusCode, body)
	}
	for _, d := range list.Developers {
		if d.Email == email {
			return d.ID
		}
	}
	tp.t.Fatalf("no developer %s", email)
	return ""
}

// TestPortalOrganisations runs an invitation end to end with mail (the
// owner invites, the invitee signs up from the link, accepts and sees the
// organisation's apps) and the role rules: a developer neither invites,
// buys, deletes apps nor changes roles; an admin cannot make owners; the
// last owner can neither leave nor step down; anyone else can leave. A
// forged or reused link, another organisation's forms and another
// address are refused.
func TestPortalOrganisations(t *testing.T) {
	t.Parallel()
	box := testmail.Start(t)
	tp := newTestPlatform(t, func(c *config.Config) { c.SMTPURL = box.URL() })
	if resp, body := tp.adminCall("PATCH", "/admin/apis/sim-swap", tp.adminToken(), "application/json", `{"status":"live"}`); resp.StatusCode != 200 {
		t.Fatalf("making sim-swap live = %d %s", resp.StatusCode, body)
	}
	const password = "correct horse battery"
	ana := newBrowser(t, tp)
	welcome := ana.signUpByMail(box, "Ana", "ana@example.com", password, "Acme Apps", "")
	anaApp := appLink.FindStringSubmatch(welcome)[1]
	anaID := tp.developerID("ana@example.com")

	_, page := ana.get("/portal/org")
	org := orgIDOnPage.FindStringSubmatch(page)
	if org == nil || !strings.Contains(page, "<h1>Acme Apps</h1>") || !strings.Contains(page, `href="/portal/org" aria-current="page"`) || !strings.Contains(page, "the last owner") {
		t.Fatalf("the organisation page lacks its name, its id, the nav link or the owner:\n%s", page)
	}
	orgID := org[1]

	// Forms need their anti-forgery token.
	if status, _ := ana.post("/portal/org/invitations", url.Values{"org": {orgID}, "email": {"bo@example.com"}, "role": {"developer"}, "csrf": {"forged"}}); status != 403 {
		t.Errorf("invite with a forged CSRF token = %d, want 403", status)
	}
	if status, _ := ana.post("/portal/org/new", url.Values{"name": {"Side project"}, "csrf": {"forged"}}); status != 403 {
		t.Errorf("create an organisation with a forged CSRF token = %d, want 403", status)
	}
	ana.get("/portal/org")
	if status, page := ana.post("/portal/org/invitations", url.Values{"org": {orgID}, "email": {"not an address"}, "role": {"developer"}}); status != 400 || !strings.Contains(page, `id="e-email"`) {
		t.Errorf("invite a malformed address = %d, want 400 beside the field", status)
	}
	if status, page := ana.post("/portal/org/invitations", url.Values{"org": {orgID}, "email": {"Bo@Example.com"}, "role": {"developer"}}); status != 201 || !strings.Contains(page, "Invitation sent to bo@example.com") {
		t.Fatalf("invite = %d:\n%s", status, page)
	}
	msg := box.Next(t)
	link := invitationIn.FindString(msg.Text)
	if len(msg.EnvelopeTo) != 1 || msg.EnvelopeTo[0] != "bo@example.com" || link == "" || !strings.Contains(msg.Text, "Acme Apps") {
		t.Fatalf("the invitation message to %v lacks its link or organisation:\n%s", msg.EnvelopeTo, msg.Text)
	}
	link = strings.TrimPrefix(link, tp.Issuer)
	invID := strings.TrimPrefix(strings.SplitN(link, "?", 2)[0], "/portal/invitations/")
	if _, page := ana.get("/portal/org"); !strings.Contains(page, "bo@example.com") || strings.Contains(page, link) {
		t.Error("the pending invitation is not listed, or its link is shown although it was mailed")
	}
	if status, _ := ana.post("/portal/org/invitations", url.Values{"org": {orgID}, "email": {"bo@example.com"}, "role": {"admin"}}); status != 400 {
		t.Errorf("a second invitation to the same address = %d, want 400", status)
	}

	// The id alone, or a forged token, is not enough.
	bo := newBrowser(t, tp)
	for _, forged := range []string{"/portal/invitations/" + invID, "/portal/invitations/" + invID + "?token=" + strings.Repeat("A", 43)} {
		if status, page := bo.get(forged); status != 404 || strings.Contains(page, "Acme Apps") {
			t.Errorf("GET %s = %d, want 404 that names nothing", forged, status)
		}
	}

	// Not signed in: the page offers sign-in and sign-up, coming back.
	status, page := bo.get(link)
	if status != 200 || !strings.Contains(page, "Join Acme Apps") || !strings.Contains(page, "/portal/signup?next=%2fportal%2finvitations%2f"+invID) {
		t.Fatalf("the invitation link, signed out = %d:\n%s", status, page)
	}
	bo.signUpByMail(box, "Bo", "bo@example.com", password, "", link)
	if status, page := bo.get(link); status != 200 || !strings.Contains(page, "Accept and join Acme Apps") {
		t.Fatalf("the invitation link, signed in = %d:\n%s", status, page)
	}
	if status, page := bo.post("/portal/invitations/"+invID, url.Values{"token": {"forged"}}); status != 404 || strings.Contains(page, "Acme Apps") {
		t.Errorf("accept with a forged token = %d, want 404", status)
	}
	bo.get(link)
	token := strings.SplitN(link, "token=", 2)[1]
	if status, page := bo.post("/portal/invitations/"+invID, url.Values{"token": {token}}); status != 200 || !strings.Contains(page, "Apps of <strong>Acme Apps</strong>") || !strings.Contains(page, anaApp) {
		t.Fatalf("accept = %d, want the organisation's apps with Ana's app:\n%s", status, page)
	}
	if status, _ := bo.get(link); status != 404 {
		t.Errorf("the invitation link after use = %d, want 404", status)
	}
	if status, _ := bo.get("/portal/apps/" + anaApp); status != 200 {
		t.Errorf("the organisation's app for a developer = %d", status)
	}

	// A developer: no invitations, no purchases, no deletions, no roles.
	_, page = bo.get("/portal/org?org=" + orgID)
	if !strings.Contains(page, "<h1>Acme Apps</h1>") || strings.Contains(page, "Invite someone") || strings.Contains(page, "/role\"") {
		t.Errorf("a developer's organisation page offers managing it:\n%s", page)
	}
	for _, tc := range []struct{ path string }{{"/portal/org/invitations"}, {"/portal/subscriptions"}, {"/portal/apps/" + anaApp + "/delete"}, {"/portal/org/members/" + anaID + "/role"}} {
		status, page := bo.post(tc.path, url.Values{"org": {orgID}, "email": {"carol@example.com"}, "role": {"developer"},
			"app": {anaApp}, "api": {"sim-swap"}, "plan": {"starter"}})
		if status != 403 || !shows(page, problem.PermissionDeniedRoleInsufficient) {
			t.Errorf("POST %s as a developer = %d, want 403 role_insufficient:\n%s", tc.path, status, page)
		}
		bo.get("/portal/org?org=" + orgID)
	}

	// Another organisation's forms answer like a missing one.
	eve := newBrowser(t, tp)
	eve.signUpByMail(box, "Eve", "eve@example.com", password, "", "")
	if _, page := eve.get("/portal/org?org=" + orgID); strings.Contains(page, "Acme Apps") {
		t.Error("another developer sees the organisation")
	}
	if status, _ := eve.post("/portal/org/invitations", url.Values{"org": {orgID}, "email": {"eve2@example.com"}, "role": {"owner"}}); status != 404 {
		t.Errorf("inviting to another organisation = %d, want 404", status)
	}
	eve.get("/portal/org")
	if status, _ := eve.post("/portal/org/members/"+anaID+"/remove", url.Values{"org": {orgID}}); status != 404 {
		t.Errorf("removing a member of another organisation = %d, want 404", status)
	}

	// An invitation opened by another signed-in address: refused.
	ana.get("/portal/org")
	ana.post("/portal/org/invitations", url.Values{"org": {orgID}, "email": {"carol@example.com"}, "role": {"admin"}})
	carol := strings.TrimPrefix(invitationIn.FindString(box.Next(t).Text), tp.Issuer)
	if status, page := eve.get(carol); status != 403 || !shows(page, problem.PermissionDeniedInvitationAddressee) || !strings.Contains(page, "carol@example.com") {
		t.Errorf("another address opens the invitation = %d, want 403 invitation_addressee:\n%s", status, page)
	}
	// Withdrawn: the link stops working.
	_, page = ana.get("/portal/org")
	withdraw := regexp.MustCompile(`action="(/portal/org/invitations/inv_[^/"]+/withdraw)"`).FindStringSubmatch(page)
	if withdraw == nil {
		t.Fatalf("no withdraw button:\n%s", page)
	}
	if status, _ := ana.post(withdraw[1], url.Values{}); status != 200 {
		t.Errorf("withdraw = %d", status)
	}
	if status, _ := newBrowser(t, tp).get(carol); status != 404 {
		t.Errorf("a withdrawn invitation = %d, want 404", status)
	}

	// The last owner can neither leave nor step down.
	boID := tp.developerID("bo@example.com")
	ana.get("/portal/org")
	if status, page := ana.post("/portal/org/members/"+anaID+"/remove", url.Values{"org": {orgID}}); status != 409 || !shows(page, problem.IncompatibleStateLastOwner) {
		t.Errorf("the last owner leaves = %d, want 409 last_owner:\n%s", status, page)
	}
	ana.get("/portal/org")
	if status, page := ana.post("/portal/org/members/"+anaID+"/role", url.Values{"org": {orgID}, "role": {"admin"}}); status != 409 || !shows(page, problem.IncompatibleStateLastOwner) {
		t.Errorf("the last owner steps down = %d, want 409 last_owner", status)
	}
	// An admin cannot make owners, nor touch one.
	ana.get("/portal/org")
	if status, _ := ana.post("/portal/org/members/"+boID+"/role", url.Values{"org": {orgID}, "role": {"admin"}}); status != 200 {
		t.Errorf("make Bo admin = %d", status)
	}
	bo.get("/portal/org?org=" + orgID)
	if !strings.Contains(bo.last, "Invite someone") || strings.Contains(bo.last, `<option value="owner"`) {
		t.Error("an admin's page lacks the invitation form, or offers the owner role")
	}
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/portal/org/invitations", url.Values{"org": {orgID}, "email": {"dan@example.com"}, "role": {"owner"}}},
		{"/portal/org/members/" + boID + "/role", url.Values{"org": {orgID}, "role": {"owner"}}},
		{"/portal/org/members/" + anaID + "/remove", url.Values{"org": {orgID}}},
	} {
		if status, page := bo.post(tc.path, tc.form); status != 403 || !shows(page, problem.PermissionDeniedRoleInsufficient) {
			t.Errorf("POST %s as an admin = %d, want 403 role_insufficient", tc.path, status)
		}
		bo.get("/portal/org?org=" + orgID)
	}
	// Anyone else can leave.
	if status, page := bo.post("/portal/org/members/"+boID+"/remove", url.Values{"org": {orgID}}); status != 200 || !strings.Contains(page, "You left") {
		t.Errorf("Bo leaves = %d", status)
	}
	if _, page := bo.get("/portal/apps?org=" + orgID); strings.Contains(page, "Acme Apps") || strings.Contains(page, anaApp) {
		t.Error("after leaving, the organisation's apps are still shown")
	}
}

// TestPortalOrganisationsWithoutMail: without mail the inviter gets the
// link on the page; a new organisation comes with its first app.
func TestPortalOrganisationsWithoutMail(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	ana := newBrowser(t, tp)
	anaApp, _, _ := ana.signUp("Ana", "ana@example.com", "correct horse battery")
	_, page := ana.get("/portal/org")
	if !strings.Contains(page, "sends no e-mail") {
		t.Error("the invitation form does not say that the link is to be passed on")
	}
	orgID := orgIDOnPage.FindStringSubmatch(page)[1]
	status, page := ana.post("/portal/org/invitations", url.Values{"org": {orgID}, "email": {"bo@example.com"}, "role": {"admin"}})
	m := invitationLinkOn.FindStringSubmatch(page)
	if status != 201 || m == nil {
		t.Fatalf("invite without mail = %d, want the link on the page:\n%s", status, page)
	}
	link := strings.TrimPrefix(m[1], tp.Issuer)

	// The invitee signs up from the link and is back on it.
	bo := newBrowser(t, tp)
	bo.get(link)
	bo.get("/portal/signup?next=" + url.QueryEscape(link))
	status, page = bo.post("/portal/signup", url.Values{"name": {"Bo"}, "email": {"bo@example.com"}, "password": {"another good one"}, "next": {link}})
	if status != 201 || !strings.Contains(page, `href="`+strings.ReplaceAll(link, "&", "&amp;")+`"`) {
		t.Fatalf("sign-up from the invitation = %d, want the new app with a way back to the invitation:\n%s", status, page)
	}
	bo.get(link)
	invID := strings.TrimPrefix(strings.SplitN(link, "?", 2)[0], "/portal/invitations/")
	if status, page := bo.post("/portal/invitations/"+invID, url.Values{"token": {strings.SplitN(link, "token=", 2)[1]}}); status != 200 || !strings.Contains(page, anaApp) {
		t.Fatalf("accept = %d:\n%s", status, page)
	}
	_, page = bo.get("/portal/org?org=" + orgID)
	if !strings.Contains(page, "Your role: <strong>admin</strong>") {
		t.Errorf("Bo's role is not admin:\n%s", page)
	}

	// Another organisation: the creator owns it, with a first app.
	status, page = ana.post("/portal/org/new", url.Values{"name": {""}})
	if status != 400 || !strings.Contains(page, `id="e-name"`) {
		t.Errorf("an organisation without a name = %d, want 400 beside the field", status)
	}
	status, page = ana.post("/portal/org/new", url.Values{"name": {"Side project"}})
	if status != 201 || !secretOnPage.MatchString(page) || !strings.Contains(page, "Side project") {
		t.Fatalf("create an organisation = %d, want its first app with its secret:\n%s", status, page)
	}
	if _, page := ana.get("/portal/org"); !strings.Contains(page, "Side project") {
		t.Error("the organisation page does not offer the new organisation")
	}
}
