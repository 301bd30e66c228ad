// Package sqlstore implements store.Store on SQL databases: SQLite (pure Go,
// modernc.org/sqlite) for the embedded single-node default, and PostgreSQL
// (github.com/jackc/pgx/v5 through database/sql) for nodes that scale out
// behind a load balancer. store.go states the contract; store/storetest
// checks it against both.
//
// The store is written once over database/sql. The SQL is hand-written
// with ? placeholders (sqlx.Rebind turns them into PostgreSQL's $N), one
// file per kind of record. What truly differs between the two databases is
// a dialect value (dialect.go, sqlite.go, postgres.go): opening, locking,
// error classification, time representation and the few statements only
// PostgreSQL can write as one.
//
// Representation, identical in both backends:
//   - Lists ([]string) are JSON arrays stored as text. Nil and empty lists
//     are both stored as "[]" and read back as nil.
//   - Byte slices that are empty are stored as NULL and read back as nil.
//   - Times are stored in UTC: SQLite as INTEGER unix milliseconds,
//     PostgreSQL as timestamptz (microseconds). The zero time.Time is stored
//     as NULL and reads back as the zero time; other times read back in UTC,
//     truncated to the backend's precision.
//   - Strings must not contain NUL bytes, which PostgreSQL text cannot
//     hold; byte slices may. E-mail addresses (developers, invitations)
//     are stored lower-cased (table.normalize).
//
// Change counters live in table generations, one row per kind of record:
// "apis" counts API writes and "access" counts writes to plans and
// subscriptions (those that go with a deleted client, API, app or
// organisation, and orders placed, included), in the same transaction as
// the write.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"gatehouse/internal/store"
)

var _ store.Store = (*DB)(nil)

// DB is a store.Store backed by SQLite or PostgreSQL. It is safe for
// concurrent use. Create it with Open and release it with Close.
type DB struct {
	// Now returns the current time, used to fill zero CreatedAt, UpdatedAt
	// and RevokedAt fields and zero now arguments, and to decide whether an
	// assertion id has expired. If nil, time.Now is used. Set it before the
	// DB is used.
	Now func() time.Time
	// Timeout bounds every call (each method, Ping included): past it the
	// call is interrupted — the query cancelled, a transaction rolled
	// back, the connection dropped if the database does not answer — and
	// its error wraps store.ErrUnavailable. A caller's earlier deadline
	// still applies, and store.WithTimeout replaces it for one context.
	// Zero means no limit of the store's own. Set it before the DB is
	// used.
	Timeout time.Duration
	// Observe, if not nil, is told the outcome of every call: write says
	// whether the method writes, err is what it returned. It must be
	// fast and safe for concurrent use (health.Tracker.ObserveStore).
	// Set it before the DB is used.
	Observe func(write bool, err error)

	d    *dialect
	w, r *sql.DB // writer and readers; the same pool but for a SQLite file
	// wStmts and rStmts hold the hot statements prepared at open on the
	// writer and on the readers (stmtcache.go).
	wStmts, rStmts stmtCache
	rebound        sync.Map // query with ? → the dialect's placeholders
	closed         atomic.Bool
}

// call is one store call under way: its time limit and whom to tell how
// it ended.
type call struct {
	cancel  context.CancelFunc
	observe func(write bool, err error)
	write   bool
	// caller is the caller's context: when it ended first (its own,
	// shorter deadline, or a client that went away), the failure says
	// nothing about the database and is not reported.
	caller context.Context
}

// start bounds ctx by db.Timeout, or the limit store.WithTimeout put in
// ctx (unless ctx ends sooner anyway), for one call; the caller defers end
// with its error.
func (db *DB) start(ctx context.Context, write bool) (context.Context, call) {
	c := call{observe: db.Observe, write: write, caller: ctx}
	limit := db.Timeout
	if d, ok := store.TimeoutFrom(ctx); ok {
		limit = d
	}
	if limit > 0 {
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > limit {
			ctx, c.cancel = context.WithTimeout(ctx, limit)
		}
	}
	return ctx, c
}

