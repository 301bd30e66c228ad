package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testhttp"
)

// tokenForm posts a token request and decodes the answer
// (testhttp.TokenForm).
func (ts *testServer) tokenForm(t *testing.T, c client, form url.Values) (int, map[string]any) {
	t.Helper()
	return testhttp.TokenForm(t, ts.Issuer, c.ID, c.Secret, form)
}

// TestThreeLeggedTokensAtGateway: the tokens of the three-legged grants
// reach the gateway as the subscriber's line: a CIBA token reads the
// device's number, and the sandbox verifies numbers against a JWT bearer
// token. The grants themselves are internal/oauth's TestCIBAPollMode and
// TestJWTBearerGrant.
func TestThreeLeggedTokensAtGateway(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c := ts.createClient("ciba app", "--grant-types", "urn:openid:params:grant-type:ciba refresh_token",
		"--scopes", "openid phone offline_access number-verification:verify number-verification:device-phone-number:read")
	resp := ts.post("/oauth2/bc-authorize", url.Values{"scope": {"openid phone offline_access number-verification:device-phone-number:read"},
		"login_hint": {"tel:+34600000001"}}, c.ID, c.Secret) // …1: approved at once
	var bc map[string]any
	testhttp.DecodeJSON(t, resp, &bc)
	status, tokens := ts.tokenForm(t, c, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {fmt.Sprint(bc["auth_req_id"])}})
	if status != 200 || tokens["access_token"] == nil {
		t.Fatalf("CIBA tokens: %d %v", status, tokens)
	}
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

	key := testhttp.NewAssertionKey(t, nil)
	jb := ts.createClient("bearer app", "--grant-types", "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"--jwks", key.JWKS(t), "--scopes", "number-verification:verify")
	status, tok := ts.tokenForm(t, jb, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion": {key.GrantAssertion(t, jb.ID, ts.Issuer+"/oauth2/token", "tel:+34600000001", "number-verification:verify", nil)}})
	if status != 200 || tok["access_token"] == nil {
		t.Fatalf("jwt-bearer: %d %v", status, tok)
	}
	for number, want := range map[string]bool{"+34600000001": true, "+34600000002": false} {
		resp, body := testhttp.PostJSON(t, ts.Issuer+"/number-verification/v2/verify", tok["access_token"].(string), `{"phoneNumber":"`+number+`"}`)
		if resp.StatusCode != 200 || body["devicePhoneNumberVerified"] != want {
			t.Errorf("verify %s: %d %v; want %v", number, resp.StatusCode, body, want)
		}
	}
}

// TestDeletedUsersTokensRefused: an access token acting for a subscriber
// stops working at the gateway once the subscriber is deleted.
func TestDeletedUsersTokensRefused(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	var user struct {
		ID string `json:"id"`
	}
	testhttp.Unmarshal(t, "users create", []byte(ts.cli("users", "create", "--username", "dora", "--password", "correct horse", "--phone", "+34600000013", "--json")), &user)
	key := testhttp.NewAssertionKey(t, nil)
	c := ts.createClient("bearer app", "--grant-types", "urn:ietf:params:oauth:grant-type:jwt-bearer",
		"--jwks", key.JWKS(t), "--scopes", "number-verification:verify")
	status, tok := ts.tokenForm(t, c, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion": {key.GrantAssertion(t, c.ID, ts.Issuer+"/oauth2/token", "tel:+34600000013", "number-verification:verify", nil)}})
	if status != 200 {
		t.Fatalf("jwt-bearer for dora: %d %v", status, tok)
	}
	access, _ := tok["access_token"].(string)
	verify := func() (*http.Response, map[string]any) {
		return testhttp.PostJSON(t, ts.Issuer+"/number-verification/v2/verify", access, `{"phoneNumber":"+34600000013"}`)
	}
	if resp, body := verify(); resp.StatusCode != 200 {
		t.Fatalf("before the deletion: %d %v", resp.StatusCode, body)
	}
	// Deleted by the CLI, another process: seen within the cache's second.
	ts.cli("users", "delete", user.ID)
	testhttp.Eventually(t, 3*time.Second, "the deleted user's token to be refused", func() bool {
		resp, _ := verify()
		return resp.StatusCode == http.StatusUnauthorized
	})
	resp, body := verify()
	cause, _ := body["cause"].(map[string]any)
	if body["code"] != "UNAUTHENTICATED" || cause["id"] != "user_deleted" || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("deleted user's token: %d %v (WWW-Authenticate %q); want UNAUTHENTICATED user_deleted", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
}
