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
// Change counters live in table generations, one row per kind of record
// (so far "apis"). A write of that kind increments its row in the same
// transaction, so a reader polling the counter sees a new value exactly
// when there is something new to read.
package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// and RevokedAt fields and to decide whether an assertion id has
	// expired. If nil, time.Now is used. Set it before the DB is used.
	Now func() time.Time

	b      backend
	closed atomic.Bool
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
func (db *DB) CreateClient(ctx context.Context, c *store.Client) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.b.CreateClient(ctx, c)
}

// GetClient returns the client with the given ID, or an error wrapping
// store.ErrNotFound.
func (db *DB) GetClient(ctx context.Context, id string) (*store.Client, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	return db.b.GetClient(ctx, id)
}

// ListClients returns every client, oldest first.
func (db *DB) ListClients(ctx context.Context) ([]*store.Client, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	return db.b.ListClients(ctx)
}

// UpdateClient reads the client with the given ID, calls update on it and
// writes the result, all in one transaction that holds the row (SQLite: the
// database) write lock, so concurrent updates never lose each other's
// changes. UpdatedAt is set to the current time after update returns. An
// error from update aborts the transaction and is returned unchanged;
// update must not change the ID and must not call the store. It returns
// the stored client, or an error wrapping store.ErrNotFound.
func (db *DB) UpdateClient(ctx context.Context, id string, update func(c *store.Client) error) (*store.Client, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	return db.b.UpdateClient(ctx, id, update)
}

// DeleteClient deletes the client with the given ID, or returns an error
// wrapping store.ErrNotFound.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.b.DeleteClient(ctx, id)
}

// CreateAPI stores a new API and increments the APIs generation, in one
// transaction. A zero a.CreatedAt is set to the current time and a zero
// a.UpdatedAt to a.CreatedAt, both written back to a. It returns an error
// wrapping store.ErrConflict, and changes nothing, if the name or the base
// path is taken. Names and base paths are compared byte for byte (an empty
// base path is a value like any other).
func (db *DB) CreateAPI(ctx context.Context, a *store.API) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.b.CreateAPI(ctx, a)
}

// GetAPI returns the API with the given name, or an error wrapping
// store.ErrNotFound.
func (db *DB) GetAPI(ctx context.Context, name string) (*store.API, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	return db.b.GetAPI(ctx, name)
}

// ListAPIs returns every API, documents included, ordered by name byte by
// byte (whatever PostgreSQL's locale).
func (db *DB) ListAPIs(ctx context.Context) ([]*store.API, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
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
func (db *DB) UpdateAPI(ctx context.Context, name string, update func(a *store.API) error) (*store.API, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	return db.b.UpdateAPI(ctx, name, update)
}

// DeleteAPI deletes the API with the given name and increments the APIs
// generation, in one transaction, or returns an error wrapping
// store.ErrNotFound.
func (db *DB) DeleteAPI(ctx context.Context, name string) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.b.DeleteAPI(ctx, name)
}

// APIsGeneration returns the number of successful CreateAPI, UpdateAPI and
// DeleteAPI calls the database has recorded, 0 for a new database. It is
// one single-row read by primary key, meant to be polled. A caller that
// reads a generation and then ListAPIs sees at least the writes that
// generation counts.
func (db *DB) APIsGeneration(ctx context.Context) (int64, error) {
	if db.closed.Load() {
		return 0, errClosed
	}
	return db.b.APIsGeneration(ctx)
}

// RotateSigningKey stores k as the current key and sets RetiredAt to
// k.CreatedAt on every key that was not retired, in one transaction. A zero
// k.CreatedAt is set to the current time and written back to k. It returns
// an error wrapping store.ErrConflict, and retires nothing, if k.ID is
// taken.
func (db *DB) RotateSigningKey(ctx context.Context, k *store.SigningKey) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.b.RotateSigningKey(ctx, k)
}

// ListSigningKeys returns every stored key, newest (by CreatedAt, then by
// insertion) first.
func (db *DB) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	return db.b.ListSigningKeys(ctx)
}

// DeleteSigningKeysRetiredBefore deletes the keys whose RetiredAt is set
// and before t. The current key is never deleted.
func (db *DB) DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.b.DeleteSigningKeysRetiredBefore(ctx, t)
}

// RevokeToken records a revocation. A zero t.RevokedAt is set to the
// current time and written back to t. Revoking an already revoked ID keeps
// the first record and is not an error. A zero t.ExpiresAt means the record
// never expires.
func (db *DB) RevokeToken(ctx context.Context, t *store.RevokedToken) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.b.RevokeToken(ctx, t)
}

// ListRevokedTokensSince returns the revocations with RevokedAt at or after
// since, oldest first. RevokedAt is the revoking node's clock, so callers
// that poll should ask again from a little before the newest RevokedAt they
// have seen rather than exactly from it.
func (db *DB) ListRevokedTokensSince(ctx context.Context, since time.Time) ([]*store.RevokedToken, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	return db.b.ListRevokedTokensSince(ctx, since)
}

// UseAssertionID records jti for clientID until expiresAt. It returns an
// error wrapping store.ErrConflict if the pair is already recorded and has
// not expired (its expiry is after the current time); an expired record is
// replaced. A zero expiresAt records the pair forever.
func (db *DB) UseAssertionID(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.b.UseAssertionID(ctx, clientID, jti, expiresAt)
}

// DeleteExpired deletes revocations and assertion ids whose expiry is
// before now, in one transaction. Records without an expiry are kept.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time) error {
	if db.closed.Load() {
		return errClosed
	}
	return db.b.DeleteExpired(ctx, now)
}

// Ping reports whether the database answers a query; the error wraps
// store.ErrUnavailable when it does not.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return errClosed
	}
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

// normalizeAPI makes a look as it will when read back: UTC times truncated
// to precision, an empty document nil.
func normalizeAPI(a *store.API, precision time.Duration) {
	a.Document = nilIfEmpty(a.Document)
	a.CreatedAt = truncate(a.CreatedAt, precision)
	a.UpdatedAt = truncate(a.UpdatedAt, precision)
}

// errMissingGeneration is returned if a generations row is missing, which
// only a hand-edited database can cause.
func errMissingGeneration(name string) error {
	return fmt.Errorf("sqlstore: generation counter %q is missing from table generations", name)
}

// truncate returns t in UTC truncated to precision; the zero time stays
// zero.
func truncate(t time.Time, precision time.Duration) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(precision)
}