// end releases the call's timer and reports its outcome, unless the call
// failed because its caller's context ended: the token checks bound a
// lookup to 250 ms, and one that a busy machine made slower than that
// must not mark the database down for everyone (found under load: 503s
// at the gateway while the database answered).
func (c call) end(err *error) {
	if c.cancel != nil {
		c.cancel()
	}
	if c.observe != nil && (*err == nil || c.caller.Err() == nil) {
		c.observe(c.write, *err)
	}
}

// run runs f as one call of the store: refused once the store is
// closed, bounded in time (start) and observed (end).
func run[T any](db *DB, ctx context.Context, write bool, f func(context.Context) (T, error)) (_ T, err error) {
	if db.closed.Load() {
		var zero T
		return zero, errClosed
	}
	ctx, call := db.start(ctx, write)
	defer call.end(&err)
	return f(ctx)
}

// run is run for calls that return only an error.
func (db *DB) run(ctx context.Context, write bool, f func(context.Context) error) error {
	_, err := run(db, ctx, write, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// write is a call of the store that runs query on the writer.
func (db *DB) write(ctx context.Context, op, query string, args ...any) error {
	return db.run(ctx, true, func(ctx context.Context) error { return db.do(ctx, nil, op, query, args...) })
}

// writeTx is a call of the store that runs f in a write transaction (see
// tx).
func (db *DB) writeTx(ctx context.Context, op string, f func(ctx context.Context, tx *sql.Tx) error) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		return db.tx(ctx, op, func(tx *sql.Tx) error { return f(ctx, tx) })
	})
}

// errClosed is returned by every method called after Close.
var errClosed = fmt.Errorf("sqlstore: database is closed: %w", store.ErrUnavailable)

// Open connects to the database named by databaseURL and applies pending
// schema migrations.
//
// A URL starting with postgres:// or postgresql:// selects PostgreSQL; it is
// handed to pgx (see pgconn.ParseConfig for its parameters, e.g.
// sslmode, connect_timeout, pool_max_conns) after removing one extra
// parameter, schema=NAME: when present, Open creates that schema if it is
// missing and every connection uses it as its search_path, so several
// deployments or tests can share one database.
//
// Anything else names a SQLite database file: a plain path
// ("/var/lib/gatehouse/gatehouse.db", "data/gatehouse.db"), the same with a
// sqlite:// or file: prefix ("sqlite:///var/lib/gatehouse.db",
// "file:data/gatehouse.db"), or ":memory:" (also "sqlite://:memory:" and
// "file::memory:") for a private in-memory database that lives until Close.
// The file and its parent directory are created if missing. Query
// parameters are not accepted on SQLite URLs.
//
// Failing to reach the database wraps store.ErrUnavailable.
func Open(ctx context.Context, databaseURL string) (_ *DB, err error) {
	db := &DB{}
	var schema string
	switch {
	case databaseURL == "":
		return nil, errors.New("sqlstore: empty database URL")
	case hasPrefixFold(databaseURL, "postgres://"), hasPrefixFold(databaseURL, "postgresql://"):
		db.d = &postgresDialect
		db.w, schema, err = openPostgres(databaseURL)
		db.r = db.w
	default:
		db.d = &sqliteDialect
		db.w, db.r, err = openSQLite(databaseURL)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	// Migrate on the writer before any reader connects, so that SQLite's
	// readers find the database in WAL mode and with its tables.
	if err := db.migrate(ctx, schema); err != nil {
		return nil, err
	}
	if err := db.prepare(ctx); err != nil {
		return nil, db.err(ctx, "prepare", err)
	}
	return db, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// now returns db.Now() or time.Now(), in UTC and at the database's
// precision.
func (db *DB) now() time.Time {
	if db.Now != nil {
		return truncate(db.Now(), db.d.precision)
	}
	return truncate(time.Now(), db.d.precision)
}

// orNow returns t, or now() if t is zero.
func (db *DB) orNow(t time.Time) time.Time {
	if t.IsZero() {
		return db.now()
	}
	return t
}

// stamp sets a zero *created to the current time and a zero *updated (if
// not nil) to *created.
func (db *DB) stamp(created, updated *time.Time) {
	*created = db.orNow(*created)
	if updated != nil && updated.IsZero() {
		*updated = *created
	}
}

// t returns t as a query argument in the dialect's representation, with
// the zero time as NULL.
func (db *DB) t(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return db.d.time(t)
}

// at returns t, or the current time if t is zero, as a query argument at
// the database's precision.
func (db *DB) at(t time.Time) any { return db.d.time(truncate(db.orNow(t), db.d.precision)) }

// ceil returns t rounded up to the database's precision as a query
// argument: a stored time is before t exactly when it is before ceil(t).
func (db *DB) ceil(t time.Time) any { return db.d.time(ceil(t, db.d.precision)) }

// sql returns query with the dialect's placeholders.
func (db *DB) sql(query string) string {
	if db.d.bind == sqlx.QUESTION {
		return query
	}
	if q, ok := db.rebound.Load(query); ok {
		return q.(string)
	}
	q := sqlx.Rebind(db.d.bind, query)
	db.rebound.Store(query, q)
	return q
}

// conn is what *sql.DB and *sql.Tx have in common.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writer returns tx, or the writer when tx is nil, and query's prepared
// statement on it if there is one.
func (db *DB) writer(ctx context.Context, tx *sql.Tx, query string) (conn, *sql.Stmt) {
	st := db.wStmts[query]
	if tx == nil {
		return db.w, st
	}
	if st != nil {
		st = tx.StmtContext(ctx, st)
	}
	return tx, st
}

// exec runs query in tx, or on the writer when tx is nil, through its
// prepared statement when there is one.
func (db *DB) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	c, st := db.writer(ctx, tx, query)
	if st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.ExecContext(ctx, db.sql(query), args...)
}

// writeRow runs query, which returns at most one row, like exec.
func (db *DB) writeRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	c, st := db.writer(ctx, tx, query)
	if st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.QueryRowContext(ctx, db.sql(query), args...)
}

