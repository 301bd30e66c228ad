package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/store/storetest"
)

// mustOpen opens databaseURL and closes the store when the test ends.
func mustOpen(tb testing.TB, databaseURL string) *sqlstore.DB {
	tb.Helper()
	db, err := sqlstore.Open(context.Background(), databaseURL)
	if err != nil {
		tb.Fatalf("Open(%q): %v", databaseURL, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}

func TestSQLiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return mustOpen(t, ":memory:")
	})
}

// TestSQLiteMemoryPrivate checks that every Open of ":memory:" gets its own
// database.
func TestSQLiteMemoryPrivate(t *testing.T) {
	a, b := mustOpen(t, ":memory:"), mustOpen(t, ":memory:")
	if err := a.CreateClient(t.Context(), &store.Client{ID: "only-in-a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetClient(t.Context(), "only-in-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient on another in-memory store: got %v; want store.ErrNotFound", err)
	}
}

// TestSQLiteReopen checks that everything written survives closing the
// database and opening the file again.
func TestSQLiteReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := sqlstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Client{ID: "app", Name: "App", SecretHash: []byte{1, 2, 3}, Scopes: []string{"openid"}}
	if err := db.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	k := &store.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte("secret"), PublicJWK: []byte("{}")}
	if err := db.RotateSigningKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	tok := &store.RevokedToken{ID: "jti", ClientID: "app", ExpiresAt: time.Now().Add(time.Hour)}
	if err := db.RevokeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := db.UseAssertionID(ctx, "app", "assertion", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	doc := []byte("openapi: 3.1.0\n\x00\xff")
	if err := db.CreateAPI(ctx, &store.API{Name: "api", BasePath: "/api", Document: doc}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreatePlan(ctx, &store.Plan{Name: "gold", RatePerSecond: 2.5, RequiresApproval: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSubscription(ctx, &store.Subscription{ID: "sub", ClientID: "app", APIName: "api", PlanName: "gold"}); err != nil {
		t.Fatal(err)
	}
	hour := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	if err := db.AddUsage(ctx, []store.UsageRecord{{ClientID: "app", APIName: "api", Hour: hour, Status: 200, Count: 7}}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, &store.User{ID: "u", Username: "alice", PhoneNumber: "+34600000001"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRefreshToken(ctx, &store.RefreshToken{Hash: "t0", FamilyID: "f", ClientID: "app", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = mustOpen(t, path)
	if u, err := db.GetUserByPhone(ctx, "+34600000001"); err != nil || u.Username != "alice" {
		t.Errorf("GetUserByPhone after reopening = %+v, %v; want alice", u, err)
	}
	if tok, err := db.GetRefreshToken(ctx, "t0"); err != nil || tok.FamilyID != "f" {
		t.Errorf("GetRefreshToken after reopening = %+v, %v; want t0", tok, err)
	}
	got, err := db.GetClient(ctx, "app")
	if err != nil {
		t.Fatalf("GetClient after reopening: %v", err)
	}
	if got.Name != "App" || !slices.Equal(got.Scopes, c.Scopes) || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("client after reopening = %+v; want %+v", got, c)
	}
	ks, err := db.ListSigningKeys(ctx)
	if err != nil || len(ks) != 1 || ks[0].ID != "k1" || string(ks[0].PrivateKey) != "secret" {
		t.Errorf("ListSigningKeys after reopening = %v, %v; want k1", ks, err)
	}
	ts, err := db.ListRevokedTokensSince(ctx, time.Time{})
	if err != nil || len(ts) != 1 || ts[0].ID != "jti" {
		t.Errorf("ListRevokedTokensSince after reopening = %v, %v; want jti", ts, err)
	}
	if err := db.UseAssertionID(ctx, "app", "assertion", time.Now().Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UseAssertionID after reopening: got %v; want store.ErrConflict", err)
	}
	if a, err := db.GetAPI(ctx, "api"); err != nil || string(a.Document) != string(doc) {
		t.Errorf("GetAPI after reopening = %+v, %v; want the API", a, err)
	}
	if g, err := db.APIsGeneration(ctx); err != nil || g != 1 {
		t.Errorf("APIsGeneration after reopening = %d, %v; want 1", g, err)
	}
	if p, err := db.GetPlan(ctx, "gold"); err != nil || p.RatePerSecond != 2.5 || !p.RequiresApproval {
		t.Errorf("GetPlan after reopening = %+v, %v; want the plan", p, err)
	}
	if sub, err := db.FindSubscription(ctx, "app", "api"); err != nil || sub.ID != "sub" {
		t.Errorf("FindSubscription after reopening = %+v, %v; want sub", sub, err)
	}
	if g, err := db.AccessGeneration(ctx); err != nil || g != 2 {
		t.Errorf("AccessGeneration after reopening = %d, %v; want 2", g, err)
	}
	if rs, err := db.ListUsage(ctx, store.UsageFilter{}); err != nil || len(rs) != 1 || rs[0].Count != 7 || !rs[0].Hour.Equal(hour) {
		t.Errorf("ListUsage after reopening = %+v, %v; want one bucket of 7", rs, err)
	}
	// Foreign keys hold on the reopened file too.
	if err := db.CreateSubscription(ctx, &store.Subscription{ID: "x", ClientID: "nobody", APIName: "api", PlanName: "gold"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateSubscription for a missing client after reopening: got %v; want store.ErrNotFound", err)
	}
	if err := db.DeleteUser(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetRefreshToken(ctx, "t0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRefreshToken after deleting its user on the reopened file: got %v; want store.ErrNotFound", err)
	}
}

// TestSQLiteMigrateFrom0001 opens a database that an older gatehouse made,
// with only the first migration applied, and checks that the later ones
// apply without touching the data.
func TestSQLiteMigrateFrom0001(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	initSQL, err := os.ReadFile("migrations/sqlite/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`,
		string(initSQL),
		`INSERT INTO schema_migrations (name, applied_at) VALUES ('0001_init.sql', 0)`,
		`INSERT INTO clients (id, name) VALUES ('old-app', 'Old App')`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			raw.Close()
			t.Fatal(err)
		}
	}
	raw.Close()

	db := mustOpen(t, path)
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
	files, err := os.ReadDir("migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countMigrations(t, path), len(files); got != want {
		t.Errorf("schema_migrations has %d rows; want %d", got, want)
	}
}

// countMigrations returns how many migrations the SQLite file at path
// records, reading it without the store.
func countMigrations(t *testing.T, path string) int {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSQLiteMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	first := mustOpen(t, path)
	if err := first.CreateClient(ctx, &store.Client{ID: "app"}); err != nil {
		t.Fatal(err)
	}
	want := countMigrations(t, path)
	if want == 0 {
		t.Fatal("schema_migrations is empty after Open")
	}
	first.Close()

	// Open again, then several times at once, as nodes starting together
	// would; none may re-apply a migration or fail.
	second := mustOpen(t, path)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := sqlstore.Open(ctx, path)
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
	if _, err := second.GetClient(ctx, "app"); err != nil {
		t.Errorf("GetClient after reopening: %v", err)
	}
	if got := countMigrations(t, path); got != want {
		t.Errorf("schema_migrations has %d rows after opening again; want %d", got, want)
	}
}

// TestSQLiteTwoHandles runs writers through two stores on one file, as the
// server and a CLI command would: no write may fail with SQLITE_BUSY and no
// update may be lost.
func TestSQLiteTwoHandles(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	a, b := mustOpen(t, path), mustOpen(t, path)
	if err := a.CreateClient(ctx, &store.Client{ID: "shared"}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateAPI(ctx, &store.API{Name: "shared", BasePath: "/shared"}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	hour := time.Now().UTC().Truncate(time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			_, err := db.UpdateClient(ctx, "shared", func(c *store.Client) error {
				c.Scopes = append(c.Scopes, fmt.Sprintf("s%02d", i))
				return nil
			})
			errs <- err
		})
		wg.Go(func() {
			errs <- db.UseAssertionID(ctx, "shared", fmt.Sprintf("jti-%d", i), time.Now().Add(time.Hour))
		})
		wg.Go(func() {
			_, err := db.UpdateAPI(ctx, "shared", func(a *store.API) error {
				a.Document = fmt.Appendf(a.Document, "%02d\n", i)
				return nil
			})
			errs <- err
		})
		wg.Go(func() {
			errs <- db.AddUsage(ctx, []store.UsageRecord{
				{ClientID: "shared", APIName: "shared", Hour: hour, Status: 200, Count: 1, LatencyMax: int64(i)},
				{ClientID: "shared", APIName: "shared", Hour: hour, Status: 500, Count: 2, LatencyMax: int64(i)},
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("write through two handles: %v", err)
		}
	}
	c, err := b.GetClient(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	scopes := slices.Clone(c.Scopes)
	sort.Strings(scopes)
	if len(scopes) != n {
		t.Errorf("Scopes = %q; want %d entries", scopes, n)
	}
	api, err := a.GetAPI(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(api.Document); got != 3*n {
		t.Errorf("Document = %q; want %d lines", api.Document, n)
	}
	rs, err := a.ListUsage(ctx, store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Count != n || rs[1].Count != 2*n || rs[0].LatencyMax != n-1 {
		t.Errorf("ListUsage = %+v; want counts %d and %d (lost updates)", rs, n, 2*n)
	}
	// Each handle counts every write, its own and the other's.
	for _, db := range []*sqlstore.DB{a, b} {
		if g, err := db.APIsGeneration(ctx); err != nil || g != 1+n {
			t.Errorf("APIsGeneration = %d, %v; want %d", g, err, 1+n)
		}
	}
}

func TestSQLiteURLForms(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		url  string
		file string // created file, "" for in-memory
	}{
		{"plain path", filepath.Join(dir, "plain.db"), filepath.Join(dir, "plain.db")},
		{"sqlite scheme", "sqlite://" + filepath.Join(dir, "scheme.db"), filepath.Join(dir, "scheme.db")},
		{"file prefix", "file:" + filepath.Join(dir, "file.db"), filepath.Join(dir, "file.db")},
		{"file URL", "file://" + filepath.Join(dir, "fileurl.db"), filepath.Join(dir, "fileurl.db")},
		{"parent directories created", filepath.Join(dir, "a", "b", "c.db"), filepath.Join(dir, "a", "b", "c.db")},
		{"odd characters", filepath.Join(dir, "we#ird %20 name.db"), filepath.Join(dir, "we#ird %20 name.db")},
		{"memory", ":memory:", ""},
		{"sqlite memory", "sqlite://:memory:", ""},
		{"file memory", "file::memory:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t, tt.url)
			if err := db.CreateClient(t.Context(), &store.Client{ID: "x"}); err != nil {
				t.Fatalf("CreateClient: %v", err)
			}
			if tt.file != "" {
				fi, err := os.Stat(tt.file)
				if err != nil {
					t.Fatalf("database file: %v", err)
				}
				if mode := fi.Mode().Perm(); mode != 0o600 {
					t.Errorf("database file mode = %v; want -rw-------", mode)
				}
			}
		})
	}
	if _, err := os.Stat(":memory:"); err == nil {
		t.Errorf(`Open(":memory:") created a file named ":memory:"`)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		url         string
		unavailable bool
	}{
		{"empty", "", false},
		{"unknown scheme", "mysql://localhost/db", false},
		{"sqlite query", filepath.Join(dir, "x.db") + "?mode=ro", false},
		{"sqlite without path", "sqlite://", false},
		{"bad schema", "postgres://localhost/db?schema=no-dashes", false},
		{"schema starting with a digit", "postgres://localhost/db?schema=1abc", false},
		{"parent is a file", filepath.Join(notDir, "x.db"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqlstore.Open(t.Context(), tt.url)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded; want an error", tt.url)
			}
			if got := errors.Is(err, store.ErrUnavailable); got != tt.unavailable {
				t.Errorf("Open(%q) = %v; wraps store.ErrUnavailable: %v, want %v", tt.url, err, got, tt.unavailable)
			}
		})
	}
}

// TestSQLiteNow checks that the DB's clock fills timestamps and decides
// assertion expiry.
func TestSQLiteNow(t *testing.T) {
	ctx := t.Context()
	db := mustOpen(t, ":memory:")
	now := time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, time.UTC)
	db.Now = func() time.Time { return now }

	c := &store.Client{ID: "app"}
	if err := db.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Millisecond); !c.CreatedAt.Equal(want) || !c.UpdatedAt.Equal(want) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v; want %v", c.CreatedAt, c.UpdatedAt, want)
	}
	if err := db.UseAssertionID(ctx, "app", "jti", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := db.UseAssertionID(ctx, "app", "jti", now.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UseAssertionID before expiry: got %v; want store.ErrConflict", err)
	}
	p := &store.Plan{Name: "free"}
	if err := db.CreatePlan(ctx, p); err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Millisecond); !p.CreatedAt.Equal(want) || !p.UpdatedAt.Equal(want) {
		t.Errorf("plan CreatedAt, UpdatedAt = %v, %v; want %v", p.CreatedAt, p.UpdatedAt, want)
	}
	// Zero now arguments are the DB's clock too.
	if err := db.CreateUser(ctx, &store.User{ID: "u", Username: "u"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAuthCode(ctx, &store.AuthCode{Hash: "code", ClientID: "app", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	if c, err := db.RedeemAuthCode(ctx, "code", time.Time{}); err != nil || !c.UsedAt.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("RedeemAuthCode with a zero now = %+v, %v; want UsedAt %v", c, err, now)
	}
	if err := db.CreateRefreshToken(ctx, &store.RefreshToken{Hash: "t0", FamilyID: "f", ClientID: "app", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	next := &store.RefreshToken{Hash: "t1", FamilyID: "f", ClientID: "app", UserID: "u"}
	if tok, err := db.RotateRefreshToken(ctx, "t0", time.Time{}, next); err != nil || !tok.RotatedAt.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("RotateRefreshToken with a zero now = %+v, %v; want RotatedAt %v", tok, err, now)
	}
	if want := now.Truncate(time.Millisecond); !next.CreatedAt.Equal(want) {
		t.Errorf("next CreatedAt = %v; want %v", next.CreatedAt, want)
	}
	if err := db.RevokeRefreshFamily(ctx, "f", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if tok, err := db.GetRefreshToken(ctx, "t1"); err != nil || !tok.RevokedAt.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("GetRefreshToken after RevokeRefreshFamily with a zero now = %+v, %v; want RevokedAt %v", tok, err, now)
	}
	now = now.Add(time.Second) // exactly at expiry: expired
	if err := db.UseAssertionID(ctx, "app", "jti", now.Add(time.Hour)); err != nil {
		t.Errorf("UseAssertionID at expiry: %v; want no error", err)
	}
}

// TestUpdateClientKeepsID checks that an update changing the key is
// refused rather than silently writing another row or ignoring it.
func TestUpdateClientKeepsID(t *testing.T) {
	ctx := t.Context()
	db := mustOpen(t, ":memory:")
	if err := db.CreateClient(ctx, &store.Client{ID: "app", Name: "App"}); err != nil {
		t.Fatal(err)
	}
	_, err := db.UpdateClient(ctx, "app", func(c *store.Client) error {
		c.ID, c.Name = "other", "Other"
		return nil
	})
	if err == nil {
		t.Fatal("UpdateClient changing the ID succeeded; want an error")
	}
	if c, err := db.GetClient(ctx, "app"); err != nil || c.Name != "App" {
		t.Errorf("GetClient(app) = %+v, %v; want it unchanged", c, err)
	}
	if _, err := db.GetClient(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(other): got %v; want store.ErrNotFound", err)
	}
}

// TestCloseWhileInUse: a read still under way when the store closes (a
// node's background reload at shutdown) gets an error, not a data race
// on the prepared statements (run with -race).
func TestCloseWhileInUse(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ctx := context.Background()
	started, done := make(chan struct{}), make(chan error, 1)
	go func() {
		close(started)
		for {
			if _, err := db.APIsGeneration(ctx); err != nil {
				done <- err
				return
			}
		}
	}()
	<-started
	if _, err := db.APIsGeneration(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("reads after Close succeed")
	}
}

// checkOldClientJoinsApp: after migrating to 0008, a client made before
// it can become an app's credential, and goes with the app's organisation
// (both backends' migration tests).
func checkOldClientJoinsApp(ctx context.Context, t *testing.T, db *sqlstore.DB) {
	t.Helper()
	if err := db.CreateDeveloper(ctx, &store.Developer{ID: "d", Email: "d@example.com"}); err != nil {
		t.Errorf("CreateDeveloper after migrating: %v", err)
	}
	if err := db.CreateOrganization(ctx, &store.Organization{ID: "o"}, "d"); err != nil {
		t.Errorf("CreateOrganization after migrating: %v", err)
	}
	if err := db.CreateApp(ctx, &store.App{ID: "a", OrganizationID: "o"}); err != nil {
		t.Errorf("CreateApp after migrating: %v", err)
	}
	if _, err := db.UpdateClient(ctx, "old-app", func(c *store.Client) error {
		c.AppID, c.Environment = "a", store.EnvironmentSandbox
		return nil
	}); err != nil {
		t.Errorf("UpdateClient of the old client into an app: %v", err)
	}
	if err := db.DeleteOrganization(ctx, "o"); err != nil {
		t.Errorf("DeleteOrganization after migrating: %v", err)
	}
	if _, err := db.GetClient(ctx, "old-app"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient of the old client after deleting its organisation: %v; want store.ErrNotFound", err)
	}
}
