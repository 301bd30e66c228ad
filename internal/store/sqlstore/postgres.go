package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/internal/store"
)

// PostgreSQL connection handling.
//
// The backend uses pgxpool directly rather than pgx's database/sql adapter
// (pgx/v5/stdlib). GetClient sits on the token endpoint's hot path, and the
// native interface skips database/sql's per-query costs (a goroutine
// watching each context, driver.Value conversions, an extra copy of every
// column) while pgx's default exec mode prepares each statement once per
// connection and caches it, so a lookup is one round trip in the binary
// protocol. Pool size and lifetimes come from the URL (pool_max_conns,
// pool_max_conn_lifetime, ...); the default is max(4, GOMAXPROCS)
// connections.
const (
	pgPrecision      = time.Microsecond
	pgConnectTimeout = 10 * time.Second // unless the URL sets connect_timeout
)

// pgDB is the PostgreSQL backend.
type pgDB struct {
	pool    *pgxpool.Pool
	nowFunc func() time.Time
	closed  *atomic.Bool
}

var _ backend = (*pgDB)(nil)

// pgSplitSchema removes the schema parameter from a postgres:// URL and
// returns the remaining URL and the schema ("" if absent).
func pgSplitSchema(raw string) (connURL, schema string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, password included; keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", "", fmt.Errorf("sqlstore: malformed PostgreSQL URL: %w", err)
	}
	q := u.Query()
	if !q.Has("schema") {
		return raw, "", nil
	}
	schema = q.Get("schema")
	if !validSchemaName(schema) {
		return "", "", fmt.Errorf("sqlstore: PostgreSQL URL: schema %q: want 1 to 63 letters, digits and underscores, not starting with a digit", schema)
	}
	q.Del("schema")
	u.RawQuery = q.Encode()
	return u.String(), schema, nil
}

func validSchemaName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// openPostgres connects to PostgreSQL and applies pending migrations.
func openPostgres(ctx context.Context, rawURL string, now func() time.Time, closed *atomic.Bool) (*pgDB, error) {
	connURL, schema, err := pgSplitSchema(rawURL)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(connURL) // its errors redact the password
	if err != nil {
		return nil, fmt.Errorf("sqlstore: PostgreSQL URL: %w", err)
	}
	if schema != "" {
		// Sent in the startup message, so it costs no round trip and holds
		// for every connection the pool ever opens.
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: PostgreSQL pool: %w", err)
	}
	p := &pgDB{pool: pool, nowFunc: now, closed: closed}
	if err := p.migrate(ctx, schema); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

// migrationLockKey is the pg_advisory_xact_lock key that serializes
// migrations of one schema across processes.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	io.WriteString(h, "gatehouse/sqlstore/migrate:"+schema)
	return int64(h.Sum64())
}

// migrate creates the schema if needed and applies pending migrations, in
// one transaction holding an advisory lock so that nodes starting together
// migrate one after another.
func (p *pgDB) migrate(ctx context.Context, schema string) error {
	const op = "migrate"
	ms, err := loadMigrations("postgres")
	if err != nil {
		return err
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey(schema)); err != nil {
		return p.err(ctx, op, err)
	}
	if schema != "" {
		// Look first, so that a role without CREATE on the database can
		// use a schema made for it.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`,
			schema).Scan(&exists); err != nil {
			return p.err(ctx, op, err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
				return p.err(ctx, op+": create schema", err)
			}
		}
	}
	// Look first here too: on an up-to-date schema migrate writes nothing,
	// so a read-only database (a standby) still opens and serves reads.
	var hasTable bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&hasTable); err != nil {
		return p.err(ctx, op, err)
	}
	if !hasTable {
		if _, err := tx.Exec(ctx, `CREATE TABLE schema_migrations (
			name       text PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return p.err(ctx, op, err)
		}
	}
	rows, _ := tx.Query(ctx, `SELECT name FROM schema_migrations`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return p.err(ctx, op, err)
	}
	applied := make(map[string]bool, len(names))
	for _, n := range names {
		applied[n] = true
	}
	for _, m := range ms {
		if applied[m.name] {
			continue
		}
		// Without arguments Exec uses the simple protocol, which runs
		// every statement in the file.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return p.err(ctx, op+" "+m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, m.name); err != nil {
			return p.err(ctx, op+" "+m.name, err)
		}
	}
	return p.err(ctx, op, tx.Commit(ctx))
}

// now returns the current time as PostgreSQL stores it.
func (p *pgDB) now() time.Time { return truncate(p.nowFunc(), pgPrecision) }

// pgTime encodes t as a timestamptz, NULL for the zero time.
func pgTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromPGTime decodes pgTime's encoding, in UTC.
func fromPGTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// err classifies err, returned by pgx during op: unique-constraint
// violations wrap store.ErrConflict; disk_full (53100) wraps
// store.ErrStorageFull and read_only_sql_transaction (25006: a standby,
// default_transaction_read_only) store.ErrReadOnly; failures to connect or
// to keep a connection, server shutdown or other lack of resources (53xxx),
// a closed store and expired deadlines wrap store.ErrUnavailable.
func (p *pgDB) err(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if p.closed.Load() {
		return unavailable(op, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return unavailable(op, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return conflict(op, err)
		case pe.Code == "53100": // disk_full
			return storageFull(op, err)
		case pe.Code == "25006": // read_only_sql_transaction: a standby, default_transaction_read_only
			return readOnly(op, err)
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient_resources, e.g. too_many_connections
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return unavailable(op, err)
		}
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return unavailable(op, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

const pgSelectClient = `SELECT id, name, secret_hash, previous_secret_hash,
	previous_secret_expires_at, grant_types, scopes, redirect_uris,
	token_endpoint_auth_method, jwks, status, created_at, updated_at
	FROM clients`

// pgClientScan holds a client and the columns that need decoding, so one
// allocation serves a whole row.
type pgClientScan struct {
	c                        store.Client
	prevExp, created, update pgtype.Timestamptz
	grants, scopes, uris     string
}

func (s *pgClientScan) dest() []any {
	return []any{&s.c.ID, &s.c.Name, &s.c.SecretHash, &s.c.PreviousSecretHash,
		&s.prevExp, &s.grants, &s.scopes, &s.uris,
		&s.c.TokenEndpointAuthMethod, &s.c.JWKS, &s.c.Status, &s.created, &s.update}
}

func (s *pgClientScan) client() (*store.Client, error) {
	c := &s.c
	var err error
	if c.GrantTypes, err = decodeList(s.grants); err != nil {
		return nil, err
	}
	if c.Scopes, err = decodeList(s.scopes); err != nil {
		return nil, err
	}
	if c.RedirectURIs, err = decodeList(s.uris); err != nil {
		return nil, err
	}
	c.SecretHash = nilIfEmpty(c.SecretHash)
	c.PreviousSecretHash = nilIfEmpty(c.PreviousSecretHash)
	c.PreviousSecretExpiresAt = fromPGTime(s.prevExp)
	c.CreatedAt = fromPGTime(s.created)
	c.UpdatedAt = fromPGTime(s.update)
	return c, nil
}

// pgClientArgs returns c's columns after id, in pgSelectClient order.
func pgClientArgs(c *store.Client) ([]any, error) {
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
	return []any{c.Name, blob(c.SecretHash), blob(c.PreviousSecretHash),
		pgTime(c.PreviousSecretExpiresAt), grants, scopes, uris,
		c.TokenEndpointAuthMethod, c.JWKS, c.Status,
		pgTime(c.CreatedAt), pgTime(c.UpdatedAt)}, nil
}

func (p *pgDB) CreateClient(ctx context.Context, c *store.Client) error {
	const op = "create client"
	cc := *c
	if cc.CreatedAt.IsZero() {
		cc.CreatedAt = p.now()
	}
	if cc.UpdatedAt.IsZero() {
		cc.UpdatedAt = cc.CreatedAt
	}
	args, err := pgClientArgs(&cc)
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `INSERT INTO clients (id, name, secret_hash,
		previous_secret_hash, previous_secret_expires_at, grant_types, scopes,
		redirect_uris, token_endpoint_auth_method, jwks, status, created_at,
		updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		append([]any{cc.ID}, args...)...)
	if err != nil {
		return p.err(ctx, op, err)
	}
	c.CreatedAt, c.UpdatedAt = cc.CreatedAt, cc.UpdatedAt
	return nil
}

func (p *pgDB) GetClient(ctx context.Context, id string) (*store.Client, error) {
	s := new(pgClientScan)
	if err := p.pool.QueryRow(ctx, pgSelectClient+` WHERE id = $1`, id).Scan(s.dest()...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get client %q: %w", id, store.ErrNotFound)
		}
		return nil, p.err(ctx, "get client", err)
	}
	return s.client()
}

