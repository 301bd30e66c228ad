package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// The developer portal's accounts: developers, organisations with their
// members and invitations, apps, and the clients that are apps'
// credentials.

// fullDeveloper returns a developer with every field set.
func fullDeveloper(id, email string) *store.Developer {
	return &store.Developer{
		ID:                id,
		Email:             email,
		Name:              "Developer " + id + " — «Ünïcode»",
		PasswordHash:      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + id,
		EmailVerifiedAt:   at(-30),
		Status:            store.DeveloperActive,
		TOTPSecretSealed:  []byte{0x00, 0xff, 0x10, 0x80, 's', 'e', 'a', 'l'},
		SessionsNotBefore: at(-10),
		CreatedAt:         at(0),
		UpdatedAt:         at(1),
	}
}

func fullOrganization(id, name string) *store.Organization {
	return &store.Organization{ID: id, Name: name, CreatedAt: at(0), UpdatedAt: at(1)}
}

func fullInvitation(id, organizationID, email string) *store.Invitation {
	return &store.Invitation{
		ID:             id,
		OrganizationID: organizationID,
		Email:          email,
		Role:           store.RoleDeveloper,
		InvitedBy:      "dev-owner",
		CreatedAt:      at(0),
		ExpiresAt:      at(60 * 24 * 7),
	}
}

func fullApp(id, organizationID string) *store.App {
	return &store.App{ID: id, OrganizationID: organizationID, Name: "App " + id, CreatedAt: at(0), UpdatedAt: at(1)}
}

// appClient returns a client with every field set that is app's
// credential for env.
func appClient(id, app, env string) *store.Client {
	c := fullClient(id)
	c.AppID, c.Environment = app, env
	return c
}

// setupOrganization creates developer dev-owner (owner@example.com) and
// organisation org-1 ("Acme") that it owns.
func setupOrganization(t *testing.T, s store.Store) {
	t.Helper()
	mustCreateDeveloper(t, s, fullDeveloper("dev-owner", "owner@example.com"))
	mustCreateOrganization(t, s, fullOrganization("org-1", "Acme"), "dev-owner")
}

func mustCreateDeveloper(t *testing.T, s store.Store, d *store.Developer) {
	t.Helper()
	if err := s.CreateDeveloper(t.Context(), d); err != nil {
		t.Fatalf("CreateDeveloper(%q): %v", d.ID, err)
	}
}

func mustGetDeveloper(t *testing.T, s store.Store, id string) *store.Developer {
	t.Helper()
	d, err := s.GetDeveloper(t.Context(), id)
	if err != nil {
		t.Fatalf("GetDeveloper(%q): %v", id, err)
	}
	return d
}

func mustListDevelopers(t *testing.T, s store.Store) []*store.Developer {
	t.Helper()
	ds, err := s.ListDevelopers(t.Context())
	if err != nil {
		t.Fatalf("ListDevelopers: %v", err)
	}
	return ds
}

func mustCreateOrganization(t *testing.T, s store.Store, o *store.Organization, owner string) {
	t.Helper()
	if err := s.CreateOrganization(t.Context(), o, owner); err != nil {
		t.Fatalf("CreateOrganization(%q, owner %q): %v", o.ID, owner, err)
	}
}

func mustGetOrganization(t *testing.T, s store.Store, id string) *store.Organization {
	t.Helper()
	o, err := s.GetOrganization(t.Context(), id)
	if err != nil {
		t.Fatalf("GetOrganization(%q): %v", id, err)
	}
	return o
}

func mustListOrganizations(t *testing.T, s store.Store) []*store.Organization {
	t.Helper()
	orgs, err := s.ListOrganizations(t.Context())
	if err != nil {
		t.Fatalf("ListOrganizations: %v", err)
	}
	return orgs
}

func mustAddMember(t *testing.T, s store.Store, m *store.Membership) {
	t.Helper()
	if err := s.AddMember(t.Context(), m); err != nil {
		t.Fatalf("AddMember(%q, %q): %v", m.OrganizationID, m.DeveloperID, err)
	}
}

func mustGetMembership(t *testing.T, s store.Store, organizationID, developerID string) *store.Membership {
	t.Helper()
	m, err := s.GetMembership(t.Context(), organizationID, developerID)
	if err != nil {
		t.Fatalf("GetMembership(%q, %q): %v", organizationID, developerID, err)
	}
	return m
}

func mustListMembers(t *testing.T, s store.Store, organizationID string) []*store.Membership {
	t.Helper()
	ms, err := s.ListMembers(t.Context(), organizationID)
	if err != nil {
		t.Fatalf("ListMembers(%q): %v", organizationID, err)
	}
	return ms
}

func mustListMemberships(t *testing.T, s store.Store, developerID string) []*store.Membership {
	t.Helper()
	ms, err := s.ListMemberships(t.Context(), developerID)
	if err != nil {
		t.Fatalf("ListMemberships(%q): %v", developerID, err)
	}
	return ms
}

func mustCreateInvitation(t *testing.T, s store.Store, inv *store.Invitation) {
	t.Helper()
	if err := s.CreateInvitation(t.Context(), inv); err != nil {
		t.Fatalf("CreateInvitation(%q): %v", inv.ID, err)
	}
}

func mustGetInvitation(t *testing.T, s store.Store, id string) *store.Invitation {
	t.Helper()
	inv, err := s.GetInvitation(t.Context(), id)
	if err != nil {
		t.Fatalf("GetInvitation(%q): %v", id, err)
	}
	return inv
}

func mustListInvitations(t *testing.T, s store.Store, organizationID string) []*store.Invitation {
	t.Helper()
	invs, err := s.ListInvitations(t.Context(), organizationID)
	if err != nil {
		t.Fatalf("ListInvitations(%q): %v", organizationID, err)
	}
	return invs
}

func mustCreateApp(t *testing.T, s store.Store, a *store.App) {
	t.Helper()
	if err := s.CreateApp(t.Context(), a); err != nil {
		t.Fatalf("CreateApp(%q): %v", a.ID, err)
	}
}

func mustGetApp(t *testing.T, s store.Store, id string) *store.App {
	t.Helper()
	a, err := s.GetApp(t.Context(), id)
	if err != nil {
		t.Fatalf("GetApp(%q): %v", id, err)
	}
	return a
}

func mustListApps(t *testing.T, s store.Store, organizationID string) []*store.App {
	t.Helper()
	as, err := s.ListApps(t.Context(), organizationID)
	if err != nil {
		t.Fatalf("ListApps(%q): %v", organizationID, err)
	}
	return as
}

func mustListAppClients(t *testing.T, s store.Store, appID string) []*store.Client {
	t.Helper()
	cs, err := s.ListAppClients(t.Context(), appID)
	if err != nil {
		t.Fatalf("ListAppClients(%q): %v", appID, err)
	}
	return cs
}

func mustRecordClientUse(t *testing.T, s store.Store, ids []string, when time.Time) {
	t.Helper()
	if err := s.RecordClientUse(t.Context(), ids, when); err != nil {
		t.Fatalf("RecordClientUse(%d ids, %v): %v", len(ids), when, err)
	}
}

// checkDeveloper reports every field of got that differs from want under
// the suite's rules.
func checkDeveloper(t *testing.T, got, want *store.Developer) {
	t.Helper()
	if got == nil {
		t.Fatalf("developer %q: got nil", want.ID)
	}
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "Email", got.Email, want.Email)
	checkString(t, "Name", got.Name, want.Name)
	checkString(t, "PasswordHash", got.PasswordHash, want.PasswordHash)
	checkTime(t, "EmailVerifiedAt", got.EmailVerifiedAt, want.EmailVerifiedAt)
	checkString(t, "Status", got.Status, want.Status)
	checkBytes(t, "TOTPSecretSealed", got.TOTPSecretSealed, want.TOTPSecretSealed)
	checkTime(t, "SessionsNotBefore", got.SessionsNotBefore, want.SessionsNotBefore)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func checkOrganization(t *testing.T, got, want *store.Organization) {
	t.Helper()
	if got == nil {
		t.Fatalf("organization %q: got nil", want.ID)
	}
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "Name", got.Name, want.Name)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func checkMembership(t *testing.T, got, want *store.Membership) {
	t.Helper()
	if got == nil {
		t.Fatalf("membership of %q in %q: got nil", want.DeveloperID, want.OrganizationID)
	}
	checkString(t, "OrganizationID", got.OrganizationID, want.OrganizationID)
	checkString(t, "DeveloperID", got.DeveloperID, want.DeveloperID)
	checkString(t, "Role", got.Role, want.Role)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
}

func checkInvitation(t *testing.T, got, want *store.Invitation) {
	t.Helper()
	if got == nil {
		t.Fatalf("invitation %q: got nil", want.ID)
	}
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "OrganizationID", got.OrganizationID, want.OrganizationID)
	checkString(t, "Email", got.Email, want.Email)
	checkString(t, "Role", got.Role, want.Role)
	checkString(t, "InvitedBy", got.InvitedBy, want.InvitedBy)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func checkApp(t *testing.T, got, want *store.App) {
	t.Helper()
	if got == nil {
		t.Fatalf("app %q: got nil", want.ID)
	}
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "OrganizationID", got.OrganizationID, want.OrganizationID)
	checkString(t, "Name", got.Name, want.Name)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

// checkNotFound requires err to wrap store.ErrNotFound and no other
// sentinel.
func checkNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: got %v; want an error wrapping store.ErrNotFound", what, err)
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
		t.Errorf("%s: error %v also wraps another sentinel", what, err)
	}
}

// checkConflict requires err to wrap store.ErrConflict and no other
// sentinel.
func checkConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("%s: got %v; want an error wrapping store.ErrConflict", what, err)
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: error %v also wraps another sentinel", what, err)
	}
}

// keys returns each element's key, for comparing orders.
func keys[T any](vs []T, key func(T) string) []string {
	ks := make([]string, 0, len(vs))
	for _, v := range vs {
		ks = append(ks, key(v))
	}
	return ks
}

func developerEmail(d *store.Developer) string    { return d.Email }
func organizationID(o *store.Organization) string { return o.ID }
func memberID(m *store.Membership) string         { return m.DeveloperID }
func membershipOrg(m *store.Membership) string    { return m.OrganizationID }
func invitationID(inv *store.Invitation) string   { return inv.ID }
func appID(a *store.App) string                   { return a.ID }
func clientID(c *store.Client) string             { return c.ID }

func checkIDOrder(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q; want %q", what, got, want)
	}
}

func testDeveloperRoundTrip(t *testing.T, s store.Store) {
	if ds := mustListDevelopers(t, s); len(ds) != 0 {
		t.Fatalf("ListDevelopers on an empty store: got %d developers; want 0", len(ds))
	}
	want := fullDeveloper("dev-1", "alice@example.com")
	sent := *want
	mustCreateDeveloper(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) || !sent.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreateDeveloper changed explicit timestamps to %v, %v; want %v, %v",
			sent.CreatedAt, sent.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	checkDeveloper(t, mustGetDeveloper(t, s, "dev-1"), want)
	d, err := s.GetDeveloperByEmail(t.Context(), "alice@example.com")
	if err != nil {
		t.Fatalf("GetDeveloperByEmail: %v", err)
	}
	checkDeveloper(t, d, want)
	ds := mustListDevelopers(t, s)
	if len(ds) != 1 {
		t.Fatalf("ListDevelopers: got %d developers; want 1", len(ds))
	}
	checkDeveloper(t, ds[0], want)
}

