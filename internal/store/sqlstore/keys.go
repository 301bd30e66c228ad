package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

// Signing keys, revoked access tokens and used assertion ids.

func (db *DB) RotateSigningKey(ctx context.Context, k *store.SigningKey) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		const op = "rotate signing key"
		created := db.orNow(k.CreatedAt)
		err := db.tx(ctx, op, func(tx *sql.Tx) error {
			if db.d.lockKeys != "" {
				if err := db.do(ctx, tx, op, db.d.lockKeys); err != nil {
					return err
				}
			}
			if err := db.do(ctx, tx, op, `UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL`,
				db.t(created)); err != nil {
				return err
			}
			return db.do(ctx, tx, op, `INSERT INTO signing_keys (id, algorithm, private_key,
				public_jwk, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?)`,
				k.ID, k.Algorithm, orNull(k.PrivateKey), orNull(k.PublicJWK), db.t(created), db.t(k.RetiredAt))
		})
		if err == nil {
			k.CreatedAt = created
		}
		return err
	})
}

func (db *DB) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	return list(db, ctx, "list signing keys", func(row scanner) (*store.SigningKey, error) {
		k := new(store.SigningKey)
		return k, row.Scan(&k.ID, &k.Algorithm, (*bytesCol)(&k.PrivateKey), (*bytesCol)(&k.PublicJWK),
			(*tm)(&k.CreatedAt), (*tm)(&k.RetiredAt))
	}, `SELECT id, algorithm, private_key, public_jwk, created_at, retired_at
		FROM signing_keys ORDER BY created_at DESC NULLS LAST, seq DESC`)
}

func (db *DB) DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error {
	return db.write(ctx, "delete retired signing keys",
		`DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?`, db.d.time(t))
}

func (db *DB) RevokeToken(ctx context.Context, t *store.RevokedToken) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		revoked := db.orNow(t.RevokedAt)
		if err := db.do(ctx, nil, "revoke token", `INSERT INTO revoked_tokens (id, client_id, expires_at, revoked_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			t.ID, t.ClientID, db.t(t.ExpiresAt), db.d.time(revoked)); err != nil {
			return err
		}
		t.RevokedAt = revoked
		return nil
	})
}

func (db *DB) ListRevokedTokensSince(ctx context.Context, since time.Time) ([]*store.RevokedToken, error) {
	return list(db, ctx, "list revoked tokens", func(row scanner) (*store.RevokedToken, error) {
		t := new(store.RevokedToken)
		return t, row.Scan(&t.ID, &t.ClientID, (*tm)(&t.ExpiresAt), (*tm)(&t.RevokedAt))
	}, `SELECT id, client_id, expires_at, revoked_at FROM revoked_tokens
		WHERE revoked_at >= ? ORDER BY revoked_at, id`, db.d.time(since))
}

// useAssertion inserts an assertion id, replacing the row only if it has
// expired; zero rows affected means a live row exists. On PostgreSQL a
// conflicting insert waits for the first one's transaction, then sees its
// row: ON CONFLICT makes this one statement race-free.
const useAssertion = `INSERT INTO assertion_ids (client_id, jti, expires_at) VALUES (?, ?, ?)
	ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
	WHERE assertion_ids.expires_at <= ?`

func (db *DB) UseAssertionID(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		n, err := db.count(ctx, nil, useAssertion, clientID, jti, db.t(expiresAt), db.d.time(db.now()))
		if err != nil {
			return db.err(ctx, "use assertion id", err)
		}
		if n == 0 {
			return fmt.Errorf("sqlstore: use assertion id %q for client %q: %w", jti, clientID, store.ErrConflict)
		}
		return nil
	})
}

func (db *DB) DeleteExpired(ctx context.Context, now time.Time) error {
	return db.deleteExpired(ctx, "delete expired", db.d.time(now), "revoked_tokens", "assertion_ids", "idempotency_keys")
}

// deleteExpired is a call of the store that deletes the rows of tables
// that expire before t, in one transaction.
func (db *DB) deleteExpired(ctx context.Context, op string, t any, tables ...string) error {
	return db.writeTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		for _, table := range tables {
			if err := db.do(ctx, tx, op, `DELETE FROM `+table+` WHERE expires_at < ?`, t); err != nil {
				return err
			}
		}
		return nil
	})
}
