package oauth

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestUnknownScopesRefused: a client can no longer be registered, or given
// by update, a scope that neither the platform nor any API defines (issue
// 9). ClientManager, which the CLI and the admin API share, refuses it as
// bad_request/unknown_scope on the field scopes, with a message that lists
// the known scopes and names the escape, AllowUnknownScopes
// (--allow-unknown-scopes, allow_unknown_scopes), for an API imported
// later. Scopes a client already holds stay editable after their API is
// deleted. How the CLI and the admin API show the refusal is cmd/gatehouse's
// TestUnknownScopesAcrossChannels.
func TestUnknownScopesRefused(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	ctx := t.Context()
	spec := func(name, scopes string, allowUnknown bool) ClientSpec {
		list := strings.Fields(scopes)
		return ClientSpec{Name: &name, Scopes: &list, AllowUnknownScopes: allowUnknown}
	}

	// Create, as `gatehouse clients create` calls it: the message the CLI
	// prints.
	_, err := e.clients.Create(ctx, spec("typo", "sim-swap:check sim-swap:chek", false))
	p := problemOf(err)
	if p == nil {
		t.Fatalf("create with sim-swap:chek: %v; want a refusal", err)
	}
	for _, want := range []string{"sim-swap:chek", "sim-swap:check", "number-verification:verify", "openid", "offline_access", "phone", "gatehouse:introspect", "--allow-unknown-scopes"} {
		if !strings.Contains(p.Message(), want) {
			t.Errorf("create error %q does not name %s", p.Message(), want)
		}
	}
	later, err := e.clients.Create(ctx, spec("early bird", "sim-swap:check future-api:read", true))
	if err != nil {
		t.Fatalf("create with AllowUnknownScopes: %v", err)
	}
	c := e.createClient("app", "scopes", "sim-swap:check")
	if _, err := e.clients.Update(ctx, c.ID, spec("app", "sim-swap:check nope:read", false)); err == nil || !strings.Contains(err.Error(), "nope:read") {
		t.Errorf("update adding nope:read: err = %v; want a refusal naming it", err)
	}
	if _, err := e.clients.Update(ctx, c.ID, spec("app", "sim-swap:check nope:read", true)); err != nil {
		t.Errorf("update with AllowUnknownScopes: %v", err)
	}

	// As POST /admin/clients calls it: the problem the admin API renders.
	_, err = e.clients.Create(ctx, spec("x", "sim-swap:check made-up", false))
	if p := problemOf(err); p == nil || p.Status() != 400 || p.Entry.Key != "bad_request" || p.CauseID != "unknown_scope" ||
		p.Extra["field"] != "scopes" || !strings.Contains(p.Message(), "location-verification:verify") {
		t.Errorf("unknown scope problem: %v; want 400 bad_request/unknown_scope, field scopes and the known scopes listed", err)
	}
	if _, err := e.clients.Create(ctx, spec("x", "made-up", true)); err != nil {
		t.Errorf("create with allow_unknown_scopes: %v", err)
	}
	_, err = e.clients.Update(ctx, c.ID, ClientSpec{Scopes: &[]string{"made-up"}})
	if p := problemOf(err); p == nil || p.Status() != 400 || p.Entry.Key != "bad_request" || p.CauseID != "unknown_scope" {
		t.Errorf("update adding an unknown scope: %v; want 400 bad_request/unknown_scope", err)
	}

	// Deleting an API does not block editing the clients that hold its
	// scopes, but no client can be given them anew.
	e.apis.deleteAPI("sim-swap")
	if _, err := e.clients.Update(ctx, later.ClientID, spec("renamed", "sim-swap:check future-api:read openid", false)); err != nil {
		t.Errorf("update keeping held scopes after their API was deleted: %v", err)
	}
	if _, err := e.clients.Create(ctx, spec("late", "sim-swap:check", false)); err == nil {
		t.Error("a new client got sim-swap:check after the sim-swap API was deleted")
	}
}

// TestSecretRotation: after rotate-secret both secrets work during the
// grace period, then only the new one.
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	e.otherNode.SecretGrace = 2 * time.Second // the CLI's, as secret_rotation_grace sets it
	c := e.createClient("rotating")
	v, err := e.otherNode.RotateSecret(t.Context(), c.ID)
	if err != nil || v.ClientSecret == "" || v.ClientSecret == c.Secret {
		t.Fatalf("rotate-secret: %+v %v", v, err)
	}
	rotated := testClient{ID: c.ID, Secret: v.ClientSecret}
	status := func(cl testClient) int {
		resp := e.postForm(PathToken, url.Values{"grant_type": {"client_credentials"}}, cl.ID, cl.Secret)
		resp.Body.Close()
		return resp.StatusCode
	}
	e.afterCacheTTL("the new secret to work", func() bool { return status(rotated) == 200 })
	if got := status(c); got != 200 {
		t.Errorf("old secret within the grace period: %d; want 200", got)
	}
	e.afterCacheTTL("the old secret to stop working after the grace period", func() bool { return status(c) == 401 })
	if got := status(rotated); got != 200 {
		t.Errorf("new secret after the grace period: %d; want 200", got)
	}
}