// testDeveloperDefaults checks the timestamps CreateDeveloper fills and
// the empty values of a developer who has only an ID and an address.
func testDeveloperDefaults(t *testing.T, s store.Store) {
	for _, d := range []*store.Developer{
		{ID: "dev-1", Email: "first@example.com"},
		{ID: "dev-2", Email: "second@example.com", TOTPSecretSealed: []byte{}},
	} {
		before := time.Now()
		if err := s.CreateDeveloper(t.Context(), d); err != nil {
			t.Fatalf("CreateDeveloper(%q): %v", d.ID, err)
		}
		checkNow(t, "CreateDeveloper set CreatedAt", d.CreatedAt, before, time.Now())
		if !d.UpdatedAt.Equal(d.CreatedAt) {
			t.Errorf("CreateDeveloper set UpdatedAt = %v; want CreatedAt %v", d.UpdatedAt, d.CreatedAt)
		}
		got := mustGetDeveloper(t, s, d.ID)
		checkDeveloper(t, got, &store.Developer{ID: d.ID, Email: d.Email, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt})
		if !got.CreatedAt.Equal(d.CreatedAt) {
			t.Errorf("stored CreatedAt = %v; want %v as written back", got.CreatedAt, d.CreatedAt)
		}
	}
}

// testDeveloperEmailCase checks that addresses are stored lower-cased, so
// that an address in any case finds, and takes, one account.
func testDeveloperEmailCase(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := fullDeveloper("dev-1", "Alice.Smith@Example.COM")
	mustCreateDeveloper(t, s, d)
	if d.Email != "alice.smith@example.com" {
		t.Errorf("CreateDeveloper wrote back Email %q; want it lower-cased", d.Email)
	}
	want := fullDeveloper("dev-1", "alice.smith@example.com")
	checkDeveloper(t, mustGetDeveloper(t, s, "dev-1"), want)
	for _, email := range []string{"alice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM", "Alice.Smith@example.com"} {
		got, err := s.GetDeveloperByEmail(ctx, email)
		if err != nil {
			t.Errorf("GetDeveloperByEmail(%q): %v", email, err)
			continue
		}
		checkDeveloper(t, got, want)
	}
	other := fullDeveloper("dev-2", "ALICE.smith@example.com")
	checkConflict(t, "CreateDeveloper with a taken address in another case", s.CreateDeveloper(ctx, other))
	if other.Email != "ALICE.smith@example.com" {
		t.Errorf("a failed CreateDeveloper left Email %q; want the argument as it was", other.Email)
	}
	checkNotFound(t, "GetDeveloper after a refused create", func() error { _, err := s.GetDeveloper(ctx, "dev-2"); return err }())

	// Non-ASCII letters are lowered too (strings.ToLower).
	mustCreateDeveloper(t, s, fullDeveloper("dev-3", "ÅSA@Example.se"))
	got, err := s.GetDeveloperByEmail(ctx, "åsa@example.SE")
	if err != nil {
		t.Fatalf("GetDeveloperByEmail of a non-ASCII address: %v", err)
	}
	checkString(t, "Email", got.Email, "åsa@example.se")
}

func testCreateDeveloperConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullDeveloper("dev-1", "alice@example.com")
	mustCreateDeveloper(t, s, want)
	for _, c := range []struct {
		name string
		dev  *store.Developer
	}{
		{"ID", fullDeveloper("dev-1", "other@example.com")},
		{"e-mail address", fullDeveloper("dev-2", "alice@example.com")},
	} {
		checkConflict(t, "CreateDeveloper with a taken "+c.name, s.CreateDeveloper(ctx, c.dev))
	}
	for _, c := range []struct {
		name string
		dev  *store.Developer
	}{
		{"empty ID", fullDeveloper("", "other@example.com")},
		{"empty e-mail address", fullDeveloper("dev-2", "")},
	} {
		checkNotSentinel(t, "CreateDeveloper with an "+c.name, s.CreateDeveloper(ctx, c.dev))
	}
	checkDeveloper(t, mustGetDeveloper(t, s, "dev-1"), want)
	if ds := mustListDevelopers(t, s); len(ds) != 1 {
		t.Fatalf("ListDevelopers after failed creates = %q; want only alice", keys(ds, developerEmail))
	}
	// IDs are compared byte for byte.
	mustCreateDeveloper(t, s, fullDeveloper("DEV-1", "other@example.com"))
}

func testGetDeveloperNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateDeveloper(t, s, fullDeveloper("dev-1", "alice@example.com"))
	for _, id := range []string{"missing", "", "DEV-1", "alice@example.com"} {
		d, err := s.GetDeveloper(ctx, id)
		checkNotFound(t, fmt.Sprintf("GetDeveloper(%q) = %+v", id, d), err)
	}
	for _, email := range []string{"bob@example.com", "", "alice@example.com ", "alice", "dev-1"} {
		d, err := s.GetDeveloperByEmail(ctx, email)
		checkNotFound(t, fmt.Sprintf("GetDeveloperByEmail(%q) = %+v", email, d), err)
	}
}

func testListDevelopers(t *testing.T, s store.Store) {
	want := map[string]*store.Developer{}
	for i, email := range []string{"carol@x.example", "Zed@x.example", "alice@x.example", "_admin@x.example", "0day@x.example", "ålex@x.example"} {
		d := fullDeveloper(fmt.Sprintf("dev-%d", i), email)
		d.CreatedAt = at(-i) // creation order is not list order
		mustCreateDeveloper(t, s, d)
		want[d.Email] = d // lower-cased
	}
	ds := mustListDevelopers(t, s)
	// Byte order of the lower-cased addresses.
	checkIDOrder(t, "ListDevelopers", keys(ds, developerEmail),
		[]string{"0day@x.example", "_admin@x.example", "alice@x.example", "carol@x.example", "zed@x.example", "ålex@x.example"})
	for _, d := range ds {
		if w, ok := want[d.Email]; ok {
			checkDeveloper(t, d, w)
		}
	}
}

func testUpdateDeveloper(t *testing.T, s store.Store) {
	orig := fullDeveloper("upd", "upd@example.com")
	mustCreateDeveloper(t, s, orig)

	want := fullDeveloper("upd", "new.address@example.com")
	want.Name = ""
	want.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3c2FsdA$changed"
	want.EmailVerifiedAt = time.Time{}
	want.Status = store.DeveloperSuspended
	want.TOTPSecretSealed = nil
	want.SessionsNotBefore = at(90)
	want.CreatedAt = at(-60)

	before := time.Now()
	var called int
	got, err := s.UpdateDeveloper(t.Context(), "upd", func(d *store.Developer) error {
		called++
		checkDeveloper(t, d, orig) // update sees the stored developer
		d.Email = "New.Address@Example.com"
		d.Name = want.Name
		d.PasswordHash = want.PasswordHash
		d.EmailVerifiedAt = want.EmailVerifiedAt
		d.Status = want.Status
		d.TOTPSecretSealed = []byte{}
		d.SessionsNotBefore = want.SessionsNotBefore
		d.CreatedAt = want.CreatedAt
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatalf("UpdateDeveloper: %v", err)
	}
	if called != 1 {
		t.Errorf("update called %d times; want 1", called)
	}
	checkNow(t, "UpdatedAt", got.UpdatedAt, before, after)
	want.UpdatedAt = got.UpdatedAt
	checkDeveloper(t, got, want) // the address lower-cased
	stored := mustGetDeveloper(t, s, "upd")
	checkDeveloper(t, stored, want)
	if !stored.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("stored UpdatedAt = %v; want %v as returned by UpdateDeveloper", stored.UpdatedAt, got.UpdatedAt)
	}
	// The old address is free, the new one finds the developer.
	if _, err := s.GetDeveloperByEmail(t.Context(), "upd@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDeveloperByEmail of the old address: got %v; want store.ErrNotFound", err)
	}
	if d, err := s.GetDeveloperByEmail(t.Context(), "new.address@example.com"); err != nil || d.ID != "upd" {
		t.Errorf("GetDeveloperByEmail of the new address = %+v, %v; want developer upd", d, err)
	}
	mustCreateDeveloper(t, s, fullDeveloper("other", "upd@example.com"))
}

func testUpdateDeveloperErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullDeveloper("kept", "kept@example.com")
	mustCreateDeveloper(t, s, want)
	taken := fullDeveloper("taken", "taken@example.com")
	mustCreateDeveloper(t, s, taken)

	called := false
	_, err := s.UpdateDeveloper(ctx, "missing", func(*store.Developer) error {
		called = true
		return nil
	})
	checkNotFound(t, "UpdateDeveloper(missing)", err)
	if called {
		t.Errorf("UpdateDeveloper(missing) called update")
	}

	errAbort := errors.New("abort the update")
	got, err := s.UpdateDeveloper(ctx, "kept", func(d *store.Developer) error {
		d.Name = "changed"
		d.Status = store.DeveloperSuspended
		return fmt.Errorf("validating: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Errorf("UpdateDeveloper: got %v; want the update function's error", err)
	}
	if got != nil {
		t.Errorf("UpdateDeveloper returned developer %+v with an error", got)
	}

	for _, email := range []string{"taken@example.com", "TAKEN@example.com"} {
		got, err := s.UpdateDeveloper(ctx, "kept", func(d *store.Developer) error {
			d.Email, d.Name = email, "changed"
			return nil
		})
		checkConflict(t, fmt.Sprintf("UpdateDeveloper to the taken address %q", email), err)
		if got != nil {
			t.Errorf("UpdateDeveloper returned developer %+v with an error", got)
		}
	}

	for _, to := range []string{"other", "KEPT", ""} {
		got, err := s.UpdateDeveloper(ctx, "kept", func(d *store.Developer) error {
			d.ID, d.Name = to, "Other"
			return nil
		})
		checkNotSentinel(t, fmt.Sprintf("UpdateDeveloper changing the ID to %q", to), err)
		if got != nil {
			t.Errorf("UpdateDeveloper returned developer %+v with an error", got)
		}
		if _, err := s.GetDeveloper(ctx, to); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetDeveloper(%q) after a refused change of ID: got %v; want store.ErrNotFound", to, err)
		}
	}
	checkDeveloper(t, mustGetDeveloper(t, s, "kept"), want)
	checkDeveloper(t, mustGetDeveloper(t, s, "taken"), taken)
}

func testUpdateDeveloperConcurrent(t *testing.T, s store.Store) {
	mustCreateDeveloper(t, s, &store.Developer{ID: "busy", Email: "busy@example.com"})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateDeveloper(t.Context(), "busy", func(d *store.Developer) error {
				d.Name += "x"
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdateDeveloper: %v", err)
		}
	}
	if d := mustGetDeveloper(t, s, "busy"); d.Name != strings.Repeat("x", n) {
		t.Errorf("after %d concurrent appends, Name = %q; want %d x (lost updates)", n, d.Name, n)
	}
}

