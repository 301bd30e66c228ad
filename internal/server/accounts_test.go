package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/testcamara"
	"gatehouse/internal/testhttp"
	"gatehouse/internal/testmail"

	"github.com/go-jose/go-jose/v4"
)

// browser is a developer's browser on the portal: a cookie jar, and the
// anti-forgery token of the last page it loaded, as a form would send it.
type browser struct {
	t    *testing.T
	tp   *testPlatform
	c    *http.Client
	csrf string
	// last is the last page's body; bodies are every body do read, in
	// order (to check that a secret was in one response only).
	last   string
	bodies []string
}

func newBrowser(t *testing.T, tp *testPlatform) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, tp: tp, c: &http.Client{Jar: jar}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = string(body)
	b.bodies = append(b.bodies, b.last)
	if m := csrfField.FindStringSubmatch(b.last); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	return resp.StatusCode, b.last
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.tp.Issuer+path, nil)
	return b.do(req)
}

// post sends a form with the last page's anti-forgery token (unless the
// form sets csrf itself).
func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.tp.Issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	clientIDOnPage = regexp.MustCompile(`id="client-sandbox">([^<]+)<`)
	secretOnPage   = regexp.MustCompile(`id="secret-(sandbox|production)" class="copyable">([^<]+)<`)
	appLink        = regexp.MustCompile(`action="/portal/apps/(app_[^/"]+)/`)
)

// signUp signs a developer up on a portal without mail (verified at once)
// and returns the sandbox client id and secret the answer shows.
func (b *browser) signUp(name, email, password string) (appID, clientID, secret string) {
	b.t.Helper()
	if status, _ := b.get("/portal/signup"); status != 200 {
		b.t.Fatalf("GET /portal/signup = %d", status)
	}
	status, page := b.post("/portal/signup", url.Values{"name": {name}, "email": {email}, "password": {password}})
	if status != http.StatusCreated {
		b.t.Fatalf("sign-up = %d, want 201 with the new app:\n%s", status, page)
	}
	id, sec, app := clientIDOnPage.FindStringSubmatch(page), secretOnPage.FindStringSubmatch(page), appLink.FindStringSubmatch(page)
	if id == nil || sec == nil || app == nil {
		b.t.Fatalf("the sign-up answer lacks the app, its client id or its secret:\n%s", page)
	}
	return app[1], id[1], sec[2]
}

