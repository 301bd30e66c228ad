package developers

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/url"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// Organisation members and invitations.
//
// Roles: owners and admins invite by e-mail, change roles, remove members
// and withdraw invitations; only owners make owners, or change or remove
// an owner. Developers see the organisation, its apps and the sandbox.
// Anyone may leave. An organisation always keeps an owner: its last owner
// can be neither removed nor demoted, and cannot leave.
//
// An invitation link carries the invitation id and a token, an HMAC of
// the id and the invited address under the developers' key: the store
// keeps no token, so reading the database is not enough to join. Only the
// account with the invited address (verified, as every signed-in account
// is) can accept it, within InvitationTTL.

// InvitationTTL is how long an invitation can be accepted.
const InvitationTTL = 7 * 24 * time.Hour

// Roles are the organisation roles, most powerful first.
var Roles = []string{store.RoleOwner, store.RoleAdmin, store.RoleDeveloper}

func validRole(r string) bool {
	return r == store.RoleOwner || r == store.RoleAdmin || r == store.RoleDeveloper
}

// CanManage reports whether a role manages members and invitations.
func CanManage(role string) bool { return role == store.RoleOwner || role == store.RoleAdmin }

// manager returns the developer's role in the organisation when it may
// manage its members.
func (m *Manager) manager(ctx context.Context, developerID, orgID string) (string, error) {
	role, err := m.Role(ctx, developerID, orgID)
	if err != nil {
		return "", err
	}
	if !CanManage(role) {
		return "", problem.New(problem.PermissionDeniedRoleInsufficient,
			"Only the organisation's owners and admins can invite, change roles, remove members or withdraw invitations; ask one of them.")
	}
	return role, nil
}

// MemberView is a member as the organisation page shows it.
type MemberView struct {
	DeveloperID string
	Name        string
	Email       string
	Role        string
	Since       time.Time
}

// InvitationView is an invitation with what its pages show.
type InvitationView struct {
	*store.Invitation
	Organization *store.Organization
	// InvitedBy is the name of the developer who sent it ("" when they
	// no longer have an account).
	InvitedBy string
	// Link is the invitation's link, with its token.
	Link    string
	Expired bool
}

// OrgView is an organisation with its members and pending invitations.
type OrgView struct {
	Organization *store.Organization
	// Role is the viewing developer's role.
	Role        string
	Members     []MemberView
	Invitations []InvitationView
	// Owners is the number of owners.
	Owners int
}

// Organization returns one of the developer's organisations with its
// members and invitations.
func (m *Manager) Organization(ctx context.Context, developerID, orgID string) (*OrgView, error) {
	role, err := m.Role(ctx, developerID, orgID)
	if err != nil {
		return nil, err
	}
	o, err := m.Store.GetOrganization(ctx, orgID)
	if err != nil {
		return nil, problem.FromStore(err, "organization", orgID)
	}
	ms, err := m.Store.ListMembers(ctx, orgID)
	if err != nil {
		return nil, problem.FromStore(err, "organization", orgID)
	}
	v := &OrgView{Organization: o, Role: role}
	for _, ms := range ms {
		d, err := m.Store.GetDeveloper(ctx, ms.DeveloperID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, problem.FromStore(err, "developer", ms.DeveloperID)
		}
		v.Members = append(v.Members, MemberView{DeveloperID: d.ID, Name: d.Name, Email: d.Email, Role: ms.Role, Since: ms.CreatedAt})
		if ms.Role == store.RoleOwner {
			v.Owners++
		}
	}
	invs, err := m.Store.ListInvitations(ctx, orgID)
	if err != nil {
		return nil, problem.FromStore(err, "organization", orgID)
	}
	for _, inv := range invs {
		v.Invitations = append(v.Invitations, m.invitationView(ctx, inv, o))
	}
	return v, nil
}

func (m *Manager) invitationView(ctx context.Context, inv *store.Invitation, o *store.Organization) InvitationView {
	v := InvitationView{Invitation: inv, Organization: o, Link: m.invitationLink(inv), Expired: invitationExpired(inv, m.now())}
	if d, err := m.Store.GetDeveloper(ctx, inv.InvitedBy); err == nil {
		v.InvitedBy = d.Name
	}
	return v
}