// testDeleteDeveloper checks that deleting a developer deletes their
// memberships and nothing of the organisations they belonged to.
func testDeleteDeveloper(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateDeveloper(t, s, fullDeveloper("dev-1", "doomed@example.com"))
	kept := fullDeveloper("dev-2", "kept@example.com")
	mustCreateDeveloper(t, s, kept)
	mustCreateOrganization(t, s, fullOrganization("org-2", "Own"), "dev-1")
	mustAddMember(t, s, &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-1", Role: store.RoleAdmin, CreatedAt: at(2)})
	mustAddMember(t, s, &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-2", Role: store.RoleDeveloper, CreatedAt: at(3)})
	mustCreateApp(t, s, fullApp("app-1", "org-2"))

	if err := s.DeleteDeveloper(ctx, "dev-1"); err != nil {
		t.Fatalf("DeleteDeveloper: %v", err)
	}
	checkNotFound(t, "GetDeveloper after DeleteDeveloper", func() error { _, err := s.GetDeveloper(ctx, "dev-1"); return err }())
	checkNotFound(t, "GetDeveloperByEmail after DeleteDeveloper",
		func() error { _, err := s.GetDeveloperByEmail(ctx, "doomed@example.com"); return err }())
	for _, org := range []string{"org-1", "org-2"} {
		_, err := s.GetMembership(ctx, org, "dev-1")
		checkNotFound(t, fmt.Sprintf("GetMembership(%q) of the deleted developer", org), err)
	}
	if ms := mustListMemberships(t, s, "dev-1"); len(ms) != 0 {
		t.Errorf("ListMemberships of the deleted developer = %q; want none", keys(ms, membershipOrg))
	}
	checkIDOrder(t, "ListMembers(org-1) after DeleteDeveloper", keys(mustListMembers(t, s, "org-1"), memberID), []string{"dev-owner", "dev-2"})
	if ms := mustListMembers(t, s, "org-2"); len(ms) != 0 {
		t.Errorf("ListMembers of the deleted developer's organisation = %q; want none", keys(ms, memberID))
	}
	// The organisations and their apps stay: the store keeps no rule about
	// owners.
	checkOrganization(t, mustGetOrganization(t, s, "org-2"), fullOrganization("org-2", "Own"))
	checkApp(t, mustGetApp(t, s, "app-1"), fullApp("app-1", "org-2"))
	for _, id := range []string{"dev-1", "missing", ""} {
		checkNotFound(t, fmt.Sprintf("DeleteDeveloper(%q) of a missing developer", id), s.DeleteDeveloper(ctx, id))
	}
	checkDeveloper(t, mustGetDeveloper(t, s, "dev-2"), kept)
	// The ID and the address can be used again, and bring no membership back.
	mustCreateDeveloper(t, s, fullDeveloper("dev-1", "doomed@example.com"))
	if ms := mustListMemberships(t, s, "dev-1"); len(ms) != 0 {
		t.Errorf("ListMemberships of a recreated developer = %q; want none", keys(ms, membershipOrg))
	}
}

func testOrganizationRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	if orgs := mustListOrganizations(t, s); len(orgs) != 0 {
		t.Fatalf("ListOrganizations on an empty store: got %d; want 0", len(orgs))
	}
	mustCreateDeveloper(t, s, fullDeveloper("dev-owner", "owner@example.com"))
	want := fullOrganization("org-1", "Acme — Telco «APIs»")
	sent := *want
	mustCreateOrganization(t, s, &sent, "dev-owner")
	if !sent.CreatedAt.Equal(want.CreatedAt) || !sent.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreateOrganization changed explicit timestamps to %v, %v; want %v, %v",
			sent.CreatedAt, sent.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	checkOrganization(t, mustGetOrganization(t, s, "org-1"), want)
	orgs := mustListOrganizations(t, s)
	if len(orgs) != 1 {
		t.Fatalf("ListOrganizations: got %d; want 1", len(orgs))
	}
	checkOrganization(t, orgs[0], want)
	// The owner is the first member, since the organisation's creation.
	owner := &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-owner", Role: store.RoleOwner, CreatedAt: want.CreatedAt}
	checkMembership(t, mustGetMembership(t, s, "org-1", "dev-owner"), owner)
	ms := mustListMembers(t, s, "org-1")
	if len(ms) != 1 {
		t.Fatalf("ListMembers: got %q; want only the owner", keys(ms, memberID))
	}
	checkMembership(t, ms[0], owner)

	// Zero timestamps are the current time, the owner's membership's too.
	o := &store.Organization{ID: "org-2"}
	before := time.Now()
	if err := s.CreateOrganization(ctx, o, "dev-owner"); err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	checkNow(t, "CreateOrganization set CreatedAt", o.CreatedAt, before, time.Now())
	if !o.UpdatedAt.Equal(o.CreatedAt) {
		t.Errorf("CreateOrganization set UpdatedAt = %v; want CreatedAt %v", o.UpdatedAt, o.CreatedAt)
	}
	checkOrganization(t, mustGetOrganization(t, s, "org-2"), &store.Organization{ID: "org-2", CreatedAt: o.CreatedAt, UpdatedAt: o.CreatedAt})
	checkMembership(t, mustGetMembership(t, s, "org-2", "dev-owner"),
		&store.Membership{OrganizationID: "org-2", DeveloperID: "dev-owner", Role: store.RoleOwner, CreatedAt: o.CreatedAt})
}

func testCreateOrganizationErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	want := fullOrganization("org-1", "Acme")

	// Without its owner nothing is stored, and the argument is as it was.
	o := &store.Organization{ID: "org-2", Name: "Orphan"}
	checkNotFound(t, "CreateOrganization with a missing owner", s.CreateOrganization(ctx, o, "missing"))
	if !o.CreatedAt.IsZero() || !o.UpdatedAt.IsZero() {
		t.Errorf("a failed CreateOrganization left timestamps %v, %v; want them zero as they were", o.CreatedAt, o.UpdatedAt)
	}
	checkNotFound(t, "GetOrganization after a failed create", func() error { _, err := s.GetOrganization(ctx, "org-2"); return err }())
	checkNotFound(t, "CreateOrganization with an empty owner", s.CreateOrganization(ctx, fullOrganization("org-2", "x"), ""))

	checkConflict(t, "CreateOrganization with a taken ID", s.CreateOrganization(ctx, fullOrganization("org-1", "Impostor"), "dev-owner"))
	checkNotSentinel(t, "CreateOrganization with an empty ID", s.CreateOrganization(ctx, fullOrganization("", "x"), "dev-owner"))

	checkOrganization(t, mustGetOrganization(t, s, "org-1"), want)
	checkIDOrder(t, "ListOrganizations after failed creates", keys(mustListOrganizations(t, s), organizationID), []string{"org-1"})
	checkIDOrder(t, "ListMemberships of the owner after failed creates", keys(mustListMemberships(t, s, "dev-owner"), membershipOrg), []string{"org-1"})
	// Names need not be unique.
	mustCreateOrganization(t, s, fullOrganization("org-2", "Acme"), "dev-owner")
}

func testListOrganizations(t *testing.T, s store.Store) {
	mustCreateDeveloper(t, s, fullDeveloper("dev-owner", "owner@example.com"))
	for i, o := range []*store.Organization{
		fullOrganization("o-5", "beta"),
		fullOrganization("o-4", "Zeta"),
		fullOrganization("o-3", "alpha"),
		fullOrganization("o-2", "beta"),
		fullOrganization("o-1", ""),
		fullOrganization("o-0", "Ålborg"),
	} {
		o.CreatedAt = at(-i)
		mustCreateOrganization(t, s, o, "dev-owner")
	}
	// By name in byte order, then by ID.
	checkIDOrder(t, "ListOrganizations", keys(mustListOrganizations(t, s), organizationID),
		[]string{"o-1", "o-4", "o-3", "o-2", "o-5", "o-0"})
}

func testUpdateOrganization(t *testing.T, s store.Store) {
	setupOrganization(t, s)
	orig := fullOrganization("org-1", "Acme")
	want := fullOrganization("org-1", "Acme Networks")
	want.CreatedAt = at(-60)
	before := time.Now()
	var called int
	got, err := s.UpdateOrganization(t.Context(), "org-1", func(o *store.Organization) error {
		called++
		checkOrganization(t, o, orig)
		o.Name = want.Name
		o.CreatedAt = want.CreatedAt
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatalf("UpdateOrganization: %v", err)
	}
	if called != 1 {
		t.Errorf("update called %d times; want 1", called)
	}
	checkNow(t, "UpdatedAt", got.UpdatedAt, before, after)
	want.UpdatedAt = got.UpdatedAt
	checkOrganization(t, got, want)
	stored := mustGetOrganization(t, s, "org-1")
	checkOrganization(t, stored, want)
	if !stored.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("stored UpdatedAt = %v; want %v as returned by UpdateOrganization", stored.UpdatedAt, got.UpdatedAt)
	}
	// The members are untouched.
	checkIDOrder(t, "ListMembers after UpdateOrganization", keys(mustListMembers(t, s, "org-1"), memberID), []string{"dev-owner"})
}

func testUpdateOrganizationErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	want := fullOrganization("org-1", "Acme")
	called := false
	_, err := s.UpdateOrganization(ctx, "missing", func(*store.Organization) error {
		called = true
		return nil
	})
	checkNotFound(t, "UpdateOrganization(missing)", err)
	if called {
		t.Errorf("UpdateOrganization(missing) called update")
	}
	errAbort := errors.New("abort the update")
	got, err := s.UpdateOrganization(ctx, "org-1", func(o *store.Organization) error {
		o.Name = "changed"
		return fmt.Errorf("validating: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Errorf("UpdateOrganization: got %v; want the update function's error", err)
	}
	if got != nil {
		t.Errorf("UpdateOrganization returned %+v with an error", got)
	}
	for _, to := range []string{"org-2", "ORG-1", ""} {
		got, err := s.UpdateOrganization(ctx, "org-1", func(o *store.Organization) error {
			o.ID, o.Name = to, "Other"
			return nil
		})
		checkNotSentinel(t, fmt.Sprintf("UpdateOrganization changing the ID to %q", to), err)
		if got != nil {
			t.Errorf("UpdateOrganization returned %+v with an error", got)
		}
	}
	checkOrganization(t, mustGetOrganization(t, s, "org-1"), want)
	checkIDOrder(t, "ListOrganizations after failed updates", keys(mustListOrganizations(t, s), organizationID), []string{"org-1"})
}

func testUpdateOrganizationConcurrent(t *testing.T, s store.Store) {
	mustCreateDeveloper(t, s, fullDeveloper("dev-owner", "owner@example.com"))
	mustCreateOrganization(t, s, &store.Organization{ID: "busy"}, "dev-owner")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateOrganization(t.Context(), "busy", func(o *store.Organization) error {
				o.Name += "x"
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdateOrganization: %v", err)
		}
	}
	if o := mustGetOrganization(t, s, "busy"); o.Name != strings.Repeat("x", n) {
		t.Errorf("after %d concurrent appends, Name = %q; want %d x (lost updates)", n, o.Name, n)
	}
}

func testMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateDeveloper(t, s, fullDeveloper("dev-1", "alice@example.com"))
	mustCreateOrganization(t, s, fullOrganization("org-2", "Other"), "dev-1")

	want := &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-1", Role: store.RoleAdmin, CreatedAt: at(5)}
	sent := *want
	mustAddMember(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("AddMember changed an explicit CreatedAt to %v; want %v", sent.CreatedAt, want.CreatedAt)
	}
	checkMembership(t, mustGetMembership(t, s, "org-1", "dev-1"), want)

	if err := s.SetMemberRole(ctx, "org-1", "dev-1", store.RoleDeveloper); err != nil {
		t.Fatalf("SetMemberRole: %v", err)
	}
	want.Role = store.RoleDeveloper
	checkMembership(t, mustGetMembership(t, s, "org-1", "dev-1"), want)
	// Setting the role it has is no error.
	if err := s.SetMemberRole(ctx, "org-1", "dev-1", store.RoleDeveloper); err != nil {
		t.Errorf("SetMemberRole to the same role: %v", err)
	}
	// Only that membership changed.
	checkMembership(t, mustGetMembership(t, s, "org-2", "dev-1"),
		&store.Membership{OrganizationID: "org-2", DeveloperID: "dev-1", Role: store.RoleOwner, CreatedAt: at(0)})

	checkIDOrder(t, "ListMembers(org-1)", keys(mustListMembers(t, s, "org-1"), memberID), []string{"dev-owner", "dev-1"})
	checkIDOrder(t, "ListMemberships(dev-1)", keys(mustListMemberships(t, s, "dev-1"), membershipOrg), []string{"org-2", "org-1"})

	if err := s.RemoveMember(ctx, "org-1", "dev-1"); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	checkNotFound(t, "GetMembership after RemoveMember", func() error { _, err := s.GetMembership(ctx, "org-1", "dev-1"); return err }())
	checkIDOrder(t, "ListMembers(org-1) after RemoveMember", keys(mustListMembers(t, s, "org-1"), memberID), []string{"dev-owner"})
	checkIDOrder(t, "ListMemberships(dev-1) after RemoveMember", keys(mustListMemberships(t, s, "dev-1"), membershipOrg), []string{"org-2"})
	// The developer and the organisation stay, and the developer may join
	// again.
	mustGetDeveloper(t, s, "dev-1")
	mustGetOrganization(t, s, "org-1")

	// A zero CreatedAt is the current time.
	m := &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-1", Role: store.RoleDeveloper}
	before := time.Now()
	mustAddMember(t, s, m)
	checkNow(t, "AddMember set CreatedAt", m.CreatedAt, before, time.Now())
	checkMembership(t, mustGetMembership(t, s, "org-1", "dev-1"), m)

	// Lists of what does not exist are empty.
	if ms := mustListMembers(t, s, "missing"); len(ms) != 0 {
		t.Errorf("ListMembers(missing) = %q; want none", keys(ms, memberID))
	}
	if ms := mustListMemberships(t, s, "missing"); len(ms) != 0 {
		t.Errorf("ListMemberships(missing) = %q; want none", keys(ms, membershipOrg))
	}
}

func testMemberErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateDeveloper(t, s, fullDeveloper("dev-1", "alice@example.com"))
	want := &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-1", Role: store.RoleDeveloper, CreatedAt: at(5)}
	mustAddMember(t, s, want)

	dup := &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-1", Role: store.RoleOwner, CreatedAt: at(9)}
	checkConflict(t, "AddMember of a member", s.AddMember(ctx, dup))
	if !dup.CreatedAt.Equal(at(9)) {
		t.Errorf("a failed AddMember changed CreatedAt to %v", dup.CreatedAt)
	}
	checkConflict(t, "AddMember of the owner", s.AddMember(ctx, &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-owner", Role: store.RoleDeveloper}))
	for _, m := range []*store.Membership{
		{OrganizationID: "missing", DeveloperID: "dev-1", Role: store.RoleDeveloper},
		{OrganizationID: "org-1", DeveloperID: "missing", Role: store.RoleDeveloper},
		{OrganizationID: "ORG-1", DeveloperID: "dev-1", Role: store.RoleDeveloper},
		{OrganizationID: "", DeveloperID: "", Role: store.RoleDeveloper},
	} {
		checkNotFound(t, fmt.Sprintf("AddMember(%q, %q)", m.OrganizationID, m.DeveloperID), s.AddMember(ctx, m))
	}
	for _, k := range [][2]string{{"org-1", "missing"}, {"missing", "dev-1"}, {"org-1", "DEV-1"}, {"", ""}} {
		_, err := s.GetMembership(ctx, k[0], k[1])
		checkNotFound(t, fmt.Sprintf("GetMembership(%q, %q)", k[0], k[1]), err)
		checkNotFound(t, fmt.Sprintf("SetMemberRole(%q, %q)", k[0], k[1]), s.SetMemberRole(ctx, k[0], k[1], store.RoleAdmin))
		checkNotFound(t, fmt.Sprintf("RemoveMember(%q, %q)", k[0], k[1]), s.RemoveMember(ctx, k[0], k[1]))
	}
	checkMembership(t, mustGetMembership(t, s, "org-1", "dev-1"), want)
	checkIDOrder(t, "ListMembers after failed calls", keys(mustListMembers(t, s, "org-1"), memberID), []string{"dev-owner", "dev-1"})
}

// testListMembersOrder checks oldest-first lists, ties in creation time
// ordered by the other side's ID in byte order.
func testListMembersOrder(t *testing.T, s store.Store) {
	setupOrganization(t, s) // owner member since at(0)
	for _, id := range []string{"d-c", "d-B", "d-a", "d-0"} {
		mustCreateDeveloper(t, s, fullDeveloper(id, id+"@example.com"))
	}
	for _, m := range []*store.Membership{
		{OrganizationID: "org-1", DeveloperID: "d-c", CreatedAt: at(-5)},
		{OrganizationID: "org-1", DeveloperID: "d-B", CreatedAt: at(3)},
		{OrganizationID: "org-1", DeveloperID: "d-a", CreatedAt: at(3)},
		{OrganizationID: "org-1", DeveloperID: "d-0", CreatedAt: at(1)},
	} {
		mustAddMember(t, s, m)
	}
	checkIDOrder(t, "ListMembers", keys(mustListMembers(t, s, "org-1"), memberID), []string{"d-c", "dev-owner", "d-0", "d-B", "d-a"})

	for i, org := range []string{"o-z", "o-Y", "o-x"} {
		o := fullOrganization(org, org)
		o.CreatedAt = at(10 + min(i, 1)) // o-Y and o-x at once
		mustCreateOrganization(t, s, o, "d-0")
	}
	checkIDOrder(t, "ListMemberships", keys(mustListMemberships(t, s, "d-0"), membershipOrg), []string{"org-1", "o-z", "o-Y", "o-x"})
}

func testInvitations(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateOrganization(t, s, fullOrganization("org-2", "Other"), "dev-owner")
	if invs := mustListInvitations(t, s, "org-1"); len(invs) != 0 {
		t.Fatalf("ListInvitations before any: got %d; want 0", len(invs))
	}
	want := fullInvitation("inv-1", "org-1", "bob@example.com")
	sent := *want
	mustCreateInvitation(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("CreateInvitation changed an explicit CreatedAt to %v; want %v", sent.CreatedAt, want.CreatedAt)
	}
	checkInvitation(t, mustGetInvitation(t, s, "inv-1"), want)

	// Addresses are stored lower-cased; a zero CreatedAt is now, a zero
	// ExpiresAt stays zero.
	inv := &store.Invitation{ID: "inv-2", OrganizationID: "org-1", Email: "Carol@Example.COM", Role: store.RoleAdmin}
	before := time.Now()
	mustCreateInvitation(t, s, inv)
	checkNow(t, "CreateInvitation set CreatedAt", inv.CreatedAt, before, time.Now())
	checkString(t, "Email written back", inv.Email, "carol@example.com")
	checkInvitation(t, mustGetInvitation(t, s, "inv-2"), inv)

	// The same address may be invited to another organisation.
	mustCreateInvitation(t, s, fullInvitation("inv-3", "org-2", "bob@example.com"))

	older := fullInvitation("inv-0", "org-1", "dave@example.com")
	older.CreatedAt = at(-10)
	mustCreateInvitation(t, s, older)
	tie := fullInvitation("inv-00", "org-1", "erin@example.com") // created with inv-1
	mustCreateInvitation(t, s, tie)
	invs := mustListInvitations(t, s, "org-1")
	checkIDOrder(t, "ListInvitations(org-1)", keys(invs, invitationID), []string{"inv-0", "inv-00", "inv-1", "inv-2"})
	if len(invs) == 4 {
		checkInvitation(t, invs[2], want)
	}
	checkIDOrder(t, "ListInvitations(org-2)", keys(mustListInvitations(t, s, "org-2"), invitationID), []string{"inv-3"})
	if invs := mustListInvitations(t, s, "missing"); len(invs) != 0 {
		t.Errorf("ListInvitations(missing) = %q; want none", keys(invs, invitationID))
	}

	if err := s.DeleteInvitation(ctx, "inv-1"); err != nil {
		t.Fatalf("DeleteInvitation: %v", err)
	}
	checkNotFound(t, "GetInvitation after DeleteInvitation", func() error { _, err := s.GetInvitation(ctx, "inv-1"); return err }())
	for _, id := range []string{"inv-1", "missing", "", "INV-2"} {
		checkNotFound(t, fmt.Sprintf("DeleteInvitation(%q)", id), s.DeleteInvitation(ctx, id))
		_, err := s.GetInvitation(ctx, id)
		checkNotFound(t, fmt.Sprintf("GetInvitation(%q)", id), err)
	}
	checkIDOrder(t, "ListInvitations(org-1) after DeleteInvitation", keys(mustListInvitations(t, s, "org-1"), invitationID), []string{"inv-0", "inv-00", "inv-2"})
	// The address may be invited again.
	mustCreateInvitation(t, s, fullInvitation("inv-4", "org-1", "bob@example.com"))
}

func testCreateInvitationErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	want := fullInvitation("inv-1", "org-1", "bob@example.com")
	mustCreateInvitation(t, s, want)
	for _, c := range []struct {
		name string
		inv  *store.Invitation
	}{
		{"taken ID", fullInvitation("inv-1", "org-1", "other@example.com")},
		{"address already invited", fullInvitation("inv-2", "org-1", "bob@example.com")},
		{"address already invited, in another case", fullInvitation("inv-2", "org-1", "BOB@example.com")},
	} {
		checkConflict(t, "CreateInvitation with a "+c.name, s.CreateInvitation(ctx, c.inv))
	}
	for _, org := range []string{"missing", "ORG-1", ""} {
		checkNotFound(t, fmt.Sprintf("CreateInvitation to organisation %q", org), s.CreateInvitation(ctx, fullInvitation("inv-2", org, "x@example.com")))
	}
	checkNotSentinel(t, "CreateInvitation with an empty ID", s.CreateInvitation(ctx, fullInvitation("", "org-1", "x@example.com")))
	checkNotSentinel(t, "CreateInvitation with an empty address", s.CreateInvitation(ctx, fullInvitation("inv-2", "org-1", "")))
	checkInvitation(t, mustGetInvitation(t, s, "inv-1"), want)
	checkIDOrder(t, "ListInvitations after failed creates", keys(mustListInvitations(t, s, "org-1"), invitationID), []string{"inv-1"})
}

func testAcceptInvitation(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateDeveloper(t, s, fullDeveloper("dev-1", "bob@example.com"))
	mustCreateDeveloper(t, s, fullDeveloper("dev-2", "carol@example.com"))
	mustCreateInvitation(t, s, fullInvitation("inv-1", "org-1", "bob@example.com"))
	admin := fullInvitation("inv-2", "org-1", "carol@example.com")
	admin.Role = store.RoleAdmin
	mustCreateInvitation(t, s, admin)
	kept := fullInvitation("inv-3", "org-1", "dave@example.com")
	mustCreateInvitation(t, s, kept)

	m, err := s.AcceptInvitation(ctx, "inv-1", "dev-1", at(30))
	if err != nil {
		t.Fatalf("AcceptInvitation: %v", err)
	}
	want := &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-1", Role: store.RoleDeveloper, CreatedAt: at(30)}
	checkMembership(t, m, want)
	checkMembership(t, mustGetMembership(t, s, "org-1", "dev-1"), want)
	checkNotFound(t, "GetInvitation of an accepted invitation", func() error { _, err := s.GetInvitation(ctx, "inv-1"); return err }())

	// Once used, the invitation is gone for everyone.
	_, err = s.AcceptInvitation(ctx, "inv-1", "dev-1", at(31))
	checkNotFound(t, "AcceptInvitation of a used invitation", err)
	_, err = s.AcceptInvitation(ctx, "inv-1", "dev-2", at(31))
	checkNotFound(t, "AcceptInvitation of a used invitation by another developer", err)

	// A zero now is the current time; the role is the invitation's.
	before := time.Now()
	m, err = s.AcceptInvitation(ctx, "inv-2", "dev-2", time.Time{})
	if err != nil {
		t.Fatalf("AcceptInvitation: %v", err)
	}
	checkNow(t, "AcceptInvitation's CreatedAt for a zero now", m.CreatedAt, before, time.Now())
	checkString(t, "Role", m.Role, store.RoleAdmin)
	checkMembership(t, mustGetMembership(t, s, "org-1", "dev-2"), m)

	checkIDOrder(t, "ListMembers after accepting", keys(mustListMembers(t, s, "org-1"), memberID), []string{"dev-owner", "dev-1", "dev-2"})
	checkIDOrder(t, "ListInvitations after accepting", keys(mustListInvitations(t, s, "org-1"), invitationID), []string{"inv-3"})
	checkInvitation(t, mustGetInvitation(t, s, "inv-3"), kept)
}

func testAcceptInvitationErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateDeveloper(t, s, fullDeveloper("dev-1", "bob@example.com"))
	mustAddMember(t, s, &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-1", Role: store.RoleDeveloper, CreatedAt: at(2)})
	inv := fullInvitation("inv-1", "org-1", "bob@example.com")
	inv.Role = store.RoleAdmin
	mustCreateInvitation(t, s, inv)

	// Already a member: refused, and the invitation is kept.
	m, err := s.AcceptInvitation(ctx, "inv-1", "dev-1", at(30))
	checkConflict(t, "AcceptInvitation by a member", err)
	if m != nil {
		t.Errorf("AcceptInvitation returned membership %+v with an error", m)
	}
	checkInvitation(t, mustGetInvitation(t, s, "inv-1"), inv)
	checkMembership(t, mustGetMembership(t, s, "org-1", "dev-1"),
		&store.Membership{OrganizationID: "org-1", DeveloperID: "dev-1", Role: store.RoleDeveloper, CreatedAt: at(2)})

	// A developer that does not exist: refused, and the invitation is kept.
	_, err = s.AcceptInvitation(ctx, "inv-1", "missing", at(30))
	checkNotFound(t, "AcceptInvitation by a missing developer", err)
	checkInvitation(t, mustGetInvitation(t, s, "inv-1"), inv)

	for _, id := range []string{"missing", "", "INV-1"} {
		_, err := s.AcceptInvitation(ctx, id, "dev-owner", at(30))
		checkNotFound(t, fmt.Sprintf("AcceptInvitation(%q)", id), err)
	}
	// Withdrawn: gone.
	if err := s.DeleteInvitation(ctx, "inv-1"); err != nil {
		t.Fatalf("DeleteInvitation: %v", err)
	}
	mustCreateDeveloper(t, s, fullDeveloper("dev-2", "carol@example.com"))
	_, err = s.AcceptInvitation(ctx, "inv-1", "dev-2", at(30))
	checkNotFound(t, "AcceptInvitation of a withdrawn invitation", err)
	checkIDOrder(t, "ListMembers after refused accepts", keys(mustListMembers(t, s, "org-1"), memberID), []string{"dev-owner", "dev-1"})
}

// testAcceptInvitationConcurrent races developers accepting one invitation
// (a link forwarded, or one developer's double submit): exactly one joins.
func testAcceptInvitationConcurrent(t *testing.T, s store.Store) {
	setupOrganization(t, s)
	const n = 10
	for i := range n {
		mustCreateDeveloper(t, s, fullDeveloper(fmt.Sprintf("dev-%02d", i), fmt.Sprintf("dev-%02d@example.com", i)))
	}
	mustCreateInvitation(t, s, fullInvitation("inv-1", "org-1", "dev-00@example.com"))
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			_, err := s.AcceptInvitation(t.Context(), "inv-1", fmt.Sprintf("dev-%02d", i), at(30))
			errs <- err
		})
		wg.Go(func() { // the same developer again
			_, err := s.AcceptInvitation(t.Context(), "inv-1", fmt.Sprintf("dev-%02d", i), at(30))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("concurrent AcceptInvitation: got %v; want nil or store.ErrNotFound", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent accepts of one invitation succeeded; want exactly 1", ok, 2*n)
	}
	if ms := mustListMembers(t, s, "org-1"); len(ms) != 2 {
		t.Errorf("ListMembers after concurrent accepts = %q; want the owner and one more", keys(ms, memberID))
	}
	if invs := mustListInvitations(t, s, "org-1"); len(invs) != 0 {
		t.Errorf("ListInvitations after concurrent accepts = %q; want none", keys(invs, invitationID))
	}
}

func testAppRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateOrganization(t, s, fullOrganization("org-2", "Other"), "dev-owner")
	if as := mustListApps(t, s, "org-1"); len(as) != 0 {
		t.Fatalf("ListApps before any: got %d; want 0", len(as))
	}
	want := fullApp("app-1", "org-1")
	sent := *want
	mustCreateApp(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) || !sent.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreateApp changed explicit timestamps to %v, %v; want %v, %v",
			sent.CreatedAt, sent.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	checkApp(t, mustGetApp(t, s, "app-1"), want)

	a := &store.App{ID: "app-2", OrganizationID: "org-1"}
	before := time.Now()
	mustCreateApp(t, s, a)
	checkNow(t, "CreateApp set CreatedAt", a.CreatedAt, before, time.Now())
	if !a.UpdatedAt.Equal(a.CreatedAt) {
		t.Errorf("CreateApp set UpdatedAt = %v; want CreatedAt %v", a.UpdatedAt, a.CreatedAt)
	}
	checkApp(t, mustGetApp(t, s, "app-2"), a)

	// Oldest first, ties by ID in byte order.
	for _, a := range []*store.App{fullApp("app-0", "org-1"), fullApp("APP-9", "org-1"), fullApp("app-x", "org-2")} {
		mustCreateApp(t, s, a) // created with app-1
	}
	older := fullApp("app-z", "org-1")
	older.CreatedAt = at(-10)
	mustCreateApp(t, s, older)
	as := mustListApps(t, s, "org-1")
	checkIDOrder(t, "ListApps(org-1)", keys(as, appID), []string{"app-z", "APP-9", "app-0", "app-1", "app-2"})
	if len(as) == 5 {
		checkApp(t, as[3], want)
	}
	checkIDOrder(t, "ListApps(org-2)", keys(mustListApps(t, s, "org-2"), appID), []string{"app-x"})
	if as := mustListApps(t, s, "missing"); len(as) != 0 {
		t.Errorf("ListApps(missing) = %q; want none", keys(as, appID))
	}
	for _, id := range []string{"missing", "", "APP-1"} {
		_, err := s.GetApp(ctx, id)
		checkNotFound(t, fmt.Sprintf("GetApp(%q)", id), err)
	}
}

func testCreateAppErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	want := fullApp("app-1", "org-1")
	mustCreateApp(t, s, want)
	checkConflict(t, "CreateApp with a taken ID", s.CreateApp(ctx, fullApp("app-1", "org-1")))
	for _, org := range []string{"missing", "ORG-1", ""} {
		a := &store.App{ID: "app-2", OrganizationID: org}
		checkNotFound(t, fmt.Sprintf("CreateApp in organisation %q", org), s.CreateApp(ctx, a))
		if !a.CreatedAt.IsZero() {
			t.Errorf("a failed CreateApp left CreatedAt %v; want it zero as it was", a.CreatedAt)
		}
	}
	checkNotSentinel(t, "CreateApp with an empty ID", s.CreateApp(ctx, fullApp("", "org-1")))
	checkApp(t, mustGetApp(t, s, "app-1"), want)
	checkIDOrder(t, "ListApps after failed creates", keys(mustListApps(t, s, "org-1"), appID), []string{"app-1"})
}

func testUpdateApp(t *testing.T, s store.Store) {
	setupOrganization(t, s)
	orig := fullApp("app-1", "org-1")
	mustCreateApp(t, s, orig)
	want := fullApp("app-1", "org-1")
	want.Name = "Renamed — «app»"
	want.CreatedAt = at(-60)
	before := time.Now()
	var called int
	got, err := s.UpdateApp(t.Context(), "app-1", func(a *store.App) error {
		called++
		checkApp(t, a, orig)
		a.Name = want.Name
		a.CreatedAt = want.CreatedAt
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatalf("UpdateApp: %v", err)
	}
	if called != 1 {
		t.Errorf("update called %d times; want 1", called)
	}
	checkNow(t, "UpdatedAt", got.UpdatedAt, before, after)
	want.UpdatedAt = got.UpdatedAt
	checkApp(t, got, want)
	stored := mustGetApp(t, s, "app-1")
	checkApp(t, stored, want)
	if !stored.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("stored UpdatedAt = %v; want %v as returned by UpdateApp", stored.UpdatedAt, got.UpdatedAt)
	}
}

func testUpdateAppErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateOrganization(t, s, fullOrganization("org-2", "Other"), "dev-owner")
	want := fullApp("app-1", "org-1")
	mustCreateApp(t, s, want)
	called := false
	_, err := s.UpdateApp(ctx, "missing", func(*store.App) error {
		called = true
		return nil
	})
	checkNotFound(t, "UpdateApp(missing)", err)
	if called {
		t.Errorf("UpdateApp(missing) called update")
	}
	errAbort := errors.New("abort the update")
	got, err := s.UpdateApp(ctx, "app-1", func(a *store.App) error {
		a.Name = "changed"
		return fmt.Errorf("validating: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Errorf("UpdateApp: got %v; want the update function's error", err)
	}
	if got != nil {
		t.Errorf("UpdateApp returned %+v with an error", got)
	}
	for _, c := range []struct {
		what   string
		change func(a *store.App)
	}{
		{"the ID", func(a *store.App) { a.ID = "app-2" }},
		{"the ID to empty", func(a *store.App) { a.ID = "" }},
		{"the organisation", func(a *store.App) { a.OrganizationID = "org-2" }},
		{"the organisation to a missing one", func(a *store.App) { a.OrganizationID = "missing" }},
	} {
		got, err := s.UpdateApp(ctx, "app-1", func(a *store.App) error {
			c.change(a)
			a.Name = "Other"
			return nil
		})
		checkNotSentinel(t, "UpdateApp changing "+c.what, err)
		if got != nil {
			t.Errorf("UpdateApp returned %+v with an error", got)
		}
	}
	checkApp(t, mustGetApp(t, s, "app-1"), want)
	if as := mustListApps(t, s, "org-2"); len(as) != 0 {
		t.Errorf("ListApps(org-2) after refused moves = %q; want none", keys(as, appID))
	}
}

func testUpdateAppConcurrent(t *testing.T, s store.Store) {
	setupOrganization(t, s)
	mustCreateApp(t, s, &store.App{ID: "busy", OrganizationID: "org-1"})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateApp(t.Context(), "busy", func(a *store.App) error {
				a.Name += "x"
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdateApp: %v", err)
		}
	}
	if a := mustGetApp(t, s, "busy"); a.Name != strings.Repeat("x", n) {
		t.Errorf("after %d concurrent appends, Name = %q; want %d x (lost updates)", n, a.Name, n)
	}
}

// testAppClients checks that a client's app, environment and last use
// round-trip through every client method, and ListAppClients.
func testAppClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateApp(t, s, fullApp("app-1", "org-1"))
	mustCreateApp(t, s, fullApp("app-2", "org-1"))
	if cs := mustListAppClients(t, s, "app-1"); len(cs) != 0 {
		t.Fatalf("ListAppClients of an app without clients = %q; want none", keys(cs, clientID))
	}
	sandbox := appClient("c-sbx", "app-1", store.EnvironmentSandbox)
	sandbox.LastUsedAt = time.Time{} // never used
	production := appClient("c-prd", "app-1", store.EnvironmentProduction)
	other := appClient("c-other", "app-2", store.EnvironmentSandbox)
	operator := fullClient("c-operator")
	for _, c := range []*store.Client{sandbox, production, other, operator} {
		sent := *c
		mustCreateClient(t, s, &sent)
		checkClient(t, mustGetClient(t, s, c.ID), c)
	}

	// Ordered by environment: production before sandbox.
	cs := mustListAppClients(t, s, "app-1")
	checkIDOrder(t, "ListAppClients(app-1)", keys(cs, clientID), []string{"c-prd", "c-sbx"})
	if len(cs) == 2 {
		checkClient(t, cs[0], production)
		checkClient(t, cs[1], sandbox)
	}
	checkIDOrder(t, "ListAppClients(app-2)", keys(mustListAppClients(t, s, "app-2"), clientID), []string{"c-other"})
	for _, id := range []string{"missing", "", "APP-1"} {
		if cs := mustListAppClients(t, s, id); len(cs) != 0 {
			t.Errorf("ListAppClients(%q) = %q; want none (operators' clients belong to no app)", id, keys(cs, clientID))
		}
	}
	all, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	byID := map[string]*store.Client{}
	for _, c := range all {
		byID[c.ID] = c
	}
	for _, c := range []*store.Client{sandbox, production, other, operator} {
		if got, ok := byID[c.ID]; !ok {
			t.Errorf("ListClients lacks %q", c.ID)
		} else {
			checkClient(t, got, c)
		}
	}

	// UpdateClient reads and writes the new fields like the others.
	want := *sandbox
	want.AppID, want.Environment, want.LastUsedAt = "app-2", store.EnvironmentProduction, at(120)
	got, err := s.UpdateClient(ctx, "c-sbx", func(c *store.Client) error {
		checkClient(t, c, sandbox)
		c.AppID, c.Environment, c.LastUsedAt = want.AppID, want.Environment, want.LastUsedAt
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateClient moving the client to another app: %v", err)
	}
	want.UpdatedAt = got.UpdatedAt
	checkClient(t, got, &want)
	checkClient(t, mustGetClient(t, s, "c-sbx"), &want)
	checkIDOrder(t, "ListAppClients(app-1) after the move", keys(mustListAppClients(t, s, "app-1"), clientID), []string{"c-prd"})
	checkIDOrder(t, "ListAppClients(app-2) after the move", keys(mustListAppClients(t, s, "app-2"), clientID), []string{"c-sbx", "c-other"})

	// And clears them: an operator's client again.
	want.AppID, want.Environment, want.LastUsedAt = "", "", time.Time{}
	got, err = s.UpdateClient(ctx, "c-sbx", func(c *store.Client) error {
		c.AppID, c.Environment, c.LastUsedAt = "", "", time.Time{}
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateClient clearing the app: %v", err)
	}
	want.UpdatedAt = got.UpdatedAt
	checkClient(t, mustGetClient(t, s, "c-sbx"), &want)
	checkIDOrder(t, "ListAppClients(app-2) after clearing", keys(mustListAppClients(t, s, "app-2"), clientID), []string{"c-other"})
}

func testAppClientErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	mustCreateApp(t, s, fullApp("app-1", "org-1"))
	want := appClient("c-sbx", "app-1", store.EnvironmentSandbox)
	mustCreateClient(t, s, want)

	for _, app := range []string{"missing", "APP-1"} {
		c := appClient("c-new", app, store.EnvironmentSandbox)
		c.CreatedAt = time.Time{}
		checkNotFound(t, fmt.Sprintf("CreateClient of app %q", app), s.CreateClient(ctx, c))
		if !c.CreatedAt.IsZero() {
			t.Errorf("a failed CreateClient left CreatedAt %v; want it zero as it was", c.CreatedAt)
		}
		_, err := s.GetClient(ctx, "c-new")
		checkNotFound(t, "GetClient after a refused create", err)
	}
	// One client per app and environment; clients of no app are many.
	checkConflict(t, "CreateClient of a second sandbox client", s.CreateClient(ctx, appClient("c-new", "app-1", store.EnvironmentSandbox)))
	mustCreateClient(t, s, appClient("c-prd", "app-1", store.EnvironmentProduction))
	for _, id := range []string{"op-1", "op-2"} {
		mustCreateClient(t, s, fullClient(id))
	}

	for _, c := range []struct {
		what   string
		change func(c *store.Client)
		want   error
	}{
		{"to a missing app", func(c *store.Client) { c.AppID = "missing" }, store.ErrNotFound},
		{"to a taken environment", func(c *store.Client) { c.Environment = store.EnvironmentProduction }, store.ErrConflict},
	} {
		got, err := s.UpdateClient(ctx, "c-sbx", func(cl *store.Client) error {
			c.change(cl)
			cl.Name = "changed"
			return nil
		})
		if !errors.Is(err, c.want) {
			t.Errorf("UpdateClient moving %s: got %v; want %v", c.what, err, c.want)
		}
		if got != nil {
			t.Errorf("UpdateClient returned %+v with an error", got)
		}
	}
	checkClient(t, mustGetClient(t, s, "c-sbx"), want)
	checkIDOrder(t, "ListAppClients after failed calls", keys(mustListAppClients(t, s, "app-1"), clientID), []string{"c-prd", "c-sbx"})
}

func testRecordClientUse(t *testing.T, s store.Store) {
	setupOrganization(t, s)
	mustCreateApp(t, s, fullApp("app-1", "org-1"))
	never := appClient("c-sbx", "app-1", store.EnvironmentSandbox)
	never.LastUsedAt = time.Time{}
	mustCreateClient(t, s, never)
	used := fullClient("c-op") // last used at(-60), before day(0)
	mustCreateClient(t, s, used)
	idle := fullClient("c-idle")
	mustCreateClient(t, s, idle)
	lastUsed := func(id string) time.Time { t.Helper(); return mustGetClient(t, s, id).LastUsedAt }
	day := func(h int) time.Time { return hour(24 + h) } // the hours of the next day

	// Unknown ids are ignored, and so are repeated ones.
	mustRecordClientUse(t, s, []string{"c-sbx", "missing", "c-op", "c-sbx", ""}, day(5))
	checkTime(t, "LastUsedAt of a client never used", lastUsed("c-sbx"), day(5))
	checkTime(t, "LastUsedAt of a used client", lastUsed("c-op"), day(5))
	checkTime(t, "LastUsedAt of a client not named", lastUsed("c-idle"), idle.LastUsedAt)

	// Never backwards; the same time again changes nothing.
	mustRecordClientUse(t, s, []string{"c-sbx", "c-op"}, day(3))
	mustRecordClientUse(t, s, []string{"c-sbx"}, day(5))
	checkTime(t, "LastUsedAt after an earlier use", lastUsed("c-sbx"), day(5))
	checkTime(t, "LastUsedAt after an earlier use", lastUsed("c-op"), day(5))
	mustRecordClientUse(t, s, []string{"c-op"}, day(6).Add(-time.Millisecond))
	checkTime(t, "LastUsedAt a millisecond before the hour", lastUsed("c-op"), day(6).Add(-time.Millisecond))

	// Nothing else of the client changes (UpdatedAt included: a use is
	// not an edit).
	want := *used
	want.LastUsedAt = day(6).Add(-time.Millisecond)
	checkClient(t, mustGetClient(t, s, "c-op"), &want)

	// No ids: nothing to do.
	mustRecordClientUse(t, s, nil, day(9))
	mustRecordClientUse(t, s, []string{}, day(9))
	checkTime(t, "LastUsedAt after an empty call", lastUsed("c-op"), want.LastUsedAt)

	// Any number of ids, the known ones anywhere among them.
	many := make([]string, 0, 5000)
	for i := range cap(many) {
		many = append(many, fmt.Sprintf("unknown-%04d", i))
	}
	many[0], many[1500], many[4999] = "c-sbx", "c-op", "c-idle"
	mustRecordClientUse(t, s, many, day(10))
	for _, id := range []string{"c-sbx", "c-op", "c-idle"} {
		checkTime(t, "LastUsedAt of "+id+" after a call with 5000 ids", lastUsed(id), day(10))
	}
	for _, n := range []int{1, 2, 3, 5, 17, 1023, 1024, 1025, 2049} {
		mustRecordClientUse(t, s, append(slices.Repeat([]string{"missing"}, n-1), "c-op"), day(10).Add(time.Duration(n)*time.Minute))
		checkTime(t, fmt.Sprintf("LastUsedAt after a call with %d ids", n), lastUsed("c-op"), day(10).Add(time.Duration(n)*time.Minute))
	}

	// A zero time is the current time.
	mustCreateClient(t, s, &store.Client{ID: "c-now"})
	before := time.Now()
	mustRecordClientUse(t, s, []string{"c-now"}, time.Time{})
	checkNow(t, "LastUsedAt for a zero time", lastUsed("c-now"), before, time.Now())
}

// testRecordClientUseConcurrent races uses at different times: whatever
// order they commit in, the latest stays.
func testRecordClientUseConcurrent(t *testing.T, s store.Store) {
	ids := []string{"c-1", "c-2", "c-3"}
	for _, id := range ids {
		mustCreateClient(t, s, &store.Client{ID: id})
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			order := slices.Clone(ids)
			if i%2 == 1 {
				slices.Reverse(order)
			}
			errs <- s.RecordClientUse(t.Context(), order, hour(i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent RecordClientUse: %v", err)
		}
	}
	for _, id := range ids {
		checkTime(t, "LastUsedAt of "+id+" after concurrent uses", mustGetClient(t, s, id).LastUsedAt, hour(n-1))
	}
}

// appWithEverything creates, for app (of an organisation that exists), a
// sandbox and a production client, each subscribed to api-a with plan
// free and holding a code, a refresh token and a CIBA request of user
// u-1; it returns the clients' IDs. setupAccounts must have run.
func appWithEverything(t *testing.T, s store.Store, org, app string) []string {
	t.Helper()
	mustCreateApp(t, s, fullApp(app, org))
	var ids []string
	for _, env := range []string{store.EnvironmentSandbox, store.EnvironmentProduction} {
		id := app + "-" + env
		mustCreateClient(t, s, appClient(id, app, env))
		mustCreateSubscription(t, s, subscription("sub-"+id, id, "api-a", "free"))
		mustCreateAuthCode(t, s, fullAuthCode("code-"+id, id, "u-1"))
		mustCreateRefreshToken(t, s, refreshToken("token-"+id, "fam-"+id, id, "u-1"))
		mustCreateCIBARequest(t, s, cibaRequest("ciba-"+id, id, "u-1"))
		ids = append(ids, id)
	}
	return ids
}

// setupAccounts creates what appWithEverything refers to: API api-a, plan
// free and user u-1, and the organisation of setupOrganization.
func setupAccounts(t *testing.T, s store.Store) {
	t.Helper()
	setupOrganization(t, s)
	mustCreateAPI(t, s, fullAPI("api-a"))
	mustCreatePlan(t, s, fullPlan("free"))
	mustCreateUser(t, s, fullUser("u-1", "alice", "+34600000001"))
}

// checkClientsGone requires that the clients, their subscriptions and
// grants no longer exist.
func checkClientsGone(t *testing.T, s store.Store, ids []string, why string) {
	t.Helper()
	ctx := t.Context()
	for _, id := range ids {
		_, err := s.GetClient(ctx, id)
		checkNotFound(t, "GetClient("+id+") "+why, err)
		_, err = s.GetSubscription(ctx, "sub-"+id)
		checkNotFound(t, "GetSubscription(sub-"+id+") "+why, err)
		_, err = s.FindSubscription(ctx, id, "api-a")
		checkNotFound(t, "FindSubscription("+id+") "+why, err)
		checkCodeAbsent(t, s, digest("code-"+id), why)
		checkTokenAbsent(t, s, digest("token-"+id), why)
		checkCIBAAbsent(t, s, "ciba-"+id, why)
	}
}

// checkClientsKept requires that the clients, their subscriptions and
// their refresh tokens and CIBA requests are as appWithEverything made
// them.
func checkClientsKept(t *testing.T, s store.Store, ids []string, why string) {
	t.Helper()
	for _, id := range ids {
		c := mustGetClient(t, s, id)
		checkString(t, "AppID of "+id+" "+why, c.AppID, strings.TrimSuffix(strings.TrimSuffix(id, "-"+store.EnvironmentSandbox), "-"+store.EnvironmentProduction))
		checkSubscription(t, mustGetSubscription(t, s, "sub-"+id), subscription("sub-"+id, id, "api-a", "free"))
		checkRefreshToken(t, mustGetRefreshToken(t, s, digest("token-"+id)), refreshToken("token-"+id, "fam-"+id, id, "u-1"))
		checkCIBARequest(t, mustGetCIBARequest(t, s, "ciba-"+id), cibaRequest("ciba-"+id, id, "u-1"))
	}
}

// testDeleteApp checks that deleting an app deletes its clients with their
// subscriptions and grants, and counts in the access generation once when
// a subscription went, like DeleteClient.
func testDeleteApp(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupAccounts(t, s)
	doomed := appWithEverything(t, s, "org-1", "app-1")
	kept := appWithEverything(t, s, "org-1", "app-2")
	mustCreateApp(t, s, fullApp("app-bare", "org-1"))         // no clients
	mustCreateApp(t, s, fullApp("app-unsubscribed", "org-1")) // clients, no subscriptions
	mustCreateClient(t, s, appClient("c-unsub", "app-unsubscribed", store.EnvironmentSandbox))
	operator := fullClient("c-operator")
	mustCreateClient(t, s, operator)
	mustCreateSubscription(t, s, subscription("sub-c-operator", "c-operator", "api-a", "free"))
	gen, apisGen := mustAccessGeneration(t, s), mustGeneration(t, s)

	if err := s.DeleteApp(ctx, "app-1"); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	checkNotFound(t, "GetApp after DeleteApp", func() error { _, err := s.GetApp(ctx, "app-1"); return err }())
	checkClientsGone(t, s, doomed, "after deleting its app")
	if cs := mustListAppClients(t, s, "app-1"); len(cs) != 0 {
		t.Errorf("ListAppClients of a deleted app = %q; want none", keys(cs, clientID))
	}
	checkAccessGeneration(t, s, gen+1, "DeleteApp that deleted two subscriptions")
	checkGeneration(t, s, apisGen, "DeleteApp")

	// Without subscriptions to delete, the access generation stays.
	for _, app := range []string{"app-bare", "app-unsubscribed"} {
		if err := s.DeleteApp(ctx, app); err != nil {
			t.Fatalf("DeleteApp(%q): %v", app, err)
		}
	}
	checkClientsGone(t, s, []string{"c-unsub"}, "after deleting its app")
	for _, id := range []string{"app-1", "missing", "", "APP-2"} {
		checkNotFound(t, fmt.Sprintf("DeleteApp(%q)", id), s.DeleteApp(ctx, id))
	}
	checkAccessGeneration(t, s, gen+1, "deleting apps without subscriptions, and missing ones")

	// Nothing else went.
	checkClientsKept(t, s, kept, "after deleting another app")
	checkClient(t, mustGetClient(t, s, "c-operator"), operator)
	checkSubscription(t, mustGetSubscription(t, s, "sub-c-operator"), subscription("sub-c-operator", "c-operator", "api-a", "free"))
	checkIDOrder(t, "ListApps after DeleteApp", keys(mustListApps(t, s, "org-1"), appID), []string{"app-2"})
	checkOrganization(t, mustGetOrganization(t, s, "org-1"), fullOrganization("org-1", "Acme"))
	mustGetAPI(t, s, "api-a")
	mustGetPlan(t, s, "free")
	mustGetUser(t, s, "u-1")

	// Recreating the app and its clients brings nothing back.
	mustCreateApp(t, s, fullApp("app-1", "org-1"))
	for _, id := range doomed {
		mustCreateClient(t, s, appClient(id, "app-1", strings.TrimPrefix(id, "app-1-")))
		if _, err := s.FindSubscription(ctx, id, "api-a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindSubscription for a recreated client: got %v; want store.ErrNotFound", err)
		}
		checkTokenAbsent(t, s, digest("token-"+id), "after recreating the client")
	}
}

// testDeleteOrganization checks that deleting an organisation deletes its
// memberships, invitations and apps, with the apps' clients and theirs,
// and nothing of other organisations or of its members.
func testDeleteOrganization(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupAccounts(t, s)
	mustCreateDeveloper(t, s, fullDeveloper("dev-1", "bob@example.com"))
	mustCreateOrganization(t, s, fullOrganization("org-2", "Kept"), "dev-1")
	mustAddMember(t, s, &store.Membership{OrganizationID: "org-1", DeveloperID: "dev-1", Role: store.RoleAdmin, CreatedAt: at(2)})
	mustAddMember(t, s, &store.Membership{OrganizationID: "org-2", DeveloperID: "dev-owner", Role: store.RoleDeveloper, CreatedAt: at(2)})
	mustCreateInvitation(t, s, fullInvitation("inv-1", "org-1", "carol@example.com"))
	keptInv := fullInvitation("inv-2", "org-2", "carol@example.com")
	mustCreateInvitation(t, s, keptInv)
	doomed := append(appWithEverything(t, s, "org-1", "app-1"), appWithEverything(t, s, "org-1", "app-2")...)
	kept := appWithEverything(t, s, "org-2", "app-3")
	mustCreateApp(t, s, fullApp("app-bare", "org-1"))
	gen, apisGen := mustAccessGeneration(t, s), mustGeneration(t, s)

	if err := s.DeleteOrganization(ctx, "org-1"); err != nil {
		t.Fatalf("DeleteOrganization: %v", err)
	}
	checkNotFound(t, "GetOrganization after DeleteOrganization", func() error { _, err := s.GetOrganization(ctx, "org-1"); return err }())
	for _, dev := range []string{"dev-owner", "dev-1"} {
		_, err := s.GetMembership(ctx, "org-1", dev)
		checkNotFound(t, "GetMembership("+dev+") after DeleteOrganization", err)
	}
	if ms := mustListMembers(t, s, "org-1"); len(ms) != 0 {
		t.Errorf("ListMembers of a deleted organisation = %q; want none", keys(ms, memberID))
	}
	checkNotFound(t, "GetInvitation after DeleteOrganization", func() error { _, err := s.GetInvitation(ctx, "inv-1"); return err }())
	for _, app := range []string{"app-1", "app-2", "app-bare"} {
		checkNotFound(t, "GetApp("+app+") after DeleteOrganization", func() error { _, err := s.GetApp(ctx, app); return err }())
	}
	if as := mustListApps(t, s, "org-1"); len(as) != 0 {
		t.Errorf("ListApps of a deleted organisation = %q; want none", keys(as, appID))
	}
	checkClientsGone(t, s, doomed, "after deleting their organisation")
	checkAccessGeneration(t, s, gen+1, "DeleteOrganization that deleted four subscriptions")
	checkGeneration(t, s, apisGen, "DeleteOrganization")

	for _, id := range []string{"org-1", "missing", "", "ORG-2"} {
		checkNotFound(t, fmt.Sprintf("DeleteOrganization(%q)", id), s.DeleteOrganization(ctx, id))
	}
	checkAccessGeneration(t, s, gen+1, "DeleteOrganization of missing organisations")

	// The members stay, with their other memberships; the other
	// organisation is untouched.
	checkDeveloper(t, mustGetDeveloper(t, s, "dev-owner"), fullDeveloper("dev-owner", "owner@example.com"))
	checkDeveloper(t, mustGetDeveloper(t, s, "dev-1"), fullDeveloper("dev-1", "bob@example.com"))
	checkIDOrder(t, "ListMemberships(dev-owner)", keys(mustListMemberships(t, s, "dev-owner"), membershipOrg), []string{"org-2"})
	checkIDOrder(t, "ListMembers(org-2)", keys(mustListMembers(t, s, "org-2"), memberID), []string{"dev-1", "dev-owner"})
	checkInvitation(t, mustGetInvitation(t, s, "inv-2"), keptInv)
	checkIDOrder(t, "ListApps(org-2)", keys(mustListApps(t, s, "org-2"), appID), []string{"app-3"})
	checkClientsKept(t, s, kept, "after deleting another organisation")

	// An organisation without subscriptions leaves the access generation.
	mustCreateOrganization(t, s, fullOrganization("org-3", "Bare"), "dev-1")
	mustCreateApp(t, s, fullApp("app-4", "org-3"))
	mustCreateClient(t, s, appClient("c-4", "app-4", store.EnvironmentSandbox))
	if err := s.DeleteOrganization(ctx, "org-3"); err != nil {
		t.Fatalf("DeleteOrganization without subscriptions: %v", err)
	}
	checkClientsGone(t, s, []string{"c-4"}, "after deleting its organisation")
	checkAccessGeneration(t, s, gen+1, "DeleteOrganization without subscriptions")

	// Recreating the organisation brings nothing back.
	mustCreateOrganization(t, s, fullOrganization("org-1", "Acme"), "dev-owner")
	checkIDOrder(t, "ListMembers of a recreated organisation", keys(mustListMembers(t, s, "org-1"), memberID), []string{"dev-owner"})
	if invs := mustListInvitations(t, s, "org-1"); len(invs) != 0 {
		t.Errorf("ListInvitations of a recreated organisation = %q; want none", keys(invs, invitationID))
	}
	if as := mustListApps(t, s, "org-1"); len(as) != 0 {
		t.Errorf("ListApps of a recreated organisation = %q; want none", keys(as, appID))
	}
}

// testDeleteAppConcurrent races subscribing an app's clients against
// deleting the app, or its organisation: every subscription that was
// stored must count twice in the access generation (created, then deleted
// with the app), or a node that cached it would keep it.
func testDeleteAppConcurrent(t *testing.T, s store.Store) {
	setupAccounts(t, s)
	const n = 20
	for _, del := range []struct {
		what string
		call func(i int) error
	}{
		{"DeleteApp", func(i int) error { return s.DeleteApp(t.Context(), fmt.Sprintf("app-%02d", i)) }},
		{"DeleteOrganization", func(i int) error { return s.DeleteOrganization(t.Context(), fmt.Sprintf("org-%02d", i)) }},
	} {
		for i := range n {
			org, app := fmt.Sprintf("org-%02d", i), fmt.Sprintf("app-%02d", i)
			mustCreateOrganization(t, s, fullOrganization(org, org), "dev-owner")
			mustCreateApp(t, s, fullApp(app, org))
			mustCreateClient(t, s, appClient("c-"+app, app, store.EnvironmentSandbox))
		}
		gen := mustAccessGeneration(t, s)
		var wg sync.WaitGroup
		subscribed := make(chan error, n)
		deleted := make(chan error, n)
		for i := range n {
			client := fmt.Sprintf("c-app-%02d", i)
			wg.Go(func() {
				subscribed <- s.CreateSubscription(t.Context(), subscription("sub-"+client, client, "api-a", "free"))
			})
			wg.Go(func() { deleted <- del.call(i) })
		}
		wg.Wait()
		close(subscribed)
		close(deleted)
		for err := range deleted {
			if err != nil {
				t.Errorf("concurrent %s: %v", del.what, err)
			}
		}
		ok := 0
		for err := range subscribed {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("CreateSubscription racing %s: got %v; want nil or store.ErrNotFound", del.what, err)
			}
		}
		if subs := mustListSubscriptions(t, s, store.SubscriptionFilter{}); len(subs) != 0 {
			t.Errorf("subscriptions left after %s: %q", del.what, subscriptionIDs(subs))
		}
		checkAccessGeneration(t, s, gen+2*int64(ok),
			fmt.Sprintf("%d subscriptions created, then deleted by %s", ok, del.what))
		if del.what == "DeleteApp" {
			for i := range n {
				if err := s.DeleteOrganization(t.Context(), fmt.Sprintf("org-%02d", i)); err != nil {
					t.Fatalf("DeleteOrganization: %v", err)
				}
			}
		}
	}
}

