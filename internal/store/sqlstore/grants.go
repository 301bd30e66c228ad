package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

// Authorization codes and refresh tokens. Codes are redeemed and tokens
// rotated by one conditional write (UPDATE ... WHERE not yet used), so
// that of concurrent uses exactly one wins: SQLite runs it on the single
// writer; under PostgreSQL's READ COMMITTED a concurrent use waits for the
// winner's row lock, then re-checks the condition against the committed
// row and updates nothing. Used codes and spent tokens never become usable
// again, so after a write that changed nothing the committed row tells why.

const (
	authCodeColumns = `hash, client_id, user_id, redirect_uri, scopes, nonce,
	code_challenge, code_challenge_method, auth_time, expires_at, used_at, grant_id,
	created_at`
	redeemAuthCode = `UPDATE auth_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL
	RETURNING ` + authCodeColumns

	refreshTokenColumns = `hash, family_id, client_id, user_id, scopes, auth_time,
	expires_at, rotated_at, revoked_at, created_at`
	selectRefreshTokenByHash = `SELECT ` + refreshTokenColumns + ` FROM refresh_tokens WHERE hash = ?`
	rotateRefreshToken       = `UPDATE refresh_tokens SET rotated_at = ?
	WHERE hash = ? AND family_id = ? AND rotated_at IS NULL AND revoked_at IS NULL
	RETURNING ` + refreshTokenColumns
)

// The references of a code, token or CIBA request are named in
// 0004_users_grants.sql.
var authCodeTable = newTable(table[store.AuthCode]{
	name: "auth_codes", ids: 1, refs: []ref{refClient.at(1), refUser.at(2)},
	columns: authCodeColumns, get: `SELECT ` + authCodeColumns + ` FROM auth_codes WHERE hash = ?`, scan: scanAuthCode,
	args: func(db *DB, c *store.AuthCode) []any {
		return []any{c.Hash, c.ClientID, c.UserID, c.RedirectURI, encodeList(c.Scopes), c.Nonce, c.CodeChallenge,
			c.CodeChallengeMethod, db.t(c.AuthTime), db.t(c.ExpiresAt), db.t(c.UsedAt), c.GrantID, db.t(c.CreatedAt)}
	},
	stamps: func(c *store.AuthCode) (_, _ *time.Time) { return &c.CreatedAt, nil },
	check: func(c *store.AuthCode) error {
		if c.Hash == "" {
			return errors.New("sqlstore: create auth code: empty hash")
		}
		return nil
	},
})

func scanAuthCode(row scanner) (*store.AuthCode, error) {
	c := new(store.AuthCode)
	return c, row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, (*strList)(&c.Scopes),
		&c.Nonce, &c.CodeChallenge, &c.CodeChallengeMethod, (*tm)(&c.AuthTime), (*tm)(&c.ExpiresAt),
		(*tm)(&c.UsedAt), &c.GrantID, (*tm)(&c.CreatedAt))
}

func (db *DB) CreateAuthCode(ctx context.Context, c *store.AuthCode) error {
	return create(db, ctx, "create auth code", authCodeTable, c)
}

func (db *DB) RedeemAuthCode(ctx context.Context, hash string, now time.Time) (*store.AuthCode, error) {
	return run(db, ctx, true, func(ctx context.Context) (*store.AuthCode, error) {
		const op = "redeem auth code"
		c, err := scanAuthCode(db.writeRow(ctx, nil, redeemAuthCode, db.at(now), hash))
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, db.err(ctx, op, err)
		}
		c, err = readOne(db, ctx, nil, op, scanAuthCode, authCodeTable.get, hash)
		switch {
		case err != nil:
			return nil, err
		case c.UsedAt.IsZero(): // created between the two statements
			return nil, fmt.Errorf("sqlstore: redeem auth code %q: created concurrently, try again", hash)
		}
		return c, fmt.Errorf("sqlstore: redeem auth code %q: already used at %s: %w",
			hash, c.UsedAt.Format(time.RFC3339Nano), store.ErrConflict)
	})
}

func scanRefreshToken(row scanner) (*store.RefreshToken, error) {
	t := new(store.RefreshToken)
	return t, row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, (*strList)(&t.Scopes),
		(*tm)(&t.AuthTime), (*tm)(&t.ExpiresAt), (*tm)(&t.RotatedAt), (*tm)(&t.RevokedAt), (*tm)(&t.CreatedAt))
}

var refreshTokenTable = newTable(table[store.RefreshToken]{
	name: "refresh_tokens", ids: 1, refs: []ref{refClient.at(2), refUser.at(3)},
	columns: refreshTokenColumns, get: selectRefreshTokenByHash, scan: scanRefreshToken,
	args:   (*DB).refreshTokenArgs,
	stamps: func(t *store.RefreshToken) (_, _ *time.Time) { return &t.CreatedAt, nil },
	check: func(t *store.RefreshToken) error {
		if t.Hash == "" || t.FamilyID == "" {
			return fmt.Errorf("sqlstore: create refresh token: empty hash or family (%q, %q)", t.Hash, t.FamilyID)
		}
		return nil
	},
})