func (p *pgDB) ListClients(ctx context.Context) ([]*store.Client, error) {
	const op = "list clients"
	rows, err := p.pool.Query(ctx, pgSelectClient+` ORDER BY created_at NULLS FIRST, id`)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var cs []*store.Client
	for rows.Next() {
		s := new(pgClientScan)
		if err := rows.Scan(s.dest()...); err != nil {
			return nil, p.err(ctx, op, err)
		}
		c, err := s.client()
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, p.err(ctx, op, rows.Err())
}

func (p *pgDB) UpdateClient(ctx context.Context, id string, update func(c *store.Client) error) (*store.Client, error) {
	const op = "update client"
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	s := new(pgClientScan)
	// FOR UPDATE holds the row until commit: a concurrent UpdateClient
	// waits here and then reads this one's result.
	if err := tx.QueryRow(ctx, pgSelectClient+` WHERE id = $1 FOR UPDATE`, id).Scan(s.dest()...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update client %q: %w", id, store.ErrNotFound)
		}
		return nil, p.err(ctx, op, err)
	}
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	if err := update(c); err != nil {
		return nil, err
	}
	if c.ID != id {
		return nil, fmt.Errorf("sqlstore: update client %q: update must not change the ID (to %q)", id, c.ID)
	}
	c.UpdatedAt = p.now()
	normalizeClient(c, pgPrecision)
	args, err := pgClientArgs(c)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE clients SET name = $1, secret_hash = $2,
		previous_secret_hash = $3, previous_secret_expires_at = $4, grant_types = $5,
		scopes = $6, redirect_uris = $7, token_endpoint_auth_method = $8, jwks = $9,
		status = $10, created_at = $11, updated_at = $12 WHERE id = $13`,
		append(args, id)...); err != nil {
		return nil, p.err(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, p.err(ctx, op, err)
	}
	return c, nil
}

func (p *pgDB) DeleteClient(ctx context.Context, id string) error {
	const op = "delete client"
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	// Locking the client first keeps a concurrent CreateSubscription (whose
	// foreign key check waits for this lock, then fails) from adding a
	// subscription that the cascade would delete uncounted.
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM clients WHERE id = $1 FOR UPDATE`, id).Scan(&one); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("sqlstore: delete client %q: %w", id, store.ErrNotFound)
		}
		return p.err(ctx, op, err)
	}
	subs, err := tx.Exec(ctx, `DELETE FROM subscriptions WHERE client_id = $1`, id)
	if err != nil {
		return p.err(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id); err != nil {
		return p.err(ctx, op, err)
	}
	if subs.RowsAffected() > 0 {
		if err := p.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
			return err
		}
	}
	return p.err(ctx, op, tx.Commit(ctx))
}

const pgSelectAPI = `SELECT name, title, version, base_path, upstream_url,
	status, error_media_type, max_body_bytes, upstream_options, document, created_at, updated_at
	FROM apis`

// pgAPIScan holds an API and the columns that need decoding, so one
// allocation serves a whole row.
type pgAPIScan struct {
	a               store.API
	created, update pgtype.Timestamptz
	upstream        string
}

func (s *pgAPIScan) dest() []any {
	return []any{&s.a.Name, &s.a.Title, &s.a.Version, &s.a.BasePath, &s.a.UpstreamURL,
		&s.a.Status, &s.a.ErrorMediaType, &s.a.MaxBodyBytes, &s.upstream, &s.a.Document, &s.created, &s.update}
}

func (s *pgAPIScan) api() (*store.API, error) {
	a := &s.a
	if err := decodeUpstreamOptions(s.upstream, &a.Upstream); err != nil {
		return nil, err
	}
	a.Document = nilIfEmpty(a.Document)
	a.CreatedAt = fromPGTime(s.created)
	a.UpdatedAt = fromPGTime(s.update)
	return a, nil
}

// pgAPIArgs returns a's columns after name, in pgSelectAPI order.
func pgAPIArgs(a *store.API) []any {
	return []any{a.Title, a.Version, a.BasePath, a.UpstreamURL, a.Status,
		a.ErrorMediaType, a.MaxBodyBytes, encodeUpstreamOptions(a.Upstream), blob(a.Document),
		pgTime(a.CreatedAt), pgTime(a.UpdatedAt)}
}

// bumpGeneration increments the named generation inside tx. Callers make
// it their transaction's last statement: the counter's row lock then
// serializes writes of its kind only from here to commit, and a
// transaction holding it waits for no other lock, so it cannot deadlock
// with one that holds a record's row and waits for the counter. DeleteAPI,
// the one caller that bumps two counters, always bumps "access" before
// "apis", so two of them cannot wait for each other either.
func (p *pgDB) bumpGeneration(ctx context.Context, op string, tx pgx.Tx, name string) error {
	tag, err := tx.Exec(ctx, `UPDATE generations SET generation = generation + 1 WHERE name = $1`, name)
	if err != nil {
		return p.err(ctx, op, err)
	}
	if tag.RowsAffected() != 1 {
		return errMissingGeneration(name)
	}
	return nil
}

