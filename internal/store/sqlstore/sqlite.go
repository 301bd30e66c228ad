package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

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
	sqlitePrecision   = time.Millisecond
)

// liteDB is the SQLite backend.
type liteDB struct {
	w, r    *sql.DB // writer (one connection) and readers; the same pool for :memory:
	nowFunc func() time.Time
	closed  *atomic.Bool

	// wStmts and rStmts hold the hot statements, prepared at open on the
	// writer and on the readers.
	wStmts, rStmts *stmtCache
}

var _ backend = (*liteDB)(nil)

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

// openSQLite opens (creating if needed) the SQLite database at path and
// applies pending migrations.
func openSQLite(ctx context.Context, path string, now func() time.Time, closed *atomic.Bool) (_ *liteDB, err error) {
	l := &liteDB{nowFunc: now, closed: closed}
	busy := fmt.Sprint(sqliteBusyTimeout.Milliseconds())

	writer := url.Values{}
	writer.Set("_busy_timeout", busy)
	writer.Set("_foreign_keys", "1")
	writer.Set("_txlock", "immediate")

	if path == sqliteMemory {
		l.w, err = sql.Open("sqlite", sqliteDSN(path, writer))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: open SQLite: %w", err)
		}
		l.w.SetMaxOpenConns(1)
		l.w.SetMaxIdleConns(1)
		l.r = l.w
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: SQLite path %q: %w", path, err)
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
			return nil, fmt.Errorf("sqlstore: create directory for SQLite database: %w: %w", store.ErrUnavailable, err)
		}
		// The file holds secret digests and signing keys: create it
		// readable by its owner only (SQLite gives the -wal and -shm files
		// the same mode) rather than leaving that to the umask.
		f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: create SQLite database: %w: %w", store.ErrUnavailable, err)
		}
		f.Close()
		// WAL lets readers run alongside the writer. synchronous=NORMAL in
		// WAL mode keeps every commit across a crash of the process (kill
		// -9); only an OS crash or power loss can undo the last commits.
		writer.Set("_journal_mode", "WAL")
		writer.Set("_synchronous", "NORMAL")
		l.w, err = sql.Open("sqlite", sqliteDSN(abs, writer))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: open SQLite: %w", err)
		}
		l.w.SetMaxOpenConns(1)
		l.w.SetMaxIdleConns(1)

		reader := url.Values{}
		reader.Set("_busy_timeout", busy)
		reader.Set("_foreign_keys", "1")
		reader.Set("_query_only", "1")
		l.r, err = sql.Open("sqlite", sqliteDSN(abs, reader))
		if err != nil {
			l.w.Close()
			return nil, fmt.Errorf("sqlstore: open SQLite: %w", err)
		}
		n := max(4, runtime.GOMAXPROCS(0))
		l.r.SetMaxOpenConns(n)
		l.r.SetMaxIdleConns(n) // keep them: a new connection re-reads the schema
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()

	// Migrate on the writer before any reader connects, so that readers
	// find the database in WAL mode and with its tables.
	if err := l.migrate(ctx); err != nil {
		return nil, err
	}
	// The statements of the hot paths: token verification and the gateway
	// (clients, generations, subscriptions) and the token flows.
	l.wStmts, l.rStmts = newStmtCache(l.w), newStmtCache(l.r)
	if err := l.wStmts.prepare(ctx, liteUseAssertion, liteInsertAuthCode, liteSelectAuthCodeByHash, liteUseAuthCode,
		liteInsertRefreshToken, liteSelectRefreshTokenByHash, liteRotateRefreshToken); err != nil {
		return nil, l.err(ctx, "prepare", err)
	}
	if err := l.rStmts.prepare(ctx, liteSelectClientByID, liteSelectAPIsGeneration, liteSelectSubscriptionByApp,
		liteSelectAccessGeneration, liteSelectRefreshTokenByHash,
		liteSelectUserBy("id"), liteSelectUserBy("username"), liteSelectUserBy("phone_number")); err != nil {
		return nil, l.err(ctx, "prepare", err)
	}
	return l, nil
}

// migrate applies pending migrations in one IMMEDIATE transaction, which
// also keeps two processes opening the same file from migrating at once.
func (l *liteDB) migrate(ctx context.Context) error {
	const op = "migrate"
	ms, err := loadMigrations("sqlite")
	if err != nil {
		return err
	}
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name       TEXT PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return l.err(ctx, op, err)
	}
	applied, err := liteAppliedMigrations(ctx, tx)
	if err != nil {
		return l.err(ctx, op, err)
	}
	for _, m := range ms {
		if applied[m.name] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return l.err(ctx, op+" "+m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`,
			m.name, l.now().UnixMilli()); err != nil {
			return l.err(ctx, op+" "+m.name, err)
		}
	}
	return l.err(ctx, op, tx.Commit())
}

func liteAppliedMigrations(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		applied[name] = true
	}
	return applied, rows.Err()
}

// now returns the current time as SQLite stores it.
func (l *liteDB) now() time.Time { return truncate(l.nowFunc(), sqlitePrecision) }

// liteTime encodes t as unix milliseconds, or NULL for the zero time.
func liteTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromLiteTime decodes liteTime's encoding.
func fromLiteTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

// err classifies err, returned by the driver during op: unique-constraint
// violations wrap store.ErrConflict; a busy or unopenable database, a
// closed store or an expired deadline wrap store.ErrUnavailable; a write
// refused for space (SQLITE_FULL: ENOSPC or max_page_count; a -shm file
// that cannot grow) wraps store.ErrStorageFull, and one refused by a
// read-only database (SQLITE_READONLY) store.ErrReadOnly.
func (l *liteDB) err(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if l.closed.Load() {
		return unavailable(op, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return conflict(op, err)
		}
		switch se.Code() {
		case sqlite3.SQLITE_IOERR_SHMSIZE: // the -shm file could not grow: no space
			return storageFull(op, err)
		}
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN:
			return unavailable(op, err)
		case sqlite3.SQLITE_FULL: // the file system (ENOSPC) or max_page_count
			return storageFull(op, err)
		case sqlite3.SQLITE_READONLY: // a read-only file or mount, or PRAGMA query_only
			return readOnly(op, err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) {
		return unavailable(op, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

const liteSelectClient = `SELECT id, name, secret_hash, previous_secret_hash,
	previous_secret_expires_at, grant_types, scopes, redirect_uris,
	token_endpoint_auth_method, jwks, status, created_at, updated_at
	FROM clients`

// liteClientScan holds a client and the columns that need decoding, so one
// allocation serves a whole row.
type liteClientScan struct {
	c                        store.Client
	prevExp, created, update sql.NullInt64
	grants, scopes, uris     string
}

func (s *liteClientScan) dest() []any {
	return []any{&s.c.ID, &s.c.Name, &s.c.SecretHash, &s.c.PreviousSecretHash,
		&s.prevExp, &s.grants, &s.scopes, &s.uris,
		&s.c.TokenEndpointAuthMethod, &s.c.JWKS, &s.c.Status, &s.created, &s.update}
}

func (s *liteClientScan) client() (*store.Client, error) {
	c := &s.c
	var err error
	if c.GrantTypes, err = decodeList(s.grants); err != nil {
		return nil, err
	}
	if c.Scopes, err = decodeList(s.scopes); err != nil {
		return nil, err
	}
	if c.RedirectURIs, err = decodeList(s.uris); err != nil {
		return nil, err
	}
	c.SecretHash = nilIfEmpty(c.SecretHash)
	c.PreviousSecretHash = nilIfEmpty(c.PreviousSecretHash)
	c.PreviousSecretExpiresAt = fromLiteTime(s.prevExp)
	c.CreatedAt = fromLiteTime(s.created)
	c.UpdatedAt = fromLiteTime(s.update)
	return c, nil
}

// liteClientArgs returns c's columns after id, in liteSelectClient order.
func liteClientArgs(c *store.Client) ([]any, error) {
	grants, err := encodeList(c.GrantTypes)
	if err != nil {
		return nil, err
	}
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return nil, err
	}
	uris, err := encodeList(c.RedirectURIs)
	if err != nil {
		return nil, err
	}
	return []any{c.Name, blob(c.SecretHash), blob(c.PreviousSecretHash),
		liteTime(c.PreviousSecretExpiresAt), grants, scopes, uris,
		c.TokenEndpointAuthMethod, c.JWKS, c.Status,
		liteTime(c.CreatedAt), liteTime(c.UpdatedAt)}, nil
}

func (l *liteDB) CreateClient(ctx context.Context, c *store.Client) error {
	const op = "create client"
	cc := *c
	if cc.CreatedAt.IsZero() {
		cc.CreatedAt = l.now()
	}
	if cc.UpdatedAt.IsZero() {
		cc.UpdatedAt = cc.CreatedAt
	}
	args, err := liteClientArgs(&cc)
	if err != nil {
		return err
	}
	_, err = l.w.ExecContext(ctx, `INSERT INTO clients (id, name, secret_hash,
		previous_secret_hash, previous_secret_expires_at, grant_types, scopes,
		redirect_uris, token_endpoint_auth_method, jwks, status, created_at,
		updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{cc.ID}, args...)...)
	if err != nil {
		return l.err(ctx, op, err)
	}
	c.CreatedAt, c.UpdatedAt = cc.CreatedAt, cc.UpdatedAt
	return nil
}

