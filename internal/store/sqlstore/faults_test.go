package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// observed records what a DB's Observe hook was told.
type observed struct {
	mu    sync.Mutex
	calls []observation
}

type observation struct {
	write bool
	err   error
}

func (o *observed) observe(write bool, err error) {
	o.mu.Lock()
	o.calls = append(o.calls, observation{write, err})
	o.mu.Unlock()
}

func (o *observed) last() observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.calls) == 0 {
		return observation{}
	}
	return o.calls[len(o.calls)-1]
}

// openLiteFile opens a SQLite file store with an Observe hook.
func openLiteFile(t *testing.T) (*DB, *observed) {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	o := &observed{}
	db.Observe = o.observe
	return db, o
}

// TestSQLiteFull: a write SQLite refuses for space (SQLITE_FULL, here the
// writer's max_page_count reached) is store.ErrStorageFull, writes nothing,
// and is reported as a write; reads go on.
func TestSQLiteFull(t *testing.T) {
	ctx := t.Context()
	db, o := openLiteFile(t)
	var pages int64
	if err := db.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA max_page_count = `+strconv.FormatInt(pages, 10)); err != nil {
		t.Fatal(err)
	}
	big := &store.Client{ID: "big", JWKS: strings.Repeat("x", 256<<10)}
	err := db.CreateClient(ctx, big)
	if !errors.Is(err, store.ErrStorageFull) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateClient on a full database: %v; want store.ErrStorageFull only", err)
	}
	if last := o.last(); !last.write || !errors.Is(last.err, store.ErrStorageFull) {
		t.Errorf("observed %+v; want the refused write", last)
	}
	if _, err := db.GetClient(ctx, "big"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after the refused create: %v; want store.ErrNotFound (nothing half-written)", err)
	}
	if _, err := db.ListClients(ctx); err != nil {
		t.Errorf("reads on a full database: %v", err)
	}
}

// TestSQLiteReadOnly: a write refused by a read-only database (here PRAGMA
// query_only on the writer) is store.ErrReadOnly and writes nothing.
func TestSQLiteReadOnly(t *testing.T) {
	ctx := t.Context()
	db, o := openLiteFile(t)
	if _, err := db.w.ExecContext(ctx, `PRAGMA query_only = 1`); err != nil {
		t.Fatal(err)
	}
	err := db.RevokeToken(ctx, &store.RevokedToken{ID: "jti", ClientID: "app"})
	if !errors.Is(err, store.ErrReadOnly) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("RevokeToken on a read-only database: %v; want store.ErrReadOnly only", err)
	}
	if last := o.last(); !last.write || !errors.Is(last.err, store.ErrReadOnly) {
		t.Errorf("observed %+v; want the refused write", last)
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA query_only = 0`); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeToken(ctx, &store.RevokedToken{ID: "jti", ClientID: "app"}); err != nil {
		t.Errorf("RevokeToken once writable again: %v", err)
	}
}

// TestSQLiteTimeout: while another handle holds the write lock, a write
// ends at the DB's Timeout, well before SQLite's busy timeout, with
// store.ErrUnavailable, and the writer connection is usable afterwards.
func TestSQLiteTimeout(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := &observed{}
	db.Observe = o.observe
	db.Timeout = 200 * time.Millisecond

	release := holdWriterLock(t, path)
	defer release()
	start := time.Now()
	err = db.CreateClient(ctx, &store.Client{ID: "blocked"})
	took := time.Since(start)
	t.Logf("a write blocked by another writer ended after %s", took)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateClient while another handle holds the lock: %v; want store.ErrUnavailable", err)
	}
	if took >= sqliteBusyTimeout {
		t.Errorf("CreateClient took %s, SQLite's busy timeout (%s): the store's time limit did not interrupt it", took, sqliteBusyTimeout)
	}
	if last := o.last(); !errors.Is(last.err, store.ErrUnavailable) {
		t.Errorf("observed %+v; want the timeout", last)
	}
	release()
	if err := db.CreateClient(ctx, &store.Client{ID: "after"}); err != nil {
		t.Errorf("CreateClient once the lock is free: %v", err)
	}
	if _, err := db.GetClient(ctx, "blocked"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the create that timed out: %v; want store.ErrNotFound", err)
	}
}

// holdWriterLock takes SQLite's writer lock on the file at path through
// another handle, so that every write of the store blocks until release
// (idempotent) or its deadline.
func holdWriterLock(t *testing.T, path string) (release func()) {
	t.Helper()
	other, err := sql.Open("sqlite", sqliteDSN(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
				t.Error(err)
			}
			conn.Close()
			other.Close()
		})
	}
}

// TestCallerDeadlineIsNotReported: a call that ends because its caller's
// context ended — a deadline shorter than the store's (the token checks'
// 250 ms), or a client that went away — fails, but is not reported to
// Observe as the database's failure; the same write cut by the store's own
// time limit is. A writer lock held by another handle blocks the writes,
// so each ends by its deadline, whatever the machine's speed.
func TestCallerDeadlineIsNotReported(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := &observed{}
	db.Observe = o.observe
	db.Timeout = time.Hour

	release := holdWriterLock(t, path)
	defer release()

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err = db.CreateClient(short, &store.Client{ID: "caller-deadline"})
	cancel()
	if err == nil {
		t.Fatal("CreateClient under another writer's lock succeeded")
	}
	gone, cancelGone := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancelGone)
	if err := db.CreateClient(gone, &store.Client{ID: "caller-gone"}); err == nil {
		t.Fatal("CreateClient under another writer's lock succeeded")
	}
	o.mu.Lock()
	reported := len(o.calls)
	o.mu.Unlock()
	if reported != 0 {
		t.Errorf("calls ended by their caller were reported: %+v", o.last())
	}

	db.Timeout = 100 * time.Millisecond
	if err := db.CreateClient(ctx, &store.Client{ID: "store-limit"}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateClient past the store's own limit: %v; want store.ErrUnavailable", err)
	}
	if last := o.last(); !errors.Is(last.err, store.ErrUnavailable) {
		t.Errorf("observed %+v; want the store's own time limit reported", last)
	}
}

// TestTimeoutOverride: store.WithTimeout replaces the DB's Timeout for the
// calls made with its context.
func TestTimeoutOverride(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Timeout = time.Hour

	release := holdWriterLock(t, path)
	defer release()
	start := time.Now()
	err = db.DeleteExpired(store.WithTimeout(ctx, 100*time.Millisecond), time.Now())
	if !errors.Is(err, store.ErrUnavailable) || time.Since(start) >= sqliteBusyTimeout {
		t.Errorf("DeleteExpired with a 100ms limit while locked: %v after %s; want store.ErrUnavailable well before %s",
			err, time.Since(start), sqliteBusyTimeout)
	}
}
