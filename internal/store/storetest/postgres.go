package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
)

// PostgresURL returns the PostgreSQL server to test against, named by
// GATEHOUSE_TEST_POSTGRES_URL, or skips tb when it is not set.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
	if u == "" {
		tb.Skipf("GATEHOUSE_TEST_POSTGRES_URL not set, skipping PostgreSQL tests")
	}
	return u
}

// PostgresSchema returns base with a schema of its own (schema=NAME, named
// after the test), so that tests sharing one server never see each other's
// records, and drops the schema when the test ends. Register it before
// opening stores on it: cleanups run last-registered first, so the stores
// close before the schema is dropped.
func PostgresSchema(tb testing.TB, base string) string {
	tb.Helper()
	schema := schemaName(tb)
	u := WithSchema(tb, base, schema)
	tb.Cleanup(func() {
		if err := postgresExec(base, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return u
}

// schemaName returns a new schema name for tb: its name and a random
// suffix.
func schemaName(tb testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(tb.Name()) {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return "t_" + name + "_" + hex.EncodeToString(suffix)
}

// WithSchema returns base with schema=NAME set: the stores opened on it
// keep their tables in that schema.
func WithSchema(tb testing.TB, base, schema string) string {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("PostgreSQL URL: %v", err)
	}
	q := u.Query()
	q.Set("schema", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresExec runs stmts in order over a direct connection to dbURL (a
// server's URL, without gatehouse's schema parameter), failing tb on the
// first error.
func PostgresExec(tb testing.TB, dbURL string, stmts ...string) {
	tb.Helper()
	if err := postgresExec(dbURL, stmts...); err != nil {
		tb.Fatal(err)
	}
}

// PostgresCount returns the number of rows of schema.table, counted over a
// direct connection to dbURL (a server's URL, as for PostgresExec).
func PostgresCount(tb testing.TB, dbURL, schema, table string) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, table}.Sanitize()).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func postgresExec(dbURL string, stmts ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// RunPostgres runs the suite against the PostgreSQL server at base, open
// making each subtest's store from a URL with a schema of its own.
// Schemas are reused: when a subtest ends (after its stores closed), its
// tables are put back as migrations left them (emptied with one TRUNCATE,
// then the rows migrations seed written again) and the schema handed to
// the next subtest, whose Open finds it migrated and writes nothing.
// Creating, migrating and dropping a schema per subtest was nearly all of
// the suite's time: about two seconds per subtest on a loaded CI machine,
// which took the race detector's run of this package past go test's
// ten-minute limit. Every schema is dropped when t ends.
func RunPostgres(t *testing.T, base string, open func(t *testing.T, databaseURL string) store.Store) {
	var (
		mu        sync.Mutex
		free, all []string
		seed      []tableRows // as migrations left a schema
	)
	t.Cleanup(func() {
		for _, schema := range all {
			if err := postgresExec(base, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
		}
	})
	Run(t, func(t *testing.T) store.Store {
		mu.Lock()
		schema, fresh := "", false
		if n := len(free); n > 0 {
			schema, free = free[n-1], free[:n-1]
		} else {
			schema, fresh = schemaName(t), true
			all = append(all, schema)
		}
		mu.Unlock()
		// Registered before open's cleanups, so it runs after them.
		t.Cleanup(func() {
			mu.Lock()
			rows := seed
			mu.Unlock()
			if err := resetSchema(base, schema, rows); err != nil {
				t.Errorf("reset schema %s: %v", schema, err)
				return // not reused; dropped with the rest
			}
			mu.Lock()
			free = append(free, schema)
			mu.Unlock()
		})
		s := open(t, WithSchema(t, base, schema))
		if fresh {
			mu.Lock()
			defer mu.Unlock()
			if seed == nil {
				rows, err := schemaRows(base, schema)
				if err != nil {
					t.Fatalf("read the rows migrations seed in %s: %v", schema, err)
				}
				seed = rows
			}
		}
		return s
	})
}

// tableRows are the rows of one table.
type tableRows struct {
	table   string
	columns []string
	rows    [][]any
}

// schemaTables lists schema's tables but the record of applied migrations.
func schemaTables(ctx context.Context, conn *pgx.Conn, schema string) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename <> 'schema_migrations' ORDER BY tablename`, schema)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// schemaRows reads the rows of every table of schema (non-empty tables
// only; fresh from migrations, these are the few they seed).
func schemaRows(base, schema string) ([]tableRows, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	tables, err := schemaTables(ctx, conn, schema)
	if err != nil {
		return nil, err
	}
	out := []tableRows{}
	for _, table := range tables {
		rows, err := conn.Query(ctx, `SELECT * FROM `+pgx.Identifier{schema, table}.Sanitize())
		if err != nil {
			return nil, err
		}
		tr := tableRows{table: table}
		for _, f := range rows.FieldDescriptions() {
			tr.columns = append(tr.columns, f.Name)
		}
		tr.rows, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]any, error) { return row.Values() })
		if err != nil {
			return nil, err
		}
		if len(tr.rows) > 0 {
			out = append(out, tr)
		}
	}
	return out, nil
}

// resetSchema puts schema's tables back as migrations left them: every row
// deleted, identity columns restarted, then seed written again, in one
// transaction. DELETE, not TRUNCATE: for tables of a few rows it is many
// times faster (TRUNCATE makes new files for every table and index), and
// with session_replication_role = replica foreign keys do not dictate the
// order. The transaction commits without waiting for its WAL flush: a
// crash of the test server loses test data only.
func resetSchema(base, schema string, seed []tableRows) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	tables, err := schemaTables(ctx, conn, schema)
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND is_identity = 'YES'`, schema)
	if err != nil {
		return err
	}
	identities, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var table, column string
		err := row.Scan(&table, &column)
		return `ALTER TABLE ` + pgx.Identifier{schema, table}.Sanitize() + ` ALTER COLUMN ` + pgx.Identifier{column}.Sanitize() + ` RESTART;`, err
	})
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("SET LOCAL session_replication_role = replica; SET LOCAL synchronous_commit = off;")
	for _, table := range tables {
		b.WriteString(" DELETE FROM " + pgx.Identifier{schema, table}.Sanitize() + ";")
	}
	b.WriteString(strings.Join(identities, " "))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, b.String()); err != nil { // no arguments: the simple protocol, several statements
		return err
	}
	for _, tr := range seed {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{schema, tr.table}, tr.columns, pgx.CopyFromRows(tr.rows)); err != nil {
			return fmt.Errorf("seed %s: %w", tr.table, err)
		}
	}
	return tx.Commit(ctx)
}
