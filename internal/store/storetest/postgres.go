package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	schema := "t_" + name + "_" + hex.EncodeToString(suffix)

	u := WithSchema(tb, base, schema)
	tb.Cleanup(func() {
		if err := postgresExec(base, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return u
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