// TestPortalAccounts runs a developer's account through the portal on a
// platform without mail: sign-up sets up an organisation and a sandbox app
// whose secret appears in that answer only and works at the token
// endpoint and the gateway; sign-out, sign-in (wrong password, throttled
// wording, next), CSRF, rotation with overlap, revocation, and signing out
// everywhere.
func TestPortalAccounts(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	b := newBrowser(t, tp)
	const password = "correct horse battery"
	appID, clientID, secret := b.signUp("Ana Lima", "Ana@Example.com", password)

	// The secret works: a sandbox token, and a sandbox call with it.
	tok := tp.token(client{ID: clientID, Secret: secret}, "sim-swap:check")
	resp, body := tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Token: tok,
		Body: `{"phoneNumber":"+34600000001","maxAge":240}`})
	if resp.StatusCode != 200 {
		t.Fatalf("a sandbox call with the new credentials = %d %s", resp.StatusCode, body)
	}

	// Shown once: no later page has it.
	for _, path := range []string{"/portal/apps", "/portal/apps/" + appID, "/portal/account", "/"} {
		if status, page := b.get(path); status != 200 || strings.Contains(page, secret) {
			t.Errorf("GET %s = %d, contains the secret: %v", path, status, strings.Contains(page, secret))
		}
	}
	if _, page := b.get("/portal/apps/" + appID); !strings.Contains(page, clientID) || !strings.Contains(page, "Rotate secret") {
		t.Errorf("the app page lacks the client id or the rotate button:\n%s", page)
	}

	// Asking to see the secret again: 410 secret_already_shown, the fix
	// says to rotate.
	if status, page := b.get("/portal/apps/" + appID + "/credentials/sandbox/secret"); status != 410 || !strings.Contains(page, "Rotate the secret") || strings.Contains(page, secret) {
		t.Errorf("the secret asked for again = %d:\n%s", status, page)
	}

	// A form without the token is refused with the registry's error.
	if status, page := b.post("/portal/apps/"+appID+"/credentials/sandbox/rotate", url.Values{"csrf": {"forged"}}); status != 403 || !strings.Contains(page, "csrf_token_invalid") && !strings.Contains(page, "anti-forgery") {
		t.Errorf("rotate with a forged token = %d:\n%s", status, page)
	}

	// Rotation: a new secret, shown in that answer; the old one keeps
	// working for the grace period.
	b.get("/portal/apps/" + appID)
	status, page := b.post("/portal/apps/"+appID+"/credentials/sandbox/rotate", url.Values{})
	m := secretOnPage.FindStringSubmatch(page)
	if status != 200 || m == nil || m[2] == secret {
		t.Fatalf("rotate = %d, new secret %v:\n%s", status, m, page)
	}
	for _, s := range []string{secret, m[2]} {
		if st, _, _ := tp.tokenStatus(clientID, s); st != 200 {
			t.Errorf("token with secret %.6s… after rotation = %d, want 200 (overlap)", s, st)
		}
	}

	// Sign out, then in: a wrong password is one message for all causes;
	// the right one lands on next.
	b.get("/portal/account")
	if status, _ := b.post("/portal/signout", url.Values{}); status != 200 {
		t.Errorf("sign out = %d", status)
	}
	if status, _ := b.get("/portal/apps"); status != 200 || !strings.Contains(b.last, `action="/portal/signin"`) {
		t.Errorf("apps after sign-out = %d, want the sign-in form", status)
	}
	if status, page := b.post("/portal/signin", url.Values{"email": {"ana@example.com"}, "password": {"wrong password"}}); status != 400 || !strings.Contains(page, "incorrect") {
		t.Errorf("wrong password = %d", status)
	}
	if status, page := b.post("/portal/signin", url.Values{"email": {"nobody@example.com"}, "password": {password}}); status != 400 || !strings.Contains(page, "incorrect") {
		t.Errorf("unknown address = %d", status)
	}
	if status, page := b.post("/portal/signin", url.Values{"email": {"ana@example.com"}, "password": {password}, "next": {"/portal/apps/" + appID}}); status != 200 || !strings.Contains(page, clientID) {
		t.Errorf("sign in with next = %d:\n%s", status, page)
	}
	// next never leaves the site.
	b2 := newBrowser(t, tp)
	b2.get("/portal/signin")
	b2.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodPost, tp.Issuer+"/portal/signin", strings.NewReader(url.Values{
		"email": {"ana@example.com"}, "password": {password}, "next": {"//evil.example/x"}, "csrf": {b2.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b2.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/portal/apps" {
		t.Errorf("sign in with an off-site next = %d Location %q, want 303 to /portal/apps", resp.StatusCode, loc)
	}
	b2.c.CheckRedirect = nil

	// Signing out everywhere ends the other browser's session too.
	if status, _ := b2.get("/portal/account"); status != 200 || !strings.Contains(b2.last, "Ana Lima") {
		t.Fatalf("second browser's account page = %d", status)
	}
	b.get("/portal/account")
	if status, _ := b.post("/portal/signout", url.Values{"everywhere": {"1"}}); status != 200 {
		t.Errorf("sign out everywhere = %d", status)
	}
	if _, page := b2.get("/portal/account"); strings.Contains(page, "Ana Lima") || !strings.Contains(page, `action="/portal/signin"`) {
		t.Error("the other browser is still signed in after signing out everywhere")
	}

	// Revocation: the credential stops working.
	b.get("/portal/signin")
	b.post("/portal/signin", url.Values{"email": {"ana@example.com"}, "password": {password}})
	b.get("/portal/apps/" + appID)
	if status, page := b.post("/portal/apps/"+appID+"/credentials/sandbox/revoke", url.Values{}); status != 200 || strings.Contains(page, clientID) {
		t.Errorf("revoke = %d (client id still listed: %v)", status, strings.Contains(page, clientID))
	}
	if st, body, _ := tp.tokenStatus(clientID, m[2]); st != 401 {
		t.Errorf("token after revocation = %d %v, want 401", st, body)
	}
}

// TestPortalSignupErrors: every mistake comes back on the form, beside
// its field, with nothing created; a taken address answers like a new one.
func TestPortalSignupErrors(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	b := newBrowser(t, tp)
	b.get("/portal/signup")
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"name": {""}, "email": {"a@example.com"}, "password": {"long enough"}}, "name"},
		{url.Values{"name": {"A"}, "email": {"not-an-address"}, "password": {"long enough"}}, "email"},
		{url.Values{"name": {"A"}, "email": {"a@example.com"}, "password": {"short"}}, "password"},
		{url.Values{"name": {"A"}, "email": {"a@example.com"}, "password": {"long enough"}, "organization": {strings.Repeat("o", 101)}}, "organization"},
	} {
		status, page := b.post("/portal/signup", tc.form)
		if status != 400 || !strings.Contains(page, `id="e-`+tc.field+`"`) || !strings.Contains(page, `aria-invalid="true"`) {
			t.Errorf("sign-up with a bad %s = %d, want 400 with the message beside the field", tc.field, status)
		}
		if strings.Contains(page, "long enough") {
			t.Errorf("sign-up with a bad %s shows the password again", tc.field)
		}
	}
	b.signUp("Bo", "bo@example.com", "long enough")
	b2 := newBrowser(t, tp)
	b2.get("/portal/signup")
	if status, page := b2.post("/portal/signup", url.Values{"name": {"Eve"}, "email": {"BO@example.com"}, "password": {"long enough"}}); status != 200 || !strings.Contains(page, "Check your e-mail") {
		t.Errorf("sign-up with a taken address = %d, want the neutral check-your-e-mail page", status)
	}
	// Without the browser cookie the form is refused.
	req, _ := http.NewRequest(http.MethodPost, tp.Issuer+"/portal/signup", strings.NewReader("name=X&email=x%40example.com&password=long+enough"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "cookie") {
		t.Errorf("sign-up without cookies = %d:\n%s", resp.StatusCode, body)
	}
}

