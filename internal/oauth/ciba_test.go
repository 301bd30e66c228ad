package oauth

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"gatehouse/internal/testhttp"
)

// TestCIBAPollMode drives CIBA poll mode through every answer the sandbox
// subscriber can give, then refresh-token rotation and reuse detection on
// the tokens it issued. That the token reaches the gateway as the
// subscriber's line is cmd/gatehouse's TestThreeLeggedTokensAtGateway.
func TestCIBAPollMode(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	c := e.createClient("ciba app", "grant_types", "urn:openid:params:grant-type:ciba refresh_token",
		"scopes", "openid phone offline_access number-verification:verify number-verification:device-phone-number:read")
	bc := func(hint string, extra ...string) (int, map[string]any) {
		form := url.Values{"scope": {"openid phone offline_access number-verification:device-phone-number:read"}, "login_hint": {hint}}
		for i := 0; i+1 < len(extra); i += 2 {
			form.Set(extra[i], extra[i+1])
		}
		resp := e.postForm(PathBCAuthorize, form, c.ID, c.Secret)
		var body map[string]any
		testhttp.DecodeJSON(t, resp, &body)
		return resp.StatusCode, body
	}
	poll := func(id string) (int, map[string]any) {
		return e.tokenForm(c, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}})
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
	provider, err := oidc.NewProvider(t.Context(), e.ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID, Now: e.clock.Now}).Verify(t.Context(), tokens["id_token"].(string))
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

	// Userinfo gives the phone number under the phone scope.
	resp := e.bearerGet(PathUserinfo, tokens["access_token"].(string))
	var ui map[string]any
	testhttp.DecodeJSON(t, resp, &ui)
	if ui["sub"] != idt.Subject || ui["phone_number"] != "+34600000001" || ui["phone_number_verified"] != true {
		t.Errorf("userinfo = %v", ui)
	}

	// Refresh rotates; reusing the old refresh token revokes the family.
	rt1 := tokens["refresh_token"].(string)
	status, refreshed := e.tokenForm(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if status != 200 || refreshed["refresh_token"] == nil || refreshed["refresh_token"] == rt1 {
		t.Fatalf("refresh: %d %v", status, refreshed)
	}
	if got := e.introspect(c, refreshed["access_token"].(string))["active"]; got != true {
		t.Fatalf("refreshed access token inactive")
	}
	status, body = e.tokenForm(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}})
	if status != 400 || body["cause"] != "refresh_token_reused" {
		t.Fatalf("reuse: %d %v; want invalid_grant refresh_token_reused", status, body)
	}
	for name, tok := range map[string]string{"first": tokens["access_token"].(string), "refreshed": refreshed["access_token"].(string)} {
		if got := e.introspect(c, tok)["active"]; got != false {
			t.Errorf("after reuse the %s access token of the family is still active", name)
		}
	}
	status, body = e.tokenForm(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshed["refresh_token"].(string)}})
	if status != 400 || body["cause"] != "refresh_token_revoked" {
		t.Errorf("the family's latest refresh token after reuse: %d %v; want refresh_token_revoked", status, body)
	}

	// Revoking a refresh token (RFC 7009) revokes its family and the
	// family's access tokens.
	_, body = bc("tel:+34600000001")
	_, fresh := poll(body["auth_req_id"].(string))
	resp = e.postForm(PathRevoke, url.Values{"token": {fresh["refresh_token"].(string)}, "token_type_hint": {"refresh_token"}}, c.ID, c.Secret)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoking a refresh token: %d", resp.StatusCode)
	}
	if status, body := e.tokenForm(c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh["refresh_token"].(string)}}); status != 400 || body["cause"] != "refresh_token_revoked" {
		t.Errorf("refresh after revocation: %d %v; want refresh_token_revoked", status, body)
	}
	if got := e.introspect(c, fresh["access_token"].(string))["active"]; got != false {
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
	e.clock.Advance(1100 * time.Millisecond) // the 1-second request lapses
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
