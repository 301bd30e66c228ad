package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"gatehouse/internal/store"
)

const selectUser = `SELECT id, username, phone_number, password_hash, created_at, updated_at FROM users`

// selectUserBy is the user query by one unique column.
func selectUserBy(column string) string { return selectUser + ` WHERE ` + column + ` = ?` }

func scanUser(row scanner) (*store.User, error) {
	u := new(store.User)
	var phone sql.NullString
	if err := row.Scan(&u.ID, &u.Username, &phone, &u.PasswordHash,
		(*tm)(&u.CreatedAt), (*tm)(&u.UpdatedAt)); err != nil {
		return nil, err
	}
	u.PhoneNumber = phone.String
	return u, nil
}

func (db *DB) CreateUser(ctx context.Context, u *store.User) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		if u.ID == "" || u.Username == "" {
			return fmt.Errorf("sqlstore: create user: empty ID or username (%q, %q)", u.ID, u.Username)
		}
		uu := *u
		db.stamp(&uu.CreatedAt, &uu.UpdatedAt)
		if _, err := db.exec(ctx, nil, `INSERT INTO users (id, username, phone_number,
			password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			uu.ID, uu.Username, orNull(uu.PhoneNumber), uu.PasswordHash,
			db.t(uu.CreatedAt), db.t(uu.UpdatedAt)); err != nil {
			return db.err(ctx, "create user", err)
		}
		u.CreatedAt, u.UpdatedAt = uu.CreatedAt, uu.UpdatedAt
		return nil
	})
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
	return db.run(ctx, true, func(ctx context.Context) error {
		// One statement: the foreign keys delete the user's grants with it.
		n, err := db.count(ctx, nil, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return db.err(ctx, "delete user", err)
		}
		if n == 0 {
			return fmt.Errorf("sqlstore: delete user %q: %w", id, store.ErrNotFound)
		}
		return nil
	})
}
