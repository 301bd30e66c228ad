package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

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
func (db *DB) clientArgs(c *store.Client) ([]any, error) {
	grants, err := encodeList(c.GrantTypes)
	if err != nil {
		return nil, err
	}
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return nil, err
	}
	uris, err := encodeList(c.RedirectURIs)
	if err != nil {
		return nil, err
	}
	return []any{c.ID, c.Name, blob(c.SecretHash), blob(c.PreviousSecretHash),
		db.t(c.PreviousSecretExpiresAt), grants, scopes, uris,
		c.TokenEndpointAuthMethod, c.JWKS, c.Status, db.t(c.CreatedAt), db.t(c.UpdatedAt)}, nil
}

func (db *DB) CreateClient(ctx context.Context, c *store.Client) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	cc := *c
	if cc.CreatedAt.IsZero() {
		cc.CreatedAt = db.now()
	}
	if cc.UpdatedAt.IsZero() {
		cc.UpdatedAt = cc.CreatedAt
	}
	args, err := db.clientArgs(&cc)
	if err != nil {
		return err
	}
	if _, err := db.exec(ctx, nil, `INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		return db.err(ctx, "create client", err)
	}
	c.CreatedAt, c.UpdatedAt = cc.CreatedAt, cc.UpdatedAt
	return nil
}

func (db *DB) GetClient(ctx context.Context, id string) (_ *store.Client, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return get(db, ctx, nil, "get client", scanClient, selectClientByID, id)
}

func (db *DB) ListClients(ctx context.Context) (_ []*store.Client, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return list(db, ctx, "list clients", scanClient,
		`SELECT `+clientColumns+` FROM clients ORDER BY created_at NULLS FIRST, id`)
}

func (db *DB) UpdateClient(ctx context.Context, id string, change func(c *store.Client) error) (_ *store.Client, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	const op = "update client"
	return update(db, ctx, op, id, scanClient, selectClientByID, change,
		func(_, c *store.Client) error {
			if c.ID != id {
				return fmt.Errorf("sqlstore: update client %q: update must not change the ID (to %q)", id, c.ID)
			}
			return nil
		},
		func(tx *sql.Tx, c *store.Client) error {
			c.UpdatedAt = db.now()
			normalizeClient(c, db.d.precision)
			args, err := db.clientArgs(c)
			if err != nil {
				return err
			}
			_, err = db.exec(ctx, tx, `UPDATE clients SET name = ?, secret_hash = ?,
				previous_secret_hash = ?, previous_secret_expires_at = ?, grant_types = ?,
				scopes = ?, redirect_uris = ?, token_endpoint_auth_method = ?, jwks = ?,
				status = ?, created_at = ?, updated_at = ? WHERE id = ?`, append(args[1:], id)...)
			return db.err(ctx, op, err)
		})
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

func (db *DB) DeleteClient(ctx context.Context, id string) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	return db.deleteWithSubscriptions(ctx, "delete client", "clients", "id", "client_id", id)
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
