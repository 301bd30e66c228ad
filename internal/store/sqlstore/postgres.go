package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"gatehouse/internal/store"
)

// PostgreSQL connection handling.
//
// The URL keeps pgxpool's parameters, applied to database/sql's pool:
// its size (pool_max_conns; the default is max(4, GOMAXPROCS)
// connections, all kept idle) and lifetimes (pool_max_conn_lifetime,
// pool_max_conn_idle_time). pgx's default exec mode prepares each
// statement once per connection and caches it, so a lookup is one round
// trip in the binary protocol.
const pgConnectTimeout = 10 * time.Second // unless the URL sets connect_timeout

var postgresDialect = dialect{
	name:             "postgres",
	precision:        time.Microsecond,
	bind:             sqlx.DOLLAR,
	time:             func(t time.Time) any { return t },
	forUpdate:        ` FOR UPDATE`,
	greatest:         "GREATEST",
	namesConstraints: true,
	// Without the lock, two concurrent rotations would each retire only
	// the keys their snapshot saw and leave two current keys. This mode
	// conflicts with itself and with writers, not with readers.
	lockKeys: `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`,
	classify: pgClassify,
	foreignKey: func(err error) (string, bool) {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
			return pe.ConstraintName, true
		}
		return "", false
	},
	rotate:        pgRotateRefreshToken,
	addUsage:      pgAddUsage,
	hasMigrations: `SELECT to_regclass('schema_migrations') IS NOT NULL`,
	createMigrations: `CREATE TABLE schema_migrations (
		name       text PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`,
	beforeMigrate: pgBeforeMigrate,
}

// pgClassify: unique-constraint violations wrap store.ErrConflict;
// disk_full (53100) wraps store.ErrStorageFull and
// read_only_sql_transaction (25006: a standby,
// default_transaction_read_only) store.ErrReadOnly; failures to connect or
// to keep a connection, server shutdown or other lack of resources (53xxx)
// wrap store.ErrUnavailable.
func pgClassify(op string, err error) (error, bool) {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return unavailable(op, err), true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return wrap(op, store.ErrConflict, err), true
		case pe.Code == "53100": // disk_full
			return wrap(op, store.ErrStorageFull, err), true
		case pe.Code == "25006": // read_only_sql_transaction: a standby, default_transaction_read_only
			return wrap(op, store.ErrReadOnly, err), true
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient_resources, e.g. too_many_connections
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return unavailable(op, err), true
		}
		return fmt.Errorf("sqlstore: %s: %w", op, err), true
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.Timeout(err) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return unavailable(op, err), true
	}
	return nil, false
}

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
	if !schemaName.MatchString(schema) {
		return "", "", fmt.Errorf("sqlstore: PostgreSQL URL: schema %q: want 1 to 63 letters, digits and underscores, not starting with a digit", schema)
	}
	q.Del("schema")
	u.RawQuery = q.Encode()
	return u.String(), schema, nil
}

// schemaName is what a schema parameter may be: an unquoted identifier.
var schemaName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// openPostgres opens a pool of connections to PostgreSQL; it returns the
// schema named in the URL, if any.
func openPostgres(rawURL string) (_ *sql.DB, schema string, err error) {
	connURL, schema, err := pgSplitSchema(rawURL)
	if err != nil {
		return nil, "", err
	}
	cfg, err := pgxpool.ParseConfig(connURL) // its errors redact the password
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: PostgreSQL URL: %w", err)
	}
	if schema != "" {
		// Sent in the startup message, so it costs no round trip and holds
		// for every connection the pool ever opens.
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(cfg.MaxConnIdleTime)
	return db, schema, nil
}

// pgBeforeMigrate takes the advisory lock that serializes migrations of
// one schema across processes, then creates the schema if it is missing.
func pgBeforeMigrate(ctx context.Context, tx *sql.Tx, schema string) error {
	h := fnv.New64a()
	io.WriteString(h, "gatehouse/sqlstore/migrate:"+schema)
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
		return err
	}
	if schema == "" {
		return nil
	}
	// Look first, so that a role without CREATE on the database can use a
	// schema made for it.
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`,
		schema).Scan(&exists); err != nil || exists {
		return err
	}
	_, err := tx.ExecContext(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize())
	return err
}

// pgAddUsage adds a batch of records to their buckets in one statement,
// so a batch of any size is one round trip and one prepared statement.
// Rows are written in array order (ORDER BY the ordinality); AddUsage
// sorts them, so that concurrent batches lock shared buckets in the same
// order and cannot deadlock.
const pgAddUsage = `INSERT INTO usage AS u (client_id, api_name, hour, status,
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
		RETURNING ` + refreshTokenColumns + `
	), successor AS (
		INSERT INTO refresh_tokens (` + refreshTokenColumns + `)
		SELECT $4::text, $3::text, $5::text, $6::text, $7::text, $8::timestamptz,
			$9::timestamptz, $10::timestamptz, $11::timestamptz, $12::timestamptz
		FROM old
	)
	SELECT ` + refreshTokenColumns + ` FROM old`