var linkIn = regexp.MustCompile(`https?://\S+/portal/(verify|reset)\?token=\S+`)

// mailedLink returns the portal link in the next message to arrive at
// the test SMTP server, as a path for the browser.
func mailedLink(t *testing.T, box *testmail.Server, tp *testPlatform, wantTo string) string {
	t.Helper()
	msg := box.Next(t)
	if len(msg.EnvelopeTo) != 1 || msg.EnvelopeTo[0] != wantTo {
		t.Fatalf("a message went to %v, want %s", msg.EnvelopeTo, wantTo)
	}
	link := linkIn.FindString(msg.Text)
	if link == "" {
		t.Fatalf("the message %q carries no portal link:\n%s", msg.Subject, msg.Text)
	}
	return strings.TrimPrefix(link, tp.Issuer)
}

// TestPortalMail runs the e-mail paths through a real SMTP server:
// sign-up sends a verification link and signs nobody in until it is
// opened; the link sets the account up once and never signs in again; an
// unverified sign-in offers a new link; a taken address gets a notice, not
// a second account; password reset works once and signs out everywhere.
func TestPortalMail(t *testing.T) {
	t.Parallel()
	box := testmail.Start(t)
	tp := newTestPlatform(t, func(c *config.Config) { c.SMTPURL = box.URL() })
	b := newBrowser(t, tp)
	const password = "correct horse battery"
	b.get("/portal/signup")
	status, page := b.post("/portal/signup", url.Values{"name": {"Ana"}, "email": {"ana@example.com"}, "password": {password}, "organization": {"Acme Apps"}})
	if status != 200 || !strings.Contains(page, "Check your e-mail") {
		t.Fatalf("sign-up with mail = %d, want the check-your-e-mail page:\n%s", status, page)
	}
	verify := mailedLink(t, box, tp, "ana@example.com")

	// Before the link: sign-in is refused with a way to get a new one.
	b.get("/portal/signin")
	if status, page := b.post("/portal/signin", url.Values{"email": {"ana@example.com"}, "password": {password}}); status != 400 || !strings.Contains(page, "Send the confirmation link again") {
		t.Errorf("unverified sign-in = %d, want 400 offering a new link:\n%s", status, page)
	}
	if status, _ := b.post("/portal/verify", url.Values{"email": {"ana@example.com"}}); status != 200 {
		t.Errorf("resend = %d", status)
	}
	if again := mailedLink(t, box, tp, "ana@example.com"); !strings.HasPrefix(again, "/portal/verify?token=") {
		t.Errorf("the resent message links %s", again)
	}

	// The link sets the account up: organisation, app, secret shown.
	status, page = b.get(verify)
	if status != 201 || !secretOnPage.MatchString(page) || !strings.Contains(page, "Acme Apps") {
		t.Fatalf("verification link = %d, want the new app with its secret in Acme Apps:\n%s", status, page)
	}
	// Opened again (another browser, a mail scanner): no session, no secret.
	other := newBrowser(t, tp)
	if status, page := other.get(verify); status != 409 || secretOnPage.MatchString(page) || !strings.Contains(page, "already verified") {
		t.Errorf("verification link replayed = %d, want 409 (already verified)", status)
	}
	if _, page := other.get("/portal/apps"); !strings.Contains(page, `action="/portal/signin"`) {
		t.Error("a replayed verification link signed a browser in")
	}

	// A second sign-up with the address creates nothing and tells its owner.
	other.get("/portal/signup")
	if status, _ := other.post("/portal/signup", url.Values{"name": {"Eve"}, "email": {"ana@example.com"}, "password": {"another password"}}); status != 200 {
		t.Errorf("sign-up with a taken address = %d", status)
	}
	if msg := box.Next(t); !strings.Contains(msg.Subject, "tried to sign up") {
		t.Errorf("the owner got %q, want the notice of an attempted sign-up", msg.Subject)
	}

	// Password reset: the link works once, and signs every session out.
	other.get("/portal/reset")
	if status, page := other.post("/portal/reset", url.Values{"email": {"ana@example.com"}}); status != 200 || !strings.Contains(page, "Check your e-mail") {
		t.Fatalf("reset request = %d", status)
	}
	reset := mailedLink(t, box, tp, "ana@example.com")
	if status, page := other.get(reset); status != 200 || !strings.Contains(page, `name="token"`) {
		t.Fatalf("reset link = %d:\n%s", status, page)
	}
	if status, page := other.post("/portal/reset", url.Values{"token": {strings.SplitN(reset, "token=", 2)[1]}, "password": {"a new passphrase"}}); status != 200 || !strings.Contains(page, "password is changed") {
		t.Fatalf("reset = %d:\n%s", status, page)
	}
	if _, page := b.get("/portal/account"); strings.Contains(page, "ana@example.com") {
		t.Error("the first browser is still signed in after the password reset")
	}
	if status, page := other.get(reset); status != 409 || !strings.Contains(page, "already used") {
		t.Errorf("reset link used twice = %d, want 409 (already used)", status)
	}
	b.get("/portal/signin")
	if status, _ := b.post("/portal/signin", url.Values{"email": {"ana@example.com"}, "password": {"a new passphrase"}}); status != 200 {
		t.Errorf("sign-in with the new password = %d", status)
	}
}

