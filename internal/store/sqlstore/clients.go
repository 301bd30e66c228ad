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
	token_endpoint_auth_method, jwks, status, app_id, environment, last_used_at,
	created_at, updated_at`
	selectClient     = `SELECT ` + clientColumns + ` FROM clients`
	selectClientByID = selectClient + ` WHERE id = ?`
)

// clientTable: an app's client refers to it (app_id, NULL for operators'
// clients); the constraint is named in 0008_developers_orgs_apps.sql.
var clientTable = newTable(table[store.Client]{
	name: "clients", ids: 1, what: "ID", refs: []ref{refApp.at(11)},
	columns: clientColumns, get: selectClientByID, scan: scanClient, args: (*DB).clientArgs,
	stamps: func(c *store.Client) (_, _ *time.Time) { return &c.CreatedAt, &c.UpdatedAt },
})

func scanClient(row scanner) (*store.Client, error) {
	c := new(store.Client)
	var appID sql.NullString
	err := row.Scan(&c.ID, &c.Name, (*bytesCol)(&c.SecretHash), (*bytesCol)(&c.PreviousSecretHash),
		(*tm)(&c.PreviousSecretExpiresAt), (*strList)(&c.GrantTypes), (*strList)(&c.Scopes),
		(*strList)(&c.RedirectURIs), &c.TokenEndpointAuthMethod, &c.JWKS, &c.Status,
		&appID, &c.Environment, (*tm)(&c.LastUsedAt), (*tm)(&c.CreatedAt), (*tm)(&c.UpdatedAt))
	c.AppID = appID.String
	return c, err
}

// clientArgs returns c's columns in clientColumns order. An empty AppID is
// NULL, which refers to no app.
func (db *DB) clientArgs(c *store.Client) []any {
	return []any{c.ID, c.Name, orNull(c.SecretHash), orNull(c.PreviousSecretHash),
		db.t(c.PreviousSecretExpiresAt), encodeList(c.GrantTypes), encodeList(c.Scopes),
		encodeList(c.RedirectURIs), c.TokenEndpointAuthMethod, c.JWKS, c.Status,
		orNull(c.AppID), c.Environment, db.t(c.LastUsedAt), db.t(c.CreatedAt), db.t(c.UpdatedAt)}
}

func (db *DB) CreateClient(ctx context.Context, c *store.Client) error {
	return create(db, ctx, "create client", clientTable, c)
}

func (db *DB) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return get(db, ctx, "get client", scanClient, selectClientByID, id)
}

func (db *DB) ListClients(ctx context.Context) ([]*store.Client, error) {
	return list(db, ctx, "list clients", scanClient, selectClient+` ORDER BY created_at NULLS FIRST, id`)
}

func (db *DB) UpdateClient(ctx context.Context, id string, change func(c *store.Client) error) (*store.Client, error) {
	return update(db, ctx, "update client", clientTable, id, change)
}

func (db *DB) DeleteClient(ctx context.Context, id string) error {
	return db.deleteCounting(ctx, "delete client", id, []string{`SELECT id FROM clients WHERE id = ?`},
		`client_id = ?`, `DELETE FROM clients WHERE id = ?`, "")
}

// deleteCounting is a call of the store that deletes the record key with
// del, in one transaction with everything its foreign keys delete: a
// client's or an API's subscriptions and grants, an app's or an
// organisation's clients with theirs. It deletes the subscriptions that
// subs (a condition on subscriptions, of key) selects first, to count
// them, marking their pending orders superseded, and increments the access generation if there
// were any, then gen (if not "") in any case.
//
// Counting them is exact only if no subscription (nor, for an app or an
// organisation, a client) can be added under the record while the
// transaction runs: the cascade would delete it uncounted, and nodes
// would keep it cached. So each of locks (the record, then what refers to
// it down to its clients, in id order as RecordClientUse locks clients;
// each takes key) first locks its rows.
// PostgreSQL: FOR UPDATE, which waits for the inserts that refer to them
// (their foreign key checks hold FOR KEY SHARE) and blocks new ones until
// the deletion commits, after which they fail; without it a concurrent
// subscribe was cascaded uncounted in most races of
// storetest.testSubscriptionCascadeConcurrent. SQLite: the transaction
// already holds the database's lock.
func (db *DB) deleteCounting(ctx context.Context, op, key string, locks []string, subs, del, gen string) error {
	return db.writeTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		if db.d.forUpdate != "" {
			for _, q := range locks {
				if _, err := readAll(db, ctx, tx, op, func(row scanner) (id string, err error) {
					return id, row.Scan(&id)
				}, q+db.d.forUpdate, key); err != nil {
					return err
				}
			}
		}
		if err := db.supersedePendingWhere(ctx, tx, op, subs, key); err != nil {
			return err
		}
		n, err := db.count(ctx, tx, `DELETE FROM subscriptions WHERE `+subs, key)
		if err != nil {
			return db.err(ctx, op, err)
		}
		if err := db.one(ctx, tx, op, key, del, key); err != nil {
			return err
		}
		if n > 0 {
			if err := db.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
				return err
			}
		}
		return db.bumpGeneration(ctx, op, tx, gen)
	})
}
