package developers

import (
	"testing"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
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
