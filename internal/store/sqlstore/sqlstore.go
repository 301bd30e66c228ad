// Package sqlstore implements store.Store on SQL databases: SQLite (pure Go,
// modernc.org/sqlite) for the embedded single-node default, and PostgreSQL
// (github.com/jackc/pgx/v5) for nodes that scale out behind a load balancer.
//
// Both backends keep the same schema, applied at Open from versioned SQL
// files embedded in the binary (migrations/sqlite and migrations/postgres),
// and pass the same conformance suite, store/storetest. Dialect differences
// are written out in each backend's file rather than translated.
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
//     hold; byte slices may.
//
// Change counters live in table generations, one row per kind of record:
// "apis" counts API writes and "access" counts writes to plans and
// subscriptions. A write of that kind increments its row in the same
// transaction, so a reader polling the counter sees a new value exactly
// when there is something new to read.
//
// Subscriptions reference their client, API and plan with foreign keys:
// deleting a client or an API deletes its subscriptions (and, when there
// were any, increments "access"), and a plan in use cannot be deleted.
// Usage rows reference nothing, so call history outlives what it counts.
//
// Authorization codes, refresh tokens and CIBA requests reference their
// client and their user the same way: deleting either deletes them. A
// user's empty phone number is stored as NULL, so it is unique only when
// set. Codes and tokens are redeemed and rotated by one conditional write
// (SQLite: inside the single writer's transaction), so that of concurrent
// uses exactly one wins; none of the three counts in a generation.
package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

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

	b      backend
	closed atomic.Bool
}

// call is one store call under way: its time limit and whom to tell how
// it ended.
type call struct {
	cancel  context.CancelFunc
	observe func(write bool, err error)
	write   bool
}

// start bounds ctx by db.Timeout, or the limit store.WithTimeout put in
// ctx (unless ctx ends sooner anyway), for one call; the caller defers end
// with its error.
func (db *DB) start(ctx context.Context, write bool) (context.Context, call) {
	c := call{observe: db.Observe, write: write}
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

// end releases the call's timer and reports its outcome.
func (c call) end(err *error) {
	if c.cancel != nil {
		c.cancel()
	}
	if c.observe != nil {
		c.observe(c.write, *err)
	}
}

// backend is what each dialect implements. The DB checks for a closed
// store before delegating.
type backend interface {
	store.Store
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
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	db := &DB{}
	switch {
	case databaseURL == "":
		return nil, errors.New("sqlstore: empty database URL")
	case hasPrefixFold(databaseURL, "postgres://"), hasPrefixFold(databaseURL, "postgresql://"):
		b, err := openPostgres(ctx, databaseURL, db.now, &db.closed)
		if err != nil {
			return nil, err
		}
		db.b = b
	default:
		path, err := sqlitePath(databaseURL)
		if err != nil {
			return nil, err
		}
		b, err := openSQLite(ctx, path, db.now, &db.closed)
		if err != nil {
			return nil, err
		}
		db.b = b
	}
	return db, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// now returns db.Now() or time.Now(), in UTC.
func (db *DB) now() time.Time {
	if db.Now != nil {
		return db.Now().UTC()
	}
	return time.Now().UTC()
}

// CreateClient stores a new client. A zero c.CreatedAt is set to the
// current time and a zero c.UpdatedAt to c.CreatedAt, both written back to
// c. It returns an error wrapping store.ErrConflict if the ID is taken.
func (db *DB) CreateClient(ctx context.Context, c *store.Client) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.CreateClient(ctx, c)
}

// GetClient returns the client with the given ID, or an error wrapping
// store.ErrNotFound.
func (db *DB) GetClient(ctx context.Context, id string) (_ *store.Client, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.GetClient(ctx, id)
}

// ListClients returns every client, oldest first.
func (db *DB) ListClients(ctx context.Context) (_ []*store.Client, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListClients(ctx)
}

// UpdateClient reads the client with the given ID, calls update on it and
// writes the result, all in one transaction that holds the row (SQLite: the
// database) write lock, so concurrent updates never lose each other's
// changes. UpdatedAt is set to the current time after update returns. An
// error from update aborts the transaction and is returned unchanged;
// update must not change the ID and must not call the store. It returns
// the stored client, or an error wrapping store.ErrNotFound.
func (db *DB) UpdateClient(ctx context.Context, id string, update func(c *store.Client) error) (_ *store.Client, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.UpdateClient(ctx, id, update)
}

// DeleteClient deletes the client with the given ID, its subscriptions
// and its authorization codes, refresh tokens and CIBA requests, in one
// transaction, or returns an error wrapping store.ErrNotFound. If it
// deleted subscriptions it increments the access generation once.
func (db *DB) DeleteClient(ctx context.Context, id string) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.DeleteClient(ctx, id)
}

