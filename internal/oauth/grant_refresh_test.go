package oauth

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/testhttp"
)

// TestRefreshScopeFollowsClient: a refreshed access token gets the original
// grant intersected with what the client may request now and with the
// scopes that still exist (issue 9: after a PATCH removed
// number-verification:verify, the refreshed token still had it). Rotation
// and reuse detection keep working around the refusals. That the gateway
// refuses the refreshed token the removed scope is cmd/gatehouse's
// TestRefreshedScopeAtGateway.
func TestRefreshScopeFollowsClient(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	c := e.createClient("ciba app", "grant_types", "urn:openid:params:grant-type:ciba refresh_token",
		"scopes", "openid offline_access number-verification:verify number-verification:device-phone-number:read sim-swap:check")
	// patchScopes changes the client as PATCH /admin/clients/{id} does.
	patchScopes := func(scopes string) {
		t.Helper()
		list := strings.Fields(scopes)
		if _, err := e.clients.Update(t.Context(), c.ID, ClientSpec{Scopes: &list}); err != nil {
			t.Fatalf("PATCH scopes %q: %v", scopes, err)
		}
	}
	resp := e.postForm(PathBCAuthorize, url.Values{"login_hint": {"tel:+34600000001"},
		"scope": {"openid offline_access number-verification:verify number-verification:device-phone-number:read sim-swap:check"}}, c.ID, c.Secret)
	var bc map[string]any
	testhttp.DecodeJSON(t, resp, &bc)
	status, tokens := e.tokenForm(c, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {fmt.Sprint(bc["auth_req_id"])}})
	if status != http.StatusOK || tokens["refresh_token"] == nil {
		t.Fatalf("CIBA tokens: %d %v", status, tokens)
	}
	refresh := func(rt string, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return e.tokenForm(c, form)
	}

	// The operator removes number-verification:verify from the client.
	patchScopes("openid offline_access number-verification:device-phone-number:read sim-swap:check")
	rt0 := tokens["refresh_token"].(string)
	status, body := refresh(rt0, "")
	if status != http.StatusOK || body["scope"] != "openid offline_access number-verification:device-phone-number:read sim-swap:check" {
		t.Fatalf("refresh after the PATCH: %d %v; want 200 with scope without number-verification:verify", status, body)
	}
	if got := e.introspect(c, body["access_token"].(string))["scope"]; got != body["scope"] {
		t.Errorf("introspected scope %v; want %v", got, body["scope"])
	}
	rt1 := body["refresh_token"].(string)
	// Asking for it explicitly names the cause, and does not rotate.
	status, body = refresh(rt1, "number-verification:verify")
	if status != http.StatusBadRequest || body["error"] != "invalid_scope" || body["cause"] != "scope_no_longer_allowed" {
		t.Errorf("explicit removed scope: %d %v; want invalid_scope scope_no_longer_allowed", status, body)
	}
	status, body = refresh(rt1, "nope:read")
	if status != http.StatusBadRequest || body["cause"] != "scope_exceeds_grant" {
		t.Errorf("scope never granted: %d %v; want invalid_scope scope_exceeds_grant", status, body)
	}

	// The sim-swap API is deleted: its scope exists no more.
	e.apis.deleteAPI("sim-swap")
	status, body = refresh(rt1, "sim-swap:check")
	if status != http.StatusBadRequest || body["error"] != "invalid_scope" || body["cause"] != "scope_no_longer_defined" {
		t.Errorf("explicit scope of a deleted API: %d %v; want invalid_scope scope_no_longer_defined", status, body)
	}
	status, body = refresh(rt1, "")
	if status != http.StatusOK || body["scope"] != "openid offline_access number-verification:device-phone-number:read" {
		t.Fatalf("refresh after the API was deleted: %d %v", status, body)
	}
	rt2 := body["refresh_token"].(string)

	// Reuse detection still holds: rt1 was rotated.
	if status, body := refresh(rt1, ""); status != http.StatusBadRequest || body["cause"] != "refresh_token_reused" {
		t.Fatalf("reusing a rotated refresh token: %d %v; want refresh_token_reused", status, body)
	}
	if status, body := refresh(rt2, ""); status != http.StatusBadRequest || body["cause"] != "refresh_token_revoked" {
		t.Fatalf("the family after reuse: %d %v; want refresh_token_revoked", status, body)
	}

	// A new grant, then nothing but offline_access left for it, then
	// offline_access itself withdrawn.
	patchScopes("openid offline_access number-verification:device-phone-number:read")
	resp = e.postForm(PathBCAuthorize, url.Values{"login_hint": {"tel:+34600000001"},
		"scope": {"openid offline_access number-verification:device-phone-number:read"}}, c.ID, c.Secret)
	testhttp.DecodeJSON(t, resp, &bc)
	_, tokens = e.tokenForm(c, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {fmt.Sprint(bc["auth_req_id"])}})
	rt := fmt.Sprint(tokens["refresh_token"])
	patchScopes("offline_access")
	if status, body := refresh(rt, ""); status != http.StatusBadRequest || body["error"] != "invalid_grant" || body["cause"] != "grant_scopes_withdrawn" {
		t.Errorf("nothing left of the grant: %d %v; want invalid_grant grant_scopes_withdrawn", status, body)
	}
	patchScopes("openid number-verification:device-phone-number:read")
	if status, body := refresh(rt, ""); status != http.StatusBadRequest || body["error"] != "invalid_grant" || body["cause"] != "offline_access_withdrawn" {
		t.Errorf("offline_access removed: %d %v; want invalid_grant offline_access_withdrawn", status, body)
	}
	// Given back, the refresh token works again with the original grant:
	// the refusals above did not rotate or revoke it.
	patchScopes("openid offline_access number-verification:device-phone-number:read")
	if status, body := refresh(rt, ""); status != http.StatusOK || body["scope"] != "openid offline_access number-verification:device-phone-number:read" {
		t.Errorf("refresh after the scopes were given back: %d %v", status, body)
	}
}
