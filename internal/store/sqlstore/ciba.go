package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

const cibaColumns = `id, client_id, user_id, scopes, binding_message, status, interval,
	last_poll_at, auth_time, expires_at, created_at, updated_at`

func scanCIBARequest(row scanner) (*store.CIBARequest, error) {
	r := new(store.CIBARequest)
	return r, row.Scan(&r.ID, &r.ClientID, &r.UserID, (*strList)(&r.Scopes), &r.BindingMessage,
		&r.Status, &r.Interval, (*tm)(&r.LastPollAt), (*tm)(&r.AuthTime), (*tm)(&r.ExpiresAt),
		(*tm)(&r.CreatedAt), (*tm)(&r.UpdatedAt))
}

// cibaArgs returns r's columns in cibaColumns order.
func (db *DB) cibaArgs(r *store.CIBARequest) ([]any, error) {
	scopes, err := encodeList(r.Scopes)
	if err != nil {
		return nil, err
	}
	return []any{r.ID, r.ClientID, r.UserID, scopes, r.BindingMessage, r.Status, int64(r.Interval),
		db.t(r.LastPollAt), db.t(r.AuthTime), db.t(r.ExpiresAt), db.t(r.CreatedAt), db.t(r.UpdatedAt)}, nil
}

func (db *DB) CreateCIBARequest(ctx context.Context, r *store.CIBARequest) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	const op = "create CIBA request"
	if r.ID == "" {
		return errors.New("sqlstore: create CIBA request: empty ID")
	}
	rr := *r
	if rr.CreatedAt.IsZero() {
		rr.CreatedAt = db.now()
	}
	if rr.UpdatedAt.IsZero() {
		rr.UpdatedAt = rr.CreatedAt
	}
	args, err := db.cibaArgs(&rr)
	if err != nil {
		return err
	}
	err = db.locked(ctx, op, func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO ciba_requests (`+cibaColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		if _, fk := db.d.foreignKey(err); fk {
			return db.missing(ctx, op, tx, rr.ID, err, grantRefs(rr.ClientID, rr.UserID)...)
		}
		return db.err(ctx, op, err)
	})
	if err == nil {
		r.CreatedAt, r.UpdatedAt = rr.CreatedAt, rr.UpdatedAt
	}
	return err
}

func (db *DB) GetCIBARequest(ctx context.Context, id string) (_ *store.CIBARequest, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return get(db, ctx, nil, "get CIBA request", scanCIBARequest, `SELECT `+cibaColumns+` FROM ciba_requests WHERE id = ?`, id)
}

func (db *DB) UpdateCIBARequest(ctx context.Context, id string, change func(r *store.CIBARequest) error) (_ *store.CIBARequest, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	const op = "update CIBA request"
	return update(db, ctx, op, id, scanCIBARequest, `SELECT `+cibaColumns+` FROM ciba_requests WHERE id = ?`, change,
		func(old, r *store.CIBARequest) error {
			if r.ID != old.ID || r.ClientID != old.ClientID || r.UserID != old.UserID {
				return fmt.Errorf("sqlstore: %s %q: update must not change the ID, client or user (from %q, %q, %q to %q, %q, %q)",
					op, id, old.ID, old.ClientID, old.UserID, r.ID, r.ClientID, r.UserID)
			}
			return nil
		},
		func(tx *sql.Tx, r *store.CIBARequest) error {
			r.UpdatedAt = db.now()
			for _, t := range []*time.Time{&r.LastPollAt, &r.AuthTime, &r.ExpiresAt, &r.CreatedAt} {
				*t = truncate(*t, db.d.precision)
			}
			if len(r.Scopes) == 0 {
				r.Scopes = nil
			}
			args, err := db.cibaArgs(r)
			if err != nil {
				return err
			}
			_, err = db.exec(ctx, tx, `UPDATE ciba_requests SET scopes = ?,
				binding_message = ?, status = ?, interval = ?, last_poll_at = ?, auth_time = ?,
				expires_at = ?, created_at = ?, updated_at = ? WHERE id = ?`, append(args[3:], id)...)
			return db.err(ctx, op, err)
		})
}

func (db *DB) ListPendingCIBARequests(ctx context.Context, userID string) (_ []*store.CIBARequest, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	// id is COLLATE "C" in PostgreSQL: byte order.
	return list(db, ctx, "list pending CIBA requests", scanCIBARequest, `SELECT `+cibaColumns+`
		FROM ciba_requests WHERE user_id = ? AND status = ? ORDER BY created_at NULLS FIRST, id`,
		userID, store.CIBAPending)
}
