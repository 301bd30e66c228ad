package oauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/testhttp"
)

// TestDeletedUsersTokensRefused: an access token acting for a subscriber
// stops verifying once the subscriber is deleted (invalid_token,
// user_deleted), here at the UserInfo endpoint. The same refusal at the
// gateway, with the deletion made by the CLI, is cmd/gatehouse's
// TestDeletedUsersTokensRefused.
func TestDeletedUsersTokensRefused(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	user, err := e.users.Create(t.Context(), "dora", "correct horse", "+34600000013")
	if err != nil {
		t.Fatal(err)
	}
	key := e.newAssertionKey()
	c := e.createClient("bearer app", "grant_types", "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"jwks", key.JWKS(t), "scopes", "number-verification:verify")
	status, tok := e.tokenForm(c, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion": {key.GrantAssertion(t, c.ID, e.ts.URL+PathToken, "tel:+34600000013", "number-verification:verify", nil)}})
	if status != 200 {
		t.Fatalf("jwt-bearer for dora: %d %v", status, tok)
	}
	access, _ := tok["access_token"].(string)
	if _, p := e.srv.VerifyAccessToken(access); p != nil {
		t.Fatalf("before the deletion: %v", p)
	}
	// Deleted through a UserManager this server does not hear from, as the
	// CLI's: seen once the cached record expired.
	if err := e.users.Delete(t.Context(), user.ID); err != nil {
		t.Fatal(err)
	}
	e.afterCacheTTL("the deleted user's token to be refused", func() bool {
		_, p := e.srv.VerifyAccessToken(access)
		return p != nil && p.CauseID == "user_deleted"
	})
	resp := e.bearerGet(PathUserinfo, access)
	var body map[string]any
	testhttp.DecodeJSON(t, resp, &body)
	cause, _ := body["cause"].(map[string]any)
	if resp.StatusCode != http.StatusUnauthorized || body["code"] != "UNAUTHENTICATED" || cause["id"] != "user_deleted" || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("deleted user's token: %d %v (WWW-Authenticate %q); want UNAUTHENTICATED user_deleted", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
}
