package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/internal/store"
)

func (db *DB) BeginIdempotent(ctx context.Context, r *store.IdempotencyRecord) (*store.IdempotencyRecord, error) {
	return run(db, ctx, true, func(ctx context.Context) (*store.IdempotencyRecord, error) {
		const op = "begin idempotency key"
		if r.Key == "" || r.Fingerprint == "" {
			return nil, errors.New("sqlstore: begin idempotency key: empty key or fingerprint")
		}
		r.CreatedAt = db.orNow(r.CreatedAt)
		// One statement: of concurrent begins exactly one inserts (or replaces
		// an expired or abandoned record). SQLite runs it on the single
		// writer; on PostgreSQL a conflicting insert waits for the first one's
		// transaction, then sees its row.
		n, err := db.count(ctx, nil, `INSERT INTO idempotency_keys (key, fingerprint, status, header, body, created_at, expires_at)
			VALUES (?, ?, 0, NULL, NULL, ?, ?)
			ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, status = 0, header = NULL, body = NULL,
				created_at = excluded.created_at, expires_at = excluded.expires_at
			WHERE idempotency_keys.expires_at <= ? OR (idempotency_keys.status = 0 AND idempotency_keys.created_at < ?)`,
			r.Key, r.Fingerprint, db.t(r.CreatedAt), db.t(r.ExpiresAt), db.d.time(db.now()), db.d.time(r.AbandonedBefore))
		if err != nil {
			return nil, db.err(ctx, op, err)
		}
		if n == 1 {
			return nil, nil
		}
		old := new(store.IdempotencyRecord)
		if err := db.writeRow(ctx, nil, `SELECT key, fingerprint, status, header, body, created_at, expires_at
			FROM idempotency_keys WHERE key = ?`, r.Key).Scan(&old.Key, &old.Fingerprint, &old.Status,
			&old.Header, &old.Body, (*tm)(&old.CreatedAt), (*tm)(&old.ExpiresAt)); err != nil {
			return nil, db.err(ctx, op, err)
		}
		return old, fmt.Errorf("sqlstore: %s %q: %w", op, r.Key, store.ErrConflict)
	})
}

func (db *DB) FinishIdempotent(ctx context.Context, key string, status int, header, body []byte) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		if status == 0 {
			return errors.New("sqlstore: finish idempotency key: status 0")
		}
		return db.one(ctx, nil, "finish idempotency key", key,
			`UPDATE idempotency_keys SET status = ?, header = ?, body = ? WHERE key = ?`, status, orNull(header), orNull(body), key)
	})
}

func (db *DB) ReleaseIdempotent(ctx context.Context, key string) error {
	return db.write(ctx, "release idempotency key", `DELETE FROM idempotency_keys WHERE key = ? AND status = 0`, key)
}