func invitationExpired(inv *store.Invitation, now time.Time) bool { return !now.Before(inv.ExpiresAt) }

// CreateOrganization creates another organisation for the developer, who
// is its owner, with a default sandbox app like a new account's.
func (m *Manager) CreateOrganization(ctx context.Context, developerID, name string) (*Setup, error) {
	name, err := checkName("name", "an organisation name", name)
	if err != nil {
		return nil, err
	}
	return m.newOrganization(ctx, developerID, name)
}

// Invite invites an address to the organisation with a role and mails it
// the link (or logs it, without mail: the page then shows the link).
func (m *Manager) Invite(ctx context.Context, developerID, orgID, email, role string) (*InvitationView, error) {
	mine, err := m.manager(ctx, developerID, orgID)
	if err != nil {
		return nil, err
	}
	email, err = NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if !validRole(role) {
		return nil, fieldErr("role", "Choose the role: owner, admin or developer.")
	}
	if role == store.RoleOwner && mine != store.RoleOwner {
		return nil, problem.New(problem.PermissionDeniedRoleInsufficient,
			"Only owners can make someone an owner: invite them as an admin or a developer, or ask an owner.")
	}
	if d, err := m.Store.GetDeveloperByEmail(ctx, email); err == nil {
		if _, err := m.Store.GetMembership(ctx, orgID, d.ID); err == nil {
			return nil, fieldErr("email", email+" is already a member of this organisation.")
		}
	}
	o, err := m.Store.GetOrganization(ctx, orgID)
	if err != nil {
		return nil, problem.FromStore(err, "organization", orgID)
	}
	now := m.now()
	inv := &store.Invitation{ID: randomID("inv_"), OrganizationID: orgID, Email: email, Role: role,
		InvitedBy: developerID, CreatedAt: now, ExpiresAt: now.Add(InvitationTTL)}
	err = m.Store.CreateInvitation(ctx, inv)
	if errors.Is(err, store.ErrConflict) && m.dropExpiredInvitation(ctx, orgID, email) {
		err = m.Store.CreateInvitation(ctx, inv)
	}
	if errors.Is(err, store.ErrConflict) {
		return nil, fieldErr("email", "An invitation to "+email+" is already waiting; withdraw it first to send a new one.")
	}
	if err != nil {
		return nil, problem.FromStore(err, "invitation", inv.ID)
	}
	v := m.invitationView(ctx, inv, o)
	inviter := v.InvitedBy
	if inviter == "" {
		inviter = "A member"
	}
	if err := m.send(ctx, email, "Join "+o.Name+" on the developer portal",
		"Hello,\n\n"+inviter+" invites you to join the organisation "+o.Name+" as "+article(role)+" "+role+
			" on the developer portal. Accept the invitation here:\n\n"+v.Link+"\n\n"+
			"Sign in (or sign up) with this address, "+email+", to accept it. The link works for 7 days. "+
			"If you were not expecting it, you can ignore this message."); err != nil {
		_ = m.Store.DeleteInvitation(context.WithoutCancel(ctx), inv.ID) // so the form can be sent again
		return nil, err
	}
	return &v, nil
}

// dropExpiredInvitation deletes an expired invitation of email to the
// organisation; it reports whether it did.
func (m *Manager) dropExpiredInvitation(ctx context.Context, orgID, email string) bool {
	invs, err := m.Store.ListInvitations(ctx, orgID)
	if err != nil {
		return false
	}
	for _, inv := range invs {
		if inv.Email == email && invitationExpired(inv, m.now()) {
			return m.Store.DeleteInvitation(ctx, inv.ID) == nil
		}
	}
	return false
}

func article(role string) string {
	if role == store.RoleOwner || role == store.RoleAdmin {
		return "an"
	}
	return "a"
}

// WithdrawInvitation deletes a pending invitation; it returns the
// organisation's id.
func (m *Manager) WithdrawInvitation(ctx context.Context, developerID, invID string) (string, error) {
	inv, err := m.Store.GetInvitation(ctx, invID)
	if errors.Is(err, store.ErrNotFound) {
		return "", notYours("invitation", invID)
	}
	if err != nil {
		return "", problem.FromStore(err, "invitation", invID)
	}
	if _, err := m.Role(ctx, developerID, inv.OrganizationID); err != nil {
		return "", notYours("invitation", invID)
	}
	if _, err := m.manager(ctx, developerID, inv.OrganizationID); err != nil {
		return "", err
	}
	if err := m.Store.DeleteInvitation(ctx, invID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", problem.FromStore(err, "invitation", invID)
	}
	return inv.OrganizationID, nil
}

