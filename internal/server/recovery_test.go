package server

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"gatehouse/internal/problem"
)

var (
	recoveryCodesOnPage = regexp.MustCompile(`(?s)id="recovery-codes" class="recovery-codes">(.*?)</pre>`)
	recoveryCode        = regexp.MustCompile(`[0-9a-z]{5}-[0-9a-z]{5}`)
	pendingField        = regexp.MustCompile(`name="pending" value="([^"]+)"`)
)

// shownCodes returns the recovery codes a page shows, failing unless it
// shows ten.
func shownCodes(t *testing.T, page string) []string {
	t.Helper()
	m := recoveryCodesOnPage.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page shows no recovery codes:\n%s", page)
	}
	codes := recoveryCode.FindAllString(m[1], -1)
	if len(codes) != 10 {
		t.Fatalf("the page shows %d recovery codes, want 10: %q", len(codes), m[1])
	}
	return codes
}

// postRaw is a form post whose response headers matter.
func (b *browser) postRaw(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	form.Set("csrf", b.csrf)
	resp, err := b.c.PostForm(b.tp.Issuer+path, form)
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
	return resp, b.last
}

// enableTOTP turns two-step sign-in on from the account of a signed-in
// browser and returns the secret and the recovery codes shown.
func (b *browser) enableTOTP() (secret string, codes []string) {
	b.t.Helper()
	b.get("/portal/account/totp")
	m := totpSecretOnPage.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no set-up page:\n%s", b.last)
	}
	secret = strings.ReplaceAll(m[1], " ", "")
	pending := pendingField.FindStringSubmatch(b.last)[1]
	resp, page := b.postRaw("/portal/account/totp", url.Values{"pending": {pending}, "code": {totpCode(b.t, secret, stepNow())}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Two-step sign-in is on") || !strings.Contains(page, "shown once") {
		b.t.Fatalf("turning two-step sign-in on = %d:\n%s", resp.StatusCode, page)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		b.t.Errorf("the page with the recovery codes: Cache-Control %q, want no-store", cc)
	}
	return secret, shownCodes(b.t, page)
}

// codeStep signs in with the password and returns the code step's
// pending sign-in.
func (b *browser) codeStep(email, password string) string {
	b.t.Helper()
	status, page := b.signIn(email, password)
	m := pendingField.FindStringSubmatch(page)
	if status != 200 || m == nil || !strings.Contains(page, "Authentication code or recovery code") {
		b.t.Fatalf("password of an account with two-step sign-in = %d, want the code step naming recovery codes:\n%s", status, page)
	}
	return m[1]
}

// onlyOnce fails unless each code appears in exactly one of the bodies
// the browsers read.
func onlyOnce(t *testing.T, codes []string, browsers ...*browser) {
	t.Helper()
	for _, c := range codes {
		n := 0
		for _, b := range browsers {
			for _, body := range b.bodies {
				if strings.Contains(body, c) {
					n++
				}
			}
		}
		if n != 1 {
			t.Errorf("recovery code %s appeared in %d responses, want exactly 1", c, n)
		}
	}
}

