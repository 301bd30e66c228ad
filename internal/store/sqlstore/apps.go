package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math/bits"
	"slices"
	"time"

	"gatehouse/internal/store"
)

const (
	appColumns = `id, organization_id, name, created_at, updated_at`
	selectApp  = `SELECT ` + appColumns + ` FROM apps`
)

// appTable: the constraint to its organisation is named in
// 0008_developers_orgs_apps.sql.
var appTable = newTable(table[store.App]{
	name: "apps", ids: 2, what: "ID or organization", columns: appColumns,
	refs: []ref{refOrganization.at(1)}, get: selectApp + ` WHERE id = ?`, scan: scanApp,
	args: func(db *DB, a *store.App) []any {
		return []any{a.ID, a.OrganizationID, a.Name, db.t(a.CreatedAt), db.t(a.UpdatedAt)}
	},
	stamps: func(a *store.App) (_, _ *time.Time) { return &a.CreatedAt, &a.UpdatedAt },
	check: func(a *store.App) error {
		if a.ID == "" {
			return errors.New("sqlstore: create app: empty ID")
		}
		return nil
	},
})

func scanApp(row scanner) (*store.App, error) {
	a := new(store.App)
	return a, row.Scan(&a.ID, &a.OrganizationID, &a.Name, (*tm)(&a.CreatedAt), (*tm)(&a.UpdatedAt))
}

func (db *DB) CreateApp(ctx context.Context, a *store.App) error {
	return create(db, ctx, "create app", appTable, a)
}

func (db *DB) GetApp(ctx context.Context, id string) (*store.App, error) {
	return get(db, ctx, "get app", scanApp, appTable.get, id)
}

func (db *DB) ListApps(ctx context.Context, organizationID string) ([]*store.App, error) {
	return list(db, ctx, "list apps", scanApp,
		selectApp+` WHERE organization_id = ? ORDER BY created_at, id`, organizationID)
}

func (db *DB) UpdateApp(ctx context.Context, id string, change func(a *store.App) error) (*store.App, error) {
	return update(db, ctx, "update app", appTable, id, change)
}

// DeleteApp: the foreign keys delete its clients with theirs
// (deleteCounting).
func (db *DB) DeleteApp(ctx context.Context, id string) error {
	return db.deleteCounting(ctx, "delete app", id, []string{
		`SELECT id FROM apps WHERE id = ?`,
		`SELECT id FROM clients WHERE app_id = ? ORDER BY id`,
	}, `client_id IN (SELECT id FROM clients WHERE app_id = ?)`,
		`DELETE FROM apps WHERE id = ?`, "")
}

func (db *DB) ListAppClients(ctx context.Context, appID string) ([]*store.Client, error) {
	// environment is COLLATE "C" in PostgreSQL: byte order.
	return list(db, ctx, "list app clients", scanClient, selectClient+` WHERE app_id = ? ORDER BY environment, id`, appID)
}

// recordUseBatch bounds the ids of one RecordClientUse statement, well
// below both databases' limits on a statement's parameters (SQLite 32766,
// PostgreSQL 65535).
const recordUseBatch = 1024

// RecordClientUse writes each batch of ids with one conditional UPDATE, so
// that LastUsedAt never moves backwards, whatever order concurrent calls
// commit in. Several batches share one transaction.
//
// PostgreSQL locks the rows in id order (the sub-SELECT's ORDER BY ... FOR
// UPDATE) whatever plan the statement gets: an UPDATE locks rows in the
// order its plan visits them, and two plans that visit them differently
// (an index scan in id order, a bitmap heap scan in the table's physical
// order) would let two nodes recording the same clients deadlock. (On a
// 50,000-client table both 2 and 1,024 ids were index scans; the order is
// kept for the plans not seen.) deleteCounting locks clients in id order
// too.
//
// A batch is padded to a power of two by repeating its last id, so that
// at most 11 statement texts exist: pgx prepares and caches each text per
// connection, and a text per batch length would push the hot statements
// out of its cache.
func (db *DB) RecordClientUse(ctx context.Context, clientIDs []string, at time.Time) error {
	const op = "record client use"
	return db.run(ctx, true, func(ctx context.Context) error {
		t := db.at(at)
		f := func(tx *sql.Tx) error {
			for ids := range slices.Chunk(clientIDs, recordUseBatch) {
				n := 1 << bits.Len(uint(len(ids)-1)) // the power of two at or above len(ids)
				args := make([]any, 0, n+2)
				args = append(args, t)
				for i := range n {
					args = append(args, ids[min(i, len(ids)-1)])
				}
				args = append(args, t)
				if err := db.do(ctx, tx, op, `UPDATE clients SET last_used_at = ? WHERE id IN (
					SELECT id FROM clients WHERE id IN (`+placeholders(n)+`)
					AND (last_used_at IS NULL OR last_used_at < ?) ORDER BY id`+db.d.forUpdate+`)`, args...); err != nil {
					return err
				}
			}
			return nil
		}
		switch {
		case len(clientIDs) == 0:
			return nil
		case len(clientIDs) <= recordUseBatch:
			return f(nil)
		}
		return db.tx(ctx, op, f)
	})
}
