package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4/jwt"
)

// tokenForm posts a token request and decodes the answer.
func (ts *testServer) tokenForm(t *testing.T, c client, form url.Values) (int, map[string]any) {
	t.Helper()
	resp := ts.post("/oauth2/token", form, c.ID, c.Secret)
	var body map[string]any
	decode(t, resp, &body)
	return resp.StatusCode, body
}

// TestCIBAPollMode drives CIBA poll mode through every answer the sandbox
// subscriber can give, then refresh-token rotation and reuse detection on
// the tokens it issued.
func TestCIBAPollMode(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.createClient("ciba app", "--grant-types", "urn:openid:params:grant-type:ciba refresh_token",
		"--scopes", "openid phone offline_access number-verification:verify number-verification:device-phone-number:read")
	bc := func(hint string, extra ...string) (int, map[string]any) {
		form := url.Values{"scope": {"openid phone offline_access number-verification:device-phone-number:read"}, "login_hint": {hint}}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		resp := ts.post("/oauth2/bc-authorize", form, c.ID, c.Secret)
		var body map[string]any
		decode(t, resp, &body)
		return resp.StatusCode, body
	}
	poll := func(id string) (int, map[string]any) {
		return ts.tokenForm(t, c, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}})
	}

	// …1: approved at once.
	status, body := bc("tel:+34600000001", "binding_message", "Sign in to Demo")
	if status != 200 || body["auth_req_id"] == nil || body["interval"] != float64(5) || body["expires_in"] != float64(120) {
		t.Fatalf("bc-authorize: %d %v", status, body)
	}
	id := body["auth_req_id"].(string)
	status, tokens := poll(id)
	if status != 200 || tokens["id_token"] == nil || tokens["refresh_token"] == nil {
		t.Fatalf("poll approved: %d %v", status, tokens)
	}
	provider, err := oidc.NewProvider(context.Background(), ts.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(context.Background(), tokens["id_token"].(string))
	if err != nil {
		t.Fatalf("go-oidc rejects the CIBA ID token: %v", err)
	}
	if strings.Contains(idt.Subject, "600000001") {
		t.Errorf("sub %q reveals the phone number; it must be pairwise", idt.Subject)
	}
	if err := idt.VerifyAccessToken(tokens["access_token"].(string)); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	if status, body := poll(id); status != 400 || body["error"] != "invalid_grant" || body["cause"] != "auth_req_id_used" {
		t.Errorf("second poll: %d %v; want invalid_grant auth_req_id_used", status, body)
	}

	// The token reaches the gateway as the subscriber's line.
	req, _ := http.NewRequest(http.MethodGet, ts.Issuer+"/number-verification/v2/device-phone-number", nil)
	req.Header.Set("Authorization", "Bearer "+tokens["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"+34600000001"`) {
		t.Errorf("device-phone-number with the CIBA token: %d %s", resp.StatusCode, b)
	}

	// Userinfo gives the phone number under the phone scope.
	req, _ = http.NewRequest(http.MethodGet, ts.Issuer+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tokens["access_token"].(string))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ui map[string]any
	decode(t, resp, &ui)
	if ui["sub"] != idt.Subject || ui["phone_number"] != "+34600000001" || ui["phone_number_verified"] != true {
		t.Errorf("userinfo = %v", ui)
	}

	// Refresh rotates; reusing the old refresh token revokes the family.
	rt1 := tokens["refresh_token"].(string)
	status, refreshed := ts.tokenForm(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if status != 200 || refreshed["refresh_token"] == nil || refreshed["refresh_token"] == rt1 {
		t.Fatalf("refresh: %d %v", status, refreshed)
	}
	if got := ts.introspect(c, refreshed["access_token"].(string))["active"]; got != true {
		t.Fatalf("refreshed access token inactive")
	}
	status, body = ts.tokenForm(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if status != 400 || body["cause"] != "refresh_token_reused" {
		t.Fatalf("reuse: %d %v; want invalid_grant refresh_token_reused", status, body)
	}
	for name, tok := range map[string]string{"first": tokens["access_token"].(string), "refreshed": refreshed["access_token"].(string)} {
		if got := ts.introspect(c, tok)["active"]; got != false {
			t.Errorf("after reuse the %s access token of the family is still active", name)
		}
	}
	status, body = ts.tokenForm(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshed["refresh_token"].(string)}})
	if status != 400 || body["cause"] != "refresh_token_revoked" {
		t.Errorf("the family's latest refresh token after reuse: %d %v; want refresh_token_revoked", status, body)
	}

	// Revoking a refresh token (RFC 7009) revokes its family and the
	// family's access tokens.
	_, body = bc("tel:+34600000001")
	_, fresh := poll(body["auth_req_id"].(string))
	resp = ts.post("/oauth2/revoke", url.Values{"token": {fresh["refresh_token"].(string)}, "token_type_hint": {"refresh_token"}}, c.ID, c.Secret)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoking a refresh token: %d", resp.StatusCode)
	}
	if status, body := ts.tokenForm(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh["refresh_token"].(string)}}); status != 400 || body["cause"] != "refresh_token_revoked" {
		t.Errorf("refresh after revocation: %d %v; want refresh_token_revoked", status, body)
	}
	if got := ts.introspect(c, fresh["access_token"].(string))["active"]; got != false {
		t.Errorf("the revoked family's access token is still active")
	}

	// …8: pending until the subscriber answers; polling too fast slows down.
	_, body = bc("tel:+34600000008")
	pending := body["auth_req_id"].(string)
	if status, body := poll(pending); status != 400 || body["error"] != "authorization_pending" {
		t.Errorf("first poll of a pending request: %d %v", status, body)
	}
	if status, body := poll(pending); status != 400 || body["error"] != "slow_down" {
		t.Errorf("immediate second poll: %d %v; want slow_down", status, body)
	}

	// …0: denied (400 at the token endpoint, CIBA §11).
	_, body = bc("tel:+34600000000")
	if status, body := poll(body["auth_req_id"].(string)); status != 400 || body["error"] != "access_denied" {
		t.Errorf("denied request: %d %v; want 400 access_denied", status, body)
	}
	// …9: never answered; after its requested expiry, expired_token.
	_, body = bc("tel:+34600000009", "requested_expiry", "1")
	expiring := body["auth_req_id"].(string)
	time.Sleep(1100 * time.Millisecond) // let the 1-second request lapse (behaviour, not timing)
	if status, body := poll(expiring); status != 400 || body["error"] != "expired_token" {
		t.Errorf("expired request: %d %v; want expired_token", status, body)
	}

	// bc-authorize errors.
	for _, tc := range []struct {
		hint  string
		extra []string
		code  string
	}{
		{"tel:+34600000004", nil, "unknown_user_id"},
		{"+34600000001", nil, "invalid_request"},
		{"tel:+34600000001", []string{"binding_message", strings.Repeat("x", 65)}, "invalid_binding_message"},
		{"tel:+34600000001", []string{"scope", "phone"}, "invalid_scope"},
		{"tel:+34600000001", []string{"login_hint_token", "x"}, "invalid_request"},
	} {
		if status, body := bc(tc.hint, tc.extra...); status != 400 || body["error"] != tc.code {
			t.Errorf("bc-authorize %s %v: %d %v; want 400 %s", tc.hint, tc.extra, status, body, tc.code)
		}
	}
	if status, body := poll("unknown"); status != 400 || body["cause"] != "auth_req_id_unknown" {
		t.Errorf("unknown auth_req_id: %d %v", status, body)
	}
}