// TestPortalApproval: with portal_approve_signups a new account waits for
// the operator (admin API), then signs in with its organisation and app;
// suspending it ends its session at once.
func TestPortalApproval(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, func(c *config.Config) { c.PortalApproveSignups = true })
	b := newBrowser(t, tp)
	const password = "correct horse battery"
	b.get("/portal/signup")
	if status, page := b.post("/portal/signup", url.Values{"name": {"Ana"}, "email": {"ana@example.com"}, "password": {password}}); status != 200 || !strings.Contains(page, "waits for approval") {
		t.Fatalf("sign-up = %d, want the waiting page:\n%s", status, page)
	}
	signIn := func() (int, string) {
		b.get("/portal/signin")
		return b.post("/portal/signin", url.Values{"email": {"ana@example.com"}, "password": {password}})
	}
	if status, page := signIn(); status != 403 || !strings.Contains(page, "approval") {
		t.Errorf("sign-in before approval = %d", status)
	}
	resp, body := tp.adminCall("GET", "/admin/developers", tp.adminToken(), "", "")
	var list struct {
		Developers []struct{ ID, Status, Email string } `json:"developers"`
	}
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 || len(list.Developers) != 1 || list.Developers[0].Status != "pending" {
		t.Fatalf("GET /admin/developers = %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "argon2") {
		t.Error("the admin list shows password hashes")
	}
	id := list.Developers[0].ID
	if resp, body := tp.adminCall("POST", "/admin/developers/"+id+"/approve", tp.adminToken(), "", ""); resp.StatusCode != 200 || !strings.Contains(string(body), `"active"`) {
		t.Fatalf("approve = %d %s", resp.StatusCode, body)
	}
	if status, page := signIn(); status != 200 || !strings.Contains(page, "My first app") {
		t.Errorf("sign-in after approval = %d, want the apps page with the first app", status)
	}
	if resp, _ := tp.adminCall("POST", "/admin/developers/"+id+"/suspend", tp.adminToken(), "", ""); resp.StatusCode != 200 {
		t.Fatalf("suspend = %d", resp.StatusCode)
	}
	if _, page := b.get("/portal/apps"); !strings.Contains(page, `action="/portal/signin"`) {
		t.Error("a suspended developer's session still works")
	}
	if resp, body := tp.adminCall("POST", "/admin/developers/dev_nope/approve", tp.adminToken(), "", ""); resp.StatusCode != 404 || !strings.Contains(string(body), `"resource_not_found"`) {
		t.Errorf("approve an unknown developer = %d %s", resp.StatusCode, body)
	}
}