// CreateUser stores a new user. u.ID and u.Username must not be empty
// (that is refused with an error wrapping no sentinel). An empty
// u.PhoneNumber is stored as no number, so any number of users may have
// none. A zero u.CreatedAt is set to the current time and a zero
// u.UpdatedAt to u.CreatedAt, both written back to u. It returns an error
// wrapping store.ErrConflict, and changes nothing, if the ID, the username
// or the phone number is taken (all compared byte for byte).
func (db *DB) CreateUser(ctx context.Context, u *store.User) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if u.ID == "" || u.Username == "" {
		return fmt.Errorf("sqlstore: create user: empty ID or username (%q, %q)", u.ID, u.Username)
	}
	return db.b.CreateUser(ctx, u)
}

// GetUser returns the user with the given ID, or an error wrapping
// store.ErrNotFound.
func (db *DB) GetUser(ctx context.Context, id string) (_ *store.User, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.GetUser(ctx, id)
}

// GetUserByUsername returns the user with the given username (compared
// byte for byte), or an error wrapping store.ErrNotFound.
func (db *DB) GetUserByUsername(ctx context.Context, username string) (_ *store.User, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.GetUserByUsername(ctx, username)
}

// GetUserByPhone returns the user with the given phone number (compared
// byte for byte, so callers normalize to E.164 first), or an error wrapping
// store.ErrNotFound. The empty number belongs to nobody.
func (db *DB) GetUserByPhone(ctx context.Context, phone string) (_ *store.User, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.GetUserByPhone(ctx, phone)
}

// ListUsers returns every user ordered by username byte by byte.
func (db *DB) ListUsers(ctx context.Context) (_ []*store.User, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListUsers(ctx)
}

// DeleteUser deletes the user with the given ID together with the user's
// authorization codes, refresh tokens and CIBA requests, in one
// transaction, or returns an error wrapping store.ErrNotFound.
func (db *DB) DeleteUser(ctx context.Context, id string) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.DeleteUser(ctx, id)
}

// CreateAuthCode stores a new authorization code. c.Hash must not be empty
// (that is refused with an error wrapping no sentinel). A zero c.CreatedAt
// is set to the current time and written back to c. It returns an error
// wrapping store.ErrConflict if the hash is taken, and one wrapping
// store.ErrNotFound, naming what is missing, if the client or the user
// does not exist; either way nothing changes.
func (db *DB) CreateAuthCode(ctx context.Context, c *store.AuthCode) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if c.Hash == "" {
		return errors.New("sqlstore: create auth code: empty hash")
	}
	return db.b.CreateAuthCode(ctx, c)
}

// RedeemAuthCode atomically marks the code with the given hash used at now
// and returns it, UsedAt set. A zero now means the current time.
//
// Of any number of redemptions of one code, concurrent or not, exactly one
// succeeds: the others get the stored code (UsedAt the first redemption's
// time) together with an error wrapping store.ErrConflict, so the caller
// can revoke what the first one issued (RFC 9700 §4.2.1, RFC 6749 §4.1.2).
// An unknown code is an error wrapping store.ErrNotFound, with a nil code.
//
// Expiry is the caller's to check: an expired code that was never used is
// redeemed and returned like any other (its ExpiresAt tells), until
// DeleteExpiredGrants removes it.
func (db *DB) RedeemAuthCode(ctx context.Context, hash string, now time.Time) (_ *store.AuthCode, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if now.IsZero() {
		now = db.now()
	}
	return db.b.RedeemAuthCode(ctx, hash, now)
}

// CreateRefreshToken stores a new refresh token, typically the first of a
// family. t.Hash and t.FamilyID must not be empty (that is refused with an
// error wrapping no sentinel). A zero t.CreatedAt is set to the current
// time and written back to t. It returns an error wrapping
// store.ErrConflict if the hash is taken, and one wrapping
// store.ErrNotFound, naming what is missing, if the client or the user
// does not exist; either way nothing changes.
func (db *DB) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if t.Hash == "" || t.FamilyID == "" {
		return fmt.Errorf("sqlstore: create refresh token: empty hash or family (%q, %q)", t.Hash, t.FamilyID)
	}
	return db.b.CreateRefreshToken(ctx, t)
}

// RotateRefreshToken atomically marks the token with the given hash
// rotated at now and stores next, its successor, in one transaction, and
// returns the rotated token, RotatedAt set. A zero now means the current
// time; a zero next.CreatedAt is set to now and written back to next.
//
// Of any number of rotations of one token, concurrent or not, exactly one
// succeeds. When the token was already rotated or revoked, it returns the
// stored token together with an error wrapping store.ErrConflict and
// stores nothing: the caller treats that as reuse and revokes the family
// (RFC 9700 §4.14.2). So an error wraps store.ErrConflict exactly when the
// token comes back with it. An unknown token is an error wrapping
// store.ErrNotFound. Expiry is the caller's to check, as for
// RedeemAuthCode.
//
// next.FamilyID must be the token's family, and next.Hash must not be
// empty nor taken; otherwise nothing is written and the error wraps no
// sentinel (a hash collision is not reuse: the caller may retry with a new
// token). If next's client or user no longer exists the error wraps
// store.ErrNotFound.
func (db *DB) RotateRefreshToken(ctx context.Context, hash string, now time.Time, next *store.RefreshToken) (_ *store.RefreshToken, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if next == nil || next.Hash == "" {
		return nil, errors.New("sqlstore: rotate refresh token: no next token or empty hash")
	}
	if now.IsZero() {
		now = db.now()
	}
	return db.b.RotateRefreshToken(ctx, hash, now, next)
}

