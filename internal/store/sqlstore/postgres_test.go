package sqlstore_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/store/storetest"
)

func TestPostgres(t *testing.T) {
	storetest.RunPostgres(t, storetest.PostgresURL(t), func(t *testing.T, databaseURL string) store.Store {
		return mustOpen(t, databaseURL)
	})
}

func TestPostgresMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	u := storetest.PostgresSchema(t, storetest.PostgresURL(t))

	// Nodes starting together: the advisory lock makes them migrate one
	// after another, and all but the first find nothing to do.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := sqlstore.Open(ctx, u)
			if err == nil {
				err = db.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}

	db := mustOpen(t, u)
	if err := db.CreateClient(ctx, &store.Client{ID: "app"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = mustOpen(t, u)
	if _, err := db.GetClient(ctx, "app"); err != nil {
		t.Errorf("GetClient after reopening: %v", err)
	}

	conn, err := pgx.Connect(ctx, storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schema, _ := url.Parse(u)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+
		pgx.Identifier{schema.Query().Get("schema"), "schema_migrations"}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir("migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(files) {
		t.Errorf("schema_migrations has %d rows; want %d, one per file in migrations/postgres", n, len(files))
	}
}

// TestPostgresMigrateFrom0001 opens a schema that an older gatehouse made,
// with only the first migration applied, and checks that the later ones
// apply without touching the data.
func TestPostgresMigrateFrom0001(t *testing.T) {
	ctx := t.Context()
	base := storetest.PostgresURL(t)
	u := storetest.PostgresSchema(t, base)
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	schema := pgx.Identifier{parsed.Query().Get("schema")}.Sanitize()
	initSQL, err := os.ReadFile("migrations/postgres/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`CREATE SCHEMA ` + schema,
		`SET search_path TO ` + schema,
		`CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
		string(initSQL),
		`INSERT INTO schema_migrations (name) VALUES ('0001_init.sql')`,
		`INSERT INTO clients (id, name) VALUES ('old-app', 'Old App')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	db := mustOpen(t, u)
	if c, err := db.GetClient(ctx, "old-app"); err != nil || c.Name != "Old App" ||
		c.AppID != "" || c.Environment != "" || !c.LastUsedAt.IsZero() {
		t.Errorf("GetClient after migrating = %+v, %v; want the old client, of no app and never used", c, err)
	}
	if g, err := db.APIsGeneration(ctx); err != nil || g != 0 {
		t.Errorf("APIsGeneration after migrating = %d, %v; want 0", g, err)
	}
	if err := db.CreateAPI(ctx, &store.API{Name: "api", BasePath: "/api"}); err != nil {
		t.Errorf("CreateAPI after migrating: %v", err)
	}
	if g, err := db.APIsGeneration(ctx); err != nil || g != 1 {
		t.Errorf("APIsGeneration after CreateAPI = %d, %v; want 1", g, err)
	}
	if g, err := db.AccessGeneration(ctx); err != nil || g != 0 {
		t.Errorf("AccessGeneration after migrating = %d, %v; want 0", g, err)
	}
	if err := db.CreatePlan(ctx, &store.Plan{Name: "free"}); err != nil {
		t.Errorf("CreatePlan after migrating: %v", err)
	}
	if err := db.CreateSubscription(ctx, &store.Subscription{ID: "s", ClientID: "old-app", APIName: "api", PlanName: "free"}); err != nil {
		t.Errorf("CreateSubscription for the old client after migrating: %v", err)
	}
	if err := db.CreateUser(ctx, &store.User{ID: "u", Username: "alice"}); err != nil {
		t.Errorf("CreateUser after migrating: %v", err)
	}
	if err := db.CreateAuthCode(ctx, &store.AuthCode{Hash: "code", ClientID: "old-app", UserID: "u"}); err != nil {
		t.Errorf("CreateAuthCode for the old client after migrating: %v", err)
	}
	checkOldClientJoinsApp(ctx, t, db)
}

// TestPostgresSchemaIsolation checks that stores in different schemas of
// one database do not see each other's records.
func TestPostgresSchemaIsolation(t *testing.T) {
	base := storetest.PostgresURL(t)
	a, b := mustOpen(t, storetest.PostgresSchema(t, base)), mustOpen(t, storetest.PostgresSchema(t, base))
	if err := a.CreateClient(t.Context(), &store.Client{ID: "only-in-a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetClient(t.Context(), "only-in-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient in another schema: got %v; want store.ErrNotFound", err)
	}
}

// TestPostgresUnavailable needs no server: nothing listens on port 1.
func TestPostgresUnavailable(t *testing.T) {
	for _, u := range []string{
		"postgres://postgres@127.0.0.1:1/test?sslmode=disable",
		"postgresql://postgres@127.0.0.1:1/test?sslmode=disable&schema=x",
	} {
		start := time.Now()
		db, err := sqlstore.Open(t.Context(), u)
		if err == nil {
			db.Close()
			t.Fatalf("Open(%q) succeeded; want an error", u)
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Open(%q) = %v; want an error wrapping store.ErrUnavailable", u, err)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Errorf("Open(%q) = %v; wraps store.ErrNotFound", u, err)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("Open(%q) took %v to fail", u, d)
		}
	}

	// A deadline that passes while connecting is unavailability too.
	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if db, err := sqlstore.Open(ctx, "postgres://postgres@127.0.0.1:1/test"); err == nil {
		db.Close()
		t.Error("Open with an expired deadline succeeded")
	} else if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open with an expired deadline = %v; want store.ErrUnavailable", err)
	}
}

// TestPostgresServerGone checks that losing the server after Open is
// reported as unavailability, not as a missing record.
func TestPostgresServerGone(t *testing.T) {
	ctx := t.Context()
	base := storetest.PostgresURL(t)
	u, err := url.Parse(storetest.PostgresSchema(t, base))
	if err != nil {
		t.Fatal(err)
	}
	// A unique application_name finds this store's connections, and only
	// them, on a server other tests may share.
	app := u.Query().Get("schema")
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	db := mustOpen(t, u.String())
	if err := db.CreateClient(ctx, &store.Client{ID: "app"}); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("found no connection to terminate")
	}
	// A query on a terminated connection fails as unavailable; the pool
	// then drops it and dials again.
	sawUnavailable := false
	for range 10 {
		_, err := db.GetClient(ctx, "app")
		switch {
		case err == nil:
		case errors.Is(err, store.ErrUnavailable):
			sawUnavailable = true
		default:
			t.Errorf("GetClient after the server dropped the connection: %v; want nil or store.ErrUnavailable", err)
		}
	}
	if !sawUnavailable {
		t.Log("the pool replaced the terminated connections before any query failed")
	}
	if _, err := db.GetClient(ctx, "app"); err != nil {
		t.Errorf("GetClient once the pool has reconnected: %v", err)
	}
}
