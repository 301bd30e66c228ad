package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"gatehouse/internal/store"
)

// SQLite connection handling.
//
// SQLite runs one writer at a time. Rather than letting several pooled
// connections race for the write lock (and fail with SQLITE_BUSY, or
// deadlock when two deferred transactions both try to upgrade from read to
// write), every write goes through a pool of exactly one connection, so
// in-process writers queue in Go. Its transactions begin IMMEDIATE and every
// connection has a busy_timeout, which covers other processes (the CLI)
// writing the same file. Reads go through a separate pool of query-only
// connections; in WAL mode they run concurrently with each other and with
// the writer, and see every committed write.
//
// Every connection, writer or reader, is opened with _foreign_keys=1:
// modernc.org/sqlite runs PRAGMA foreign_keys = 1 on each new connection
// the pool opens (the pragma is per connection and off by default), so
// subscriptions' references and cascades hold whichever connection
// writes.
//
// An in-memory database exists only inside its connection, so ":memory:"
// uses one connection for reads and writes alike. That connection is never
// closed by the pool (no idle or lifetime limit), so the data lives until
// Close.
const (
	sqliteBusyTimeout = 5 * time.Second
	sqliteMemory      = ":memory:"
)

var sqliteDialect = dialect{
	name:      "sqlite",
	precision: time.Millisecond,
	bind:      sqlx.QUESTION,
	prepare:   true,
	time:      func(t time.Time) any { return t.UnixMilli() },
	greatest:  "max",
	classify:  sqliteClassify,
	// SQLite reports a missing parent as SQLITE_CONSTRAINT_FOREIGNKEY but
	// enforces ON DELETE RESTRICT with an internal trigger, so a restricted
	// delete fails with SQLITE_CONSTRAINT_TRIGGER; the schema defines no
	// trigger of its own. It does not say which constraint failed.
	foreignKey: func(err error) (string, bool) {
		code := sqliteCode(err)
		return "", code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY || code == sqlite3.SQLITE_CONSTRAINT_TRIGGER
	},
	hasMigrations: `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`,
	createMigrations: `CREATE TABLE schema_migrations (
		name       TEXT PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`,
}

// sqliteCode returns the extended result code of err, or -1.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return -1
}

// sqliteClassify: unique-constraint violations wrap store.ErrConflict; a
// busy or unopenable database wraps store.ErrUnavailable; a write refused
// for space (SQLITE_FULL: ENOSPC or max_page_count; a -shm file that
// cannot grow) wraps store.ErrStorageFull, and one refused by a read-only
// database (SQLITE_READONLY) store.ErrReadOnly.
func sqliteClassify(op string, err error) (error, bool) {
	code := sqliteCode(err)
	switch code {
	case -1:
		return nil, false
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return wrap(op, store.ErrConflict, err), true
	case sqlite3.SQLITE_IOERR_SHMSIZE: // the -shm file could not grow: no space
		return wrap(op, store.ErrStorageFull, err), true
	}
	switch code & 0xff { // the primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN:
		return unavailable(op, err), true
	case sqlite3.SQLITE_FULL: // the file system (ENOSPC) or max_page_count
		return wrap(op, store.ErrStorageFull, err), true
	case sqlite3.SQLITE_READONLY: // a read-only file or mount, or PRAGMA query_only
		return wrap(op, store.ErrReadOnly, err), true
	}
	return nil, false
}

// sqlitePath returns the file path (or ":memory:") named by a SQLite URL.
func sqlitePath(u string) (string, error) {
	p := u
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if hasPrefixFold(p, prefix) {
			p = p[len(prefix):]
			break
		}
	}
	switch {
	case p == "":
		return "", fmt.Errorf("sqlstore: database URL %q names no file", u)
	case strings.Contains(p, "://"):
		return "", fmt.Errorf("sqlstore: database URL %q: unsupported scheme (want postgres://, postgresql://, sqlite:// or a file path)", u)
	case strings.Contains(p, "?"):
		return "", fmt.Errorf("sqlstore: database URL %q: SQLite URLs take no query parameters", u)
	}
	return p, nil
}

// sqliteDSN returns the modernc.org/sqlite data source name for path with
// the given driver parameters.
func sqliteDSN(path string, params url.Values) string {
	if path == sqliteMemory {
		return sqliteMemory + "?" + params.Encode()
	}
	// A file: URI, so that SQLite decodes the escaped path and any '?' or
	// '#' in the file name cannot be mistaken for parameters.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params.Encode()
}

// openSQLite opens (creating if needed) the SQLite database named by
// databaseURL: its writer and its readers.
func openSQLite(databaseURL string) (w, r *sql.DB, err error) {
	path, err := sqlitePath(databaseURL)
	if err != nil {
		return nil, nil, err
	}
	busy := fmt.Sprint(sqliteBusyTimeout.Milliseconds())
	writer := url.Values{"_busy_timeout": {busy}, "_foreign_keys": {"1"}, "_txlock": {"immediate"}}
	if path != sqliteMemory {
		if path, err = filepath.Abs(path); err != nil {
			return nil, nil, fmt.Errorf("sqlstore: SQLite path %q: %w", databaseURL, err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, nil, fmt.Errorf("sqlstore: create directory for SQLite database: %w: %w", store.ErrUnavailable, err)
		}
		// The file holds secret digests and signing keys: create it
		// readable by its owner only (SQLite gives the -wal and -shm files
		// the same mode) rather than leaving that to the umask.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("sqlstore: create SQLite database: %w: %w", store.ErrUnavailable, err)
		}
		f.Close()
		// WAL lets readers run alongside the writer. synchronous=NORMAL in
		// WAL mode keeps every commit across a crash of the process (kill
		// -9); only an OS crash or power loss can undo the last commits.
		writer.Set("_journal_mode", "WAL")
		writer.Set("_synchronous", "NORMAL")
	}
	if w, err = sql.Open("sqlite", sqliteDSN(path, writer)); err != nil {
		return nil, nil, fmt.Errorf("sqlstore: open SQLite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	if path == sqliteMemory {
		return w, w, nil
	}
	reader := url.Values{"_busy_timeout": {busy}, "_foreign_keys": {"1"}, "_query_only": {"1"}}
	if r, err = sql.Open("sqlite", sqliteDSN(path, reader)); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("sqlstore: open SQLite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n) // keep them: a new connection re-reads the schema
	return w, r, nil
}