// readRow runs query on the readers, through a prepared statement when
// there is one.
func (db *DB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := db.rStmts[query]; st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.r.QueryRowContext(ctx, db.sql(query), args...)
}

// do runs query like exec and classifies its error for op.
func (db *DB) do(ctx context.Context, tx *sql.Tx, op, query string, args ...any) error {
	_, err := db.exec(ctx, tx, query, args...)
	return db.err(ctx, op, err)
}

// count runs query like exec and returns the number of rows it affected.
func (db *DB) count(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := db.exec(ctx, tx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// one runs query like do: a write of the record key, not found when it
// affects no row.
func (db *DB) one(ctx context.Context, tx *sql.Tx, op string, key any, query string, args ...any) error {
	n, err := db.count(ctx, tx, query, args...)
	if err != nil {
		return db.err(ctx, op, err)
	}
	if n == 0 {
		return notFound(op, key)
	}
	return nil
}

func notFound(op string, key any) error {
	return fmt.Errorf("sqlstore: %s %q: %w", op, key, store.ErrNotFound)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// get is a call of the store that reads the record key with query.
func get[T any](db *DB, ctx context.Context, op string, scan func(scanner) (*T, error), query string, key any) (*T, error) {
	return run(db, ctx, false, func(ctx context.Context) (*T, error) { return readOne(db, ctx, nil, op, scan, query, key) })
}

// list is a call of the store that reads every row of query.
func list[T any](db *DB, ctx context.Context, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	return run(db, ctx, false, func(ctx context.Context) ([]T, error) { return readAll(db, ctx, db.r, op, scan, query, args...) })
}

// readOne reads the record key with query on the readers, or in tx when
// tx is not nil (adding the dialect's row lock).
func readOne[T any](db *DB, ctx context.Context, tx *sql.Tx, op string, scan func(scanner) (*T, error), query string, key any) (*T, error) {
	var row *sql.Row
	if tx != nil {
		row = db.writeRow(ctx, tx, query+db.d.forUpdate, key)
	} else {
		row = db.readRow(ctx, query, key)
	}
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(op, key)
	}
	if err != nil {
		return nil, db.err(ctx, op, err)
	}
	return v, nil
}

// readAll reads every row of query on c.
func readAll[T any](db *DB, ctx context.Context, c conn, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := c.QueryContext(ctx, db.sql(query), args...)
	if err != nil {
		return nil, db.err(ctx, op, err)
	}
	defer rows.Close()
	var vs []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, db.err(ctx, op, err)
		}
		vs = append(vs, v)
	}
	return vs, db.err(ctx, op, rows.Err())
}