// refreshTokenArgs returns t's columns in refreshTokenColumns order.
func (db *DB) refreshTokenArgs(t *store.RefreshToken) []any {
	return []any{t.Hash, t.FamilyID, t.ClientID, t.UserID, encodeList(t.Scopes), db.t(t.AuthTime),
		db.t(t.ExpiresAt), db.t(t.RotatedAt), db.t(t.RevokedAt), db.t(t.CreatedAt)}
}

func (db *DB) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	return create(db, ctx, "create refresh token", refreshTokenTable, t)
}

func (db *DB) RotateRefreshToken(ctx context.Context, hash string, now time.Time, next *store.RefreshToken) (*store.RefreshToken, error) {
	return run(db, ctx, true, func(ctx context.Context) (*store.RefreshToken, error) {
		const op = "rotate refresh token"
		if next == nil || next.Hash == "" {
			return nil, errors.New("sqlstore: rotate refresh token: no next token or empty hash")
		}
		now = truncate(db.orNow(now), db.d.precision)
		nt := *next
		if nt.CreatedAt.IsZero() {
			nt.CreatedAt = now
		}
		args := db.refreshTokenArgs(&nt) // a direct call: nt stays on the stack
		family := args[1]                // nt.FamilyID, as an argument
		// failed explains a failure to insert the successor. Its hash being
		// taken is not store.ErrConflict, which means reuse: the caller may
		// retry with another hash.
		failed := func(tx *sql.Tx, err error) error {
			if e := db.explain(ctx, op, tx, hash, err, refreshTokenTable.refs, args); !errors.Is(e, store.ErrConflict) {
				return e
			}
			return fmt.Errorf("sqlstore: rotate refresh token %q: next token's hash is taken: %w", hash, err)
		}
		var t *store.RefreshToken
		var err error
		if db.d.rotate != "" {
			t, err = scanRefreshToken(db.writeRow(ctx, nil, db.d.rotate,
				append([]any{hash, db.d.time(now), family}, append(args[:1:1], args[2:]...)...)...))
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				err = failed(nil, err)
			}
		} else {
			err = db.tx(ctx, op, func(tx *sql.Tx) error {
				t, err = scanRefreshToken(db.writeRow(ctx, tx, rotateRefreshToken, db.d.time(now), hash, family))
				if err != nil {
					return err
				}
				if _, err := db.exec(ctx, tx, refreshTokenTable.insert, args...); err != nil {
					return failed(tx, err)
				}
				return nil
			})
		}
		switch {
		case err == nil:
			next.CreatedAt = nt.CreatedAt
			return t, nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
		// Nothing rotated: the token is unknown, spent (perhaps by the
		// rotation this one waited for) or of another family.
		t, err = readOne(db, ctx, nil, op, scanRefreshToken, selectRefreshTokenByHash, hash)
		switch {
		case err != nil:
			return nil, err
		case !t.RotatedAt.IsZero() || !t.RevokedAt.IsZero():
			what, when := "rotated", t.RotatedAt
			if !t.RevokedAt.IsZero() {
				what, when = "revoked", t.RevokedAt
			}
			return t, fmt.Errorf("sqlstore: rotate refresh token %q: already %s at %s: %w",
				t.Hash, what, when.Format(time.RFC3339Nano), store.ErrConflict)
		case t.FamilyID != nt.FamilyID:
			return nil, fmt.Errorf("sqlstore: rotate refresh token %q: next token's family %q is not the token's %q",
				t.Hash, nt.FamilyID, t.FamilyID)
		}
		return nil, fmt.Errorf("sqlstore: rotate refresh token %q: created concurrently, try again", hash)
	})
}

func (db *DB) GetRefreshToken(ctx context.Context, hash string) (*store.RefreshToken, error) {
	return get(db, ctx, "get refresh token", scanRefreshToken, selectRefreshTokenByHash, hash)
}

func (db *DB) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error {
	const op = "revoke refresh family"
	// On PostgreSQL a statement that waits for a concurrent rotation's row
	// lock revokes the rotated row once the rotation commits, but its
	// snapshot predates the successor the rotation inserted. Each statement
	// of a READ COMMITTED transaction takes a new snapshot, so repeating
	// until one revokes nothing catches every successor. The rows revoked
	// stay locked until commit, so no rotation of them can succeed
	// meanwhile. (SQLite's single writer lets no rotation interleave.)
	return db.writeTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		revoked := db.at(now)
		for {
			n, err := db.count(ctx, tx, `UPDATE refresh_tokens SET revoked_at = ?
				WHERE family_id = ? AND revoked_at IS NULL`, revoked, familyID)
			if err != nil || n == 0 {
				return db.err(ctx, op, err)
			}
		}
	})
}

func (db *DB) DeleteExpiredGrants(ctx context.Context, now time.Time) error {
	// Stored times are whole units of precision: before ceil(now) is before now.
	return db.deleteExpired(ctx, "delete expired grants", db.ceil(now), "auth_codes", "refresh_tokens", "ciba_requests")
}
