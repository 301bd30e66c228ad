package sqlstore

import (
	"context"
	"database/sql"
	"errors"

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
func (db *DB) cibaArgs(r *store.CIBARequest) []any {
	return []any{r.ID, r.ClientID, r.UserID, encodeList(r.Scopes), r.BindingMessage, r.Status, int64(r.Interval),
		db.t(r.LastPollAt), db.t(r.AuthTime), db.t(r.ExpiresAt), db.t(r.CreatedAt), db.t(r.UpdatedAt)}
}

func (db *DB) CreateCIBARequest(ctx context.Context, r *store.CIBARequest) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		const op = "create CIBA request"
		if r.ID == "" {
			return errors.New("sqlstore: create CIBA request: empty ID")
		}
		rr := *r
		db.stamp(&rr.CreatedAt, &rr.UpdatedAt)
		err := db.insert(ctx, op, "", rr.ID, `INSERT INTO ciba_requests (`+cibaColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, db.cibaArgs(&rr), grantRefs(rr.ClientID, rr.UserID)...)
		if err == nil {
			r.CreatedAt, r.UpdatedAt = rr.CreatedAt, rr.UpdatedAt
		}
		return err
	})
}

func (db *DB) GetCIBARequest(ctx context.Context, id string) (*store.CIBARequest, error) {
	return get(db, ctx, "get CIBA request", scanCIBARequest, `SELECT `+cibaColumns+` FROM ciba_requests WHERE id = ?`, id)
}

func (db *DB) UpdateCIBARequest(ctx context.Context, id string, change func(r *store.CIBARequest) error) (*store.CIBARequest, error) {
	const op = "update CIBA request"
	return update(db, ctx, op, id, "ID, client or user",
		func(r *store.CIBARequest) []string { return []string{r.ID, r.ClientID, r.UserID} }, scanCIBARequest, `SELECT `+cibaColumns+` FROM ciba_requests WHERE id = ?`, change,
		func(ctx context.Context, tx *sql.Tx, r *store.CIBARequest) error {
			r.UpdatedAt = db.now()
			_, err := db.exec(ctx, tx, `UPDATE ciba_requests SET scopes = ?,
				binding_message = ?, status = ?, interval = ?, last_poll_at = ?, auth_time = ?,
				expires_at = ?, created_at = ?, updated_at = ? WHERE id = ?`, append(db.cibaArgs(r)[3:], id)...)
			return db.err(ctx, op, err)
		})
}

func (db *DB) ListPendingCIBARequests(ctx context.Context, userID string) ([]*store.CIBARequest, error) {
	// id is COLLATE "C" in PostgreSQL: byte order.
	return list(db, ctx, "list pending CIBA requests", scanCIBARequest, `SELECT `+cibaColumns+`
		FROM ciba_requests WHERE user_id = ? AND status = ? ORDER BY created_at NULLS FIRST, id`,
		userID, store.CIBAPending)
}