// member returns a member of the organisation, or notYours.
func (m *Manager) member(ctx context.Context, orgID, developerID string) (*store.Membership, error) {
	ms, err := m.Store.GetMembership(ctx, orgID, developerID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notYours("member", developerID)
	}
	if err != nil {
		return nil, problem.FromStore(err, "organization", orgID)
	}
	return ms, nil
}

// checkChange applies the role rules to actor (with role mine) changing
// target's role to role ("" for removing target). It is pure: owners is
// the number of owners now.
func checkChange(actor, mine string, target *store.Membership, role string, owners int) error {
	self := actor == target.DeveloperID
	if !self || role != "" { // leaving needs no role; everything else does
		if !CanManage(mine) {
			return problem.New(problem.PermissionDeniedRoleInsufficient,
				"Only the organisation's owners and admins can change roles or remove members; ask one of them.")
		}
	}
	if mine != store.RoleOwner && (role == store.RoleOwner || (target.Role == store.RoleOwner && !self)) {
		return problem.New(problem.PermissionDeniedRoleInsufficient,
			"Only owners can make someone an owner, or change or remove an owner; ask an owner.")
	}
	if target.Role == store.RoleOwner && role != store.RoleOwner && owners <= 1 {
		what := "be given another role"
		if role == "" {
			what = "leave or be removed"
		}
		return problem.Newf(problem.IncompatibleStateLastOwner,
			"This is the organisation's last owner, who cannot %s: make another member an owner first.", what)
	}
	return nil
}

// owners counts the organisation's owners.
func (m *Manager) owners(ctx context.Context, orgID string) (int, error) {
	ms, err := m.Store.ListMembers(ctx, orgID)
	if err != nil {
		return 0, problem.FromStore(err, "organization", orgID)
	}
	n := 0
	for _, ms := range ms {
		if ms.Role == store.RoleOwner {
			n++
		}
	}
	return n, nil
}

// SetRole gives a member another role.
func (m *Manager) SetRole(ctx context.Context, developerID, orgID, memberID, role string) error {
	mine, err := m.Role(ctx, developerID, orgID)
	if err != nil {
		return err
	}
	if !validRole(role) {
		return problem.Newf(problem.BadRequestInvalidParameter, "role: choose owner, admin or developer, not %q.", role).With("field", "role")
	}
	target, err := m.member(ctx, orgID, memberID)
	if err != nil {
		return err
	}
	owners, err := m.owners(ctx, orgID)
	if err != nil {
		return err
	}
	if err := checkChange(developerID, mine, target, role, owners); err != nil {
		return err
	}
	if err := m.Store.SetMemberRole(ctx, orgID, memberID, role); err != nil {
		return problem.FromStore(err, "member", memberID)
	}
	return m.keepOwner(ctx, orgID, target)
}

// RemoveMember removes a member; removing oneself is leaving.
func (m *Manager) RemoveMember(ctx context.Context, developerID, orgID, memberID string) error {
	mine, err := m.Role(ctx, developerID, orgID)
	if err != nil {
		return err
	}
	target, err := m.member(ctx, orgID, memberID)
	if err != nil {
		return err
	}
	owners, err := m.owners(ctx, orgID)
	if err != nil {
		return err
	}
	if err := checkChange(developerID, mine, target, "", owners); err != nil {
		return err
	}
	if err := m.Store.RemoveMember(ctx, orgID, memberID); err != nil {
		return problem.FromStore(err, "member", memberID)
	}
	return m.keepOwner(ctx, orgID, target)
}