// tx runs f in a write transaction (SQLite: BEGIN IMMEDIATE, the write
// lock before any read). An error from f is returned as it is.
func (db *DB) tx(ctx context.Context, op string, f func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return db.err(ctx, op, err)
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return db.err(ctx, op, tx.Commit())
}

// create is a call of the store that checks v and inserts it into t,
// stamping its zero creation and update times (stamp), which v keeps
// only if it is stored.
func create[T any](db *DB, ctx context.Context, op string, t *table[T], v *T) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		if t.check != nil {
			if err := t.check(v); err != nil {
				return err
			}
		}
		before := *v // restored if the insert fails
		db.stamp(t.stamps(v))
		f := func(tx *sql.Tx) error { return insert(db, ctx, tx, op, t, v) }
		// A generation is incremented in the insert's transaction. SQLite
		// explains a foreign key violation by reading under the write lock
		// the insert held, so an insert with references takes it in a
		// transaction too; PostgreSQL needs no lock to explain (its errors
		// name the constraint), so its insert is a transaction of its own.
		var err error
		if t.gen != "" || len(t.refs) > 0 && !db.d.namesConstraints {
			err = db.tx(ctx, op, f)
		} else {
			err = f(nil)
		}
		if err != nil {
			*v = before
		}
		return err
	})
}

// insert writes v, stamped, into t in tx (nil: on the writer), explaining
// a missing reference, and increments t's generation.
func insert[T any](db *DB, ctx context.Context, tx *sql.Tx, op string, t *table[T], v *T) error {
	if t.normalize != nil {
		t.normalize(v)
	}
	args := t.args(db, v)
	if _, err := db.exec(ctx, tx, t.insert, args...); err != nil {
		return db.explain(ctx, op, tx, args[0], err, t.refs, args)
	}
	return db.bumpGeneration(ctx, op, tx, t.gen)
}

// update reads the record key of t in a transaction holding its row
// (SQLite: the database) lock, lets change modify it, checks that its
// identity (t.ids) stayed, writes it back with the current update time
// and returns it as stored, so concurrent updates never lose each other's
// changes. An error from change is returned unchanged.
func update[T any](db *DB, ctx context.Context, op string, t *table[T], key string, change func(*T) error) (*T, error) {
	return run(db, ctx, true, func(ctx context.Context) (*T, error) {
		var v *T
		err := db.tx(ctx, op, func(tx *sql.Tx) (err error) {
			if v, err = readOne(db, ctx, tx, op, t.scan, t.get, key); err != nil {
				return err
			}
			old := t.args(db, v)[:t.ids]
			if err := change(v); err != nil {
				return err
			}
			if t.normalize != nil {
				t.normalize(v)
			}
			_, updated := t.stamps(v)
			*updated = db.now()
			args := t.args(db, v)
			if ids := args[:t.ids]; !slices.Equal(old, ids) {
				return fmt.Errorf("sqlstore: %s %q: update must not change the %s (from %q to %q)", op, key, t.what, old, ids)
			}
			if _, err := db.exec(ctx, tx, t.update, append(args[t.ids:], key)...); err != nil {
				return db.explain(ctx, op, tx, key, err, t.refs, args)
			}
			if err := db.bumpGeneration(ctx, op, tx, t.gen); err != nil {
				return err
			}
			v, err = readOne(db, ctx, tx, op, t.scan, t.get, key) // as stored
			return err
		})
		if err != nil {
			return nil, err
		}
		return v, nil
	})
}

// Generation counters: the names of rows in table generations.
const (
	generationAPIs   = "apis"
	generationAccess = "access"
)

const selectGeneration = `SELECT generation FROM generations WHERE name = ?`

// bumpGeneration increments the named generation, if any, inside tx.
func (db *DB) bumpGeneration(ctx context.Context, op string, tx *sql.Tx, name string) error {
	if name == "" {
		return nil
	}
	n, err := db.count(ctx, tx, `UPDATE generations SET generation = generation + 1 WHERE name = ?`, name)
	if err != nil {
		return db.err(ctx, op, err)
	}
	if n != 1 {
		return errMissingGeneration(name)
	}
	return nil
}

