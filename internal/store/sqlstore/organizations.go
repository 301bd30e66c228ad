package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gatehouse/internal/store"
)

const (
	organizationColumns = `id, name, created_at, updated_at`
	selectOrganization  = `SELECT ` + organizationColumns + ` FROM organizations`
)

var organizationTable = newTable(table[store.Organization]{
	name: "organizations", ids: 1, what: "ID", columns: organizationColumns,
	get: selectOrganization + ` WHERE id = ?`, scan: scanOrganization,
	args: func(db *DB, o *store.Organization) []any {
		return []any{o.ID, o.Name, db.t(o.CreatedAt), db.t(o.UpdatedAt)}
	},
	stamps: func(o *store.Organization) (_, _ *time.Time) { return &o.CreatedAt, &o.UpdatedAt },
	check: func(o *store.Organization) error {
		if o.ID == "" {
			return errors.New("sqlstore: create organization: empty ID")
		}
		return nil
	},
})

func scanOrganization(row scanner) (*store.Organization, error) {
	o := new(store.Organization)
	return o, row.Scan(&o.ID, &o.Name, (*tm)(&o.CreatedAt), (*tm)(&o.UpdatedAt))
}

// CreateOrganization inserts the organisation and its owner's membership
// in one transaction, the membership created with it.
func (db *DB) CreateOrganization(ctx context.Context, o *store.Organization, owner string) error {
	const op = "create organization"
	return db.run(ctx, true, func(ctx context.Context) error {
		if err := organizationTable.check(o); err != nil {
			return err
		}
		before := *o // restored if the transaction fails
		db.stamp(&o.CreatedAt, &o.UpdatedAt)
		m := &store.Membership{OrganizationID: o.ID, DeveloperID: owner, Role: store.RoleOwner, CreatedAt: o.CreatedAt}
		err := db.tx(ctx, op, func(tx *sql.Tx) error {
			if err := insert(db, ctx, tx, op, organizationTable, o); err != nil {
				return err
			}
			return insert(db, ctx, tx, op, membershipTable, m)
		})
		if err != nil {
			*o = before
		}
		return err
	})
}

func (db *DB) GetOrganization(ctx context.Context, id string) (*store.Organization, error) {
	return get(db, ctx, "get organization", scanOrganization, organizationTable.get, id)
}

func (db *DB) ListOrganizations(ctx context.Context) ([]*store.Organization, error) {
	// name and id are COLLATE "C" in PostgreSQL: byte order.
	return list(db, ctx, "list organizations", scanOrganization, selectOrganization+` ORDER BY name, id`)
}

func (db *DB) UpdateOrganization(ctx context.Context, id string, change func(o *store.Organization) error) (*store.Organization, error) {
	return update(db, ctx, "update organization", organizationTable, id, change)
}

// DeleteOrganization: the foreign keys delete its memberships, invitations
// and apps, and the apps' clients with theirs (deleteCounting).
func (db *DB) DeleteOrganization(ctx context.Context, id string) error {
	return db.deleteCounting(ctx, "delete organization", id, []string{
		`SELECT id FROM organizations WHERE id = ?`,
		`SELECT id FROM apps WHERE organization_id = ? ORDER BY id`,
		`SELECT id FROM clients WHERE app_id IN (SELECT id FROM apps WHERE organization_id = ?) ORDER BY id`,
	}, `client_id IN (SELECT c.id FROM clients c
		JOIN apps a ON a.id = c.app_id WHERE a.organization_id = ?)`,
		`DELETE FROM organizations WHERE id = ?`, "")
}

const (
	membershipColumns = `organization_id, developer_id, role, created_at`
	selectMembership  = `SELECT ` + membershipColumns + ` FROM memberships`
)

// membershipTable is only inserted into (its key is a pair, which get and
// update do not handle); the constraints are named in
// 0008_developers_orgs_apps.sql.
var membershipTable = newTable(table[store.Membership]{
	name: "memberships", ids: 2, columns: membershipColumns,
	refs: []ref{refOrganization.at(0), refDeveloper.at(1)}, scan: scanMembership,
	args: func(db *DB, m *store.Membership) []any {
		return []any{m.OrganizationID, m.DeveloperID, m.Role, db.t(m.CreatedAt)}
	},
	stamps: func(m *store.Membership) (_, _ *time.Time) { return &m.CreatedAt, nil },
})

func scanMembership(row scanner) (*store.Membership, error) {
	m := new(store.Membership)
	return m, row.Scan(&m.OrganizationID, &m.DeveloperID, &m.Role, (*tm)(&m.CreatedAt))
}

func (db *DB) AddMember(ctx context.Context, m *store.Membership) error {
	return create(db, ctx, "add member", membershipTable, m)
}

func (db *DB) GetMembership(ctx context.Context, organizationID, developerID string) (*store.Membership, error) {
	return run(db, ctx, false, func(ctx context.Context) (*store.Membership, error) {
		m, err := scanMembership(db.readRow(ctx, selectMembership+` WHERE organization_id = ? AND developer_id = ?`,
			organizationID, developerID))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notMember(organizationID, developerID)
		}
		if err != nil {
			return nil, db.err(ctx, "get membership", err)
		}
		return m, nil
	})
}

func notMember(organizationID, developerID string) error {
	return fmt.Errorf("sqlstore: developer %q in organization %q: not a member: %w", developerID, organizationID, store.ErrNotFound)
}

