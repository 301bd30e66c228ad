package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

const (
	userColumns = `id, username, phone_number, password_hash, created_at, updated_at`
	selectUser  = `SELECT ` + userColumns + ` FROM users`
)

// selectUserBy is the user query by one unique column.
func selectUserBy(column string) string { return selectUser + ` WHERE ` + column + ` = ?` }

var userTable = newTable(table[store.User]{
	name: "users", ids: 1, columns: userColumns, get: selectUserBy("id"), scan: scanUser,
	args: func(db *DB, u *store.User) []any {
		return []any{u.ID, u.Username, orNull(u.PhoneNumber), u.PasswordHash, db.t(u.CreatedAt), db.t(u.UpdatedAt)}
	},
	stamps: func(u *store.User) (_, _ *time.Time) { return &u.CreatedAt, &u.UpdatedAt },
	check: func(u *store.User) error {
		if u.ID == "" || u.Username == "" {
			return fmt.Errorf("sqlstore: create user: empty ID or username (%q, %q)", u.ID, u.Username)
		}
		return nil
	},
})

func scanUser(row scanner) (*store.User, error) {
	u := new(store.User)
	var phone sql.NullString
	err := row.Scan(&u.ID, &u.Username, &phone, &u.PasswordHash, (*tm)(&u.CreatedAt), (*tm)(&u.UpdatedAt))
	u.PhoneNumber = phone.String
	return u, err
}

func (db *DB) CreateUser(ctx context.Context, u *store.User) error {
	return create(db, ctx, "create user", userTable, u)
}

// getUser returns the user whose column (a unique one) is value; by
// describes the lookup in errors.
func (db *DB) getUser(ctx context.Context, column, by, value string) (*store.User, error) {
	return get(db, ctx, "get user"+by, scanUser, selectUserBy(column), value)
}

func (db *DB) GetUser(ctx context.Context, id string) (*store.User, error) {
	return db.getUser(ctx, "id", "", id)
}

func (db *DB) GetUserByUsername(ctx context.Context, username string) (*store.User, error) {
	return db.getUser(ctx, "username", " by username", username)
}

func (db *DB) GetUserByPhone(ctx context.Context, phone string) (*store.User, error) {
	// An empty phone is stored as NULL, which equals nothing.
	return db.getUser(ctx, "phone_number", " by phone number", phone)
}

func (db *DB) ListUsers(ctx context.Context) ([]*store.User, error) {
	// username is COLLATE "C" in PostgreSQL (0004_users_grants.sql): byte order.
	return list(db, ctx, "list users", scanUser, selectUser+` ORDER BY username`)
}

func (db *DB) DeleteUser(ctx context.Context, id string) error {
	// One statement: the foreign keys delete the user's grants with it.
	return db.run(ctx, true, func(ctx context.Context) error {
		return db.one(ctx, nil, "delete user", id, `DELETE FROM users WHERE id = ?`, id)
	})
}