func (p *pgDB) CreateAPI(ctx context.Context, a *store.API) error {
	const op = "create API"
	aa := *a
	if aa.CreatedAt.IsZero() {
		aa.CreatedAt = p.now()
	}
	if aa.UpdatedAt.IsZero() {
		aa.UpdatedAt = aa.CreatedAt
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	// A concurrent insert of the same name or base path makes this one
	// wait for its transaction, then fail with unique_violation.
	if _, err := tx.Exec(ctx, `INSERT INTO apis (name, title, version,
		base_path, upstream_url, status, error_media_type, max_body_bytes,
		upstream_options, document, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		append([]any{aa.Name}, pgAPIArgs(&aa)...)...); err != nil {
		return p.err(ctx, op, err)
	}
	if err := p.bumpGeneration(ctx, op, tx, generationAPIs); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return p.err(ctx, op, err)
	}
	a.CreatedAt, a.UpdatedAt = aa.CreatedAt, aa.UpdatedAt
	return nil
}

func (p *pgDB) GetAPI(ctx context.Context, name string) (*store.API, error) {
	s := new(pgAPIScan)
	if err := p.pool.QueryRow(ctx, pgSelectAPI+` WHERE name = $1`, name).Scan(s.dest()...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get API %q: %w", name, store.ErrNotFound)
		}
		return nil, p.err(ctx, "get API", err)
	}
	a, err := s.api()
	if err != nil {
		return nil, p.err(ctx, "get API", err)
	}
	return a, nil
}

func (p *pgDB) ListAPIs(ctx context.Context) ([]*store.API, error) {
	const op = "list APIs"
	// name is COLLATE "C" (0002_apis.sql): byte order, as in SQLite.
	rows, err := p.pool.Query(ctx, pgSelectAPI+` ORDER BY name`)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var as []*store.API
	for rows.Next() {
		s := new(pgAPIScan)
		if err := rows.Scan(s.dest()...); err != nil {
			return nil, p.err(ctx, op, err)
		}
		a, err := s.api()
		if err != nil {
			return nil, p.err(ctx, op, err)
		}
		as = append(as, a)
	}
	return as, p.err(ctx, op, rows.Err())
}

func (p *pgDB) UpdateAPI(ctx context.Context, name string, update func(a *store.API) error) (*store.API, error) {
	const op = "update API"
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	s := new(pgAPIScan)
	// FOR UPDATE holds the row until commit: a concurrent UpdateAPI waits
	// here and then reads this one's result.
	if err := tx.QueryRow(ctx, pgSelectAPI+` WHERE name = $1 FOR UPDATE`, name).Scan(s.dest()...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update API %q: %w", name, store.ErrNotFound)
		}
		return nil, p.err(ctx, op, err)
	}
	a, err := s.api()
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	if err := update(a); err != nil {
		return nil, err
	}
	if a.Name != name {
		return nil, fmt.Errorf("sqlstore: update API %q: update must not change the name (to %q)", name, a.Name)
	}
	a.UpdatedAt = p.now()
	normalizeAPI(a, pgPrecision)
	if _, err := tx.Exec(ctx, `UPDATE apis SET title = $1, version = $2,
		base_path = $3, upstream_url = $4, status = $5, error_media_type = $6,
		max_body_bytes = $7, upstream_options = $8, document = $9, created_at = $10, updated_at = $11
		WHERE name = $12`,
		append(pgAPIArgs(a), name)...); err != nil {
		return nil, p.err(ctx, op, err)
	}
	if err := p.bumpGeneration(ctx, op, tx, generationAPIs); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, p.err(ctx, op, err)
	}
	return a, nil
}

func (p *pgDB) DeleteAPI(ctx context.Context, name string) error {
	const op = "delete API"
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	// Locked first for the reason DeleteClient gives.
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM apis WHERE name = $1 FOR UPDATE`, name).Scan(&one); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("sqlstore: delete API %q: %w", name, store.ErrNotFound)
		}
		return p.err(ctx, op, err)
	}
	subs, err := tx.Exec(ctx, `DELETE FROM subscriptions WHERE api_name = $1`, name)
	if err != nil {
		return p.err(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM apis WHERE name = $1`, name); err != nil {
		return p.err(ctx, op, err)
	}
	if subs.RowsAffected() > 0 {
		if err := p.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
			return err
		}
	}
	if err := p.bumpGeneration(ctx, op, tx, generationAPIs); err != nil {
		return err
	}
	return p.err(ctx, op, tx.Commit(ctx))
}

func (p *pgDB) APIsGeneration(ctx context.Context) (int64, error) {
	return p.generation(ctx, generationAPIs)
}

// generation reads the named generation counter.
func (p *pgDB) generation(ctx context.Context, name string) (int64, error) {
	var g int64
	if err := p.pool.QueryRow(ctx, `SELECT generation FROM generations WHERE name = $1`, name).Scan(&g); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, errMissingGeneration(name)
		}
		return 0, p.err(ctx, name+" generation", err)
	}
	return g, nil
}

const pgSelectPlan = `SELECT name, price_label, description, rate_per_second,
	burst, quota_day, quota_month, requires_approval, created_at, updated_at
	FROM plans`

// pgScanPlan reads one pgSelectPlan row.
func pgScanPlan(row pgx.Row) (*store.Plan, error) {
	var p store.Plan
	var created, updated pgtype.Timestamptz
	if err := row.Scan(&p.Name, &p.PriceLabel, &p.Description, &p.RatePerSecond,
		&p.Burst, &p.QuotaDay, &p.QuotaMonth, &p.RequiresApproval, &created, &updated); err != nil {
		return nil, err
	}
	p.CreatedAt = fromPGTime(created)
	p.UpdatedAt = fromPGTime(updated)
	return &p, nil
}

// pgPlanArgs returns p's columns after name, in pgSelectPlan order.
func pgPlanArgs(p *store.Plan) []any {
	return []any{p.PriceLabel, p.Description, p.RatePerSecond, p.Burst,
		p.QuotaDay, p.QuotaMonth, p.RequiresApproval,
		pgTime(p.CreatedAt), pgTime(p.UpdatedAt)}
}

func (p *pgDB) CreatePlan(ctx context.Context, pl *store.Plan) error {
	const op = "create plan"
	pp := *pl
	if pp.CreatedAt.IsZero() {
		pp.CreatedAt = p.now()
	}
	if pp.UpdatedAt.IsZero() {
		pp.UpdatedAt = pp.CreatedAt
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO plans (name, price_label,
		description, rate_per_second, burst, quota_day, quota_month,
		requires_approval, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		append([]any{pp.Name}, pgPlanArgs(&pp)...)...); err != nil {
		return p.err(ctx, op, err)
	}
	if err := p.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return p.err(ctx, op, err)
	}
	pl.CreatedAt, pl.UpdatedAt = pp.CreatedAt, pp.UpdatedAt
	return nil
}

func (p *pgDB) GetPlan(ctx context.Context, name string) (*store.Plan, error) {
	pl, err := pgScanPlan(p.pool.QueryRow(ctx, pgSelectPlan+` WHERE name = $1`, name))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get plan %q: %w", name, store.ErrNotFound)
		}
		return nil, p.err(ctx, "get plan", err)
	}
	return pl, nil
}

func (p *pgDB) ListPlans(ctx context.Context) ([]*store.Plan, error) {
	const op = "list plans"
	// name is COLLATE "C" (0003_plans_subscriptions_usage.sql): byte order.
	rows, err := p.pool.Query(ctx, pgSelectPlan+` ORDER BY name`)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var ps []*store.Plan
	for rows.Next() {
		pl, err := pgScanPlan(rows)
		if err != nil {
			return nil, p.err(ctx, op, err)
		}
		ps = append(ps, pl)
	}
	return ps, p.err(ctx, op, rows.Err())
}

func (p *pgDB) UpdatePlan(ctx context.Context, name string, update func(p *store.Plan) error) (*store.Plan, error) {
	const op = "update plan"
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	// The row lock makes a concurrent UpdatePlan wait and then read this
	// one's result. NO KEY UPDATE, since the name never changes, lets
	// subscriptions to the plan be created meanwhile (their foreign key
	// check takes a KEY SHARE lock).
	pl, err := pgScanPlan(tx.QueryRow(ctx, pgSelectPlan+` WHERE name = $1 FOR NO KEY UPDATE`, name))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update plan %q: %w", name, store.ErrNotFound)
		}
		return nil, p.err(ctx, op, err)
	}
	if err := update(pl); err != nil {
		return nil, err
	}
	if pl.Name != name {
		return nil, fmt.Errorf("sqlstore: update plan %q: update must not change the name (to %q)", name, pl.Name)
	}
	pl.UpdatedAt = p.now()
	normalizePlan(pl, pgPrecision)
	if _, err := tx.Exec(ctx, `UPDATE plans SET price_label = $1,
		description = $2, rate_per_second = $3, burst = $4, quota_day = $5,
		quota_month = $6, requires_approval = $7, created_at = $8, updated_at = $9
		WHERE name = $10`,
		append(pgPlanArgs(pl), name)...); err != nil {
		return nil, p.err(ctx, op, err)
	}
	if err := p.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, p.err(ctx, op, err)
	}
	return pl, nil
}

func (p *pgDB) DeletePlan(ctx context.Context, name string) error {
	const op = "delete plan"
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `DELETE FROM plans WHERE name = $1`, name)
	if err != nil {
		if pgForeignKeyViolation(err) != "" { // ON DELETE RESTRICT
			return fmt.Errorf("sqlstore: delete plan %q: subscriptions use it: %w", name, store.ErrConflict)
		}
		return p.err(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("sqlstore: delete plan %q: %w", name, store.ErrNotFound)
	}
	if err := p.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return err
	}
	return p.err(ctx, op, tx.Commit(ctx))
}

// pgForeignKeyViolation returns the name of the foreign key constraint err
// reports as violated, or "" if err is something else.
func pgForeignKeyViolation(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
		return cmp.Or(pe.ConstraintName, "unknown")
	}
	return ""
}

const pgSelectSubscription = `SELECT id, client_id, api_name, plan_name, status,
	created_at, updated_at FROM subscriptions`

// pgScanSubscription reads one pgSelectSubscription row.
func pgScanSubscription(row pgx.Row) (*store.Subscription, error) {
	var s store.Subscription
	var created, updated pgtype.Timestamptz
	if err := row.Scan(&s.ID, &s.ClientID, &s.APIName, &s.PlanName, &s.Status, &created, &updated); err != nil {
		return nil, err
	}
	s.CreatedAt = fromPGTime(created)
	s.UpdatedAt = fromPGTime(updated)
	return &s, nil
}

func (p *pgDB) CreateSubscription(ctx context.Context, s *store.Subscription) error {
	const op = "create subscription"
	ss := *s
	if ss.CreatedAt.IsZero() {
		ss.CreatedAt = p.now()
	}
	if ss.UpdatedAt.IsZero() {
		ss.UpdatedAt = ss.CreatedAt
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO subscriptions (id, client_id,
		api_name, plan_name, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		ss.ID, ss.ClientID, ss.APIName, ss.PlanName, ss.Status,
		pgTime(ss.CreatedAt), pgTime(ss.UpdatedAt)); err != nil {
		// The constraints are named in 0003_plans_subscriptions_usage.sql.
		switch pgForeignKeyViolation(err) {
		case "":
		case "subscriptions_client_fk":
			return missingReference(op, ss.ID, "client", ss.ClientID)
		case "subscriptions_api_fk":
			return missingReference(op, ss.ID, "API", ss.APIName)
		case "subscriptions_plan_fk":
			return missingReference(op, ss.ID, "plan", ss.PlanName)
		default:
			return fmt.Errorf("sqlstore: %s %q: %w: %w", op, ss.ID, store.ErrNotFound, err)
		}
		return p.err(ctx, op, err)
	}
	if err := p.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return p.err(ctx, op, err)
	}
	s.CreatedAt, s.UpdatedAt = ss.CreatedAt, ss.UpdatedAt
	return nil
}

func (p *pgDB) GetSubscription(ctx context.Context, id string) (*store.Subscription, error) {
	s, err := pgScanSubscription(p.pool.QueryRow(ctx, pgSelectSubscription+` WHERE id = $1`, id))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get subscription %q: %w", id, store.ErrNotFound)
		}
		return nil, p.err(ctx, "get subscription", err)
	}
	return s, nil
}

func (p *pgDB) FindSubscription(ctx context.Context, clientID, apiName string) (*store.Subscription, error) {
	s, err := pgScanSubscription(p.pool.QueryRow(ctx,
		pgSelectSubscription+` WHERE client_id = $1 AND api_name = $2`, clientID, apiName))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: find subscription of client %q to API %q: %w", clientID, apiName, store.ErrNotFound)
		}
		return nil, p.err(ctx, "find subscription", err)
	}
	return s, nil
}

func (p *pgDB) ListSubscriptions(ctx context.Context, f store.SubscriptionFilter) ([]*store.Subscription, error) {
	const op = "list subscriptions"
	var where []string
	var args []any
	for _, c := range []struct{ column, value string }{
		{"client_id", f.ClientID}, {"api_name", f.APIName}, {"plan_name", f.PlanName},
	} {
		if c.value != "" {
			args = append(args, c.value)
			where = append(where, fmt.Sprintf("%s = $%d", c.column, len(args)))
		}
	}
	q := pgSelectSubscription
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// The columns are COLLATE "C": byte order, served by the unique index.
	rows, err := p.pool.Query(ctx, q+` ORDER BY client_id, api_name`, args...)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var ss []*store.Subscription
	for rows.Next() {
		s, err := pgScanSubscription(rows)
		if err != nil {
			return nil, p.err(ctx, op, err)
		}
		ss = append(ss, s)
	}
	return ss, p.err(ctx, op, rows.Err())
}

func (p *pgDB) UpdateSubscription(ctx context.Context, id string, update func(s *store.Subscription) error) (*store.Subscription, error) {
	const op = "update subscription"
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	// FOR UPDATE holds the row until commit: a concurrent update waits
	// here and then reads this one's result.
	s, err := pgScanSubscription(tx.QueryRow(ctx, pgSelectSubscription+` WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update subscription %q: %w", id, store.ErrNotFound)
		}
		return nil, p.err(ctx, op, err)
	}
	old := *s
	if err := update(s); err != nil {
		return nil, err
	}
	if err := checkSubscriptionKeys(op, id, &old, s); err != nil {
		return nil, err
	}
	s.UpdatedAt = p.now()
	normalizeSubscription(s, pgPrecision)
	if _, err := tx.Exec(ctx, `UPDATE subscriptions SET plan_name = $1,
		status = $2, created_at = $3, updated_at = $4 WHERE id = $5`,
		s.PlanName, s.Status, pgTime(s.CreatedAt), pgTime(s.UpdatedAt), id); err != nil {
		if pgForeignKeyViolation(err) != "" { // only the plan can change
			return nil, missingReference(op, id, "plan", s.PlanName)
		}
		return nil, p.err(ctx, op, err)
	}
	if err := p.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, p.err(ctx, op, err)
	}
	return s, nil
}