// checkAccountsCanceled checks the account methods with a cancelled
// context: none reports store.ErrNotFound, and none writes.
func checkAccountsCanceled(t *testing.T, s store.Store) {
	t.Helper()
	dev := fullDeveloper("acct-dev", "acct@example.com")
	mustCreateDeveloper(t, s, dev)
	org := fullOrganization("acct-org", "Acct")
	mustCreateOrganization(t, s, org, "acct-dev")
	inv := fullInvitation("acct-inv", "acct-org", "invitee@example.com")
	mustCreateInvitation(t, s, inv)
	app := fullApp("acct-app", "acct-org")
	mustCreateApp(t, s, app)
	client := appClient("acct-client", "acct-app", store.EnvironmentSandbox)
	mustCreateClient(t, s, client)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	notNotFound := func(what string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s with a cancelled context: got %v; want an error that is not store.ErrNotFound", what, err)
		}
	}
	for _, id := range []string{"acct-dev", "missing"} {
		_, err := s.GetDeveloper(ctx, id)
		notNotFound(fmt.Sprintf("GetDeveloper(%q)", id), err)
	}
	for _, email := range []string{"acct@example.com", "missing@example.com"} {
		_, err := s.GetDeveloperByEmail(ctx, email)
		notNotFound(fmt.Sprintf("GetDeveloperByEmail(%q)", email), err)
	}
	_, err := s.ListDevelopers(ctx)
	notNotFound("ListDevelopers", err)
	_, err = s.UpdateDeveloper(ctx, "acct-dev", func(d *store.Developer) error { d.Name = "x"; return nil })
	notNotFound("UpdateDeveloper", err)
	notNotFound("DeleteDeveloper", s.DeleteDeveloper(ctx, "acct-dev"))
	for _, id := range []string{"acct-org", "missing"} {
		_, err := s.GetOrganization(ctx, id)
		notNotFound(fmt.Sprintf("GetOrganization(%q)", id), err)
	}
	_, err = s.ListOrganizations(ctx)
	notNotFound("ListOrganizations", err)
	_, err = s.UpdateOrganization(ctx, "acct-org", func(o *store.Organization) error { o.Name = "x"; return nil })
	notNotFound("UpdateOrganization", err)
	notNotFound("DeleteOrganization", s.DeleteOrganization(ctx, "acct-org"))
	// The portal refuses a page to who is not a member: a cancelled
	// lookup must not look like that.
	for _, id := range []string{"acct-dev", "missing"} {
		_, err := s.GetMembership(ctx, "acct-org", id)
		notNotFound(fmt.Sprintf("GetMembership(%q)", id), err)
	}
	notNotFound("SetMemberRole", s.SetMemberRole(ctx, "acct-org", "acct-dev", store.RoleAdmin))
	notNotFound("RemoveMember", s.RemoveMember(ctx, "acct-org", "acct-dev"))
	_, err = s.ListMembers(ctx, "acct-org")
	notNotFound("ListMembers", err)
	_, err = s.ListMemberships(ctx, "acct-dev")
	notNotFound("ListMemberships", err)
	for _, id := range []string{"acct-inv", "missing"} {
		_, err := s.GetInvitation(ctx, id)
		notNotFound(fmt.Sprintf("GetInvitation(%q)", id), err)
		_, err = s.AcceptInvitation(ctx, id, "acct-dev", at(1))
		notNotFound(fmt.Sprintf("AcceptInvitation(%q)", id), err)
	}
	_, err = s.ListInvitations(ctx, "acct-org")
	notNotFound("ListInvitations", err)
	notNotFound("DeleteInvitation", s.DeleteInvitation(ctx, "acct-inv"))
	for _, id := range []string{"acct-app", "missing"} {
		_, err := s.GetApp(ctx, id)
		notNotFound(fmt.Sprintf("GetApp(%q)", id), err)
	}
	_, err = s.ListApps(ctx, "acct-org")
	notNotFound("ListApps", err)
	_, err = s.UpdateApp(ctx, "acct-app", func(a *store.App) error { a.Name = "x"; return nil })
	notNotFound("UpdateApp", err)
	notNotFound("DeleteApp", s.DeleteApp(ctx, "acct-app"))
	_, err = s.ListAppClients(ctx, "acct-app")
	notNotFound("ListAppClients", err)
	notNotFound("RecordClientUse", s.RecordClientUse(ctx, []string{"acct-client"}, at(600)))
	for what, err := range map[string]error{
		"CreateDeveloper":    s.CreateDeveloper(ctx, fullDeveloper("acct-new", "new@example.com")),
		"CreateOrganization": s.CreateOrganization(ctx, fullOrganization("acct-new", "New"), "acct-dev"),
		"AddMember":          s.AddMember(ctx, &store.Membership{OrganizationID: "acct-org", DeveloperID: "acct-dev"}),
		"CreateInvitation":   s.CreateInvitation(ctx, fullInvitation("acct-new", "acct-org", "new@example.com")),
		"CreateApp":          s.CreateApp(ctx, fullApp("acct-new", "acct-org")),
	} {
		if err == nil {
			t.Errorf("%s with a cancelled context succeeded", what)
		}
	}

	checkDeveloper(t, mustGetDeveloper(t, s, "acct-dev"), dev)
	checkOrganization(t, mustGetOrganization(t, s, "acct-org"), org)
	checkIDOrder(t, "ListMembers", keys(mustListMembers(t, s, "acct-org"), memberID), []string{"acct-dev"})
	checkInvitation(t, mustGetInvitation(t, s, "acct-inv"), inv)
	checkApp(t, mustGetApp(t, s, "acct-app"), app)
	checkClient(t, mustGetClient(t, s, "acct-client"), client)
	if ds := mustListDevelopers(t, s); len(ds) != 1 {
		t.Errorf("ListDevelopers after cancelled calls = %q; want only acct-dev", keys(ds, developerEmail))
	}
	checkIDOrder(t, "ListOrganizations", keys(mustListOrganizations(t, s), organizationID), []string{"acct-org"})
	checkIDOrder(t, "ListApps", keys(mustListApps(t, s, "acct-org"), appID), []string{"acct-app"})
}

