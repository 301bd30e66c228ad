package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("GATEHOUSE_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("schema", schema)
	u.RawQuery = q.Encode()

	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return u.String()
}
