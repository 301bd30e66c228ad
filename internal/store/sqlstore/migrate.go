package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// migrationFS holds one folder of numbered SQL files per dialect. A file's
// name (e.g. 0001_init.sql) is its identity in schema_migrations: never
// rename or edit an applied file, add the next number instead.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migrate applies pending migrations in one transaction, which keeps two
// processes from migrating at once (SQLite: BEGIN IMMEDIATE; PostgreSQL:
// an advisory lock, see beforeMigrate). It looks before it writes: on an
// up-to-date schema it writes nothing, so a read-only database (a
// standby) still opens and serves reads.
func (db *DB) migrate(ctx context.Context, schema string) error {
	const op = "migrate"
	dir := path.Join("migrations", db.d.name)
	entries, err := fs.ReadDir(migrationFS, dir) // sorted by file name
	if err != nil {
		return fmt.Errorf("sqlstore: read %s migrations: %w", db.d.name, err)
	}
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		if db.d.beforeMigrate != nil {
			if err := db.d.beforeMigrate(ctx, tx, schema); err != nil {
				return db.err(ctx, op, err)
			}
		}
		var has bool
		if err := tx.QueryRowContext(ctx, db.d.hasMigrations).Scan(&has); err != nil {
			return db.err(ctx, op, err)
		}
		if !has {
			if _, err := tx.ExecContext(ctx, db.d.createMigrations); err != nil {
				return db.err(ctx, op, err)
			}
		}
		applied, err := readAll(db, ctx, tx, op, func(row scanner) (name string, err error) {
			return name, row.Scan(&name)
		}, `SELECT name FROM schema_migrations`)
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".sql") || slices.Contains(applied, name) {
				continue
			}
			b, err := fs.ReadFile(migrationFS, path.Join(dir, name))
			if err != nil {
				return fmt.Errorf("sqlstore: read migration %s: %w", name, err)
			}
			// Without arguments the whole file runs (pgx: in the simple
			// protocol, which takes several statements).
			if _, err := tx.ExecContext(ctx, string(b)); err != nil {
				return db.err(ctx, op+" "+name, err)
			}
			if _, err := tx.ExecContext(ctx, db.sql(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`),
				name, db.d.time(db.now())); err != nil {
				return db.err(ctx, op+" "+name, err)
			}
		}
		return nil
	})
}