var (
	productionIDOnPage = regexp.MustCompile(`id="client-production">([^<]+)<`)
	subscriptionOnPage = regexp.MustCompile(`action="/portal/subscriptions/(sub_[^/"]+)/plan"`)
)

// TestPortalPurchase buys a live API from the portal: the first
// subscription creates the app's production credentials (secret shown
// once) and the app calls the live API with them; each credential stays on
// its side (environment_mismatch); an upgrade that needs approval keeps the
// plan in force; cancelling cuts the app off; every step is an order.
func TestPortalPurchase(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	if resp, body := tp.adminCall("PATCH", "/admin/apis/sim-swap", tp.adminToken(), "application/json", `{"status":"live"}`); resp.StatusCode != 200 {
		t.Fatalf("making sim-swap live = %d %s", resp.StatusCode, body)
	}
	b := newBrowser(t, tp)
	appID, sandboxID, sandboxSecret := b.signUp("Ana", "ana@example.com", "correct horse battery")
	call := func(id, secret string) (int, string) {
		t.Helper()
		tok := tp.token(client{ID: id, Secret: secret}, "sim-swap:check")
		resp, body := tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Token: tok,
			Body: `{"phoneNumber":"+34600000001","maxAge":240}`})
		return resp.StatusCode, string(body)
	}
	if status, body := call(sandboxID, sandboxSecret); status != 403 || !strings.Contains(body, "environment_mismatch") {
		t.Errorf("sandbox credentials on a live API = %d %s, want 403 environment_mismatch", status, body)
	}

	// The plans page offers the live API to the signed-in developer.
	if _, page := b.get("/portal/plans"); !strings.Contains(page, `<option value="sim-swap">`) || !strings.Contains(page, `action="/portal/subscriptions"`) {
		t.Fatalf("the plans page lacks the subscribe form with sim-swap:\n%s", page)
	}
	if strings.Contains(b.last, `<option value="sandbox">`) {
		t.Error("the subscribe form offers the sandbox plan for a live API")
	}
	if status, page := b.post("/portal/subscriptions", url.Values{"app": {appID}, "api": {"sim-swap"}, "plan": {"sandbox"}}); status != 400 || !strings.Contains(page, "free plan of the sandbox") {
		t.Errorf("subscribing a live API on the sandbox plan = %d", status)
	}
	b.get("/portal/plans")
	status, page := b.post("/portal/subscriptions", url.Values{"app": {appID}, "api": {"sim-swap"}, "plan": {"starter"}})
	prodID, secret := productionIDOnPage.FindStringSubmatch(page), secretOnPage.FindStringSubmatch(page)
	if status != 201 || prodID == nil || secret == nil || secret[1] != "production" {
		t.Fatalf("subscribe = %d, want the app with its new production credentials:\n%s", status, page)
	}
	if status, body := call(prodID[1], secret[2]); status != 200 {
		t.Errorf("production credentials on the live API = %d %s", status, body)
	}
	if status, body := call(prodID[1], secret[2]); status != 200 {
		t.Errorf("second call = %d %s", status, body)
	}
	if _, page := b.get("/portal/apps/" + appID); strings.Contains(page, secret[2]) {
		t.Error("the app page shows the production secret again")
	}

	// An upgrade that needs approval keeps the plan in force.
	sub := subscriptionOnPage.FindStringSubmatch(b.last)
	if sub == nil {
		t.Fatalf("the app page lacks the subscription's plan form:\n%s", b.last)
	}
	if status, page := b.post("/portal/subscriptions/"+sub[1]+"/plan", url.Values{"plan": {"business"}}); status != 200 || !strings.Contains(page, "waits for the operator") {
		t.Errorf("upgrade to business = %d:\n%s", status, page)
	}
	if status, body := call(prodID[1], secret[2]); status != 200 {
		t.Errorf("a call while the upgrade waits = %d %s, want 200 on the plan in force", status, body)
	}

	// Try-it on the live API (once the operator opens it) calls with the
	// app's production credentials.
	if resp, body := tp.adminCall("PATCH", "/admin/apis/sim-swap", tp.adminToken(), "application/json", `{"try_live": true}`); resp.StatusCode != 200 {
		t.Fatalf("try_live = %d %s", resp.StatusCode, body)
	}
	b.get("/portal/apis/sim-swap/try/checkSimSwap")
	if status, page := b.post("/portal/apis/sim-swap/try/checkSimSwap", url.Values{"scope": {"sim-swap:check"},
		"body": {`{"phoneNumber": "+34600000001", "maxAge": 240}`}}); status != 200 || !strings.Contains(page, `id="result"`) || !strings.Contains(page, "200 OK") || !strings.Contains(page, prodID[1]) {
		t.Errorf("try-it on the live API = %d:\n%s", status, page)
	}

	// Cancel: the next call is refused.
	if status, _ := b.post("/portal/subscriptions/"+sub[1]+"/cancel", url.Values{}); status != 200 {
		t.Errorf("cancel = %d", status)
	}
	if status, body := call(prodID[1], secret[2]); status != 403 || !strings.Contains(body, "not_subscribed") {
		t.Errorf("a call after cancelling = %d %s, want 403 not_subscribed", status, body)
	}
	_, page = b.get("/portal/apps/" + appID)
	for _, want := range []string{">subscribe<", ">change<", ">cancel<", "superseded", "€49 / month"} {
		if !strings.Contains(page, want) {
			t.Errorf("the app's orders lack %q", want)
		}
	}

	// Production credentials on an API back in the sandbox: refused.
	b.post("/portal/subscriptions", url.Values{"app": {appID}, "api": {"sim-swap"}, "plan": {"starter"}})
	if resp, body := tp.adminCall("PATCH", "/admin/apis/sim-swap", tp.adminToken(), "application/json", `{"status":"sandbox"}`); resp.StatusCode != 200 {
		t.Fatalf("sim-swap back to sandbox = %d %s", resp.StatusCode, body)
	}
	if status, body := call(prodID[1], secret[2]); status != 403 || !strings.Contains(body, "environment_mismatch") {
		t.Errorf("production credentials on a sandbox API = %d %s, want 403 environment_mismatch", status, body)
	}

	// Another organisation cannot touch the subscription.
	eve := newBrowser(t, tp)
	eve.signUp("Eve", "eve@example.com", "correct horse battery")
	if status, _ := eve.post("/portal/subscriptions", url.Values{"app": {appID}, "api": {"sim-swap"}, "plan": {"starter"}}); status != 404 {
		t.Errorf("subscribing another organisation's app = %d, want 404", status)
	}
}

