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
// for itself. A query that was not prepared runs unprepared. PostgreSQL
// needs no cache of ours: pgx prepares every statement once per connection
// and keeps it (its default exec mode), so the map stays empty there.
type stmtCache map[string]*sql.Stmt // written only before the store is used

// The hot statements: token verification and the gateway (clients,
// generations, subscriptions, users) read them, the token flows and the
// request log write them.
var (
	hotWrites = []string{useAssertion, authCodeTable.insert, redeemAuthCode, refreshTokenTable.insert,
		rotateRefreshToken, selectRefreshTokenByHash, insertRequestLogChunk}
	hotReads = []string{selectClientByID, selectGeneration, selectSubscriptionByApp,
		selectRefreshTokenByHash, selectUserBy("id"), selectUserBy("username"),
		selectUserBy("phone_number")}
)

// prepare fills the caches, where the dialect wants it; call it before
// the store is shared.
func (db *DB) prepare(ctx context.Context) error {
	if !db.d.prepare {
		return nil
	}
	db.wStmts, db.rStmts = stmtCache{}, stmtCache{}
	for c, p := range map[*stmtCache]struct {
		db *sql.DB
		qs []string
	}{&db.wStmts: {db.w, hotWrites}, &db.rStmts: {db.r, hotReads}} {
		for _, q := range p.qs {
			st, err := p.db.PrepareContext(ctx, q)
			if err != nil {
				return err
			}
			(*c)[q] = st
		}
	}
	return nil
}

// close closes the statements and leaves the map as it is: a call still
// under way when the store closes (a node's background reload) reads it
// concurrently, and gets database/sql's "statement is closed" error from
// a closed statement rather than a data race.
func (c stmtCache) close() error {
	var errs []error
	for _, st := range c {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}