// GetRefreshToken returns the refresh token with the given hash, rotated,
// revoked or expired as it may be, or an error wrapping store.ErrNotFound.
func (db *DB) GetRefreshToken(ctx context.Context, hash string) (_ *store.RefreshToken, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.GetRefreshToken(ctx, hash)
}

// RevokeRefreshFamily sets RevokedAt to now on every token of the family
// that is not revoked yet, in one transaction; a zero now means the
// current time. Revoking again keeps the first RevokedAt, and a family
// without tokens is not an error. A rotation racing with it either
// completes first, its new token revoked too, or fails with
// store.ErrConflict: no token of the family stays usable.
func (db *DB) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if now.IsZero() {
		now = db.now()
	}
	return db.b.RevokeRefreshFamily(ctx, familyID, now)
}

// CreateCIBARequest stores a new CIBA request. r.ID must not be empty
// (that is refused with an error wrapping no sentinel). A zero r.CreatedAt
// is set to the current time and a zero r.UpdatedAt to r.CreatedAt, both
// written back to r. It returns an error wrapping store.ErrConflict if the
// ID is taken, and one wrapping store.ErrNotFound, naming what is missing,
// if the client or the user does not exist; either way nothing changes.
func (db *DB) CreateCIBARequest(ctx context.Context, r *store.CIBARequest) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if r.ID == "" {
		return errors.New("sqlstore: create CIBA request: empty ID")
	}
	return db.b.CreateCIBARequest(ctx, r)
}

// GetCIBARequest returns the CIBA request with the given ID, or an error
// wrapping store.ErrNotFound.
func (db *DB) GetCIBARequest(ctx context.Context, id string) (_ *store.CIBARequest, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.GetCIBARequest(ctx, id)
}

// UpdateCIBARequest reads the CIBA request with the given ID, calls update
// on it and writes the result, all in one transaction that holds the row
// (SQLite: the database) write lock, so concurrent updates (the token
// endpoint's polls and the user's approval) never lose each other's
// changes. UpdatedAt is set to the current time after update returns. An
// error from update aborts the transaction and is returned unchanged;
// update must not change ID, ClientID or UserID (that is refused with an
// error wrapping no sentinel) and must not call the store. It returns the
// stored request, or an error wrapping store.ErrNotFound.
func (db *DB) UpdateCIBARequest(ctx context.Context, id string, update func(r *store.CIBARequest) error) (_ *store.CIBARequest, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.UpdateCIBARequest(ctx, id, update)
}

// ListPendingCIBARequests returns the user's requests whose Status is
// store.CIBAPending, oldest (by CreatedAt, then ID) first. Expired ones are
// included: the caller filters on ExpiresAt with its own clock, and
// DeleteExpiredGrants removes them eventually.
func (db *DB) ListPendingCIBARequests(ctx context.Context, userID string) (_ []*store.CIBARequest, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListPendingCIBARequests(ctx, userID)
}

// DeleteExpiredGrants deletes the authorization codes, refresh tokens and
// CIBA requests whose ExpiresAt is before now, in one transaction, whatever
// their state. A revoked or rotated refresh token is kept until it
// expires, so that its reuse is still detected; records without an expiry
// are kept.
func (db *DB) DeleteExpiredGrants(ctx context.Context, now time.Time) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.DeleteExpiredGrants(ctx, now)
}

// CreateAPI stores a new API and increments the APIs generation, in one
// transaction. A zero a.CreatedAt is set to the current time and a zero
// a.UpdatedAt to a.CreatedAt, both written back to a. It returns an error
// wrapping store.ErrConflict, and changes nothing, if the name or the base
// path is taken. Names and base paths are compared byte for byte (an empty
// base path is a value like any other).
func (db *DB) CreateAPI(ctx context.Context, a *store.API) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.CreateAPI(ctx, a)
}

// GetAPI returns the API with the given name, or an error wrapping
// store.ErrNotFound.
func (db *DB) GetAPI(ctx context.Context, name string) (_ *store.API, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.GetAPI(ctx, name)
}

// ListAPIs returns every API, documents included, ordered by name byte by
// byte (whatever PostgreSQL's locale).
func (db *DB) ListAPIs(ctx context.Context) (_ []*store.API, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListAPIs(ctx)
}

