package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gatehouse/internal/store"
)

const (
	developerColumns = `id, email, name, password_hash, email_verified_at, status,
	totp_secret_sealed, sessions_not_before, created_at, updated_at`
	selectDeveloper = `SELECT ` + developerColumns + ` FROM developers`
)

// developerTable: e-mail addresses are stored lower-cased, so that the
// unique index makes one account per address whatever its case.
var developerTable = newTable(table[store.Developer]{
	name: "developers", ids: 1, what: "ID", columns: developerColumns,
	get: selectDeveloper + ` WHERE id = ?`, scan: scanDeveloper, args: (*DB).developerArgs,
	stamps: func(d *store.Developer) (_, _ *time.Time) { return &d.CreatedAt, &d.UpdatedAt },
	check: func(d *store.Developer) error {
		if d.ID == "" || d.Email == "" {
			return fmt.Errorf("sqlstore: create developer: empty ID or e-mail address (%q, %q)", d.ID, d.Email)
		}
		return nil
	},
	normalize: func(d *store.Developer) { d.Email = strings.ToLower(d.Email) },
})

func scanDeveloper(row scanner) (*store.Developer, error) {
	d := new(store.Developer)
	return d, row.Scan(&d.ID, &d.Email, &d.Name, &d.PasswordHash, (*tm)(&d.EmailVerifiedAt), &d.Status,
		(*bytesCol)(&d.TOTPSecretSealed), (*tm)(&d.SessionsNotBefore), (*tm)(&d.CreatedAt), (*tm)(&d.UpdatedAt))
}

// developerArgs returns d's columns in developerColumns order.
func (db *DB) developerArgs(d *store.Developer) []any {
	return []any{d.ID, d.Email, d.Name, d.PasswordHash, db.t(d.EmailVerifiedAt), d.Status,
		orNull(d.TOTPSecretSealed), db.t(d.SessionsNotBefore), db.t(d.CreatedAt), db.t(d.UpdatedAt)}
}

func (db *DB) CreateDeveloper(ctx context.Context, d *store.Developer) error {
	return create(db, ctx, "create developer", developerTable, d)
}

func (db *DB) GetDeveloper(ctx context.Context, id string) (*store.Developer, error) {
	return get(db, ctx, "get developer", scanDeveloper, developerTable.get, id)
}

func (db *DB) GetDeveloperByEmail(ctx context.Context, email string) (*store.Developer, error) {
	// Stored lower-cased: any case finds the account.
	return get(db, ctx, "get developer by e-mail address", scanDeveloper,
		selectDeveloper+` WHERE email = ?`, strings.ToLower(email))
}

func (db *DB) ListDevelopers(ctx context.Context) ([]*store.Developer, error) {
	// email is COLLATE "C" in PostgreSQL (0008_developers_orgs_apps.sql): byte order.
	return list(db, ctx, "list developers", scanDeveloper, selectDeveloper+` ORDER BY email`)
}

func (db *DB) UpdateDeveloper(ctx context.Context, id string, change func(d *store.Developer) error) (*store.Developer, error) {
	return update(db, ctx, "update developer", developerTable, id, change)
}

func (db *DB) DeleteDeveloper(ctx context.Context, id string) error {
	// One statement: the foreign keys delete the developer's memberships
	// with them.
	return db.run(ctx, true, func(ctx context.Context) error {
		return db.one(ctx, nil, "delete developer", id, `DELETE FROM developers WHERE id = ?`, id)
	})
}
