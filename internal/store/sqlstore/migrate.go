package sqlstore

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// migrationFS holds one folder of numbered SQL files per dialect. A file's
// name (e.g. 0001_init.sql) is its identity in schema_migrations: never
// rename or edit an applied file, add the next number instead.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migration is one embedded SQL file.
type migration struct {
	name string // file name, recorded in schema_migrations
	sql  string
}

// loadMigrations returns dialect's migrations in the order they apply
// (fs.ReadDir sorts by file name).
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read %s migrations: %w", dialect, err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{name: e.Name(), sql: string(b)})
	}
	return ms, nil
}
