package oauth

import (
	"net/url"
	"testing"

	"gatehouse/internal/store"
)

// TestAppDeletionRefusesTokens: the clients that go with a deleted app or
// organisation (the store's cascade, not ClientManager.Delete) stop
// working like a deleted client: their tokens fail verification
// (invalid_token, client_inactive) and they can no longer authenticate.
// The server notices them the way it notices any client change: at once
// on the node that made it, which forgets the app's clients, and
// elsewhere once the cached record expired.
func TestAppDeletionRefusesTokens(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	ctx := t.Context()
	db := e.st.DB
	if err := db.CreateDeveloper(ctx, &store.Developer{ID: "dev", Email: "dev@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateOrganization(ctx, &store.Organization{ID: "org", Name: "Org"}, "dev"); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	clients := map[string]testClient{}
	for _, app := range []string{"app-1", "app-2"} {
		if err := db.CreateApp(ctx, &store.App{ID: app, OrganizationID: "org"}); err != nil {
			t.Fatal(err)
		}
		c := e.createClient(app+" sandbox", "scopes", "sim-swap:check")
		if _, err := db.UpdateClient(ctx, c.ID, func(cl *store.Client) error {
			cl.AppID, cl.Environment = app, store.EnvironmentSandbox
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		clients[app], tokens[app] = c, e.token(c, "")
		if _, p := e.srv.VerifyAccessToken(tokens[app]); p != nil { // cached from here on
			t.Fatalf("%s's token before any deletion: %v", app, p)
		}
	}
	refused := func(app string) bool {
		_, p := e.srv.VerifyAccessToken(tokens[app])
		return p != nil && p.CauseID == "client_inactive"
	}
	cannotAuthenticate := func(app string) {
		t.Helper()
		status, body := e.tokenForm(clients[app], url.Values{"grant_type": {GrantClientCredentials}})
		if status != 401 || body["error"] != "invalid_client" {
			t.Errorf("token request of %s's deleted client: %d %v; want 401 invalid_client", app, status, body)
		}
	}

	// Another node deletes app-1: seen here once the cached record expired.
	if err := db.DeleteApp(ctx, "app-1"); err != nil {
		t.Fatal(err)
	}
	e.afterCacheTTL("the token of a deleted app's client to be refused", func() bool { return refused("app-1") })
	cannotAuthenticate("app-1")
	if refused("app-2") {
		t.Fatal("deleting app-1 refused app-2's token")
	}

	// This node deletes the organisation, and forgets the clients it
	// listed first: refused at once, the clock standing still.
	gone, err := db.ListAppClients(ctx, "app-2")
	if err != nil || len(gone) != 1 {
		t.Fatalf("ListAppClients(app-2) = %v, %v; want its client", gone, err)
	}
	if err := db.DeleteOrganization(ctx, "org"); err != nil {
		t.Fatal(err)
	}
	if refused("app-2") { // the store cannot tell the cache: its caller does
		t.Fatal("the cached client was dropped before ForgetClient; this test no longer shows what forgetting does")
	}
	for _, c := range gone {
		e.srv.ForgetClient(c.ID)
	}
	if !refused("app-2") {
		t.Error("the token of a deleted organisation's client was accepted after ForgetClient")
	}
	cannotAuthenticate("app-2")
}