// generation reads the named generation counter.
func (db *DB) generation(ctx context.Context, name string) (int64, error) {
	return run(db, ctx, false, func(ctx context.Context) (int64, error) {
		var g int64
		if err := db.readRow(ctx, selectGeneration, name).Scan(&g); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return 0, errMissingGeneration(name)
			}
			return 0, db.err(ctx, name+" generation", err)
		}
		return g, nil
	})
}

// errMissingGeneration is returned if a generations row is missing, which
// only a hand-edited database can cause.
func errMissingGeneration(name string) error {
	return fmt.Errorf("sqlstore: generation counter %q is missing from table generations", name)
}

// ref is a foreign key of a record being written: what it references,
// where, the suffix of its constraint's name in PostgreSQL's schema
// (migrations/postgres: TABLE_FK_fk), and which of the record's columns
// holds it (arg).
type ref struct {
	what, table, column, fk string
	arg                     int
}

// The records others reference (see 0003_plans_subscriptions_usage.sql,
// 0004_users_grants.sql and 0008_developers_orgs_apps.sql).
var (
	refClient       = ref{what: "client", table: "clients", column: "id", fk: "client"}
	refAPI          = ref{what: "API", table: "apis", column: "name", fk: "api"}
	refPlan         = ref{what: "plan", table: "plans", column: "name", fk: "plan"}
	refUser         = ref{what: "user", table: "users", column: "id", fk: "user"}
	refDeveloper    = ref{what: "developer", table: "developers", column: "id", fk: "developer"}
	refOrganization = ref{what: "organization", table: "organizations", column: "id", fk: "organization"}
	refApp          = ref{what: "app", table: "apps", column: "id", fk: "app"}

	// refPendingPlan is a subscription's pending plan (0009_orders.sql).
	refPendingPlan = ref{what: "plan", table: "plans", column: "name", fk: "pending_plan"}
)

// at returns r held by column i of the referencing record.
func (r ref) at(i int) ref {
	r.arg = i
	return r
}

// explain classifies err, returned writing record key (with columns args)
// during op, explaining a foreign key violation by refs: by the
// constraint's name where the database says it, else (SQLite) by looking
// in tx, still holding the write lock, for the first of refs that does
// not exist.
func (db *DB) explain(ctx context.Context, op string, tx *sql.Tx, key any, err error, refs []ref, args []any) error {
	name, fk := db.d.foreignKey(err)
	if !fk || len(refs) == 0 {
		return db.err(ctx, op, err)
	}
	missing := func(r ref) error {
		return fmt.Errorf("sqlstore: %s %q: %s %q: %w", op, key, r.what, args[r.arg], store.ErrNotFound)
	}
	if db.d.namesConstraints {
		for _, r := range refs {
			if strings.HasSuffix(name, "_"+r.fk+"_fk") {
				return missing(r)
			}
		}
		return fmt.Errorf("sqlstore: %s %q: %w: %w", op, key, store.ErrNotFound, err)
	}
	for _, r := range refs {
		if args[r.arg] == nil {
			continue // NULL refers to nothing
		}
		var exists bool
		if err := db.writeRow(ctx, tx, `SELECT EXISTS (SELECT 1 FROM `+r.table+` WHERE `+r.column+` = ?)`,
			args[r.arg]).Scan(&exists); err != nil {
			return db.err(ctx, op, err)
		}
		if !exists {
			return missing(r)
		}
	}
	return db.err(ctx, op, err)
}

// err classifies err, returned by the driver during op, with the store's
// sentinels (see the dialects' classify); a closed store, an expired
// deadline or a bad connection wrap store.ErrUnavailable.
func (db *DB) err(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if db.closed.Load() {
		return unavailable(op, err)
	}
	if e, ok := db.d.classify(op, err); ok {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) {
		return unavailable(op, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// wrap wraps err, returned during op, with the store's sentinel.
func wrap(op string, sentinel, err error) error {
	return fmt.Errorf("sqlstore: %s: %w: %w", op, sentinel, err)
}

func unavailable(op string, err error) error { return wrap(op, store.ErrUnavailable, err) }

func (db *DB) Ping(ctx context.Context) error {
	return db.run(ctx, false, func(ctx context.Context) error {
		var one int
		if err := db.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			return unavailable("ping", err)
		}
		return nil
	})
}

func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	errs := []error{db.wStmts.close(), db.rStmts.close()}
	if db.r != db.w {
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}