func (l *liteDB) GetClient(ctx context.Context, id string) (*store.Client, error) {
	s := new(liteClientScan)
	if err := l.readRow(ctx, liteSelectClientByID, id).Scan(s.dest()...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get client %q: %w", id, store.ErrNotFound)
		}
		return nil, l.err(ctx, "get client", err)
	}
	return s.client()
}

func (l *liteDB) ListClients(ctx context.Context) ([]*store.Client, error) {
	const op = "list clients"
	rows, err := l.r.QueryContext(ctx, liteSelectClient+` ORDER BY created_at NULLS FIRST, id`)
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var cs []*store.Client
	for rows.Next() {
		s := new(liteClientScan)
		if err := rows.Scan(s.dest()...); err != nil {
			return nil, l.err(ctx, op, err)
		}
		c, err := s.client()
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, l.err(ctx, op, rows.Err())
}

func (l *liteDB) UpdateClient(ctx context.Context, id string, update func(c *store.Client) error) (*store.Client, error) {
	const op = "update client"
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock before the read
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer tx.Rollback()
	s := new(liteClientScan)
	if err := tx.QueryRowContext(ctx, liteSelectClientByID, id).Scan(s.dest()...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update client %q: %w", id, store.ErrNotFound)
		}
		return nil, l.err(ctx, op, err)
	}
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	if err := update(c); err != nil {
		return nil, err
	}
	if c.ID != id {
		return nil, fmt.Errorf("sqlstore: update client %q: update must not change the ID (to %q)", id, c.ID)
	}
	c.UpdatedAt = l.now()
	normalizeClient(c, sqlitePrecision)
	args, err := liteClientArgs(c)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE clients SET name = ?, secret_hash = ?,
		previous_secret_hash = ?, previous_secret_expires_at = ?, grant_types = ?,
		scopes = ?, redirect_uris = ?, token_endpoint_auth_method = ?, jwks = ?,
		status = ?, created_at = ?, updated_at = ? WHERE id = ?`,
		append(args, id)...); err != nil {
		return nil, l.err(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, l.err(ctx, op, err)
	}
	return c, nil
}

func (l *liteDB) DeleteClient(ctx context.Context, id string) error {
	const op = "delete client"
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	// The foreign key would cascade too; deleting first counts them.
	subs, err := liteExecCount(ctx, tx, `DELETE FROM subscriptions WHERE client_id = ?`, id)
	if err != nil {
		return l.err(ctx, op, err)
	}
	n, err := liteExecCount(ctx, tx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return l.err(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: delete client %q: %w", id, store.ErrNotFound)
	}
	if subs > 0 {
		if err := l.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
			return err
		}
	}
	return l.err(ctx, op, tx.Commit())
}

// liteExecCount runs a statement in tx and returns the rows it affected.
func liteExecCount(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

const liteSelectAPI = `SELECT name, title, version, base_path, upstream_url,
	status, error_media_type, max_body_bytes, upstream_options, document, created_at, updated_at
	FROM apis`

const liteSelectAPIsGeneration = `SELECT generation FROM generations WHERE name = 'apis'`

// liteAPIScan holds an API and the columns that need decoding, so one
// allocation serves a whole row.
type liteAPIScan struct {
	a               store.API
	created, update sql.NullInt64
	upstream        string
}

func (s *liteAPIScan) dest() []any {
	return []any{&s.a.Name, &s.a.Title, &s.a.Version, &s.a.BasePath, &s.a.UpstreamURL,
		&s.a.Status, &s.a.ErrorMediaType, &s.a.MaxBodyBytes, &s.upstream, &s.a.Document, &s.created, &s.update}
}

func (s *liteAPIScan) api() (*store.API, error) {
	a := &s.a
	if err := decodeUpstreamOptions(s.upstream, &a.Upstream); err != nil {
		return nil, err
	}
	a.Document = nilIfEmpty(a.Document)
	a.CreatedAt = fromLiteTime(s.created)
	a.UpdatedAt = fromLiteTime(s.update)
	return a, nil
}

// liteAPIArgs returns a's columns after name, in liteSelectAPI order.
func liteAPIArgs(a *store.API) []any {
	return []any{a.Title, a.Version, a.BasePath, a.UpstreamURL, a.Status,
		a.ErrorMediaType, a.MaxBodyBytes, encodeUpstreamOptions(a.Upstream), blob(a.Document),
		liteTime(a.CreatedAt), liteTime(a.UpdatedAt)}
}

// bumpGeneration increments the named generation inside tx.
func (l *liteDB) bumpGeneration(ctx context.Context, op string, tx *sql.Tx, name string) error {
	n, err := liteExecCount(ctx, tx, `UPDATE generations SET generation = generation + 1 WHERE name = ?`, name)
	if err != nil {
		return l.err(ctx, op, err)
	}
	if n != 1 {
		return errMissingGeneration(name)
	}
	return nil
}

func (l *liteDB) CreateAPI(ctx context.Context, a *store.API) error {
	const op = "create API"
	aa := *a
	if aa.CreatedAt.IsZero() {
		aa.CreatedAt = l.now()
	}
	if aa.UpdatedAt.IsZero() {
		aa.UpdatedAt = aa.CreatedAt
	}
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO apis (name, title, version,
		base_path, upstream_url, status, error_media_type, max_body_bytes,
		upstream_options, document, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{aa.Name}, liteAPIArgs(&aa)...)...); err != nil {
		return l.err(ctx, op, err)
	}
	if err := l.bumpGeneration(ctx, op, tx, generationAPIs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return l.err(ctx, op, err)
	}
	a.CreatedAt, a.UpdatedAt = aa.CreatedAt, aa.UpdatedAt
	return nil
}

func (l *liteDB) GetAPI(ctx context.Context, name string) (*store.API, error) {
	s := new(liteAPIScan)
	if err := l.r.QueryRowContext(ctx, liteSelectAPI+` WHERE name = ?`, name).Scan(s.dest()...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get API %q: %w", name, store.ErrNotFound)
		}
		return nil, l.err(ctx, "get API", err)
	}
	a, err := s.api()
	if err != nil {
		return nil, l.err(ctx, "get API", err)
	}
	return a, nil
}

func (l *liteDB) ListAPIs(ctx context.Context) ([]*store.API, error) {
	const op = "list APIs"
	rows, err := l.r.QueryContext(ctx, liteSelectAPI+` ORDER BY name`)
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var as []*store.API
	for rows.Next() {
		s := new(liteAPIScan)
		if err := rows.Scan(s.dest()...); err != nil {
			return nil, l.err(ctx, op, err)
		}
		a, err := s.api()
		if err != nil {
			return nil, l.err(ctx, op, err)
		}
		as = append(as, a)
	}
	return as, l.err(ctx, op, rows.Err())
}

func (l *liteDB) UpdateAPI(ctx context.Context, name string, update func(a *store.API) error) (*store.API, error) {
	const op = "update API"
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock before the read
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer tx.Rollback()
	s := new(liteAPIScan)
	if err := tx.QueryRowContext(ctx, liteSelectAPI+` WHERE name = ?`, name).Scan(s.dest()...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update API %q: %w", name, store.ErrNotFound)
		}
		return nil, l.err(ctx, op, err)
	}
	a, err := s.api()
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	if err := update(a); err != nil {
		return nil, err
	}
	if a.Name != name {
		return nil, fmt.Errorf("sqlstore: update API %q: update must not change the name (to %q)", name, a.Name)
	}
	a.UpdatedAt = l.now()
	normalizeAPI(a, sqlitePrecision)
	if _, err := tx.ExecContext(ctx, `UPDATE apis SET title = ?, version = ?,
		base_path = ?, upstream_url = ?, status = ?, error_media_type = ?,
		max_body_bytes = ?, upstream_options = ?, document = ?, created_at = ?, updated_at = ?
		WHERE name = ?`,
		append(liteAPIArgs(a), name)...); err != nil {
		return nil, l.err(ctx, op, err)
	}
	if err := l.bumpGeneration(ctx, op, tx, generationAPIs); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, l.err(ctx, op, err)
	}
	return a, nil
}

func (l *liteDB) DeleteAPI(ctx context.Context, name string) error {
	const op = "delete API"
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	// The foreign key would cascade too; deleting first counts them.
	subs, err := liteExecCount(ctx, tx, `DELETE FROM subscriptions WHERE api_name = ?`, name)
	if err != nil {
		return l.err(ctx, op, err)
	}
	n, err := liteExecCount(ctx, tx, `DELETE FROM apis WHERE name = ?`, name)
	if err != nil {
		return l.err(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: delete API %q: %w", name, store.ErrNotFound)
	}
	if subs > 0 {
		if err := l.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
			return err
		}
	}
	if err := l.bumpGeneration(ctx, op, tx, generationAPIs); err != nil {
		return err
	}
	return l.err(ctx, op, tx.Commit())
}

func (l *liteDB) APIsGeneration(ctx context.Context) (int64, error) {
	return l.generation(ctx, liteSelectAPIsGeneration, generationAPIs)
}

// generation reads a generation counter with query, a
// liteSelect*Generation.
func (l *liteDB) generation(ctx context.Context, query, name string) (int64, error) {
	var g int64
	if err := l.readRow(ctx, query).Scan(&g); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, errMissingGeneration(name)
		}
		return 0, l.err(ctx, name+" generation", err)
	}
	return g, nil
}

const liteSelectPlan = `SELECT name, price_label, description, rate_per_second,
	burst, quota_day, quota_month, requires_approval, created_at, updated_at
	FROM plans`

// liteScanPlan reads one liteSelectPlan row.
func liteScanPlan(row interface{ Scan(...any) error }) (*store.Plan, error) {
	var p store.Plan
	var created, updated sql.NullInt64
	if err := row.Scan(&p.Name, &p.PriceLabel, &p.Description, &p.RatePerSecond,
		&p.Burst, &p.QuotaDay, &p.QuotaMonth, &p.RequiresApproval, &created, &updated); err != nil {
		return nil, err
	}
	p.CreatedAt = fromLiteTime(created)
	p.UpdatedAt = fromLiteTime(updated)
	return &p, nil
}

// litePlanArgs returns p's columns after name, in liteSelectPlan order.
func litePlanArgs(p *store.Plan) []any {
	return []any{p.PriceLabel, p.Description, p.RatePerSecond, p.Burst,
		p.QuotaDay, p.QuotaMonth, p.RequiresApproval,
		liteTime(p.CreatedAt), liteTime(p.UpdatedAt)}
}

func (l *liteDB) CreatePlan(ctx context.Context, p *store.Plan) error {
	const op = "create plan"
	pp := *p
	if pp.CreatedAt.IsZero() {
		pp.CreatedAt = l.now()
	}
	if pp.UpdatedAt.IsZero() {
		pp.UpdatedAt = pp.CreatedAt
	}
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO plans (name, price_label,
		description, rate_per_second, burst, quota_day, quota_month,
		requires_approval, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{pp.Name}, litePlanArgs(&pp)...)...); err != nil {
		return l.err(ctx, op, err)
	}
	if err := l.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return l.err(ctx, op, err)
	}
	p.CreatedAt, p.UpdatedAt = pp.CreatedAt, pp.UpdatedAt
	return nil
}

func (l *liteDB) GetPlan(ctx context.Context, name string) (*store.Plan, error) {
	p, err := liteScanPlan(l.r.QueryRowContext(ctx, liteSelectPlan+` WHERE name = ?`, name))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get plan %q: %w", name, store.ErrNotFound)
		}
		return nil, l.err(ctx, "get plan", err)
	}
	return p, nil
}

func (l *liteDB) ListPlans(ctx context.Context) ([]*store.Plan, error) {
	const op = "list plans"
	rows, err := l.r.QueryContext(ctx, liteSelectPlan+` ORDER BY name`)
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var ps []*store.Plan
	for rows.Next() {
		p, err := liteScanPlan(rows)
		if err != nil {
			return nil, l.err(ctx, op, err)
		}
		ps = append(ps, p)
	}
	return ps, l.err(ctx, op, rows.Err())
}

func (l *liteDB) UpdatePlan(ctx context.Context, name string, update func(p *store.Plan) error) (*store.Plan, error) {
	const op = "update plan"
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock before the read
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer tx.Rollback()
	p, err := liteScanPlan(tx.QueryRowContext(ctx, liteSelectPlan+` WHERE name = ?`, name))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update plan %q: %w", name, store.ErrNotFound)
		}
		return nil, l.err(ctx, op, err)
	}
	if err := update(p); err != nil {
		return nil, err
	}
	if p.Name != name {
		return nil, fmt.Errorf("sqlstore: update plan %q: update must not change the name (to %q)", name, p.Name)
	}
	p.UpdatedAt = l.now()
	normalizePlan(p, sqlitePrecision)
	if _, err := tx.ExecContext(ctx, `UPDATE plans SET price_label = ?,
		description = ?, rate_per_second = ?, burst = ?, quota_day = ?,
		quota_month = ?, requires_approval = ?, created_at = ?, updated_at = ?
		WHERE name = ?`,
		append(litePlanArgs(p), name)...); err != nil {
		return nil, l.err(ctx, op, err)
	}
	if err := l.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, l.err(ctx, op, err)
	}
	return p, nil
}

func (l *liteDB) DeletePlan(ctx context.Context, name string) error {
	const op = "delete plan"
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	n, err := liteExecCount(ctx, tx, `DELETE FROM plans WHERE name = ?`, name)
	if err != nil {
		if liteForeignKeyViolation(err) { // ON DELETE RESTRICT
			return fmt.Errorf("sqlstore: delete plan %q: subscriptions use it: %w", name, store.ErrConflict)
		}
		return l.err(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: delete plan %q: %w", name, store.ErrNotFound)
	}
	if err := l.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return err
	}
	return l.err(ctx, op, tx.Commit())
}

// liteForeignKeyViolation reports whether err is a failed foreign key
// constraint. SQLite reports a missing parent as
// SQLITE_CONSTRAINT_FOREIGNKEY but enforces ON DELETE RESTRICT with an
// internal trigger, so a restricted delete fails with
// SQLITE_CONSTRAINT_TRIGGER; the schema defines no trigger of its own.
func liteForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		return true
	}
	return false
}

const liteSelectSubscription = `SELECT id, client_id, api_name, plan_name, status,
	created_at, updated_at FROM subscriptions`

const liteSelectAccessGeneration = `SELECT generation FROM generations WHERE name = 'access'`

// liteScanSubscription reads one liteSelectSubscription row.
func liteScanSubscription(row interface{ Scan(...any) error }) (*store.Subscription, error) {
	var s store.Subscription
	var created, updated sql.NullInt64
	if err := row.Scan(&s.ID, &s.ClientID, &s.APIName, &s.PlanName, &s.Status, &created, &updated); err != nil {
		return nil, err
	}
	s.CreatedAt = fromLiteTime(created)
	s.UpdatedAt = fromLiteTime(updated)
	return &s, nil
}

func (l *liteDB) CreateSubscription(ctx context.Context, s *store.Subscription) error {
	const op = "create subscription"
	ss := *s
	if ss.CreatedAt.IsZero() {
		ss.CreatedAt = l.now()
	}
	if ss.UpdatedAt.IsZero() {
		ss.UpdatedAt = ss.CreatedAt
	}
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (id, client_id,
		api_name, plan_name, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		ss.ID, ss.ClientID, ss.APIName, ss.PlanName, ss.Status,
		liteTime(ss.CreatedAt), liteTime(ss.UpdatedAt)); err != nil {
		if liteForeignKeyViolation(err) {
			return l.missingReference(ctx, op, tx, &ss, err)
		}
		return l.err(ctx, op, err)
	}
	if err := l.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return l.err(ctx, op, err)
	}
	s.CreatedAt, s.UpdatedAt = ss.CreatedAt, ss.UpdatedAt
	return nil
}

// missingReference explains fkErr, a foreign key violation writing s in
// tx: SQLite does not say which reference failed, so it looks, still
// holding the write lock, for the first of client, API and plan that does
// not exist.
func (l *liteDB) missingReference(ctx context.Context, op string, tx *sql.Tx, s *store.Subscription, fkErr error) error {
	var client, api, plan bool
	if err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM clients WHERE id = ?),
		EXISTS (SELECT 1 FROM apis WHERE name = ?),
		EXISTS (SELECT 1 FROM plans WHERE name = ?)`,
		s.ClientID, s.APIName, s.PlanName).Scan(&client, &api, &plan); err != nil {
		return l.err(ctx, op, err)
	}
	switch {
	case !client:
		return missingReference(op, s.ID, "client", s.ClientID)
	case !api:
		return missingReference(op, s.ID, "API", s.APIName)
	case !plan:
		return missingReference(op, s.ID, "plan", s.PlanName)
	}
	return l.err(ctx, op, fkErr)
}

