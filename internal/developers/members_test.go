package developers

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
)

// TestCheckChange: the role rules, without a store.
func TestCheckChange(t *testing.T) {
	const me, other = "dev_me", "dev_other"
	mem := func(id, role string) *store.Membership { return &store.Membership{DeveloperID: id, Role: role} }
	denied, lastOwner := problem.PermissionDeniedRoleInsufficient, problem.IncompatibleStateLastOwner
	for _, tc := range []struct {
		name   string
		mine   string
		target *store.Membership
		role   string // "" removes
		owners int
		want   *problem.Reason
	}{
		{"owner promotes a developer to owner", "owner", mem(other, "developer"), "owner", 1, nil},
		{"owner demotes another owner", "owner", mem(other, "owner"), "admin", 2, nil},
		{"owner removes a developer", "owner", mem(other, "developer"), "", 1, nil},
		{"admin makes a developer admin", "admin", mem(other, "developer"), "admin", 1, nil},
		{"admin removes an admin", "admin", mem(other, "admin"), "", 1, nil},
		{"admin cannot grant owner", "admin", mem(other, "developer"), "owner", 1, &denied},
		{"admin cannot promote self to owner", "admin", mem(me, "admin"), "owner", 1, &denied},
		{"admin cannot demote an owner", "admin", mem(other, "owner"), "admin", 2, &denied},
		{"admin cannot remove an owner", "admin", mem(other, "owner"), "", 2, &denied},
		{"developer cannot change roles", "developer", mem(other, "developer"), "admin", 1, &denied},
		{"developer cannot remove", "developer", mem(other, "developer"), "", 1, &denied},
		{"developer cannot change own role", "developer", mem(me, "developer"), "admin", 1, &denied},
		{"developer may leave", "developer", mem(me, "developer"), "", 1, nil},
		{"admin may leave", "admin", mem(me, "admin"), "", 1, nil},
		{"owner may leave when another owner stays", "owner", mem(me, "owner"), "", 2, nil},
		{"last owner cannot leave", "owner", mem(me, "owner"), "", 1, &lastOwner},
		{"last owner cannot step down", "owner", mem(me, "owner"), "admin", 1, &lastOwner},
		{"owner stays owner", "owner", mem(me, "owner"), "owner", 1, nil},
	} {
		err := checkChange(me, tc.mine, tc.target, tc.role, tc.owners)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: %v, want allowed", tc.name, err)
		case tc.want != nil && !isReason(err, *tc.want):
			t.Errorf("%s: %v, want %v", tc.name, err, *tc.want)
		}
	}
}

// TestInvitationToken: the link's token binds the id and the address,
// and an invitation expires after InvitationTTL.
func TestInvitationToken(t *testing.T) {
	m := &Manager{Key: []byte("0123456789abcdef0123456789abcdef"), BaseURL: "https://portal.example"}
	inv := &store.Invitation{ID: "inv_1", Email: "bo@example.com"}
	tok := m.invitationToken(inv)
	if m.invitationLink(inv) != "https://portal.example/portal/invitations/inv_1?token="+tok {
		t.Errorf("link = %s", m.invitationLink(inv))
	}
	for _, other := range []*store.Invitation{{ID: "inv_2", Email: "bo@example.com"}, {ID: "inv_1", Email: "eve@example.com"}} {
		if m.invitationToken(other) == tok {
			t.Errorf("the token of %+v is the same", other)
		}
	}
	if (&Manager{Key: []byte("another key")}).invitationToken(inv) == tok {
		t.Error("the token does not depend on the key")
	}
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inv.ExpiresAt = created.Add(InvitationTTL)
	if invitationExpired(inv, created.Add(InvitationTTL-time.Second)) || !invitationExpired(inv, created.Add(InvitationTTL)) {
		t.Error("an invitation expires exactly InvitationTTL after it was sent")
	}
}

func isReason(err error, r problem.Reason) bool {
	pe, ok := err.(*problem.Error)
	return ok && pe.Entry.Key == r.Key() && pe.CauseID == r.CauseID()
}

// TestKeepOwner: a change that, racing another, left the organisation
// without an owner is undone, whether it demoted or removed the owner.
func TestKeepOwner(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := &Manager{Store: st}
	now := time.Now().UTC()
	for _, id := range []string{"dev_ana", "dev_bo"} {
		if err := st.CreateDeveloper(ctx, &store.Developer{ID: id, Email: id + "@example.com", Status: store.DeveloperActive, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateOrganization(ctx, &store.Organization{ID: "org_1", Name: "Acme", CreatedAt: now, UpdatedAt: now}, "dev_ana"); err != nil {
		t.Fatal(err)
	}
	before, err := st.GetMembership(ctx, "org_1", "dev_ana")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.keepOwner(ctx, "org_1", before); err != nil {
		t.Errorf("keepOwner with the owner in place = %v", err)
	}
	for name, change := range map[string]func() error{
		"demoted": func() error { return st.SetMemberRole(ctx, "org_1", "dev_ana", store.RoleAdmin) },
		"removed": func() error { return st.RemoveMember(ctx, "org_1", "dev_ana") },
	} {
		if err := change(); err != nil {
			t.Fatal(err)
		}
		if err := m.keepOwner(ctx, "org_1", before); !isReason(err, problem.IncompatibleStateLastOwner) {
			t.Errorf("%s: keepOwner = %v, want last_owner", name, err)
		}
		if ms, err := st.GetMembership(ctx, "org_1", "dev_ana"); err != nil || ms.Role != store.RoleOwner {
			t.Errorf("%s: the owner was not restored: %+v, %v", name, ms, err)
		}
	}
	// A developer who was not an owner is left alone.
	if err := st.AddMember(ctx, &store.Membership{OrganizationID: "org_1", DeveloperID: "dev_bo", Role: store.RoleDeveloper, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := m.keepOwner(ctx, "org_1", &store.Membership{OrganizationID: "org_1", DeveloperID: "dev_bo", Role: store.RoleDeveloper}); err != nil {
		t.Errorf("keepOwner for a developer = %v", err)
	}
}