// UpdateAPI reads the API with the given name, calls update on it, writes
// the result and increments the APIs generation, all in one transaction
// that holds the row (SQLite: the database) write lock, so concurrent
// updates never lose each other's changes. UpdatedAt is set to the current
// time after update returns. An error from update aborts the transaction
// and is returned unchanged; update must not change the name and must not
// call the store. It returns the stored API, an error wrapping
// store.ErrNotFound, or one wrapping store.ErrConflict if the new base path
// is taken; nothing is written and the generation is unchanged on any
// error.
func (db *DB) UpdateAPI(ctx context.Context, name string, update func(a *store.API) error) (_ *store.API, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.UpdateAPI(ctx, name, update)
}

// DeleteAPI deletes the API with the given name and its subscriptions and
// increments the APIs generation, in one transaction, or returns an error
// wrapping store.ErrNotFound. If it deleted subscriptions it also
// increments the access generation once.
func (db *DB) DeleteAPI(ctx context.Context, name string) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.DeleteAPI(ctx, name)
}

// APIsGeneration returns the number of successful CreateAPI, UpdateAPI and
// DeleteAPI calls the database has recorded, 0 for a new database. It is
// one single-row read by primary key, meant to be polled. A caller that
// reads a generation and then ListAPIs sees at least the writes that
// generation counts.
func (db *DB) APIsGeneration(ctx context.Context) (_ int64, err error) {
	if db.closed.Load() {
		return 0, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.APIsGeneration(ctx)
}

// CreatePlan stores a new plan and increments the access generation, in
// one transaction. A zero p.CreatedAt is set to the current time and a
// zero p.UpdatedAt to p.CreatedAt, both written back to p. It returns an
// error wrapping store.ErrConflict, and changes nothing, if the name is
// taken (names are compared byte for byte).
func (db *DB) CreatePlan(ctx context.Context, p *store.Plan) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.CreatePlan(ctx, p)
}

// GetPlan returns the plan with the given name, or an error wrapping
// store.ErrNotFound.
func (db *DB) GetPlan(ctx context.Context, name string) (_ *store.Plan, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.GetPlan(ctx, name)
}

// ListPlans returns every plan ordered by name byte by byte.
func (db *DB) ListPlans(ctx context.Context) (_ []*store.Plan, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListPlans(ctx)
}

// UpdatePlan reads the plan with the given name, calls update on it,
// writes the result and increments the access generation, all in one
// transaction that holds the row (SQLite: the database) write lock, so
// concurrent updates never lose each other's changes. UpdatedAt is set to
// the current time after update returns. An error from update aborts the
// transaction and is returned unchanged; update must not change the name
// (that is refused with an error wrapping no sentinel) and must not call
// the store. It returns the stored plan or an error wrapping
// store.ErrNotFound; nothing is written and the generation is unchanged
// on any error.
func (db *DB) UpdatePlan(ctx context.Context, name string, update func(p *store.Plan) error) (_ *store.Plan, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.UpdatePlan(ctx, name, update)
}

// DeletePlan deletes the plan with the given name and increments the
// access generation, in one transaction. It returns an error wrapping
// store.ErrNotFound if there is no such plan, and one wrapping
// store.ErrConflict, deleting nothing, while a subscription uses it.
func (db *DB) DeletePlan(ctx context.Context, name string) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.DeletePlan(ctx, name)
}

// CreateSubscription stores a new subscription and increments the access
// generation, in one transaction. s.ID is chosen by the caller and must
// not be empty (that is refused with an error wrapping no sentinel). A
// zero s.CreatedAt is set to the current time and a zero s.UpdatedAt to
// s.CreatedAt, both written back to s. It returns an error wrapping
// store.ErrConflict if the ID is taken or the client already subscribes
// to the API, and one wrapping store.ErrNotFound, naming what is missing,
// if the client, the API or the plan does not exist; either way nothing
// changes.
func (db *DB) CreateSubscription(ctx context.Context, s *store.Subscription) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if s.ID == "" {
		return errors.New("sqlstore: create subscription: empty ID")
	}
	return db.b.CreateSubscription(ctx, s)
}

// GetSubscription returns the subscription with the given ID, or an error
// wrapping store.ErrNotFound.
func (db *DB) GetSubscription(ctx context.Context, id string) (_ *store.Subscription, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.GetSubscription(ctx, id)
}

// FindSubscription returns the client's subscription to the API, or an
// error wrapping store.ErrNotFound. It is one lookup by a unique index,
// meant for the gateway's hot path.
func (db *DB) FindSubscription(ctx context.Context, clientID, apiName string) (_ *store.Subscription, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.FindSubscription(ctx, clientID, apiName)
}

// ListSubscriptions returns the subscriptions matching every non-empty
// field of f (compared byte for byte), ordered by client ID and then API
// name, byte by byte.
func (db *DB) ListSubscriptions(ctx context.Context, f store.SubscriptionFilter) (_ []*store.Subscription, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListSubscriptions(ctx, f)
}