func (l *liteDB) GetSubscription(ctx context.Context, id string) (*store.Subscription, error) {
	s, err := liteScanSubscription(l.r.QueryRowContext(ctx, liteSelectSubscription+` WHERE id = ?`, id))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get subscription %q: %w", id, store.ErrNotFound)
		}
		return nil, l.err(ctx, "get subscription", err)
	}
	return s, nil
}

func (l *liteDB) FindSubscription(ctx context.Context, clientID, apiName string) (*store.Subscription, error) {
	s, err := liteScanSubscription(l.readRow(ctx, liteSelectSubscriptionByApp, clientID, apiName))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: find subscription of client %q to API %q: %w", clientID, apiName, store.ErrNotFound)
		}
		return nil, l.err(ctx, "find subscription", err)
	}
	return s, nil
}

func (l *liteDB) ListSubscriptions(ctx context.Context, f store.SubscriptionFilter) ([]*store.Subscription, error) {
	const op = "list subscriptions"
	var where []string
	var args []any
	for _, c := range []struct{ column, value string }{
		{"client_id", f.ClientID}, {"api_name", f.APIName}, {"plan_name", f.PlanName},
	} {
		if c.value != "" {
			where = append(where, c.column+" = ?")
			args = append(args, c.value)
		}
	}
	q := liteSelectSubscription
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := l.r.QueryContext(ctx, q+` ORDER BY client_id, api_name`, args...)
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var ss []*store.Subscription
	for rows.Next() {
		s, err := liteScanSubscription(rows)
		if err != nil {
			return nil, l.err(ctx, op, err)
		}
		ss = append(ss, s)
	}
	return ss, l.err(ctx, op, rows.Err())
}