// TestPortalRecoveryCodes: turning two-step sign-in on shows ten recovery
// codes in that answer only; one signs in instead of an authenticator code
// (typed in capitals without the hyphen), once: used again, in another
// sign-in, it is refused with unauthenticated/recovery_code_used and the
// form stays for another code. The account page counts them; new ones take
// the password, void the old ones and are shown once too.
func TestPortalRecoveryCodes(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	const password = "correct horse battery"
	b := newBrowser(t, tp)
	b.signUp("Ana", "ana@example.com", password)
	_, codes := b.enableTOTP()
	if _, page := b.get("/portal/account"); !strings.Contains(page, `Recovery codes: <strong>10</strong> unused`) {
		t.Errorf("the account page does not count 10 recovery codes:\n%s", page)
	}
	if _, page := b.get("/portal/account/totp"); !strings.Contains(page, "You have <strong>10</strong> unused recovery codes") ||
		!strings.Contains(page, "Make new recovery codes") {
		t.Errorf("the two-step page does not count the codes or offer new ones:\n%s", page)
	}

	// Sign out, then in with a recovery code.
	b.post("/portal/signout", url.Values{})
	pending := b.codeStep("ana@example.com", password)
	loose := strings.ToUpper(strings.ReplaceAll(codes[0], "-", ""))
	status, page := b.post("/portal/signin/code", url.Values{"pending": {pending}, "code": {loose}})
	if status != 200 || !strings.Contains(page, "Signed in with a recovery code") || !strings.Contains(page, "<strong>9</strong> recovery codes left") {
		t.Fatalf("sign-in with a recovery code = %d, want 200 with 9 left:\n%s", status, page)
	}
	if !b.signedIn() {
		t.Fatal("the recovery code started no session")
	}
	if _, page := b.get("/portal/account"); !strings.Contains(page, `Recovery codes: <strong>9</strong> unused`) {
		t.Errorf("the account page does not count 9 codes:\n%s", page)
	}

	// The same code in another sign-in: the registry's error, beside the
	// form, which takes another code.
	other := newBrowser(t, tp)
	pending = other.codeStep("ana@example.com", password)
	status, page = other.post("/portal/signin/code", url.Values{"pending": {pending}, "code": {codes[0]}})
	if status != 401 || !shows(page, problem.UnauthenticatedRecoveryCodeUsed) || !strings.Contains(page, "<code>recovery_code_used</code>") ||
		!strings.Contains(page, `/docs/errors#unauthenticated"`) || !strings.Contains(page, `name="pending"`) {
		t.Errorf("a used recovery code = %d, want 401 recovery_code_used on the code step:\n%s", status, page)
	}
	if other.signedIn() {
		t.Error("a used recovery code signed in")
	}
	if status, page := other.post("/portal/signin/code", url.Values{"pending": {pending}, "code": {codes[1]}}); status != 200 ||
		!strings.Contains(page, "<strong>8</strong> recovery codes left") || !other.signedIn() {
		t.Errorf("another code after the used one = %d, want signed in with 8 left:\n%s", status, page)
	}

	// New codes: the password, not the session alone; then the old ones
	// are void and the new ones work.
	b.get("/portal/account/totp")
	if status, page := b.post("/portal/account/totp/recovery", url.Values{"recovery_password": {password}, "csrf": {"forged"}}); status != 403 || !shows(page, problem.AccessDeniedCsrfTokenInvalid) {
		t.Errorf("new codes with a forged CSRF token = %d", status)
	}
	b.get("/portal/account/totp")
	if status, page := b.post("/portal/account/totp/recovery", url.Values{"recovery_password": {"not my password"}}); status != 400 ||
		!strings.Contains(page, `id="e-recovery_password"`) || recoveryCodesOnPage.MatchString(page) {
		t.Errorf("new codes with a wrong password = %d, want 400 beside the password:\n%s", status, page)
	}
	resp, page := b.postRaw("/portal/account/totp/recovery", url.Values{"recovery_password": {password}})
	if resp.StatusCode != 200 || !strings.Contains(page, "New recovery codes") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("new codes = %d (Cache-Control %q):\n%s", resp.StatusCode, resp.Header.Get("Cache-Control"), page)
	}
	fresh := shownCodes(t, page)
	if _, page := b.get("/portal/account"); !strings.Contains(page, `Recovery codes: <strong>10</strong> unused`) {
		t.Errorf("the account page after new codes does not count 10:\n%s", page)
	}
	third := newBrowser(t, tp)
	pending = third.codeStep("ana@example.com", password)
	if status, page := third.post("/portal/signin/code", url.Values{"pending": {pending}, "code": {codes[2]}}); status != 400 || !strings.Contains(page, "not the code") || third.signedIn() {
		t.Errorf("an old, unused code after new ones = %d, want 400:\n%s", status, page)
	}
	if status, page := third.post("/portal/signin/code", url.Values{"pending": {pending}, "code": {fresh[4]}}); status != 200 || !third.signedIn() {
		t.Errorf("a new code = %d, want signed in:\n%s", status, page)
	}
	onlyOnce(t, append(codes, fresh...), b, other, third)
}

// TestPortalRecoveryCodesLow: with three codes or fewer left the sign-in
// and the account page say so; failed recovery codes count against the
// account's code throttle like failed authenticator codes.
func TestPortalRecoveryCodesLow(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	const password = "correct horse battery"
	b := newBrowser(t, tp)
	b.signUp("Bo", "bo@example.com", password)
	_, codes := b.enableTOTP() // one attempt
	b.post("/portal/signout", url.Values{})
	pending := b.codeStep("bo@example.com", password)
	var page string
	for _, c := range codes[:7] { // seven attempts
		var status int
		if status, page = b.post("/portal/signin/code", url.Values{"pending": {pending}, "code": {c}}); status != 200 {
			t.Fatalf("recovery code %s = %d:\n%s", c, status, page)
		}
	}
	if !strings.Contains(page, "<strong>3</strong> recovery codes left: make new ones soon") || !strings.Contains(page, `class="alert"`) {
		t.Errorf("the sign-in with 3 codes left does not warn:\n%s", page)
	}
	if _, page := b.get("/portal/account"); !strings.Contains(page, "Only <strong>3</strong> recovery codes left") {
		t.Errorf("the account page with 3 codes left does not warn:\n%s", page)
	}
	// The account's code throttle allows 10 attempts at once: the ninth
	// and tenth fail, and a later one is refused with 429 before any
	// check (a refill every 10 s may allow one more on a slow machine).
	other := newBrowser(t, tp)
	pending = other.codeStep("bo@example.com", password)
	throttled := false
	for i := 0; i < 20 && !throttled; i++ {
		status, page := other.post("/portal/signin/code", url.Values{"pending": {pending}, "code": {"zzzzz-zzzzz"}})
		switch status {
		case http.StatusTooManyRequests:
			throttled = strings.Contains(page, "Too many codes tried")
		case http.StatusBadRequest:
		default:
			t.Fatalf("a wrong recovery code = %d:\n%s", status, page)
		}
	}
	if !throttled {
		t.Error("20 wrong recovery codes in a row were never throttled")
	}
	if other.signedIn() {
		t.Error("wrong recovery codes signed in")
	}
}