// hrefMatching returns the first link on the page whose href matches re,
// unescaped: a journey step follows what the page offers, as a person
// would, rather than a URL the test knows.
func hrefMatching(t *testing.T, page string, re *regexp.Regexp) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page has no link matching %s:\n%s", re, page)
	}
	return html.UnescapeString(m[1])
}

// TestPortalJourney is the journey over HTTP with no JavaScript,
// with e-mail verification through a real SMTP server: landing → catalog
// → an API → sign up → verify → first sandbox call, within 6 page
// transitions and 12 typed form fields; then compare plans, buy one,
// and call a live API with the production credentials it gave.
func TestPortalJourney(t *testing.T) {
	t.Parallel()
	box := testmail.Start(t)
	tp := newTestPlatform(t, func(c *config.Config) { c.SMTPURL = box.URL() })
	// A live API: the CAMARA SIM Swap document on a backend of its own.
	backend := testhttp.NewRecorder(t)
	imp := testhttp.MustJSON(t, map[string]any{
		"name": "sim-swap-live", "base_path": "/sim-swap-live/v2", "upstream_url": backend.URL, "status": "live",
		"document": string(testcamara.Read(t, "sim-swap.yaml")),
	})
	if resp, body := tp.adminCall("POST", "/admin/apis", tp.adminToken(), "application/json", imp); resp.StatusCode != 201 {
		t.Fatalf("importing the live API: %d %s", resp.StatusCode, body)
	}
	b := newBrowser(t, tp)
	transitions, fields := 0, 0
	// step counts a page transition and checks its status.
	step := func(want int, what string) func(int, string) string {
		return func(status int, page string) string {
			t.Helper()
			transitions++
			if status != want {
				t.Fatalf("step %d (%s) = %d, want %d:\n%s", transitions, what, status, want, page)
			}
			return page
		}
	}

	_, page := b.get("/")
	page = step(200, "catalog")(b.get(hrefMatching(t, page, regexp.MustCompile(`href="(/portal/apis)"`))))
	page = step(200, "API page")(b.get(hrefMatching(t, page, regexp.MustCompile(`href="(/portal/apis/sim-swap)"`))))
	page = step(200, "sign-up page")(b.get(hrefMatching(t, page, regexp.MustCompile(`href="(/portal/signup\?next=[^"]+)"`))))
	next := regexp.MustCompile(`name="next" value="([^"]+)"`).FindStringSubmatch(page)
	form := url.Values{"name": {"Ana Lima"}, "email": {"ana@example.com"}, "password": {"correct horse battery"}}
	fields += len(form)
	if next != nil {
		form.Set("next", html.UnescapeString(next[1]))
	}
	page = step(200, "sign-up")(b.post("/portal/signup", form))
	if !strings.Contains(page, "Check your e-mail") {
		t.Fatalf("sign-up did not ask to check the e-mail:\n%s", page)
	}
	page = step(201, "verification link")(b.get(mailedLink(t, box, tp, "ana@example.com")))
	secret := secretOnPage.FindStringSubmatch(page)
	if secret == nil || !strings.Contains(page, "Your first sandbox call") {
		t.Fatalf("the verification link's page lacks the secret or the first call:\n%s", page)
	}
	quick := regexp.MustCompile(`(?s)<section class="quick-try".*?<form method="post" action="([^"#]+)[^"]*">(.*?)</form>`).FindStringSubmatch(page)
	if quick == nil {
		t.Fatalf("no quick-try form:\n%s", page)
	}
	sent := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(quick[2], -1) {
		sent.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	page = step(200, "first sandbox call")(b.post(html.UnescapeString(quick[1]), sent))
	if !strings.Contains(page, `id="result"`) || !strings.Contains(page, "200 OK") || !strings.Contains(page, "<dt>X-Correlator</dt>") {
		t.Fatalf("the first sandbox call's result:\n%s", page)
	}
	if transitions > 6 || fields > 12 {
		t.Errorf("landing to the first sandbox call took %d page transitions and %d form fields; the budget is 6 and 12", transitions, fields)
	}
	t.Logf("landing to the first sandbox call: %d page transitions, %d typed form fields", transitions, fields)

	// Compare plans and buy one for the live API.
	page = step(200, "plans")(b.get(hrefMatching(t, page, regexp.MustCompile(`href="(/portal/plans)"`))))
	appID := regexp.MustCompile(`<option value="(app_[^"]+)">`).FindStringSubmatch(page)
	if appID == nil || !strings.Contains(page, `<option value="sim-swap-live">`) {
		t.Fatalf("the plans page offers no app or no live API:\n%s", page)
	}
	page = step(201, "subscribe")(b.post("/portal/subscriptions", url.Values{"api": {"sim-swap-live"}, "app": {appID[1]}, "plan": {"starter"}}))
	prodID, prodSecret := productionIDOnPage.FindStringSubmatch(page), secretOnPage.FindStringSubmatch(page)
	if prodID == nil || prodSecret == nil {
		t.Fatalf("the purchase's answer lacks the production credentials:\n%s", page)
	}
	tok := tp.token(client{ID: prodID[1], Secret: prodSecret[2]}, "sim-swap:check")
	resp, body := tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap-live/v2/check", Token: tok,
		Body: `{"phoneNumber":"+34600000001","maxAge":240}`})
	if resp.StatusCode != 200 || len(backend.Take()) != 1 {
		t.Errorf("the app's call to the live API with its new plan = %d %s", resp.StatusCode, body)
	}
}

