package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"gatehouse/internal/store"
)

const (
	clientColumns = `id, name, secret_hash, previous_secret_hash,
	previous_secret_expires_at, grant_types, scopes, redirect_uris,
	token_endpoint_auth_method, jwks, status, created_at, updated_at`
	selectClientByID = `SELECT ` + clientColumns + ` FROM clients WHERE id = ?`
)

var clientTable = newTable(table[store.Client]{
	name: "clients", ids: 1, what: "ID",
	columns: clientColumns, get: selectClientByID, scan: scanClient, args: (*DB).clientArgs,
	stamps: func(c *store.Client) (_, _ *time.Time) { return &c.CreatedAt, &c.UpdatedAt },
})

func scanClient(row scanner) (*store.Client, error) {
	c := new(store.Client)
	return c, row.Scan(&c.ID, &c.Name, (*bytesCol)(&c.SecretHash), (*bytesCol)(&c.PreviousSecretHash),
		(*tm)(&c.PreviousSecretExpiresAt), (*strList)(&c.GrantTypes), (*strList)(&c.Scopes),
		(*strList)(&c.RedirectURIs), &c.TokenEndpointAuthMethod, &c.JWKS, &c.Status,
		(*tm)(&c.CreatedAt), (*tm)(&c.UpdatedAt))
}

// clientArgs returns c's columns in clientColumns order.
func (db *DB) clientArgs(c *store.Client) []any {
	return []any{c.ID, c.Name, orNull(c.SecretHash), orNull(c.PreviousSecretHash),
		db.t(c.PreviousSecretExpiresAt), encodeList(c.GrantTypes), encodeList(c.Scopes),
		encodeList(c.RedirectURIs), c.TokenEndpointAuthMethod, c.JWKS, c.Status,
		db.t(c.CreatedAt), db.t(c.UpdatedAt)}
}

func (db *DB) CreateClient(ctx context.Context, c *store.Client) error {
	return create(db, ctx, "create client", clientTable, c)
}

func (db *DB) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return get(db, ctx, "get client", scanClient, selectClientByID, id)
}

func (db *DB) ListClients(ctx context.Context) ([]*store.Client, error) {
	return list(db, ctx, "list clients", scanClient,
		`SELECT `+clientColumns+` FROM clients ORDER BY created_at NULLS FIRST, id`)
}

func (db *DB) UpdateClient(ctx context.Context, id string, change func(c *store.Client) error) (*store.Client, error) {
	return update(db, ctx, "update client", clientTable, id, change)
}

func (db *DB) DeleteClient(ctx context.Context, id string) error {
	return db.deleteWithSubscriptions(ctx, "delete client", "clients", "id", "client_id", id)
}

// deleteWithSubscriptions is a call of the store that deletes the row of
// table whose column is key, and its subscriptions (whose subColumn is
// key) with their pending orders superseded, in one transaction, and
// increments the access generation if there were any (and the apis one
// for an API).
func (db *DB) deleteWithSubscriptions(ctx context.Context, op, table, column, subColumn, key string) error {
	return db.writeTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.supersedePending(ctx, tx, op, subColumn, key); err != nil {
			return err
		}
		// The foreign key would cascade too; deleting first counts them.
		subs, err := db.count(ctx, tx, `DELETE FROM subscriptions WHERE `+subColumn+` = ?`, key)
		if err != nil {
			return db.err(ctx, op, err)
		}
		if err := db.one(ctx, tx, op, key, `DELETE FROM `+table+` WHERE `+column+` = ?`, key); err != nil {
			return err
		}
		if subs > 0 {
			if err := db.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
				return err
			}
		}
		if table == "apis" {
			return db.bumpGeneration(ctx, op, tx, generationAPIs)
		}
		return nil
	})
}