func (p *pgDB) DeleteSubscription(ctx context.Context, id string) error {
	const op = "delete subscription"
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `DELETE FROM subscriptions WHERE id = $1`, id)
	if err != nil {
		return p.err(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("sqlstore: delete subscription %q: %w", id, store.ErrNotFound)
	}
	if err := p.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
		return err
	}
	return p.err(ctx, op, tx.Commit(ctx))
}

func (p *pgDB) AccessGeneration(ctx context.Context) (int64, error) {
	return p.generation(ctx, generationAccess)
}

// pgUpsertUsage adds a batch of records, passed as one array per column,
// to their buckets in one statement, so a batch of any size is one round
// trip and one prepared statement. Rows are written in array order
// (ORDER BY the ordinality); AddUsage sorts them, so that concurrent
// batches lock shared buckets in the same order and cannot deadlock.
const pgUpsertUsage = `INSERT INTO usage AS u (client_id, api_name, hour, status,
		error, count, latency_sum, latency_max)
	SELECT client_id, api_name, hour, status, error, count, latency_sum, latency_max
	FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::integer[],
		$5::text[], $6::bigint[], $7::bigint[], $8::bigint[])
		WITH ORDINALITY AS r (client_id, api_name, hour, status, error, count,
			latency_sum, latency_max, i)
	ORDER BY i
	ON CONFLICT (client_id, api_name, hour, status, error) DO UPDATE SET
		count = u.count + excluded.count,
		latency_sum = u.latency_sum + excluded.latency_sum,
		latency_max = GREATEST(u.latency_max, excluded.latency_max)`