// UpdateSubscription reads the subscription with the given ID, calls
// update on it, writes the result and increments the access generation,
// all in one transaction that holds the row (SQLite: the database) write
// lock. UpdatedAt is set to the current time after update returns. An
// error from update aborts the transaction and is returned unchanged;
// update may change PlanName, Status and the timestamps, must not change
// ID, ClientID or APIName (that is refused with an error wrapping no
// sentinel) and must not call the store. It returns the stored
// subscription, or an error wrapping store.ErrNotFound if there is no such
// subscription or the new plan does not exist; nothing is written and the
// generation is unchanged on any error.
func (db *DB) UpdateSubscription(ctx context.Context, id string, update func(s *store.Subscription) error) (_ *store.Subscription, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.UpdateSubscription(ctx, id, update)
}

// DeleteSubscription deletes the subscription with the given ID and
// increments the access generation, in one transaction, or returns an
// error wrapping store.ErrNotFound.
func (db *DB) DeleteSubscription(ctx context.Context, id string) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.DeleteSubscription(ctx, id)
}

// AccessGeneration returns the number of successful writes to plans and
// subscriptions the database has recorded, 0 for a new database: every
// CreatePlan, UpdatePlan, DeletePlan, CreateSubscription,
// UpdateSubscription and DeleteSubscription counts one, and so does a
// DeleteClient or DeleteAPI that deleted at least one subscription with
// its client or API (one however many it deleted; deleting a client or an
// API without subscriptions leaves the counter alone). It is one
// single-row read by primary key, meant to be polled. A caller that reads
// a generation and then reads plans or subscriptions sees at least the
// writes that generation counts.
func (db *DB) AccessGeneration(ctx context.Context) (_ int64, err error) {
	if db.closed.Load() {
		return 0, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.AccessGeneration(ctx)
}

// AddUsage adds every record's Count and LatencySum to its bucket's and
// keeps the larger LatencyMax, creating buckets as needed, all in one
// transaction: the batch is written whole or not at all, and concurrent
// batches never lose each other's counts. A bucket is the record's
// ClientID, APIName, Hour, Status and Error; Hour is truncated to the hour
// in UTC (callers pass it so already; records is not modified), and
// records of one bucket in one batch are summed first. Clients and APIs
// need not exist. An empty batch writes nothing and is not an error.
//
// The store writes a batch's buckets in one fixed order, so concurrent
// batches touching the same buckets wait for one another rather than
// deadlock. Batches of a thousand records are the intended size.
func (db *DB) AddUsage(ctx context.Context, records []store.UsageRecord) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if len(records) == 0 {
		return nil
	}
	return db.b.AddUsage(ctx, records)
}

// SaveQuotaCounts raises each count's stored value to its Count (a larger
// stored value stays), creating rows as needed, in one transaction. Starts
// are stored to the millisecond; an empty batch writes nothing.
func (db *DB) SaveQuotaCounts(ctx context.Context, counts []store.QuotaCount) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if len(counts) == 0 {
		return nil
	}
	cs, err := prepareQuotaCounts(counts)
	if err != nil {
		return err
	}
	return db.b.SaveQuotaCounts(ctx, cs)
}

// ListQuotaCounts returns the day counts of days starting at or after day
// and the month counts of months starting at or after month, ordered by
// key, period and start.
func (db *DB) ListQuotaCounts(ctx context.Context, day, month time.Time) (_ []store.QuotaCount, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListQuotaCounts(ctx, day, month)
}

// DeleteQuotaCountsBefore deletes the day counts of days starting before
// day and the month counts of months starting before month.
func (db *DB) DeleteQuotaCountsBefore(ctx context.Context, day, month time.Time) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.DeleteQuotaCountsBefore(ctx, day, month)
}

// ListUsage returns the buckets matching f, ordered by hour, client ID, API
// name, status and error (strings byte by byte). Empty ClientID or APIName
// match every value; a bucket matches From and To when its hour is at or
// after From and before To, a zero From or To leaving that side open.
func (db *DB) ListUsage(ctx context.Context, f store.UsageFilter) (_ []store.UsageRecord, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListUsage(ctx, f)
}

// RotateSigningKey stores k as the current key and sets RetiredAt to
// k.CreatedAt on every key that was not retired, in one transaction. A zero
// k.CreatedAt is set to the current time and written back to k. It returns
// an error wrapping store.ErrConflict, and retires nothing, if k.ID is
// taken.
func (db *DB) RotateSigningKey(ctx context.Context, k *store.SigningKey) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.RotateSigningKey(ctx, k)
}

// ListSigningKeys returns every stored key, newest (by CreatedAt, then by
// insertion) first.
func (db *DB) ListSigningKeys(ctx context.Context) (_ []*store.SigningKey, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListSigningKeys(ctx)
}

// DeleteSigningKeysRetiredBefore deletes the keys whose RetiredAt is set
// and before t. The current key is never deleted.
func (db *DB) DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.DeleteSigningKeysRetiredBefore(ctx, t)
}

