package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"gatehouse/internal/store"
)

const (
	clientColumns = `id, name, secret_hash, previous_secret_hash,
	previous_secret_expires_at, grant_types, scopes, redirect_uris,
	token_endpoint_auth_method, jwks, status, created_at, updated_at`
	selectClientByID = `SELECT ` + clientColumns + ` FROM clients WHERE id = ?`
)

func scanClient(row scanner) (*store.Client, error) {
	c := new(store.Client)
	if err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.PreviousSecretHash,
		(*tm)(&c.PreviousSecretExpiresAt), (*strList)(&c.GrantTypes), (*strList)(&c.Scopes),
		(*strList)(&c.RedirectURIs), &c.TokenEndpointAuthMethod, &c.JWKS, &c.Status,
		(*tm)(&c.CreatedAt), (*tm)(&c.UpdatedAt)); err != nil {
		return nil, err
	}
	c.SecretHash = nilIfEmpty(c.SecretHash)
	c.PreviousSecretHash = nilIfEmpty(c.PreviousSecretHash)
	return c, nil
}

// clientArgs returns c's columns in clientColumns order.
func (db *DB) clientArgs(c *store.Client) []any {
	return []any{c.ID, c.Name, orNull(c.SecretHash), orNull(c.PreviousSecretHash),
		db.t(c.PreviousSecretExpiresAt), encodeList(c.GrantTypes), encodeList(c.Scopes),
		encodeList(c.RedirectURIs), c.TokenEndpointAuthMethod, c.JWKS, c.Status,
		db.t(c.CreatedAt), db.t(c.UpdatedAt)}
}

func (db *DB) CreateClient(ctx context.Context, c *store.Client) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		cc := *c
		db.stamp(&cc.CreatedAt, &cc.UpdatedAt)
		if _, err := db.exec(ctx, nil, `INSERT INTO clients (`+clientColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, db.clientArgs(&cc)...); err != nil {
			return db.err(ctx, "create client", err)
		}
		c.CreatedAt, c.UpdatedAt = cc.CreatedAt, cc.UpdatedAt
		return nil
	})
}

func (db *DB) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return get(db, ctx, "get client", scanClient, selectClientByID, id)
}

func (db *DB) ListClients(ctx context.Context) ([]*store.Client, error) {
	return list(db, ctx, "list clients", scanClient,
		`SELECT `+clientColumns+` FROM clients ORDER BY created_at NULLS FIRST, id`)
}

func (db *DB) UpdateClient(ctx context.Context, id string, change func(c *store.Client) error) (*store.Client, error) {
	const op = "update client"
	return update(db, ctx, op, id, "ID", func(c *store.Client) []string { return []string{c.ID} },
		scanClient, selectClientByID, change,
		func(ctx context.Context, tx *sql.Tx, c *store.Client) error {
			c.UpdatedAt = db.now()
			_, err := db.exec(ctx, tx, `UPDATE clients SET name = ?, secret_hash = ?,
				previous_secret_hash = ?, previous_secret_expires_at = ?, grant_types = ?,
				scopes = ?, redirect_uris = ?, token_endpoint_auth_method = ?, jwks = ?,
				status = ?, created_at = ?, updated_at = ? WHERE id = ?`, append(db.clientArgs(c)[1:], id)...)
			return db.err(ctx, op, err)
		})
}

func (db *DB) DeleteClient(ctx context.Context, id string) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		return db.deleteWithSubscriptions(ctx, "delete client", "clients", "id", "client_id", id)
	})
}

// deleteWithSubscriptions deletes the row of table whose column is key,
// and its subscriptions (whose subColumn is key), in one transaction, and
// increments the access generation if there were any (and the apis one
// for an API).
func (db *DB) deleteWithSubscriptions(ctx context.Context, op, table, column, subColumn, key string) error {
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		// The foreign key would cascade too; deleting first counts them.
		subs, err := db.count(ctx, tx, `DELETE FROM subscriptions WHERE `+subColumn+` = ?`, key)
		if err != nil {
			return db.err(ctx, op, err)
		}
		n, err := db.count(ctx, tx, `DELETE FROM `+table+` WHERE `+column+` = ?`, key)
		if err != nil {
			return db.err(ctx, op, err)
		}
		if n == 0 {
			return fmt.Errorf("sqlstore: %s %q: %w", op, key, store.ErrNotFound)
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