func (p *pgDB) AddUsage(ctx context.Context, records []store.UsageRecord) error {
	rs, err := prepareUsage(records)
	if err != nil {
		return err
	}
	n := len(rs)
	clients, apis, errs := make([]string, n), make([]string, n), make([]string, n)
	hours := make([]time.Time, n)
	statuses := make([]int32, n)
	counts, sums, maxes := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, r := range rs {
		clients[i], apis[i], hours[i], statuses[i], errs[i] = r.ClientID, r.APIName, r.Hour, int32(r.Status), r.Error
		counts[i], sums[i], maxes[i] = r.Count, r.LatencySum, r.LatencyMax
	}
	// One statement is one transaction: the batch is written whole or not
	// at all.
	_, err = p.pool.Exec(ctx, pgUpsertUsage, clients, apis, hours, statuses, errs, counts, sums, maxes)
	return p.err(ctx, "add usage", err)
}

// pgSaveQuotaCounts raises a batch of counts, one array per column, in one
// statement; rows are written in array order (sorted by the caller).
const pgSaveQuotaCounts = `INSERT INTO quota_counts AS q (limiter_key, period, period_start, count)
	SELECT limiter_key, period, period_start, count
	FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[])
		WITH ORDINALITY AS r (limiter_key, period, period_start, count, i)
	ORDER BY i
	ON CONFLICT (limiter_key, period, period_start) DO UPDATE SET
		count = GREATEST(q.count, excluded.count)`

func (p *pgDB) SaveQuotaCounts(ctx context.Context, counts []store.QuotaCount) error {
	n := len(counts)
	keys, periods, starts, ns := make([]string, n), make([]string, n), make([]time.Time, n), make([]int64, n)
	for i, c := range counts {
		keys[i], periods[i], starts[i], ns[i] = c.Key, c.Period, c.Start, c.Count
	}
	_, err := p.pool.Exec(ctx, pgSaveQuotaCounts, keys, periods, starts, ns)
	return p.err(ctx, "save quota counts", err)
}

func (p *pgDB) ListQuotaCounts(ctx context.Context, day, month time.Time) ([]store.QuotaCount, error) {
	const op = "list quota counts"
	// limiter_key is COLLATE "C" (0007_quota_counts.sql): byte order.
	rows, err := p.pool.Query(ctx, `SELECT limiter_key, period, period_start, count FROM quota_counts
		WHERE (period = 'day' AND period_start >= $1) OR (period = 'month' AND period_start >= $2)
		ORDER BY limiter_key, period, period_start`,
		ceil(day, pgPrecision), ceil(month, pgPrecision))
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var cs []store.QuotaCount
	for rows.Next() {
		var c store.QuotaCount
		var start pgtype.Timestamptz
		if err := rows.Scan(&c.Key, &c.Period, &start, &c.Count); err != nil {
			return nil, p.err(ctx, op, err)
		}
		c.Start = start.Time.UTC()
		cs = append(cs, c)
	}
	return cs, p.err(ctx, op, rows.Err())
}

func (p *pgDB) DeleteQuotaCountsBefore(ctx context.Context, day, month time.Time) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM quota_counts
		WHERE (period = 'day' AND period_start < $1) OR (period = 'month' AND period_start < $2)`,
		ceil(day, pgPrecision), ceil(month, pgPrecision))
	return p.err(ctx, "delete quota counts", err)
}

func (p *pgDB) ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	const op = "list usage"
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.ClientID != "" {
		add("client_id = $%d", f.ClientID)
	}
	if f.APIName != "" {
		add("api_name = $%d", f.APIName)
	}
	if !f.From.IsZero() {
		add("hour >= $%d", ceil(f.From, pgPrecision))
	}
	if !f.To.IsZero() {
		add("hour < $%d", ceil(f.To, pgPrecision))
	}
	q := `SELECT client_id, api_name, hour, status, error, count, latency_sum,
		latency_max FROM usage`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := p.pool.Query(ctx, q+` ORDER BY hour, client_id, api_name, status, error`, args...)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var rs []store.UsageRecord
	for rows.Next() {
		var r store.UsageRecord
		var hour pgtype.Timestamptz
		var status int32
		if err := rows.Scan(&r.ClientID, &r.APIName, &hour, &status, &r.Error,
			&r.Count, &r.LatencySum, &r.LatencyMax); err != nil {
			return nil, p.err(ctx, op, err)
		}
		r.Hour = fromPGTime(hour)
		r.Status = int(status)
		rs = append(rs, r)
	}
	return rs, p.err(ctx, op, rows.Err())
}

func (p *pgDB) RotateSigningKey(ctx context.Context, k *store.SigningKey) error {
	const op = "rotate signing key"
	created := k.CreatedAt
	if created.IsZero() {
		created = p.now()
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	// Without the lock, two concurrent rotations would each retire only
	// the keys their snapshot saw and leave two current keys. This mode
	// conflicts with itself and with writers, not with readers.
	if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return p.err(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL`,
		pgTime(created)); err != nil {
		return p.err(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, private_key,
		public_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Algorithm, blob(k.PrivateKey), blob(k.PublicJWK),
		pgTime(created), pgTime(k.RetiredAt)); err != nil {
		return p.err(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return p.err(ctx, op, err)
	}
	k.CreatedAt = created
	return nil
}

func (p *pgDB) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	const op = "list signing keys"
	rows, err := p.pool.Query(ctx, `SELECT id, algorithm, private_key, public_jwk,
		created_at, retired_at FROM signing_keys ORDER BY created_at DESC NULLS LAST, seq DESC`)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var ks []*store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created, retired pgtype.Timestamptz
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicJWK, &created, &retired); err != nil {
			return nil, p.err(ctx, op, err)
		}
		k.PrivateKey = nilIfEmpty(k.PrivateKey)
		k.PublicJWK = nilIfEmpty(k.PublicJWK)
		k.CreatedAt = fromPGTime(created)
		k.RetiredAt = fromPGTime(retired)
		ks = append(ks, &k)
	}
	return ks, p.err(ctx, op, rows.Err())
}