func (l *liteDB) UpdateSubscription(ctx context.Context, id string, update func(s *store.Subscription) error) (*store.Subscription, error) {
	const op = "update subscription"
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock before the read
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer tx.Rollback()
	s, err := liteScanSubscription(tx.QueryRowContext(ctx, liteSelectSubscription+` WHERE id = ?`, id))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update subscription %q: %w", id, store.ErrNotFound)
		}
		return nil, l.err(ctx, op, err)
	}
	old := *s
	if err := update(s); err != nil {
		return nil, err
	}
	if err := checkSubscriptionKeys(op, id, &old, s); err != nil {
		return nil, err
	}
	s.UpdatedAt = l.now()
	normalizeSubscription(s, sqlitePrecision)
	if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET plan_name = ?,
		status = ?, created_at = ?, updated_at = ? WHERE id = ?`,
		s.PlanName, s.Status, liteTime(s.CreatedAt), liteTime(s.UpdatedAt), id); err != nil {
		if liteForeignKeyViolation(err) {
			return nil, missingReference(op, id, "plan", s.PlanName)
		}
		return nil, l.err(ctx, op, err)
	}
	if err := l.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, l.err(ctx, op, err)
	}
	return s, nil
}

func (l *liteDB) DeleteSubscription(ctx context.Context, id string) error {
	const op = "delete subscription"
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	n, err := liteExecCount(ctx, tx, `DELETE FROM subscriptions WHERE id = ?`, id)
	if err != nil {
		return l.err(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: delete subscription %q: %w", id, store.ErrNotFound)
	}
	if err := l.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return err
	}
	return l.err(ctx, op, tx.Commit())
}

func (l *liteDB) AccessGeneration(ctx context.Context) (int64, error) {
	return l.generation(ctx, liteSelectAccessGeneration, generationAccess)
}

// liteUsageChunk is how many records one AddUsage statement writes: 8
// parameters each, well under SQLite's limit of 32766 per statement.
const liteUsageChunk = 256

// liteUpsertUsage returns the statement that adds n records to their
// buckets.
func liteUpsertUsage(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO usage (client_id, api_name, hour, status, error,
		count, latency_sum, latency_max) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(` ON CONFLICT (client_id, api_name, hour, status, error) DO UPDATE SET
		count = count + excluded.count,
		latency_sum = latency_sum + excluded.latency_sum,
		latency_max = max(latency_max, excluded.latency_max)`)
	return b.String()
}

// liteUpsertUsageFull is liteUpsertUsage(liteUsageChunk), built once.
var liteUpsertUsageFull = liteUpsertUsage(liteUsageChunk)

func (l *liteDB) AddUsage(ctx context.Context, records []store.UsageRecord) error {
	const op = "add usage"
	rs, err := prepareUsage(records)
	if err != nil {
		return err
	}
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	args := make([]any, 0, 8*min(len(rs), liteUsageChunk))
	for chunk := range slices.Chunk(rs, liteUsageChunk) {
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r.ClientID, r.APIName, r.Hour.UnixMilli(), r.Status, r.Error,
				r.Count, r.LatencySum, r.LatencyMax)
		}
		q := liteUpsertUsageFull
		if len(chunk) != liteUsageChunk {
			q = liteUpsertUsage(len(chunk))
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return l.err(ctx, op, err)
		}
	}
	return l.err(ctx, op, tx.Commit())
}

// liteQuotaChunk is how many counts one SaveQuotaCounts statement writes.
const liteQuotaChunk = 512

func (l *liteDB) SaveQuotaCounts(ctx context.Context, counts []store.QuotaCount) error {
	const op = "save quota counts"
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	for chunk := range slices.Chunk(counts, liteQuotaChunk) {
		var b strings.Builder
		b.WriteString(`INSERT INTO quota_counts (limiter_key, period, period_start, count) VALUES `)
		args := make([]any, 0, 4*len(chunk))
		for i, c := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?)")
			args = append(args, c.Key, c.Period, c.Start.UnixMilli(), c.Count)
		}
		b.WriteString(` ON CONFLICT (limiter_key, period, period_start) DO UPDATE SET
			count = max(count, excluded.count)`)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return l.err(ctx, op, err)
		}
	}
	return l.err(ctx, op, tx.Commit())
}

func (l *liteDB) ListQuotaCounts(ctx context.Context, day, month time.Time) ([]store.QuotaCount, error) {
	const op = "list quota counts"
	rows, err := l.r.QueryContext(ctx, `SELECT limiter_key, period, period_start, count FROM quota_counts
		WHERE (period = 'day' AND period_start >= ?) OR (period = 'month' AND period_start >= ?)
		ORDER BY limiter_key, period, period_start`,
		ceil(day, sqlitePrecision).UnixMilli(), ceil(month, sqlitePrecision).UnixMilli())
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var cs []store.QuotaCount
	for rows.Next() {
		var c store.QuotaCount
		var start int64
		if err := rows.Scan(&c.Key, &c.Period, &start, &c.Count); err != nil {
			return nil, l.err(ctx, op, err)
		}
		c.Start = time.UnixMilli(start).UTC()
		cs = append(cs, c)
	}
	return cs, l.err(ctx, op, rows.Err())
}

func (l *liteDB) DeleteQuotaCountsBefore(ctx context.Context, day, month time.Time) error {
	_, err := l.w.ExecContext(ctx, `DELETE FROM quota_counts
		WHERE (period = 'day' AND period_start < ?) OR (period = 'month' AND period_start < ?)`,
		ceil(day, sqlitePrecision).UnixMilli(), ceil(month, sqlitePrecision).UnixMilli())
	return l.err(ctx, "delete quota counts", err)
}

func (l *liteDB) ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	const op = "list usage"
	var where []string
	var args []any
	if f.ClientID != "" {
		where = append(where, "client_id = ?")
		args = append(args, f.ClientID)
	}
	if f.APIName != "" {
		where = append(where, "api_name = ?")
		args = append(args, f.APIName)
	}
	if !f.From.IsZero() {
		where = append(where, "hour >= ?")
		args = append(args, ceil(f.From, sqlitePrecision).UnixMilli())
	}
	if !f.To.IsZero() {
		where = append(where, "hour < ?")
		args = append(args, ceil(f.To, sqlitePrecision).UnixMilli())
	}
	q := `SELECT client_id, api_name, hour, status, error, count, latency_sum,
		latency_max FROM usage`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := l.r.QueryContext(ctx, q+` ORDER BY hour, client_id, api_name, status, error`, args...)
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var rs []store.UsageRecord
	for rows.Next() {
		var r store.UsageRecord
		var hour int64
		if err := rows.Scan(&r.ClientID, &r.APIName, &hour, &r.Status, &r.Error,
			&r.Count, &r.LatencySum, &r.LatencyMax); err != nil {
			return nil, l.err(ctx, op, err)
		}
		r.Hour = time.UnixMilli(hour).UTC()
		rs = append(rs, r)
	}
	return rs, l.err(ctx, op, rows.Err())
}

func (l *liteDB) RotateSigningKey(ctx context.Context, k *store.SigningKey) error {
	const op = "rotate signing key"
	created := k.CreatedAt
	if created.IsZero() {
		created = l.now()
	}
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL`,
		liteTime(created)); err != nil {
		return l.err(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, private_key,
		public_jwk, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, blob(k.PrivateKey), blob(k.PublicJWK),
		liteTime(created), liteTime(k.RetiredAt)); err != nil {
		return l.err(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return l.err(ctx, op, err)
	}
	k.CreatedAt = created
	return nil
}

func (l *liteDB) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	const op = "list signing keys"
	rows, err := l.r.QueryContext(ctx, `SELECT id, algorithm, private_key, public_jwk,
		created_at, retired_at FROM signing_keys ORDER BY created_at DESC NULLS LAST, seq DESC`)
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var ks []*store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created, retired sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicJWK, &created, &retired); err != nil {
			return nil, l.err(ctx, op, err)
		}
		k.PrivateKey = nilIfEmpty(k.PrivateKey)
		k.PublicJWK = nilIfEmpty(k.PublicJWK)
		k.CreatedAt = fromLiteTime(created)
		k.RetiredAt = fromLiteTime(retired)
		ks = append(ks, &k)
	}
	return ks, l.err(ctx, op, rows.Err())
}

