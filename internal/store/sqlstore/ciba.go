package sqlstore

import (
	"context"
	"errors"
	"time"

	"gatehouse/internal/store"
)

const (
	cibaColumns = `id, client_id, user_id, scopes, binding_message, status, interval,
	last_poll_at, auth_time, expires_at, created_at, updated_at`
	selectCIBARequest = `SELECT ` + cibaColumns + ` FROM ciba_requests`
)

var cibaTable = newTable(table[store.CIBARequest]{
	name: "ciba_requests", ids: 3, what: "ID, client or user", refs: []ref{refClient.at(1), refUser.at(2)},
	columns: cibaColumns, get: selectCIBARequest + ` WHERE id = ?`, scan: scanCIBARequest, args: (*DB).cibaArgs,
	stamps: func(r *store.CIBARequest) (_, _ *time.Time) { return &r.CreatedAt, &r.UpdatedAt },
	check: func(r *store.CIBARequest) error {
		if r.ID == "" {
			return errors.New("sqlstore: create CIBA request: empty ID")
		}
		return nil
	},
})

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
	return create(db, ctx, "create CIBA request", cibaTable, r)
}

func (db *DB) GetCIBARequest(ctx context.Context, id string) (*store.CIBARequest, error) {
	return get(db, ctx, "get CIBA request", scanCIBARequest, cibaTable.get, id)
}

func (db *DB) UpdateCIBARequest(ctx context.Context, id string, change func(r *store.CIBARequest) error) (*store.CIBARequest, error) {
	return update(db, ctx, "update CIBA request", cibaTable, id, change)
}

func (db *DB) ListPendingCIBARequests(ctx context.Context, userID string) ([]*store.CIBARequest, error) {
	// id is COLLATE "C" in PostgreSQL: byte order.
	return list(db, ctx, "list pending CIBA requests", scanCIBARequest, selectCIBARequest+`
		WHERE user_id = ? AND status = ? ORDER BY created_at NULLS FIRST, id`, userID, store.CIBAPending)
}