// TestJWTBearerGrant: a client asserts a subscriber with a JWT signed by
// its registered key (RFC 7523 §2.1) and calls a 3-legged API with the
// token.
func TestJWTBearerGrant(t *testing.T) {
	ts := startServer(t, nil)
	key := newAssertionKey(t)
	c := ts.createClient("bearer app", "--grant-types", "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"--jwks", key.jwks(t), "--scopes", "number-verification:verify")
	tokenURL := ts.Issuer + "/oauth2/token"
	grant := func(a string) (int, map[string]any) {
		return ts.tokenForm(t, c, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {a}})
	}
	assertion := key.assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) { cl.Subject = "tel:+34600000001" })
	status, tok := grant(assertion)
	if status != 200 || tok["access_token"] == nil || tok["refresh_token"] != nil {
		t.Fatalf("jwt-bearer: %d %v", status, tok)
	}
	// The sandbox verifies the number against the token's line.
	for number, want := range map[string]bool{"+34600000001": true, "+34600000002": false} {
		resp, body := call(t, ts.Issuer+"/number-verification/v2/verify", tok["access_token"].(string), `{"phoneNumber":"`+number+`"}`)
		if resp.StatusCode != 200 || body["devicePhoneNumberVerified"] != want {
			t.Errorf("verify %s: %d %v; want %v", number, resp.StatusCode, body, want)
		}
	}
	if status, body := grant(assertion); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("replayed assertion: %d %v", status, body)
	}
	other := newAssertionKey(t)
	for name, a := range map[string]string{
		"unknown subscriber": key.assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) { cl.Subject = "tel:+34600000004" }),
		"not a phone":        key.assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) { cl.Subject = "alice" }),
		"foreign key":        other.assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) { cl.Subject = "tel:+34600000001" }),
		"wrong audience":     key.assertion(t, c.ID, "https://elsewhere/token", func(cl *jwt.Claims) { cl.Subject = "tel:+34600000001" }),
		"issued in the future": key.assertion(t, c.ID, tokenURL, func(cl *jwt.Claims) {
			cl.Subject = "tel:+34600000001"
			cl.IssuedAt = jwt.NewNumericDate(time.Now().Add(2 * time.Minute))
			cl.Expiry = jwt.NewNumericDate(time.Now().Add(3 * time.Minute))
		}),
	} {
		if status, body := grant(a); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v; want 400 invalid_grant", name, status, body)
		}
	}
	var doc map[string]any
	_ = json.Unmarshal([]byte(mustJSON(t, discovery(t, ts.Issuer))), &doc)
	for _, g := range []string{"authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba", "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_credentials"} {
		if !strings.Contains(mustJSON(t, doc["grant_types_supported"]), g) {
			t.Errorf("discovery lacks grant %s", g)
		}
	}
}