// keepOwner puts back a member whose change left the organisation without
// an owner: two owners demoting or removing each other at the same time
// both pass the check, and the store has no rule across rows.
func (m *Manager) keepOwner(ctx context.Context, orgID string, before *store.Membership) error {
	if before.Role != store.RoleOwner {
		return nil
	}
	n, err := m.owners(ctx, orgID)
	if err != nil || n > 0 {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	err = m.Store.SetMemberRole(ctx, orgID, before.DeveloperID, store.RoleOwner)
	if errors.Is(err, store.ErrNotFound) { // removed: add them back
		restored := *before
		err = m.Store.AddMember(ctx, &restored)
	}
	if err != nil {
		return problem.FromStore(err, "member", before.DeveloperID)
	}
	return problem.New(problem.IncompatibleStateLastOwner,
		"Another change left the organisation without an owner at the same moment, so this one was undone: make another member an owner first.")
}

func (m *Manager) invitationToken(inv *store.Invitation) string {
	return base64.RawURLEncoding.EncodeToString(signin.MAC(m.key("invitation"), inv.ID, inv.Email))
}

func (m *Manager) invitationLink(inv *store.Invitation) string {
	return m.BaseURL + "/portal/invitations/" + url.PathEscape(inv.ID) + "?token=" + m.invitationToken(inv)
}

// OpenInvitation returns the invitation a link names once its token
// checks out. A wrong token answers like an invitation that does not
// exist; an expired one is refused (invitation_expired).
func (m *Manager) OpenInvitation(ctx context.Context, id, token string) (*InvitationView, error) {
	inv, err := m.Store.GetInvitation(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, problem.FromStore(err, "invitation", id)
	}
	if err != nil || !hmac.Equal([]byte(token), []byte(m.invitationToken(inv))) {
		return nil, problem.New(problem.NotFoundResourceNotFound,
			"This invitation link is not valid: the invitation was withdrawn or already accepted, or the link was not copied whole from the e-mail.")
	}
	o, err := m.Store.GetOrganization(ctx, inv.OrganizationID)
	if err != nil {
		return nil, problem.FromStore(err, "organization", inv.OrganizationID)
	}
	v := m.invitationView(ctx, inv, o)
	if v.Expired {
		return nil, problem.Newf(problem.GoneInvitationExpired,
			"This invitation to %s expired on %s: invitations work for 7 days. Ask an owner or admin of %s to invite you again.",
			o.Name, inv.ExpiresAt.UTC().Format("2 January 2006 15:04 MST"), o.Name)
	}
	return &v, nil
}

// CheckAddressee refuses an invitation to the developer when it was sent
// to another address.
func (v *InvitationView) CheckAddressee(d *store.Developer) error {
	if d.Email != v.Email {
		return problem.Newf(problem.PermissionDeniedInvitationAddressee,
			"This invitation was sent to %s, and you are signed in as %s. Sign out, then sign in or sign up with %s to accept it; or ask for an invitation to your own address.",
			v.Email, d.Email, v.Email)
	}
	return nil
}

// AcceptInvitation makes the developer a member with the invitation's
// role.
func (m *Manager) AcceptInvitation(ctx context.Context, d *store.Developer, id, token string) (*InvitationView, error) {
	v, err := m.OpenInvitation(ctx, id, token)
	if err != nil {
		return nil, err
	}
	if err := v.CheckAddressee(d); err != nil {
		return nil, err
	}
	_, err = m.Store.AcceptInvitation(ctx, id, d.ID, m.now())
	switch {
	case errors.Is(err, store.ErrConflict):
		_ = m.Store.DeleteInvitation(ctx, id) // of no more use
		return nil, problem.Newf(problem.AlreadyExistsDuplicate, "You are already a member of %s.", v.Organization.Name)
	case errors.Is(err, store.ErrNotFound):
		return nil, problem.New(problem.NotFoundResourceNotFound,
			"This invitation was withdrawn or already accepted a moment ago.")
	case err != nil:
		return nil, problem.FromStore(err, "invitation", id)
	}
	return v, nil
}

// MailManagers mails a message to the organisation's owners and admins
// (logs it when no mail is configured). It tries every address and
// returns the first failure.
func (m *Manager) MailManagers(ctx context.Context, organizationID, subject, text string) error {
	members, err := m.Store.ListMembers(ctx, organizationID)
	if err != nil {
		return err
	}
	var first error
	for _, ms := range members {
		if !CanManage(ms.Role) {
			continue
		}
		d, err := m.Store.GetDeveloper(ctx, ms.DeveloperID)
		if err == nil {
			err = m.send(ctx, d.Email, subject, text)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