// setupClosedAccounts creates a record of each kind for testClosed, and
// returns the account calls it makes once the store is closed.
func setupClosedAccounts(t *testing.T, s store.Store) func(ctx context.Context) []struct {
	name string
	call func() error
} {
	t.Helper()
	mustCreateDeveloper(t, s, fullDeveloper("present", "present@example.com"))
	mustCreateOrganization(t, s, fullOrganization("present", "Present"), "present")
	mustCreateInvitation(t, s, fullInvitation("present", "present", "invitee@example.com"))
	mustCreateApp(t, s, fullApp("present", "present"))
	return func(ctx context.Context) []struct {
		name string
		call func() error
	} {
		return []struct {
			name string
			call func() error
		}{
			{"CreateDeveloper", func() error { return s.CreateDeveloper(ctx, fullDeveloper("new", "new@example.com")) }},
			{"GetDeveloper", func() error { _, err := s.GetDeveloper(ctx, "present"); return err }},
			{"GetDeveloper(missing)", func() error { _, err := s.GetDeveloper(ctx, "missing"); return err }},
			{"GetDeveloperByEmail", func() error { _, err := s.GetDeveloperByEmail(ctx, "present@example.com"); return err }},
			{"ListDevelopers", func() error { _, err := s.ListDevelopers(ctx); return err }},
			{"UpdateDeveloper", func() error {
				_, err := s.UpdateDeveloper(ctx, "present", func(*store.Developer) error { return nil })
				return err
			}},
			{"DeleteDeveloper", func() error { return s.DeleteDeveloper(ctx, "present") }},
			{"DeleteDeveloper(missing)", func() error { return s.DeleteDeveloper(ctx, "missing") }},
			{"CreateOrganization", func() error {
				return s.CreateOrganization(ctx, fullOrganization("new", "New"), "present")
			}},
			{"GetOrganization", func() error { _, err := s.GetOrganization(ctx, "present"); return err }},
			{"ListOrganizations", func() error { _, err := s.ListOrganizations(ctx); return err }},
			{"UpdateOrganization", func() error {
				_, err := s.UpdateOrganization(ctx, "present", func(*store.Organization) error { return nil })
				return err
			}},
			{"DeleteOrganization", func() error { return s.DeleteOrganization(ctx, "present") }},
			{"DeleteOrganization(missing)", func() error { return s.DeleteOrganization(ctx, "missing") }},
			{"AddMember", func() error {
				return s.AddMember(ctx, &store.Membership{OrganizationID: "present", DeveloperID: "present"})
			}},
			{"GetMembership", func() error { _, err := s.GetMembership(ctx, "present", "present"); return err }},
			{"GetMembership(missing)", func() error { _, err := s.GetMembership(ctx, "present", "missing"); return err }},
			{"SetMemberRole", func() error { return s.SetMemberRole(ctx, "present", "present", store.RoleAdmin) }},
			{"RemoveMember", func() error { return s.RemoveMember(ctx, "present", "present") }},
			{"ListMembers", func() error { _, err := s.ListMembers(ctx, "present"); return err }},
			{"ListMemberships", func() error { _, err := s.ListMemberships(ctx, "present"); return err }},
			{"CreateInvitation", func() error {
				return s.CreateInvitation(ctx, fullInvitation("new", "present", "new@example.com"))
			}},
			{"GetInvitation", func() error { _, err := s.GetInvitation(ctx, "present"); return err }},
			{"ListInvitations", func() error { _, err := s.ListInvitations(ctx, "present"); return err }},
			{"DeleteInvitation", func() error { return s.DeleteInvitation(ctx, "present") }},
			{"AcceptInvitation", func() error { _, err := s.AcceptInvitation(ctx, "present", "present", at(1)); return err }},
			{"AcceptInvitation(missing)", func() error { _, err := s.AcceptInvitation(ctx, "missing", "present", at(1)); return err }},
			{"CreateApp", func() error { return s.CreateApp(ctx, fullApp("new", "present")) }},
			{"GetApp", func() error { _, err := s.GetApp(ctx, "present"); return err }},
			{"ListApps", func() error { _, err := s.ListApps(ctx, "present"); return err }},
			{"UpdateApp", func() error {
				_, err := s.UpdateApp(ctx, "present", func(*store.App) error { return nil })
				return err
			}},
			{"DeleteApp", func() error { return s.DeleteApp(ctx, "present") }},
			{"DeleteApp(missing)", func() error { return s.DeleteApp(ctx, "missing") }},
			{"ListAppClients", func() error { _, err := s.ListAppClients(ctx, "present"); return err }},
			{"RecordClientUse", func() error { return s.RecordClientUse(ctx, []string{"present"}, at(1)) }},
		}
	}
}
