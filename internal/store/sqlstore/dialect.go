package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// dialect is what differs between the databases, and only that; the
// values are sqliteDialect (sqlite.go) and postgresDialect (postgres.go).
type dialect struct {
	name      string        // the folder of its migrations
	precision time.Duration // of stored times
	bind      int           // sqlx bind type of its placeholders
	prepare   bool          // whether the hot statements need stmtCache
	// time encodes a non-zero time as the database stores it.
	time func(t time.Time) any
	// forUpdate ends a query that reads a row to update it in the same
	// transaction, holding its lock ("" where the transaction holds the
	// database's).
	forUpdate string
	// greatest is the function of two arguments that returns the larger.
	greatest string
	// lockKeys, if not empty, runs first in a key rotation's transaction,
	// so that concurrent rotations leave one current key.
	lockKeys string
	// namesConstraints says whether foreignKey returns the violated
	// constraint's name (else it returns "").
	namesConstraints bool
	// classify wraps err, returned during op, with the store's sentinel
	// it means; ok is false for errors it does not know.
	classify func(op string, err error) (_ error, ok bool)
	// foreignKey reports foreign key violations.
	foreignKey func(err error) (constraint string, ok bool)
	// rotate, if not empty, rotates a refresh token in one statement
	// (see RotateRefreshToken), and addUsage adds a batch of usage
	// records, one array per column, in one statement.
	rotate, addUsage string
	// hasMigrations asks whether table schema_migrations exists, and
	// createMigrations creates it.
	hasMigrations, createMigrations string
	// beforeMigrate, if not nil, runs first in the migration transaction.
	beforeMigrate func(ctx context.Context, tx *sql.Tx, schema string) error
}