// RevokeToken records a revocation. A zero t.RevokedAt is set to the
// current time and written back to t. Revoking an already revoked ID keeps
// the first record and is not an error. A zero t.ExpiresAt means the record
// never expires.
func (db *DB) RevokeToken(ctx context.Context, t *store.RevokedToken) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.RevokeToken(ctx, t)
}

// ListRevokedTokensSince returns the revocations with RevokedAt at or after
// since, oldest first. RevokedAt is the revoking node's clock, so callers
// that poll should ask again from a little before the newest RevokedAt they
// have seen rather than exactly from it.
func (db *DB) ListRevokedTokensSince(ctx context.Context, since time.Time) (_ []*store.RevokedToken, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.ListRevokedTokensSince(ctx, since)
}

// UseAssertionID records jti for clientID until expiresAt. It returns an
// error wrapping store.ErrConflict if the pair is already recorded and has
// not expired (its expiry is after the current time); an expired record is
// replaced. A zero expiresAt records the pair forever.
func (db *DB) UseAssertionID(ctx context.Context, clientID, jti string, expiresAt time.Time) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.UseAssertionID(ctx, clientID, jti, expiresAt)
}

// DeleteExpired deletes revocations, assertion ids and idempotency keys
// whose expiry is before now, in one transaction. Records without an expiry are kept.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.DeleteExpired(ctx, now)
}

// BeginIdempotent stores r as in progress: Status 0, no response. A zero
// r.CreatedAt is set to the current time and written back to r. When a
// record with r.Key exists and its ExpiresAt is after the current time, it
// returns that record with an error wrapping store.ErrConflict and changes
// nothing; an expired record, or one still in progress whose CreatedAt is
// before r.AbandonedBefore, is replaced. Of concurrent begins of one key
// exactly one succeeds.
func (db *DB) BeginIdempotent(ctx context.Context, r *store.IdempotencyRecord) (_ *store.IdempotencyRecord, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if r.Key == "" || r.Fingerprint == "" {
		return nil, errors.New("sqlstore: begin idempotency key: empty key or fingerprint")
	}
	return db.b.BeginIdempotent(ctx, r)
}

// FinishIdempotent stores the response of key's request: its status (not
// 0), header and body. It returns an error wrapping store.ErrNotFound when
// the key has no record.
func (db *DB) FinishIdempotent(ctx context.Context, key string, status int, header, body []byte) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	if status == 0 {
		return errors.New("sqlstore: finish idempotency key: status 0")
	}
	return db.b.FinishIdempotent(ctx, key, status, header, body)
}

// ReleaseIdempotent deletes key's record if it is still in progress, so
// that the request may be sent again; a finished or missing record is left
// alone and is not an error.
func (db *DB) ReleaseIdempotent(ctx context.Context, key string) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.b.ReleaseIdempotent(ctx, key)
}

// Ping reports whether the database answers a query; the error wraps
// store.ErrUnavailable when it does not.
func (db *DB) Ping(ctx context.Context) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return db.b.Ping(ctx)
}

// Close closes every connection. Calls to other methods afterwards return
// an error wrapping store.ErrUnavailable. Closing twice is not an error.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	return db.b.Close()
}

// encodeList encodes a list as a compact JSON array, without escaping
// HTML characters so that URIs stay readable and decodeList's fast path
// applies.
func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		return "", fmt.Errorf("sqlstore: encode list: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// decodeList decodes a JSON array of strings; an empty array (or SQL "" or
// JSON null) decodes as nil. The compact form encodeList writes for
// strings without escapes (["a","b"]) is split directly, sharing s's
// memory, which keeps GetClient free of reflection; anything else goes
// through encoding/json.
func decodeList(s string) ([]string, error) {
	switch s {
	case "", "[]", "null":
		return nil, nil
	}
	if n := len(s); n >= 4 && s[0] == '[' && s[1] == '"' && s[n-2] == '"' && s[n-1] == ']' {
		inner := s[2 : n-2]
		quotes, simple := 0, true
		for i := 0; i < len(inner); i++ {
			switch c := inner[i]; {
			case c == '"':
				quotes++
			case c == '\\' || c < 0x20:
				simple = false
			}
		}
		// Without backslashes every quote delimits an element, so the
		// quotes must be exactly the separators' and each "," is one.
		if simple && quotes == 2*strings.Count(inner, `","`) && utf8.ValidString(inner) {
			return strings.Split(inner, `","`), nil
		}
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("sqlstore: decode list %q: %w", s, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// blob returns b as a query argument, with an empty slice as NULL.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nilIfEmpty returns b, or nil when it is empty.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// unavailable wraps err, a failure to reach the database during op, with
// store.ErrUnavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrUnavailable, err)
}

// storageFull wraps err, a write refused for lack of space during op,
// with store.ErrStorageFull.
func storageFull(op string, err error) error {
	return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrStorageFull, err)
}

// readOnly wraps err, a write refused by a read-only database during op,
// with store.ErrReadOnly.
func readOnly(op string, err error) error {
	return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrReadOnly, err)
}

// conflict wraps err, a unique-constraint violation during op, with
// store.ErrConflict.
func conflict(op string, err error) error {
	return fmt.Errorf("sqlstore: %s: %w: %w", op, store.ErrConflict, err)
}

// normalizeClient makes c look as it will when read back: UTC times
// truncated to precision, empty lists and byte slices nil.
func normalizeClient(c *store.Client, precision time.Duration) {
	c.SecretHash = nilIfEmpty(c.SecretHash)
	c.PreviousSecretHash = nilIfEmpty(c.PreviousSecretHash)
	c.PreviousSecretExpiresAt = truncate(c.PreviousSecretExpiresAt, precision)
	c.CreatedAt = truncate(c.CreatedAt, precision)
	c.UpdatedAt = truncate(c.UpdatedAt, precision)
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = nil
	}
	if len(c.Scopes) == 0 {
		c.Scopes = nil
	}
	if len(c.RedirectURIs) == 0 {
		c.RedirectURIs = nil
	}
}