func (p *pgDB) DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM signing_keys
		WHERE retired_at IS NOT NULL AND retired_at < $1`, t)
	return p.err(ctx, "delete retired signing keys", err)
}

func (p *pgDB) RevokeToken(ctx context.Context, t *store.RevokedToken) error {
	revoked := t.RevokedAt
	if revoked.IsZero() {
		revoked = p.now()
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO revoked_tokens (id, client_id, expires_at, revoked_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
		t.ID, t.ClientID, pgTime(t.ExpiresAt), revoked)
	if err != nil {
		return p.err(ctx, "revoke token", err)
	}
	t.RevokedAt = revoked
	return nil
}

func (p *pgDB) ListRevokedTokensSince(ctx context.Context, since time.Time) ([]*store.RevokedToken, error) {
	const op = "list revoked tokens"
	rows, err := p.pool.Query(ctx, `SELECT id, client_id, expires_at, revoked_at
		FROM revoked_tokens WHERE revoked_at >= $1 ORDER BY revoked_at, id`, since)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var ts []*store.RevokedToken
	for rows.Next() {
		var t store.RevokedToken
		var expires, revoked pgtype.Timestamptz
		if err := rows.Scan(&t.ID, &t.ClientID, &expires, &revoked); err != nil {
			return nil, p.err(ctx, op, err)
		}
		t.ExpiresAt = fromPGTime(expires)
		t.RevokedAt = fromPGTime(revoked)
		ts = append(ts, &t)
	}
	return ts, p.err(ctx, op, rows.Err())
}

func (p *pgDB) UseAssertionID(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	// A conflicting insert waits for the first one's transaction, then
	// sees its row: ON CONFLICT makes this one statement race-free.
	tag, err := p.pool.Exec(ctx, `INSERT INTO assertion_ids (client_id, jti, expires_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE assertion_ids.expires_at <= $4`,
		clientID, jti, pgTime(expiresAt), p.now())
	if err != nil {
		return p.err(ctx, "use assertion id", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("sqlstore: use assertion id %q for client %q: %w", jti, clientID, store.ErrConflict)
	}
	return nil
}

func (p *pgDB) DeleteExpired(ctx context.Context, now time.Time) error {
	// One statement, so one transaction and one round trip.
	_, err := p.pool.Exec(ctx, `WITH revoked AS (
			DELETE FROM revoked_tokens WHERE expires_at < $1
		), keys AS (
			DELETE FROM idempotency_keys WHERE expires_at < $1
		)
		DELETE FROM assertion_ids WHERE expires_at < $1`, now)
	return p.err(ctx, "delete expired", err)
}

func (p *pgDB) BeginIdempotent(ctx context.Context, r *store.IdempotencyRecord) (*store.IdempotencyRecord, error) {
	const op = "begin idempotency key"
	if r.CreatedAt.IsZero() {
		r.CreatedAt = p.now()
	}
	// A conflicting insert waits for the first one's transaction, then
	// sees its row: of concurrent begins exactly one inserts.
	tag, err := p.pool.Exec(ctx, `INSERT INTO idempotency_keys (key, fingerprint, status, header, body, created_at, expires_at)
		VALUES ($1, $2, 0, NULL, NULL, $3, $4)
		ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, status = 0, header = NULL, body = NULL,
			created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE idempotency_keys.expires_at <= $5 OR (idempotency_keys.status = 0 AND idempotency_keys.created_at < $6)`,
		r.Key, r.Fingerprint, pgTime(r.CreatedAt), pgTime(r.ExpiresAt), p.now(), r.AbandonedBefore)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	if tag.RowsAffected() == 1 {
		return nil, nil
	}
	var old store.IdempotencyRecord
	var created, expires pgtype.Timestamptz
	err = p.pool.QueryRow(ctx, `SELECT key, fingerprint, status, header, body, created_at, expires_at
		FROM idempotency_keys WHERE key = $1`, r.Key).
		Scan(&old.Key, &old.Fingerprint, &old.Status, &old.Header, &old.Body, &created, &expires)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	old.CreatedAt, old.ExpiresAt = fromPGTime(created), fromPGTime(expires)
	return &old, fmt.Errorf("sqlstore: %s %q: %w", op, r.Key, store.ErrConflict)
}

func (p *pgDB) FinishIdempotent(ctx context.Context, key string, status int, header, body []byte) error {
	const op = "finish idempotency key"
	tag, err := p.pool.Exec(ctx, `UPDATE idempotency_keys SET status = $1, header = $2, body = $3 WHERE key = $4`,
		status, blob(header), blob(body), key)
	if err != nil {
		return p.err(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("sqlstore: %s %q: %w", op, key, store.ErrNotFound)
	}
	return nil
}

func (p *pgDB) ReleaseIdempotent(ctx context.Context, key string) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE key = $1 AND status = 0`, key)
	return p.err(ctx, "release idempotency key", err)
}

// pgUniqueViolation reports whether err is a failed unique or primary key
// constraint.
func pgUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// pgMissingParent explains err if it is a foreign key violation writing
// grant key (a code, token or CIBA request) by the constraint's name (see
// 0004_users_grants.sql), and returns nil otherwise.
func pgMissingParent(op, key, clientID, userID string, err error) error {
	switch name := pgForeignKeyViolation(err); {
	case name == "":
		return nil
	case strings.HasSuffix(name, "_client_fk"):
		return missingReference(op, key, "client", clientID)
	case strings.HasSuffix(name, "_user_fk"):
		return missingReference(op, key, "user", userID)
	default:
		return fmt.Errorf("sqlstore: %s %q: %w: %w", op, key, store.ErrNotFound, err)
	}
}

const pgSelectUser = `SELECT id, username, phone_number, password_hash,
	created_at, updated_at FROM users`

// pgScanUser reads one pgSelectUser row.
func pgScanUser(row pgx.Row) (*store.User, error) {
	var u store.User
	var phone pgtype.Text
	var created, updated pgtype.Timestamptz
	if err := row.Scan(&u.ID, &u.Username, &phone, &u.PasswordHash, &created, &updated); err != nil {
		return nil, err
	}
	u.PhoneNumber = phone.String
	u.CreatedAt = fromPGTime(created)
	u.UpdatedAt = fromPGTime(updated)
	return &u, nil
}