// writeMember runs query, a write of the membership of developerID in
// organizationID: not found when it affects no row.
func (db *DB) writeMember(ctx context.Context, op, organizationID, developerID, query string, args ...any) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		n, err := db.count(ctx, nil, query, args...)
		if err != nil {
			return db.err(ctx, op, err)
		}
		if n == 0 {
			return notMember(organizationID, developerID)
		}
		return nil
	})
}

func (db *DB) SetMemberRole(ctx context.Context, organizationID, developerID, role string) error {
	return db.writeMember(ctx, "set member role", organizationID, developerID,
		`UPDATE memberships SET role = ? WHERE organization_id = ? AND developer_id = ?`,
		role, organizationID, developerID)
}

func (db *DB) RemoveMember(ctx context.Context, organizationID, developerID string) error {
	return db.writeMember(ctx, "remove member", organizationID, developerID,
		`DELETE FROM memberships WHERE organization_id = ? AND developer_id = ?`, organizationID, developerID)
}

func (db *DB) ListMembers(ctx context.Context, organizationID string) ([]*store.Membership, error) {
	return list(db, ctx, "list members", scanMembership,
		selectMembership+` WHERE organization_id = ? ORDER BY created_at, developer_id`, organizationID)
}

func (db *DB) ListMemberships(ctx context.Context, developerID string) ([]*store.Membership, error) {
	return list(db, ctx, "list memberships", scanMembership,
		selectMembership+` WHERE developer_id = ? ORDER BY created_at, organization_id`, developerID)
}

const (
	invitationColumns = `id, organization_id, email, role, invited_by, created_at, expires_at`
	selectInvitation  = `SELECT ` + invitationColumns + ` FROM invitations`
	// acceptInvitation claims the invitation in one statement: of
	// concurrent accepts exactly one deletes it (PostgreSQL: the others
	// wait for its row lock, then find it gone), and the others are told
	// it no longer exists.
	acceptInvitation = `DELETE FROM invitations WHERE id = ? RETURNING ` + invitationColumns
)

// invitationTable: one invitation per organisation and (lower-cased)
// address; the constraint is named in 0008_developers_orgs_apps.sql.
var invitationTable = newTable(table[store.Invitation]{
	name: "invitations", ids: 1, columns: invitationColumns,
	refs: []ref{refOrganization.at(1)}, get: selectInvitation + ` WHERE id = ?`, scan: scanInvitation,
	args: func(db *DB, inv *store.Invitation) []any {
		return []any{inv.ID, inv.OrganizationID, inv.Email, inv.Role, inv.InvitedBy,
			db.t(inv.CreatedAt), db.t(inv.ExpiresAt)}
	},
	stamps: func(inv *store.Invitation) (_, _ *time.Time) { return &inv.CreatedAt, nil },
	check: func(inv *store.Invitation) error {
		if inv.ID == "" || inv.Email == "" {
			return fmt.Errorf("sqlstore: create invitation: empty ID or e-mail address (%q, %q)", inv.ID, inv.Email)
		}
		return nil
	},
	normalize: func(inv *store.Invitation) { inv.Email = strings.ToLower(inv.Email) },
})

func scanInvitation(row scanner) (*store.Invitation, error) {
	inv := new(store.Invitation)
	return inv, row.Scan(&inv.ID, &inv.OrganizationID, &inv.Email, &inv.Role, &inv.InvitedBy,
		(*tm)(&inv.CreatedAt), (*tm)(&inv.ExpiresAt))
}

func (db *DB) CreateInvitation(ctx context.Context, inv *store.Invitation) error {
	return create(db, ctx, "create invitation", invitationTable, inv)
}

func (db *DB) GetInvitation(ctx context.Context, id string) (*store.Invitation, error) {
	return get(db, ctx, "get invitation", scanInvitation, invitationTable.get, id)
}

func (db *DB) ListInvitations(ctx context.Context, organizationID string) ([]*store.Invitation, error) {
	return list(db, ctx, "list invitations", scanInvitation,
		selectInvitation+` WHERE organization_id = ? ORDER BY created_at, id`, organizationID)
}

func (db *DB) DeleteInvitation(ctx context.Context, id string) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		return db.one(ctx, nil, "delete invitation", id, `DELETE FROM invitations WHERE id = ?`, id)
	})
}

// AcceptInvitation deletes the invitation and inserts the membership in
// one transaction: when the insert fails (already a member, no such
// developer) the invitation stays.
func (db *DB) AcceptInvitation(ctx context.Context, id, developerID string, now time.Time) (*store.Membership, error) {
	const op = "accept invitation"
	return run(db, ctx, true, func(ctx context.Context) (*store.Membership, error) {
		var m *store.Membership
		err := db.tx(ctx, op, func(tx *sql.Tx) error {
			inv, err := scanInvitation(db.writeRow(ctx, tx, acceptInvitation, id))
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: accept invitation %q: used, withdrawn or never sent: %w", id, store.ErrNotFound)
			}
			if err != nil {
				return db.err(ctx, op, err)
			}
			m = &store.Membership{OrganizationID: inv.OrganizationID, DeveloperID: developerID, Role: inv.Role,
				CreatedAt: truncate(db.orNow(now), db.d.precision)}
			return insert(db, ctx, tx, op, membershipTable, m)
		})
		if err != nil {
			return nil, err
		}
		return m, nil
	})
}
