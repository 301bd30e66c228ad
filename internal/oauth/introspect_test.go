package oauth

import (
	"net/url"
	"testing"

	"gatehouse/internal/store"
	"gatehouse/internal/testhttp"
)

// TestIntrospectionAndRevocation covers RFC 7662 and RFC 7009 behaviour.
func TestIntrospectionAndRevocation(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	owner := e.createClient("owner", "scopes", "sim-swap:check")
	other := e.createClient("other")
	resourceServer := e.createClient("resource server", "scopes", "gatehouse:introspect")
	tok := e.token(owner, "")

	active := e.introspect(owner, tok)
	if active["active"] != true || active["client_id"] != owner.ID || active["scope"] != "sim-swap:check" || active["token_type"] != "Bearer" {
		t.Errorf("introspection = %v", active)
	}
	if got := e.introspect(other, tok)["active"]; got != false {
		t.Errorf("another client's introspection: active = %v; want false (it may see only its own tokens)", got)
	}
	if got := e.introspect(resourceServer, tok)["active"]; got != true {
		t.Errorf("resource server (gatehouse:introspect) introspection: active = %v; want true", got)
	}
	// Suspending the token's client deactivates its tokens (RFC 7662 §2.2:
	// the client is no longer authorized); reactivating restores them.
	// Another node (the CLI) writes the store: the server sees it once its
	// cached record expired.
	setStatus := func(status string) {
		t.Helper()
		if _, err := e.otherNode.Update(t.Context(), owner.ID, ClientSpec{Status: &status}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(store.ClientSuspended)
	e.afterCacheTTL("the suspended client's token to introspect inactive", func() bool {
		return testhttp.MustJSON(t, e.introspect(resourceServer, tok)) == `{"active":false}`
	})
	setStatus(store.ClientActive)
	e.afterCacheTTL("the reactivated client's token to introspect active", func() bool {
		return e.introspect(resourceServer, tok)["active"] == true
	})
	for _, junk := range []string{"junk", "a.b.c", tok + "x"} {
		if got := e.introspect(owner, junk); testhttp.MustJSON(t, got) != `{"active":false}` {
			t.Errorf("introspect %q = %v; want exactly {\"active\":false}", junk, got)
		}
	}

	// Introspection needs client authentication.
	resp := e.postForm(PathIntrospect, url.Values{"token": {tok}}, "", "")
	var oe testhttp.OAuthError
	testhttp.DecodeJSON(t, resp, &oe)
	if resp.StatusCode != 401 || oe.Error != "invalid_client" {
		t.Errorf("unauthenticated introspection: %d %+v; want 401 invalid_client", resp.StatusCode, oe)
	}
	resp = e.postForm(PathIntrospect, url.Values{}, owner.ID, owner.Secret)
	testhttp.DecodeJSON(t, resp, &oe)
	if resp.StatusCode != 400 || oe.Error != "invalid_request" || oe.Cause != "missing_parameter" {
		t.Errorf("introspection without token: %d %+v", resp.StatusCode, oe)
	}

	// Only the owner may revoke.
	resp = e.postForm(PathRevoke, url.Values{"token": {tok}}, other.ID, other.Secret)
	testhttp.DecodeJSON(t, resp, &oe)
	if resp.StatusCode != 400 || oe.Error != "unauthorized_client" || oe.Cause != "token_not_owned" {
		t.Errorf("revoking another client's token: %d %+v", resp.StatusCode, oe)
	}
	if got := e.introspect(owner, tok)["active"]; got != true {
		t.Fatalf("a refused revocation deactivated the token")
	}
	resp = e.postForm(PathRevoke, url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}}, owner.ID, owner.Secret)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	// Inactive at once.
	if got := e.introspect(owner, tok); testhttp.MustJSON(t, got) != `{"active":false}` {
		t.Errorf("revoked token introspects %v; want inactive at once", got)
	}
	// Revoking again, or revoking junk, is 200 (RFC 7009 §2.2).
	for _, raw := range []string{tok, "junk"} {
		resp = e.postForm(PathRevoke, url.Values{"token": {raw}}, owner.ID, owner.Secret)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("revoke %q again: %d; want 200", raw, resp.StatusCode)
		}
	}
	resp = e.postForm(PathRevoke, url.Values{"token": {tok}}, "", "")
	testhttp.DecodeJSON(t, resp, &oe)
	if resp.StatusCode != 401 || oe.Error != "invalid_client" {
		t.Errorf("unauthenticated revocation: %d %+v", resp.StatusCode, oe)
	}

	// The revocation is durable: a restarted server still refuses it.
	e.restart()
	if got := e.introspect(owner, tok)["active"]; got != false {
		t.Errorf("after restart the revoked token is active")
	}
}