// TestDeletedUsersTokensRefused: an access token acting for a subscriber
// stops working at the gateway once the subscriber is deleted.
func TestDeletedUsersTokensRefused(t *testing.T) {
	ts := startServer(t, nil)
	var user struct {
		ID string `json:"id"`
	}
	unmarshalT(t, "users create", []byte(ts.cli("users", "create", "--username", "dora", "--password", "correct horse", "--phone", "+34600000013", "--json")), &user)
	key := newAssertionKey(t)
	c := ts.createClient("bearer app", "--grant-types", "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"--jwks", key.jwks(t), "--scopes", "number-verification:verify")
	status, tok := ts.tokenForm(t, c, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion": {key.assertion(t, c.ID, ts.Issuer+"/oauth2/token", func(cl *jwt.Claims) { cl.Subject = "tel:+34600000013" })}})
	if status != 200 {
		t.Fatalf("jwt-bearer for dora: %d %v", status, tok)
	}
	access, _ := tok["access_token"].(string)
	verify := func() (*http.Response, map[string]any) {
		return call(t, ts.Issuer+"/number-verification/v2/verify", access, `{"phoneNumber":"+34600000013"}`)
	}
	if resp, body := verify(); resp.StatusCode != 200 {
		t.Fatalf("before the deletion: %d %v", resp.StatusCode, body)
	}
	// Deleted by the CLI, another process: seen within the cache's second.
	ts.cli("users", "delete", user.ID)
	eventually(t, 3*time.Second, "the deleted user's token to be refused", func() bool {
		resp, _ := verify()
		return resp.StatusCode == http.StatusUnauthorized
	})
	resp, body := verify()
	cause, _ := body["cause"].(map[string]any)
	if body["code"] != "UNAUTHENTICATED" || cause["id"] != "user_deleted" || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("deleted user's token: %d %v (WWW-Authenticate %q); want UNAUTHENTICATED user_deleted", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
}
