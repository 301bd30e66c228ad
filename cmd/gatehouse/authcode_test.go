package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/internal/testhttp"
)

// browser is an end user's browser: cookies kept, redirects not followed.
type browser struct {
	t  *testing.T
	hc *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
var formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)

// page fetches a URL and returns the response and body.
func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.hc.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// submit posts the page's first form with its hidden fields plus fields.
func (b *browser) submit(base, page string, fields url.Values) (*http.Response, string) {
	b.t.Helper()
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no form on the page:\n%s", page)
	}
	form := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Set(h[1], html.UnescapeString(h[2]))
	}
	for k, vs := range fields {
		form[k] = vs
	}
	target := html.UnescapeString(m[1])
	if strings.HasPrefix(target, "/") {
		target = base + target
	}
	resp, err := b.hc.PostForm(target, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// authorize runs the browser part of the flow: the authorization URL, the
// login form (password), the consent form (allow), and returns the final
// redirect's query.
func (b *browser) authorize(ts *testServer, authURL, username, password string) url.Values {
	b.t.Helper()
	resp, page := b.get(authURL)
	if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
		b.t.Fatalf("authorize: %d, want the login page:\n%s", resp.StatusCode, page)
	}
	resp, page = b.submit(ts.Issuer, page, url.Values{"action": {"password"}, "username": {username}, "password": {password}})
	for resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
		loc := resp.Header.Get("Location")
		if u, _ := url.Parse(loc); u != nil && u.Query().Has("code") || u.Query().Has("error") {
			return u.Query()
		}
		if strings.HasPrefix(loc, "/") {
			loc = ts.Issuer + loc
		}
		resp, page = b.get(loc)
	}
	if !strings.Contains(page, `value="allow"`) {
		b.t.Fatalf("after login: %d, want the consent page:\n%s", resp.StatusCode, page)
	}
	resp, _ = b.submit(ts.Issuer, page, url.Values{"action": {"allow"}})
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || (resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound) {
		b.t.Fatalf("consent: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return u.Query()
}

// TestAuthorizationCodeWithRealClients: golang.org/x/oauth2 (AuthCodeURL
// with PKCE, Exchange, TokenSource refresh) and go-oidc (ID token, nonce)
// against the real server, the login and consent forms submitted over
// HTTP; then replay, PKCE and redirect errors at the token endpoint, with
// nothing issued.
func TestAuthorizationCodeWithRealClients(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	ctx := context.Background()
	ts.cli("users", "create", "--username", "alice", "--password", "correct-horse-battery", "--phone", "+34600000002")
	const redirect = "http://127.0.0.1:9/callback"
	pub := ts.createClient("spa", "--auth-method", "none", "--grant-types", "authorization_code refresh_token",
		"--redirect-uris", redirect, "--scopes", "openid phone offline_access number-verification:verify")
	rs := ts.createClient("resource server", "--scopes", "gatehouse:introspect")

	provider, err := oidc.NewProvider(ctx, ts.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{
		ClientID: pub.ID, Endpoint: provider.Endpoint(), RedirectURL: redirect,
		Scopes: []string{oidc.ScopeOpenID, "phone", oidc.ScopeOfflineAccess, "number-verification:verify"},
	}
	verifier := oauth2.GenerateVerifier()
	state, nonce := "st-"+randomHex(8), "n-"+randomHex(8)
	q := newBrowser(t).authorize(ts, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), "alice", "correct-horse-battery")
	if q.Get("state") != state || q.Get("iss") != ts.Issuer || q.Get("code") == "" {
		t.Fatalf("redirect query = %v; want code, state %s and iss %s (RFC 9207)", q, state, ts.Issuer)
	}
	code := q.Get("code")

	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("x/oauth2 Exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: pub.ID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc ID token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Errorf("nonce = %q; want %q", idt.Nonce, nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var claims struct {
		AuthTime int64 `json:"auth_time"`
	}
	_ = idt.Claims(&claims)
	if claims.AuthTime == 0 || strings.Contains(idt.Subject, "600000002") {
		t.Errorf("ID token: auth_time %d, sub %q (must be set, and pairwise)", claims.AuthTime, idt.Subject)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("go-oidc UserInfo: %v", err)
	}
	var uic map[string]any
	_ = ui.Claims(&uic)
	if ui.Subject != idt.Subject || uic["phone_number"] != "+34600000002" {
		t.Errorf("userinfo = %v", uic)
	}
	// The token is the user's line at the gateway.
	if resp, body := testhttp.PostJSON(t, ts.Issuer+"/number-verification/v2/verify", tok.AccessToken, `{"phoneNumber":"+34600000002"}`); resp.StatusCode != 200 || body["devicePhoneNumberVerified"] != true {
		t.Errorf("number verification with the user's token: %d %v", resp.StatusCode, body)
	}

	// TokenSource refreshes an expired token and rotates the refresh token.
	old := *tok
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	fresh, err := conf.TokenSource(ctx, &expired).Token()
	if err != nil {
		t.Fatalf("x/oauth2 refresh: %v", err)
	}
	if fresh.AccessToken == old.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == old.RefreshToken {
		t.Errorf("refresh did not rotate: %+v", fresh)
	}

	// Replaying the code: invalid_grant, and what it issued is revoked.
	tokenErr := func(form url.Values) (int, map[string]any) {
		resp := ts.post("/oauth2/token", form, "", "")
		var body map[string]any
		testhttp.DecodeJSON(t, resp, &body)
		if _, issued := body["access_token"]; issued {
			t.Errorf("a token was issued: %v", body)
		}
		return resp.StatusCode, body
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ID}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	if status, body := tokenErr(exchange); status != 400 || body["error"] != "invalid_grant" || body["cause"] != "code_already_used" {
		t.Errorf("replayed code: %d %v", status, body)
	}
	for name, at := range map[string]string{"issued from the code": old.AccessToken, "refreshed": fresh.AccessToken} {
		if got := ts.introspect(rs, at)["active"]; got != false {
			t.Errorf("after the code replay, the access token %s is still active", name)
		}
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token(); err == nil {
		t.Errorf("after the code replay, the refresh token family still works")
	}

	// Token errors of the code grant, each on a fresh code.
	newCode := func(challengeVerifier string) string {
		opts := []oauth2.AuthCodeOption{oidc.Nonce("n")}
		if challengeVerifier != "" {
			opts = append(opts, oauth2.S256ChallengeOption(challengeVerifier))
		}
		q := newBrowser(t).authorize(ts, conf.AuthCodeURL("s", opts...), "alice", "correct-horse-battery")
		if q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
		return q.Get("code")
	}
	other := ts.createClient("other", "--auth-method", "none", "--grant-types", "authorization_code", "--redirect-uris", redirect)
	for _, tc := range []struct {
		name  string
		form  func(code string) url.Values
		cause string
	}{
		{"wrong verifier", func(c string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ID}, "code": {c}, "redirect_uri": {redirect}, "code_verifier": {oauth2.GenerateVerifier()}}
		}, "pkce_verifier_mismatch"},
		{"missing verifier", func(c string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ID}, "code": {c}, "redirect_uri": {redirect}}
		}, "pkce_verifier_missing"},
		{"other redirect_uri", func(c string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ID}, "code": {c}, "redirect_uri": {"http://127.0.0.1:9/other"}, "code_verifier": {verifier}}
		}, "redirect_uri_mismatch"},
		{"another client's code", func(c string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "client_id": {other.ID}, "code": {c}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
		}, "client_mismatch"},
		{"unknown code", func(string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "client_id": {pub.ID}, "code": {"nope"}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
		}, "code_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tokenErr(tc.form(newCode(verifier)))
			if status != 400 || body["error"] != "invalid_grant" || body["cause"] != tc.cause {
				t.Errorf("%d %v; want 400 invalid_grant %s", status, body, tc.cause)
			}
		})
	}
	// PKCE downgrade (RFC 9700 §4.8): a confidential client may skip PKCE,
	// but a verifier sent for a code issued without a challenge is refused.
	conf2 := ts.createClient("web", "--grant-types", "authorization_code", "--redirect-uris", redirect, "--scopes", "openid")
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	cconf := &oauth2.Config{ClientID: conf2.ID, ClientSecret: conf2.Secret, Endpoint: endpoint, RedirectURL: redirect, Scopes: []string{"openid"}}
	q = newBrowser(t).authorize(ts, cconf.AuthCodeURL("s", oidc.Nonce("n")), "alice", "correct-horse-battery")
	if _, err := cconf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isRetrieveError(err, "invalid_grant", "pkce_verifier_mismatch") {
		t.Errorf("verifier without a challenge: %v; want invalid_grant pkce_verifier_mismatch", err)
	}
	// A loopback redirect URI matches on any port (RFC 8252 §7.3).
	portConf := *conf
	portConf.RedirectURL = "http://127.0.0.1:49152/callback"
	q = newBrowser(t).authorize(ts, portConf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n")), "alice", "correct-horse-battery")
	if q.Get("code") == "" {
		t.Errorf("loopback redirect on another port: %v; want a code", q)
	}

	// A public client cannot skip PKCE at the authorization endpoint.
	resp, _ := newBrowser(t).get(conf.AuthCodeURL("s"))
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("iss") != ts.Issuer {
		t.Errorf("public client without PKCE: %d %q; want a redirect with error=invalid_request and iss", resp.StatusCode, resp.Header.Get("Location"))
	}
	var doc map[string]any
	_ = json.Unmarshal([]byte(testhttp.MustJSON(t, discovery(t, ts.Issuer))), &doc)
	if doc["authorization_response_iss_parameter_supported"] != true || testhttp.MustJSON(t, doc["code_challenge_methods_supported"]) != `["S256"]` {
		t.Errorf("discovery: iss parameter %v, PKCE methods %v", doc["authorization_response_iss_parameter_supported"], doc["code_challenge_methods_supported"])
	}
}

// isRetrieveError reports whether err is an oauth2.RetrieveError with the
// given code whose body names the cause.
func isRetrieveError(err error, code, cause string) bool {
	re, ok := err.(*oauth2.RetrieveError)
	return ok && re.ErrorCode == code && strings.Contains(string(re.Body), `"cause":"`+cause+`"`)
}