// TestPortalApps: creating an app with the form's options (grant types,
// redirect URIs, a JWKS for private_key_jwt), a client rule's refusal
// shown on the form, and deleting an app with its credentials.
func TestPortalApps(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	b := newBrowser(t, tp)
	b.signUp("Ana", "ana@example.com", "correct horse battery")
	b.get("/portal/apps")
	status, page := b.post("/portal/apps", url.Values{"name": {"Web shop"},
		"grant_types":   {"client_credentials", "authorization_code"},
		"redirect_uris": {"https://shop.example/callback"}})
	if status != 201 || !secretOnPage.MatchString(page) || !strings.Contains(page, "Web shop") {
		t.Fatalf("create an app = %d:\n%s", status, page)
	}
	id := clientIDOnPage.FindStringSubmatch(page)[1]
	c, err := tp.parts.Clients.Get(context.Background(), id)
	if err != nil || !slices.Contains(c.GrantTypes, "authorization_code") || !slices.Equal(c.RedirectURIs, []string{"https://shop.example/callback"}) || c.Environment != "sandbox" || c.AppID == "" {
		t.Errorf("the new app's credential = %+v, %v", c, err)
	}

	// A redirect URI the client rules refuse comes back on the form.
	b.get("/portal/apps")
	if status, page := b.post("/portal/apps", url.Values{"name": {"Bad"}, "grant_types": {"authorization_code"},
		"redirect_uris": {"https://shop.example/cb#fragment"}}); status != 400 || !strings.Contains(page, "redirect") || !strings.Contains(page, `role="alert"`) {
		t.Errorf("an app with a bad redirect URI = %d:\n%s", status, page)
	}
	// A JWKS makes the credential private_key_jwt: no secret to show.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	status, page = b.post("/portal/apps", url.Values{"name": {"Signed"}, "jwks": {string(jwks)}})
	if status != 201 || secretOnPage.MatchString(page) || !strings.Contains(page, "private_key_jwt") {
		t.Errorf("an app with a JWKS = %d (secret shown: %v):\n%s", status, secretOnPage.MatchString(page), page)
	}

	// Delete: the app and its credentials go.
	app := appLink.FindStringSubmatch(page)[1]
	if status, page := b.post("/portal/apps/"+app+"/delete", url.Values{}); status != 200 || strings.Contains(page, ">Signed<") {
		t.Errorf("delete = %d; the apps page still lists it:\n%s", status, page)
	}
	if status, _ := b.get("/portal/apps/" + app); status != 404 {
		t.Errorf("the deleted app's page = %d, want 404", status)
	}
}