func (l *liteDB) DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error {
	_, err := l.w.ExecContext(ctx, `DELETE FROM signing_keys
		WHERE retired_at IS NOT NULL AND retired_at < ?`, t.UnixMilli())
	return l.err(ctx, "delete retired signing keys", err)
}

func (l *liteDB) RevokeToken(ctx context.Context, t *store.RevokedToken) error {
	revoked := t.RevokedAt
	if revoked.IsZero() {
		revoked = l.now()
	}
	_, err := l.w.ExecContext(ctx, `INSERT INTO revoked_tokens (id, client_id, expires_at, revoked_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		t.ID, t.ClientID, liteTime(t.ExpiresAt), revoked.UnixMilli())
	if err != nil {
		return l.err(ctx, "revoke token", err)
	}
	t.RevokedAt = revoked
	return nil
}

func (l *liteDB) ListRevokedTokensSince(ctx context.Context, since time.Time) ([]*store.RevokedToken, error) {
	const op = "list revoked tokens"
	rows, err := l.r.QueryContext(ctx, `SELECT id, client_id, expires_at, revoked_at
		FROM revoked_tokens WHERE revoked_at >= ? ORDER BY revoked_at, id`, since.UnixMilli())
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var ts []*store.RevokedToken
	for rows.Next() {
		var t store.RevokedToken
		var expires, revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.ClientID, &expires, &revoked); err != nil {
			return nil, l.err(ctx, op, err)
		}
		t.ExpiresAt = fromLiteTime(expires)
		t.RevokedAt = fromLiteTime(revoked)
		ts = append(ts, &t)
	}
	return ts, l.err(ctx, op, rows.Err())
}

// liteUseAssertion inserts an assertion id, replacing the row only if it
// has expired; zero rows affected means a live row exists.
const liteUseAssertion = `INSERT INTO assertion_ids (client_id, jti, expires_at) VALUES (?, ?, ?)
	ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
	WHERE assertion_ids.expires_at <= ?`

func (l *liteDB) UseAssertionID(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	const op = "use assertion id"
	res, err := l.writeExec(ctx, liteUseAssertion, clientID, jti, liteTime(expiresAt), l.now().UnixMilli())
	if err != nil {
		return l.err(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return l.err(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: use assertion id %q for client %q: %w", jti, clientID, store.ErrConflict)
	}
	return nil
}

func (l *liteDB) DeleteExpired(ctx context.Context, now time.Time) error {
	const op = "delete expired"
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	ms := now.UnixMilli()
	if _, err := tx.ExecContext(ctx, `DELETE FROM revoked_tokens WHERE expires_at < ?`, ms); err != nil {
		return l.err(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM assertion_ids WHERE expires_at < ?`, ms); err != nil {
		return l.err(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at < ?`, ms); err != nil {
		return l.err(ctx, op, err)
	}
	return l.err(ctx, op, tx.Commit())
}

func (l *liteDB) BeginIdempotent(ctx context.Context, r *store.IdempotencyRecord) (*store.IdempotencyRecord, error) {
	const op = "begin idempotency key"
	if r.CreatedAt.IsZero() {
		r.CreatedAt = l.now()
	}
	// One statement on the single writer: of concurrent begins exactly one
	// inserts (or replaces an expired record).
	res, err := l.writeExec(ctx, `INSERT INTO idempotency_keys (key, fingerprint, status, header, body, created_at, expires_at)
		VALUES (?, ?, 0, NULL, NULL, ?, ?)
		ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, status = 0, header = NULL, body = NULL,
			created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE idempotency_keys.expires_at <= ? OR (idempotency_keys.status = 0 AND idempotency_keys.created_at < ?)`,
		r.Key, r.Fingerprint, liteTime(r.CreatedAt), liteTime(r.ExpiresAt), l.now().UnixMilli(), r.AbandonedBefore.UnixMilli())
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, l.err(ctx, op, err)
	} else if n == 1 {
		return nil, nil
	}
	var old store.IdempotencyRecord
	var created, expires sql.NullInt64
	err = l.w.QueryRowContext(ctx, `SELECT key, fingerprint, status, header, body, created_at, expires_at
		FROM idempotency_keys WHERE key = ?`, r.Key).
		Scan(&old.Key, &old.Fingerprint, &old.Status, &old.Header, &old.Body, &created, &expires)
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	old.CreatedAt, old.ExpiresAt = fromLiteTime(created), fromLiteTime(expires)
	return &old, fmt.Errorf("sqlstore: %s %q: %w", op, r.Key, store.ErrConflict)
}

func (l *liteDB) FinishIdempotent(ctx context.Context, key string, status int, header, body []byte) error {
	const op = "finish idempotency key"
	res, err := l.writeExec(ctx, `UPDATE idempotency_keys SET status = ?, header = ?, body = ? WHERE key = ?`,
		status, blob(header), blob(body), key)
	if err != nil {
		return l.err(ctx, op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return l.err(ctx, op, err)
	} else if n == 0 {
		return fmt.Errorf("sqlstore: %s %q: %w", op, key, store.ErrNotFound)
	}
	return nil
}

func (l *liteDB) ReleaseIdempotent(ctx context.Context, key string) error {
	_, err := l.writeExec(ctx, `DELETE FROM idempotency_keys WHERE key = ? AND status = 0`, key)
	return l.err(ctx, "release idempotency key", err)
}

// liteUniqueViolation reports whether err is a failed primary key or
// unique constraint.
func liteUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return true
	}
	return false
}

// missingParent explains fkErr, a foreign key violation writing grant key
// (a code, token or CIBA request) in tx: SQLite does not say which
// reference failed, so it looks, still holding the write lock, for the
// first of client and user that does not exist.
func (l *liteDB) missingParent(ctx context.Context, op string, tx *sql.Tx, key, clientID, userID string, fkErr error) error {
	var client, user bool
	if err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM clients WHERE id = ?),
		EXISTS (SELECT 1 FROM users WHERE id = ?)`,
		clientID, userID).Scan(&client, &user); err != nil {
		return l.err(ctx, op, err)
	}
	switch {
	case !client:
		return missingReference(op, key, "client", clientID)
	case !user:
		return missingReference(op, key, "user", userID)
	}
	return l.err(ctx, op, fkErr)
}

const liteSelectUser = `SELECT id, username, phone_number, password_hash,
	created_at, updated_at FROM users`

// liteScanUser reads one liteSelectUser row.
func liteScanUser(row interface{ Scan(...any) error }) (*store.User, error) {
	var u store.User
	var phone sql.NullString
	var created, updated sql.NullInt64
	if err := row.Scan(&u.ID, &u.Username, &phone, &u.PasswordHash, &created, &updated); err != nil {
		return nil, err
	}
	u.PhoneNumber = phone.String
	u.CreatedAt = fromLiteTime(created)
	u.UpdatedAt = fromLiteTime(updated)
	return &u, nil
}

func (l *liteDB) CreateUser(ctx context.Context, u *store.User) error {
	const op = "create user"
	uu := *u
	if uu.CreatedAt.IsZero() {
		uu.CreatedAt = l.now()
	}
	if uu.UpdatedAt.IsZero() {
		uu.UpdatedAt = uu.CreatedAt
	}
	if _, err := l.w.ExecContext(ctx, `INSERT INTO users (id, username,
		phone_number, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		uu.ID, uu.Username, nullString(uu.PhoneNumber), uu.PasswordHash,
		liteTime(uu.CreatedAt), liteTime(uu.UpdatedAt)); err != nil {
		return l.err(ctx, op, err)
	}
	u.CreatedAt, u.UpdatedAt = uu.CreatedAt, uu.UpdatedAt
	return nil
}

// getUser returns the user whose column (a unique one) is value; by
// describes the lookup in errors.
func (l *liteDB) getUser(ctx context.Context, column, by, value string) (*store.User, error) {
	u, err := liteScanUser(l.readRow(ctx, liteSelectUserBy(column), value))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get user%s %q: %w", by, value, store.ErrNotFound)
		}
		return nil, l.err(ctx, "get user"+by, err)
	}
	return u, nil
}

func (l *liteDB) GetUser(ctx context.Context, id string) (*store.User, error) {
	return l.getUser(ctx, "id", "", id)
}

func (l *liteDB) GetUserByUsername(ctx context.Context, username string) (*store.User, error) {
	return l.getUser(ctx, "username", " by username", username)
}

func (l *liteDB) GetUserByPhone(ctx context.Context, phone string) (*store.User, error) {
	// An empty phone is stored as NULL, which equals nothing.
	return l.getUser(ctx, "phone_number", " by phone number", phone)
}

func (l *liteDB) ListUsers(ctx context.Context) ([]*store.User, error) {
	const op = "list users"
	rows, err := l.r.QueryContext(ctx, liteSelectUser+` ORDER BY username`)
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var us []*store.User
	for rows.Next() {
		u, err := liteScanUser(rows)
		if err != nil {
			return nil, l.err(ctx, op, err)
		}
		us = append(us, u)
	}
	return us, l.err(ctx, op, rows.Err())
}

func (l *liteDB) DeleteUser(ctx context.Context, id string) error {
	const op = "delete user"
	// One statement: the foreign keys delete the user's grants with it.
	res, err := l.w.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return l.err(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return l.err(ctx, op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: delete user %q: %w", id, store.ErrNotFound)
	}
	return nil
}

const liteSelectAuthCode = `SELECT hash, client_id, user_id, redirect_uri, scopes,
	nonce, code_challenge, code_challenge_method, auth_time, expires_at, used_at,
	grant_id, created_at FROM auth_codes`

// liteScanAuthCode reads one liteSelectAuthCode row.
func liteScanAuthCode(row interface{ Scan(...any) error }) (*store.AuthCode, error) {
	var c store.AuthCode
	var scopes string
	var authTime, expires, used, created sql.NullInt64
	if err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &scopes,
		&c.Nonce, &c.CodeChallenge, &c.CodeChallengeMethod, &authTime, &expires, &used,
		&c.GrantID, &created); err != nil {
		return nil, err
	}
	var err error
	if c.Scopes, err = decodeList(scopes); err != nil {
		return nil, err
	}
	c.AuthTime = fromLiteTime(authTime)
	c.ExpiresAt = fromLiteTime(expires)
	c.UsedAt = fromLiteTime(used)
	c.CreatedAt = fromLiteTime(created)
	return &c, nil
}

func (l *liteDB) CreateAuthCode(ctx context.Context, c *store.AuthCode) error {
	const op = "create auth code"
	created := c.CreatedAt
	if created.IsZero() {
		created = l.now()
	}
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return err
	}
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := l.txExec(ctx, tx, liteInsertAuthCode,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, scopes, c.Nonce, c.CodeChallenge,
		c.CodeChallengeMethod, liteTime(c.AuthTime), liteTime(c.ExpiresAt),
		liteTime(c.UsedAt), c.GrantID, liteTime(created)); err != nil {
		if liteForeignKeyViolation(err) {
			return l.missingParent(ctx, op, tx, c.Hash, c.ClientID, c.UserID, err)
		}
		return l.err(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return l.err(ctx, op, err)
	}
	c.CreatedAt = created
	return nil
}

func (l *liteDB) RedeemAuthCode(ctx context.Context, hash string, now time.Time) (*store.AuthCode, error) {
	const op = "redeem auth code"
	now = truncate(now, sqlitePrecision)
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock before the read
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer tx.Rollback()
	c, err := liteScanAuthCode(l.txQueryRow(ctx, tx, liteSelectAuthCodeByHash, hash))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: redeem auth code %q: %w", hash, store.ErrNotFound)
		}
		return nil, l.err(ctx, op, err)
	}
	if !c.UsedAt.IsZero() {
		return c, errCodeUsed(hash, c.UsedAt)
	}
	if _, err := l.txExec(ctx, tx, liteUseAuthCode,
		liteTime(now), hash); err != nil {
		return nil, l.err(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, l.err(ctx, op, err)
	}
	c.UsedAt = now
	return c, nil
}

const liteSelectRefreshToken = `SELECT hash, family_id, client_id, user_id, scopes,
	auth_time, expires_at, rotated_at, revoked_at, created_at FROM refresh_tokens`

// The token flows' statements, prepared at open (stmtCache).
const (
	liteInsertAuthCode = `INSERT INTO auth_codes (hash, client_id, user_id,
		redirect_uri, scopes, nonce, code_challenge, code_challenge_method, auth_time,
		expires_at, used_at, grant_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	liteSelectAuthCodeByHash = liteSelectAuthCode + ` WHERE hash = ?`
	liteUseAuthCode          = `UPDATE auth_codes SET used_at = ? WHERE hash = ?`
	liteInsertRefreshToken   = `INSERT INTO refresh_tokens (hash, family_id, client_id,
		user_id, scopes, auth_time, expires_at, rotated_at, revoked_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	liteSelectRefreshTokenByHash = liteSelectRefreshToken + ` WHERE hash = ?`
	liteRotateRefreshToken       = `UPDATE refresh_tokens SET rotated_at = ? WHERE hash = ?`
)

// The gateway's and token verification's reads, prepared at open.
const (
	liteSelectClientByID        = liteSelectClient + ` WHERE id = ?`
	liteSelectSubscriptionByApp = liteSelectSubscription + ` WHERE client_id = ? AND api_name = ?`
)

// liteSelectUserBy is the user query by one unique column.
func liteSelectUserBy(column string) string { return liteSelectUser + ` WHERE ` + column + ` = ?` }

// liteScanRefreshToken reads one liteSelectRefreshToken row.
func liteScanRefreshToken(row interface{ Scan(...any) error }) (*store.RefreshToken, error) {
	var t store.RefreshToken
	var scopes string
	var authTime, expires, rotated, revoked, created sql.NullInt64
	if err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &scopes,
		&authTime, &expires, &rotated, &revoked, &created); err != nil {
		return nil, err
	}
	var err error
	if t.Scopes, err = decodeList(scopes); err != nil {
		return nil, err
	}
	t.AuthTime = fromLiteTime(authTime)
	t.ExpiresAt = fromLiteTime(expires)
	t.RotatedAt = fromLiteTime(rotated)
	t.RevokedAt = fromLiteTime(revoked)
	t.CreatedAt = fromLiteTime(created)
	return &t, nil
}

// insertRefreshToken stores t (CreatedAt already set) in tx.
func (l *liteDB) insertRefreshToken(ctx context.Context, tx *sql.Tx, t *store.RefreshToken) error {
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return err
	}
	_, err = l.txExec(ctx, tx, liteInsertRefreshToken,
		t.Hash, t.FamilyID, t.ClientID, t.UserID, scopes, liteTime(t.AuthTime),
		liteTime(t.ExpiresAt), liteTime(t.RotatedAt), liteTime(t.RevokedAt), liteTime(t.CreatedAt))
	return err
}

func (l *liteDB) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	const op = "create refresh token"
	tt := *t
	if tt.CreatedAt.IsZero() {
		tt.CreatedAt = l.now()
	}
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	if err := l.insertRefreshToken(ctx, tx, &tt); err != nil {
		if liteForeignKeyViolation(err) {
			return l.missingParent(ctx, op, tx, tt.Hash, tt.ClientID, tt.UserID, err)
		}
		return l.err(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return l.err(ctx, op, err)
	}
	t.CreatedAt = tt.CreatedAt
	return nil
}

func (l *liteDB) RotateRefreshToken(ctx context.Context, hash string, now time.Time, next *store.RefreshToken) (*store.RefreshToken, error) {
	const op = "rotate refresh token"
	now = truncate(now, sqlitePrecision)
	nt := *next
	if nt.CreatedAt.IsZero() {
		nt.CreatedAt = now
	}
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock before the read
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer tx.Rollback()
	t, err := liteScanRefreshToken(l.txQueryRow(ctx, tx, liteSelectRefreshTokenByHash, hash))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: rotate refresh token %q: %w", hash, store.ErrNotFound)
		}
		return nil, l.err(ctx, op, err)
	}
	if !t.RotatedAt.IsZero() || !t.RevokedAt.IsZero() {
		return t, errTokenSpent(t)
	}
	if nt.FamilyID != t.FamilyID {
		return nil, errFamilyMismatch(t, &nt)
	}
	if _, err := l.txExec(ctx, tx, liteRotateRefreshToken,
		liteTime(now), hash); err != nil {
		return nil, l.err(ctx, op, err)
	}
	if err := l.insertRefreshToken(ctx, tx, &nt); err != nil {
		switch {
		case liteUniqueViolation(err):
			return nil, errNextHashTaken(hash, err)
		case liteForeignKeyViolation(err):
			return nil, l.missingParent(ctx, op, tx, hash, nt.ClientID, nt.UserID, err)
		}
		return nil, l.err(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, l.err(ctx, op, err)
	}
	t.RotatedAt = now
	next.CreatedAt = nt.CreatedAt
	return t, nil
}

func (l *liteDB) GetRefreshToken(ctx context.Context, hash string) (*store.RefreshToken, error) {
	t, err := liteScanRefreshToken(l.readRow(ctx, liteSelectRefreshTokenByHash, hash))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get refresh token %q: %w", hash, store.ErrNotFound)
		}
		return nil, l.err(ctx, "get refresh token", err)
	}
	return t, nil
}

func (l *liteDB) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error {
	// One statement through the single writer: no rotation of the family
	// can interleave with it.
	_, err := l.w.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
		WHERE family_id = ? AND revoked_at IS NULL`, liteTime(truncate(now, sqlitePrecision)), familyID)
	return l.err(ctx, "revoke refresh family", err)
}

const liteSelectCIBARequest = `SELECT id, client_id, user_id, scopes, binding_message,
	status, interval, last_poll_at, auth_time, expires_at, created_at, updated_at
	FROM ciba_requests`

// liteScanCIBARequest reads one liteSelectCIBARequest row.
func liteScanCIBARequest(row interface{ Scan(...any) error }) (*store.CIBARequest, error) {
	var r store.CIBARequest
	var scopes string
	var lastPoll, authTime, expires, created, updated sql.NullInt64
	if err := row.Scan(&r.ID, &r.ClientID, &r.UserID, &scopes, &r.BindingMessage,
		&r.Status, &r.Interval, &lastPoll, &authTime, &expires, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if r.Scopes, err = decodeList(scopes); err != nil {
		return nil, err
	}
	r.LastPollAt = fromLiteTime(lastPoll)
	r.AuthTime = fromLiteTime(authTime)
	r.ExpiresAt = fromLiteTime(expires)
	r.CreatedAt = fromLiteTime(created)
	r.UpdatedAt = fromLiteTime(updated)
	return &r, nil
}

// liteCIBAArgs returns r's columns after user_id, in liteSelectCIBARequest
// order.
func liteCIBAArgs(r *store.CIBARequest) ([]any, error) {
	scopes, err := encodeList(r.Scopes)
	if err != nil {
		return nil, err
	}
	return []any{scopes, r.BindingMessage, r.Status, r.Interval, liteTime(r.LastPollAt),
		liteTime(r.AuthTime), liteTime(r.ExpiresAt), liteTime(r.CreatedAt), liteTime(r.UpdatedAt)}, nil
}

func (l *liteDB) CreateCIBARequest(ctx context.Context, r *store.CIBARequest) error {
	const op = "create CIBA request"
	rr := *r
	if rr.CreatedAt.IsZero() {
		rr.CreatedAt = l.now()
	}
	if rr.UpdatedAt.IsZero() {
		rr.UpdatedAt = rr.CreatedAt
	}
	args, err := liteCIBAArgs(&rr)
	if err != nil {
		return err
	}
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO ciba_requests (id, client_id, user_id,
		scopes, binding_message, status, interval, last_poll_at, auth_time, expires_at,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{rr.ID, rr.ClientID, rr.UserID}, args...)...); err != nil {
		if liteForeignKeyViolation(err) {
			return l.missingParent(ctx, op, tx, rr.ID, rr.ClientID, rr.UserID, err)
		}
		return l.err(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return l.err(ctx, op, err)
	}
	r.CreatedAt, r.UpdatedAt = rr.CreatedAt, rr.UpdatedAt
	return nil
}

func (l *liteDB) GetCIBARequest(ctx context.Context, id string) (*store.CIBARequest, error) {
	r, err := liteScanCIBARequest(l.r.QueryRowContext(ctx, liteSelectCIBARequest+` WHERE id = ?`, id))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get CIBA request %q: %w", id, store.ErrNotFound)
		}
		return nil, l.err(ctx, "get CIBA request", err)
	}
	return r, nil
}

func (l *liteDB) UpdateCIBARequest(ctx context.Context, id string, update func(r *store.CIBARequest) error) (*store.CIBARequest, error) {
	const op = "update CIBA request"
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock before the read
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer tx.Rollback()
	r, err := liteScanCIBARequest(tx.QueryRowContext(ctx, liteSelectCIBARequest+` WHERE id = ?`, id))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update CIBA request %q: %w", id, store.ErrNotFound)
		}
		return nil, l.err(ctx, op, err)
	}
	old := *r
	if err := update(r); err != nil {
		return nil, err
	}
	if err := checkCIBAKeys(op, id, &old, r); err != nil {
		return nil, err
	}
	r.UpdatedAt = l.now()
	normalizeCIBARequest(r, sqlitePrecision)
	args, err := liteCIBAArgs(r)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ciba_requests SET scopes = ?,
		binding_message = ?, status = ?, interval = ?, last_poll_at = ?, auth_time = ?,
		expires_at = ?, created_at = ?, updated_at = ? WHERE id = ?`,
		append(args, id)...); err != nil {
		return nil, l.err(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, l.err(ctx, op, err)
	}
	return r, nil
}

func (l *liteDB) ListPendingCIBARequests(ctx context.Context, userID string) ([]*store.CIBARequest, error) {
	const op = "list pending CIBA requests"
	rows, err := l.r.QueryContext(ctx, liteSelectCIBARequest+` WHERE user_id = ? AND status = ?
		ORDER BY created_at NULLS FIRST, id`, userID, store.CIBAPending)
	if err != nil {
		return nil, l.err(ctx, op, err)
	}
	defer rows.Close()
	var rs []*store.CIBARequest
	for rows.Next() {
		r, err := liteScanCIBARequest(rows)
		if err != nil {
			return nil, l.err(ctx, op, err)
		}
		rs = append(rs, r)
	}
	return rs, l.err(ctx, op, rows.Err())
}

func (l *liteDB) DeleteExpiredGrants(ctx context.Context, now time.Time) error {
	const op = "delete expired grants"
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return l.err(ctx, op, err)
	}
	defer tx.Rollback()
	// Stored times are whole milliseconds: before ceil(now) is before now.
	ms := ceil(now, sqlitePrecision).UnixMilli()
	for _, table := range []string{"auth_codes", "refresh_tokens", "ciba_requests"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at < ?`, ms); err != nil {
			return l.err(ctx, op, err)
		}
	}
	return l.err(ctx, op, tx.Commit())
}

func (l *liteDB) Ping(ctx context.Context) error {
	var one int
	if err := l.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

func (l *liteDB) Close() error {
	var errs []error
	for _, c := range []*stmtCache{l.wStmts, l.rStmts} {
		if c != nil {
			errs = append(errs, c.close())
		}
	}
	if l.r != l.w {
		errs = append(errs, l.r.Close())
	}
	errs = append(errs, l.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}