// encodeUpstreamOptions returns o as the upstream_options column's JSON.
func encodeUpstreamOptions(o store.UpstreamOptions) string {
	b, err := json.Marshal(o)
	if err != nil {
		panic(fmt.Sprintf("sqlstore: encode upstream options: %v", err)) // plain strings, bools and bytes cannot fail
	}
	return string(b)
}

// decodeUpstreamOptions reads the upstream_options column.
func decodeUpstreamOptions(col string, o *store.UpstreamOptions) error {
	*o = store.UpstreamOptions{}
	if col == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(col), o); err != nil {
		return fmt.Errorf("sqlstore: decode upstream options: %w", err)
	}
	return nil
}

// normalizeAPI makes a look as it will when read back: UTC times truncated
// to precision, an empty document nil.
func normalizeAPI(a *store.API, precision time.Duration) {
	a.Document = nilIfEmpty(a.Document)
	a.CreatedAt = truncate(a.CreatedAt, precision)
	a.UpdatedAt = truncate(a.UpdatedAt, precision)
}

// normalizePlan makes p look as it will when read back: UTC times
// truncated to precision.
func normalizePlan(p *store.Plan, precision time.Duration) {
	p.CreatedAt = truncate(p.CreatedAt, precision)
	p.UpdatedAt = truncate(p.UpdatedAt, precision)
}

// normalizeSubscription makes s look as it will when read back: UTC times
// truncated to precision.
func normalizeSubscription(s *store.Subscription, precision time.Duration) {
	s.CreatedAt = truncate(s.CreatedAt, precision)
	s.UpdatedAt = truncate(s.UpdatedAt, precision)
}

// normalizeCIBARequest makes r look as it will when read back: UTC times
// truncated to precision, an empty scope list nil.
func normalizeCIBARequest(r *store.CIBARequest, precision time.Duration) {
	r.LastPollAt = truncate(r.LastPollAt, precision)
	r.AuthTime = truncate(r.AuthTime, precision)
	r.ExpiresAt = truncate(r.ExpiresAt, precision)
	r.CreatedAt = truncate(r.CreatedAt, precision)
	r.UpdatedAt = truncate(r.UpdatedAt, precision)
	if len(r.Scopes) == 0 {
		r.Scopes = nil
	}
}

// checkCIBAKeys refuses an update that changed what identifies CIBA
// request id: its ID, client or user.
func checkCIBAKeys(op, id string, old, r *store.CIBARequest) error {
	if r.ID != old.ID || r.ClientID != old.ClientID || r.UserID != old.UserID {
		return fmt.Errorf("sqlstore: %s %q: update must not change the ID, client or user (from %q, %q, %q to %q, %q, %q)",
			op, id, old.ID, old.ClientID, old.UserID, r.ID, r.ClientID, r.UserID)
	}
	return nil
}

// nullString returns s as a query argument, with "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// errCodeUsed is RedeemAuthCode's error for a code used before.
func errCodeUsed(hash string, usedAt time.Time) error {
	return fmt.Errorf("sqlstore: redeem auth code %q: already used at %s: %w",
		hash, usedAt.Format(time.RFC3339Nano), store.ErrConflict)
}

// errTokenSpent is RotateRefreshToken's error for a token rotated or
// revoked before.
func errTokenSpent(t *store.RefreshToken) error {
	what, when := "rotated", t.RotatedAt
	if !t.RevokedAt.IsZero() {
		what, when = "revoked", t.RevokedAt
	}
	return fmt.Errorf("sqlstore: rotate refresh token %q: already %s at %s: %w",
		t.Hash, what, when.Format(time.RFC3339Nano), store.ErrConflict)
}

// errFamilyMismatch refuses a successor outside the rotated token's family.
func errFamilyMismatch(t, next *store.RefreshToken) error {
	return fmt.Errorf("sqlstore: rotate refresh token %q: next token's family %q is not the token's %q",
		t.Hash, next.FamilyID, t.FamilyID)
}

