package sqlstore

import (
	"context"
	"database/sql"
	"errors"
)

// stmtCache holds statements prepared once per database handle, at open:
// every hot statement of the SQLite backend goes through it. SQLite parses
// a statement's text on every call otherwise, which measured 12 % of the
// authorization-code flow's CPU (bench/flows). database/sql
// keeps one prepared statement per connection behind each *sql.Stmt.
//
// Statements are prepared up front, not on first use: the writer has one
// connection, which a transaction holds, so preparing inside one would wait
// for itself. A query that was not prepared runs unprepared.
type stmtCache struct {
	db *sql.DB
	m  map[string]*sql.Stmt // written only before the store is used
}

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

// prepare prepares queries; call it before the store is shared.
func (c *stmtCache) prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		c.m[q] = st
	}
	return nil
}

func (c *stmtCache) close() error {
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// txExec runs query in tx, through the writer's prepared statement when
// there is one.
func (l *liteDB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := l.wStmts.m[query]; ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQueryRow runs query in tx, through the writer's prepared statement
// when there is one.
func (l *liteDB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st, ok := l.wStmts.m[query]; ok {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// writeExec runs query on the writer, outside a transaction, through its
// prepared statement when there is one.
func (l *liteDB) writeExec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st, ok := l.wStmts.m[query]; ok {
		return st.ExecContext(ctx, args...)
	}
	return l.w.ExecContext(ctx, query, args...)
}

// readRow runs query on the readers, through a prepared statement when
// there is one.
func (l *liteDB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := l.rStmts.m[query]; ok {
		return st.QueryRowContext(ctx, args...)
	}
	return l.r.QueryRowContext(ctx, query, args...)
}