func (p *pgDB) CreateUser(ctx context.Context, u *store.User) error {
	const op = "create user"
	uu := *u
	if uu.CreatedAt.IsZero() {
		uu.CreatedAt = p.now()
	}
	if uu.UpdatedAt.IsZero() {
		uu.UpdatedAt = uu.CreatedAt
	}
	if _, err := p.pool.Exec(ctx, `INSERT INTO users (id, username, phone_number,
		password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		uu.ID, uu.Username, nullString(uu.PhoneNumber), uu.PasswordHash,
		pgTime(uu.CreatedAt), pgTime(uu.UpdatedAt)); err != nil {
		return p.err(ctx, op, err)
	}
	u.CreatedAt, u.UpdatedAt = uu.CreatedAt, uu.UpdatedAt
	return nil
}

// getUser returns the user whose column (a unique one) is value; by
// describes the lookup in errors.
func (p *pgDB) getUser(ctx context.Context, column, by, value string) (*store.User, error) {
	u, err := pgScanUser(p.pool.QueryRow(ctx, pgSelectUser+` WHERE `+column+` = $1`, value))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get user%s %q: %w", by, value, store.ErrNotFound)
		}
		return nil, p.err(ctx, "get user"+by, err)
	}
	return u, nil
}

func (p *pgDB) GetUser(ctx context.Context, id string) (*store.User, error) {
	return p.getUser(ctx, "id", "", id)
}

func (p *pgDB) GetUserByUsername(ctx context.Context, username string) (*store.User, error) {
	return p.getUser(ctx, "username", " by username", username)
}

func (p *pgDB) GetUserByPhone(ctx context.Context, phone string) (*store.User, error) {
	// An empty phone is stored as NULL, which equals nothing.
	return p.getUser(ctx, "phone_number", " by phone number", phone)
}

func (p *pgDB) ListUsers(ctx context.Context) ([]*store.User, error) {
	const op = "list users"
	// username is COLLATE "C" (0004_users_grants.sql): byte order.
	rows, err := p.pool.Query(ctx, pgSelectUser+` ORDER BY username`)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var us []*store.User
	for rows.Next() {
		u, err := pgScanUser(rows)
		if err != nil {
			return nil, p.err(ctx, op, err)
		}
		us = append(us, u)
	}
	return us, p.err(ctx, op, rows.Err())
}

func (p *pgDB) DeleteUser(ctx context.Context, id string) error {
	// One statement: the foreign keys delete the user's grants with it.
	tag, err := p.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return p.err(ctx, "delete user", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("sqlstore: delete user %q: %w", id, store.ErrNotFound)
	}
	return nil
}

const pgAuthCodeColumns = `hash, client_id, user_id, redirect_uri, scopes, nonce,
	code_challenge, code_challenge_method, auth_time, expires_at, used_at, grant_id,
	created_at`

// pgScanAuthCode reads one row of pgAuthCodeColumns.
func pgScanAuthCode(row pgx.Row) (*store.AuthCode, error) {
	var c store.AuthCode
	var scopes string
	var authTime, expires, used, created pgtype.Timestamptz
	if err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &scopes,
		&c.Nonce, &c.CodeChallenge, &c.CodeChallengeMethod, &authTime, &expires, &used,
		&c.GrantID, &created); err != nil {
		return nil, err
	}
	var err error
	if c.Scopes, err = decodeList(scopes); err != nil {
		return nil, err
	}
	c.AuthTime = fromPGTime(authTime)
	c.ExpiresAt = fromPGTime(expires)
	c.UsedAt = fromPGTime(used)
	c.CreatedAt = fromPGTime(created)
	return &c, nil
}

func (p *pgDB) CreateAuthCode(ctx context.Context, c *store.AuthCode) error {
	const op = "create auth code"
	created := c.CreatedAt
	if created.IsZero() {
		created = p.now()
	}
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return err
	}
	if _, err := p.pool.Exec(ctx, `INSERT INTO auth_codes (`+pgAuthCodeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, scopes, c.Nonce, c.CodeChallenge,
		c.CodeChallengeMethod, pgTime(c.AuthTime), pgTime(c.ExpiresAt), pgTime(c.UsedAt),
		c.GrantID, pgTime(created)); err != nil {
		if err := pgMissingParent(op, c.Hash, c.ClientID, c.UserID, err); err != nil {
			return err
		}
		return p.err(ctx, op, err)
	}
	c.CreatedAt = created
	return nil
}

// pgRedeemAuthCode marks an unused code used. Under READ COMMITTED a
// concurrent redemption of the same code waits for this one's row lock,
// then re-checks used_at IS NULL against the committed row and updates
// nothing: one statement, one round trip, exactly one winner.
const pgRedeemAuthCode = `UPDATE auth_codes SET used_at = $2
	WHERE hash = $1 AND used_at IS NULL RETURNING ` + pgAuthCodeColumns

func (p *pgDB) RedeemAuthCode(ctx context.Context, hash string, now time.Time) (*store.AuthCode, error) {
	const op = "redeem auth code"
	now = truncate(now, pgPrecision)
	c, err := pgScanAuthCode(p.pool.QueryRow(ctx, pgRedeemAuthCode, hash, pgTime(now)))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, p.err(ctx, op, err)
	}
	// Nothing redeemed: the code is unknown or was used, perhaps by the
	// redemption this one waited for. Used codes never become unused, so
	// the committed row tells which.
	c, err = pgScanAuthCode(p.pool.QueryRow(ctx, `SELECT `+pgAuthCodeColumns+` FROM auth_codes WHERE hash = $1`, hash))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("sqlstore: redeem auth code %q: %w", hash, store.ErrNotFound)
	case err != nil:
		return nil, p.err(ctx, op, err)
	case c.UsedAt.IsZero(): // created between the two statements
		return nil, fmt.Errorf("sqlstore: redeem auth code %q: created concurrently, try again", hash)
	}
	return c, errCodeUsed(hash, c.UsedAt)
}

const pgRefreshTokenColumns = `hash, family_id, client_id, user_id, scopes, auth_time,
	expires_at, rotated_at, revoked_at, created_at`

// pgScanRefreshToken reads one row of pgRefreshTokenColumns.
func pgScanRefreshToken(row pgx.Row) (*store.RefreshToken, error) {
	var t store.RefreshToken
	var scopes string
	var authTime, expires, rotated, revoked, created pgtype.Timestamptz
	if err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &scopes,
		&authTime, &expires, &rotated, &revoked, &created); err != nil {
		return nil, err
	}
	var err error
	if t.Scopes, err = decodeList(scopes); err != nil {
		return nil, err
	}
	t.AuthTime = fromPGTime(authTime)
	t.ExpiresAt = fromPGTime(expires)
	t.RotatedAt = fromPGTime(rotated)
	t.RevokedAt = fromPGTime(revoked)
	t.CreatedAt = fromPGTime(created)
	return &t, nil
}

// pgRefreshTokenArgs returns t's columns after family_id, in
// pgRefreshTokenColumns order.
func pgRefreshTokenArgs(t *store.RefreshToken) ([]any, error) {
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return nil, err
	}
	return []any{t.ClientID, t.UserID, scopes, pgTime(t.AuthTime), pgTime(t.ExpiresAt),
		pgTime(t.RotatedAt), pgTime(t.RevokedAt), pgTime(t.CreatedAt)}, nil
}

func (p *pgDB) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	const op = "create refresh token"
	tt := *t
	if tt.CreatedAt.IsZero() {
		tt.CreatedAt = p.now()
	}
	args, err := pgRefreshTokenArgs(&tt)
	if err != nil {
		return err
	}
	if _, err := p.pool.Exec(ctx, `INSERT INTO refresh_tokens (`+pgRefreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		append([]any{tt.Hash, tt.FamilyID}, args...)...); err != nil {
		if err := pgMissingParent(op, tt.Hash, tt.ClientID, tt.UserID, err); err != nil {
			return err
		}
		return p.err(ctx, op, err)
	}
	t.CreatedAt = tt.CreatedAt
	return nil
}

// pgRotateRefreshToken marks a usable token of family $3 rotated and
// inserts its successor, in one statement and so one transaction and one
// round trip. The INSERT reads the UPDATE's result, so it adds a row
// exactly when the UPDATE changed one. Under READ COMMITTED a concurrent
// rotation or revocation of the same token waits for this one's row lock,
// then re-checks the WHERE clause against the committed row and updates
// nothing. Rotations of distinct tokens share no row and never wait for
// each other.
const pgRotateRefreshToken = `WITH old AS (
		UPDATE refresh_tokens SET rotated_at = $2
		WHERE hash = $1 AND family_id = $3 AND rotated_at IS NULL AND revoked_at IS NULL
		RETURNING ` + pgRefreshTokenColumns + `
	), successor AS (
		INSERT INTO refresh_tokens (` + pgRefreshTokenColumns + `)
		SELECT $4::text, $3::text, $5::text, $6::text, $7::text, $8::timestamptz,
			$9::timestamptz, $10::timestamptz, $11::timestamptz, $12::timestamptz
		FROM old
	)
	SELECT ` + pgRefreshTokenColumns + ` FROM old`

func (p *pgDB) RotateRefreshToken(ctx context.Context, hash string, now time.Time, next *store.RefreshToken) (*store.RefreshToken, error) {
	const op = "rotate refresh token"
	now = truncate(now, pgPrecision)
	nt := *next
	if nt.CreatedAt.IsZero() {
		nt.CreatedAt = now
	}
	args, err := pgRefreshTokenArgs(&nt)
	if err != nil {
		return nil, err
	}
	t, err := pgScanRefreshToken(p.pool.QueryRow(ctx, pgRotateRefreshToken,
		append([]any{hash, pgTime(now), nt.FamilyID, nt.Hash}, args...)...))
	if err == nil {
		next.CreatedAt = nt.CreatedAt
		return t, nil
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case pgUniqueViolation(err):
		return nil, errNextHashTaken(hash, err)
	default:
		if err := pgMissingParent(op, hash, nt.ClientID, nt.UserID, err); err != nil {
			return nil, err
		}
		return nil, p.err(ctx, op, err)
	}
	// Nothing rotated: the token is unknown, spent (perhaps by the
	// rotation this one waited for) or of another family. Spent tokens
	// never become usable again, so the committed row tells which.
	t, err = p.GetRefreshToken(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("sqlstore: rotate refresh token %q: %w", hash, store.ErrNotFound)
	case err != nil:
		return nil, err
	case !t.RotatedAt.IsZero() || !t.RevokedAt.IsZero():
		return t, errTokenSpent(t)
	case t.FamilyID != nt.FamilyID:
		return nil, errFamilyMismatch(t, &nt)
	}
	// Created between the two statements.
	return nil, fmt.Errorf("sqlstore: rotate refresh token %q: created concurrently, try again", hash)
}

func (p *pgDB) GetRefreshToken(ctx context.Context, hash string) (*store.RefreshToken, error) {
	t, err := pgScanRefreshToken(p.pool.QueryRow(ctx, `SELECT `+pgRefreshTokenColumns+`
		FROM refresh_tokens WHERE hash = $1`, hash))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get refresh token %q: %w", hash, store.ErrNotFound)
		}
		return nil, p.err(ctx, "get refresh token", err)
	}
	return t, nil
}

func (p *pgDB) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error {
	const op = "revoke refresh family"
	now = truncate(now, pgPrecision)
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	// A statement that waits for a concurrent rotation's row lock revokes
	// the rotated row once the rotation commits, but its snapshot predates
	// the successor the rotation inserted. Each statement of a READ
	// COMMITTED transaction takes a new snapshot, so repeating until one
	// revokes nothing catches every successor. The rows revoked stay
	// locked until commit, so no rotation of them can succeed meanwhile.
	for {
		tag, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2
			WHERE family_id = $1 AND revoked_at IS NULL`, familyID, pgTime(now))
		if err != nil {
			return p.err(ctx, op, err)
		}
		if tag.RowsAffected() == 0 {
			break
		}
	}
	return p.err(ctx, op, tx.Commit(ctx))
}

const pgSelectCIBARequest = `SELECT id, client_id, user_id, scopes, binding_message,
	status, interval, last_poll_at, auth_time, expires_at, created_at, updated_at
	FROM ciba_requests`

// pgScanCIBARequest reads one pgSelectCIBARequest row.
func pgScanCIBARequest(row pgx.Row) (*store.CIBARequest, error) {
	var r store.CIBARequest
	var scopes string
	var interval int64
	var lastPoll, authTime, expires, created, updated pgtype.Timestamptz
	if err := row.Scan(&r.ID, &r.ClientID, &r.UserID, &scopes, &r.BindingMessage,
		&r.Status, &interval, &lastPoll, &authTime, &expires, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if r.Scopes, err = decodeList(scopes); err != nil {
		return nil, err
	}
	r.Interval = int(interval)
	r.LastPollAt = fromPGTime(lastPoll)
	r.AuthTime = fromPGTime(authTime)
	r.ExpiresAt = fromPGTime(expires)
	r.CreatedAt = fromPGTime(created)
	r.UpdatedAt = fromPGTime(updated)
	return &r, nil
}

// pgCIBAArgs returns r's columns after user_id, in pgSelectCIBARequest
// order.
func pgCIBAArgs(r *store.CIBARequest) ([]any, error) {
	scopes, err := encodeList(r.Scopes)
	if err != nil {
		return nil, err
	}
	return []any{scopes, r.BindingMessage, r.Status, int64(r.Interval), pgTime(r.LastPollAt),
		pgTime(r.AuthTime), pgTime(r.ExpiresAt), pgTime(r.CreatedAt), pgTime(r.UpdatedAt)}, nil
}

func (p *pgDB) CreateCIBARequest(ctx context.Context, r *store.CIBARequest) error {
	const op = "create CIBA request"
	rr := *r
	if rr.CreatedAt.IsZero() {
		rr.CreatedAt = p.now()
	}
	if rr.UpdatedAt.IsZero() {
		rr.UpdatedAt = rr.CreatedAt
	}
	args, err := pgCIBAArgs(&rr)
	if err != nil {
		return err
	}
	if _, err := p.pool.Exec(ctx, `INSERT INTO ciba_requests (id, client_id, user_id,
		scopes, binding_message, status, interval, last_poll_at, auth_time, expires_at,
		created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		append([]any{rr.ID, rr.ClientID, rr.UserID}, args...)...); err != nil {
		if err := pgMissingParent(op, rr.ID, rr.ClientID, rr.UserID, err); err != nil {
			return err
		}
		return p.err(ctx, op, err)
	}
	r.CreatedAt, r.UpdatedAt = rr.CreatedAt, rr.UpdatedAt
	return nil
}

func (p *pgDB) GetCIBARequest(ctx context.Context, id string) (*store.CIBARequest, error) {
	r, err := pgScanCIBARequest(p.pool.QueryRow(ctx, pgSelectCIBARequest+` WHERE id = $1`, id))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: get CIBA request %q: %w", id, store.ErrNotFound)
		}
		return nil, p.err(ctx, "get CIBA request", err)
	}
	return r, nil
}

func (p *pgDB) UpdateCIBARequest(ctx context.Context, id string, update func(r *store.CIBARequest) error) (*store.CIBARequest, error) {
	const op = "update CIBA request"
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer tx.Rollback(ctx)
	// FOR UPDATE holds the row until commit: a concurrent update waits
	// here and then reads this one's result.
	r, err := pgScanCIBARequest(tx.QueryRow(ctx, pgSelectCIBARequest+` WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: update CIBA request %q: %w", id, store.ErrNotFound)
		}
		return nil, p.err(ctx, op, err)
	}
	old := *r
	if err := update(r); err != nil {
		return nil, err
	}
	if err := checkCIBAKeys(op, id, &old, r); err != nil {
		return nil, err
	}
	r.UpdatedAt = p.now()
	normalizeCIBARequest(r, pgPrecision)
	args, err := pgCIBAArgs(r)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE ciba_requests SET scopes = $1,
		binding_message = $2, status = $3, interval = $4, last_poll_at = $5,
		auth_time = $6, expires_at = $7, created_at = $8, updated_at = $9 WHERE id = $10`,
		append(args, id)...); err != nil {
		return nil, p.err(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, p.err(ctx, op, err)
	}
	return r, nil
}

func (p *pgDB) ListPendingCIBARequests(ctx context.Context, userID string) ([]*store.CIBARequest, error) {
	const op = "list pending CIBA requests"
	// NULLS FIRST as in SQLite; id is COLLATE "C": byte order.
	rows, err := p.pool.Query(ctx, pgSelectCIBARequest+` WHERE user_id = $1 AND status = $2
		ORDER BY created_at NULLS FIRST, id`, userID, store.CIBAPending)
	if err != nil {
		return nil, p.err(ctx, op, err)
	}
	defer rows.Close()
	var rs []*store.CIBARequest
	for rows.Next() {
		r, err := pgScanCIBARequest(rows)
		if err != nil {
			return nil, p.err(ctx, op, err)
		}
		rs = append(rs, r)
	}
	return rs, p.err(ctx, op, rows.Err())
}

func (p *pgDB) DeleteExpiredGrants(ctx context.Context, now time.Time) error {
	// One statement, so one transaction and one round trip. Stored times
	// are whole microseconds: before ceil(now) is before now.
	_, err := p.pool.Exec(ctx, `WITH codes AS (
			DELETE FROM auth_codes WHERE expires_at < $1
		), tokens AS (
			DELETE FROM refresh_tokens WHERE expires_at < $1
		)
		DELETE FROM ciba_requests WHERE expires_at < $1`, ceil(now, pgPrecision))
	return p.err(ctx, "delete expired grants", err)
}

func (p *pgDB) Ping(ctx context.Context) error {
	if err := p.pool.Ping(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

func (p *pgDB) Close() error {
	p.pool.Close()
	return nil
}