// errNextHashTaken reports that the successor's hash is taken, wrapping the
// driver's err but not store.ErrConflict, which RotateRefreshToken keeps
// for reuse.
func errNextHashTaken(hash string, err error) error {
	return fmt.Errorf("sqlstore: rotate refresh token %q: next token's hash is taken: %w", hash, err)
}

// checkSubscriptionKeys refuses an update that changed what identifies
// subscription id: its ID, client or API.
func checkSubscriptionKeys(op, id string, old, s *store.Subscription) error {
	if s.ID != old.ID || s.ClientID != old.ClientID || s.APIName != old.APIName {
		return fmt.Errorf("sqlstore: %s %q: update must not change the ID, client or API (from %q, %q, %q to %q, %q, %q)",
			op, id, old.ID, old.ClientID, old.APIName, s.ID, s.ClientID, s.APIName)
	}
	return nil
}

// missingReference reports that the subscription's what (client, API or
// plan) named value does not exist.
func missingReference(op, id, what, value string) error {
	return fmt.Errorf("sqlstore: %s %q: %s %q: %w", op, id, what, value, store.ErrNotFound)
}

// usageKeyCompare orders usage buckets: client, API, hour, status, error, the
// order of the tables' primary keys.
func usageKeyCompare(a, b *store.UsageRecord) int {
	if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
		return c
	}
	if c := strings.Compare(a.APIName, b.APIName); c != 0 {
		return c
	}
	if c := a.Hour.Compare(b.Hour); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Status, b.Status); c != 0 {
		return c
	}
	return strings.Compare(a.Error, b.Error)
}

// prepareUsage returns a copy of records with every Hour truncated to the
// hour in UTC, sorted by bucket (usageKeyCompare) and with the records of
// one bucket merged into one. Writing buckets in this order is what keeps
// concurrent batches from deadlocking on PostgreSQL, and one row per
// bucket is what an INSERT ... ON CONFLICT DO UPDATE statement requires.
// A status outside the 32-bit range (the column's) is an error.
func prepareUsage(records []store.UsageRecord) ([]store.UsageRecord, error) {
	rs := slices.Clone(records)
	for i := range rs {
		if st := rs[i].Status; st < math.MinInt32 || st > math.MaxInt32 {
			return nil, fmt.Errorf("sqlstore: add usage: status %d out of range", st)
		}
		rs[i].Hour = rs[i].Hour.UTC().Truncate(time.Hour)
	}
	slices.SortFunc(rs, func(a, b store.UsageRecord) int { return usageKeyCompare(&a, &b) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && usageKeyCompare(&out[n-1], &r) == 0 {
			last := &out[n-1]
			last.Count += r.Count
			last.LatencySum += r.LatencySum
			last.LatencyMax = max(last.LatencyMax, r.LatencyMax)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// prepareQuotaCounts checks counts and returns them sorted by key, period
// and start, with the counts of one row merged (the larger wins), so that
// concurrent saves lock rows in one order and one statement never touches
// a row twice.
func prepareQuotaCounts(counts []store.QuotaCount) ([]store.QuotaCount, error) {
	cs := slices.Clone(counts)
	for i := range cs {
		c := &cs[i]
		if c.Key == "" || (c.Period != store.QuotaDay && c.Period != store.QuotaMonth) || c.Count < 0 {
			return nil, fmt.Errorf("sqlstore: save quota counts: invalid count %+v", *c)
		}
		c.Start = c.Start.UTC()
	}
	cmp := func(a, b *store.QuotaCount) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		if c := strings.Compare(a.Period, b.Period); c != 0 {
			return c
		}
		return a.Start.Compare(b.Start)
	}
	slices.SortFunc(cs, func(a, b store.QuotaCount) int { return cmp(&a, &b) })
	out := cs[:0]
	for _, c := range cs {
		if n := len(out); n > 0 && cmp(&out[n-1], &c) == 0 {
			out[n-1].Count = max(out[n-1].Count, c.Count)
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Generation counters: the names of rows in table generations.
const (
	generationAPIs   = "apis"
	generationAccess = "access"
)

// errMissingGeneration is returned if a generations row is missing, which
// only a hand-edited database can cause.
func errMissingGeneration(name string) error {
	return fmt.Errorf("sqlstore: generation counter %q is missing from table generations", name)
}

// ceil returns t in UTC rounded up to a multiple of precision, for
// comparing stored times (multiples of precision) with t exactly: a stored
// time is before t exactly when it is before ceil(t).
func ceil(t time.Time, precision time.Duration) time.Time {
	t = t.UTC()
	if r := t.Truncate(precision); !r.Equal(t) {
		return r.Add(precision)
	}
	return t
}

// truncate returns t in UTC truncated to precision; the zero time stays
// zero.
func truncate(t time.Time, precision time.Duration) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(precision)
}
