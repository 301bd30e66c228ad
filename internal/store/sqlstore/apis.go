package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"gatehouse/internal/store"
)

const (
	apiColumns = `name, title, version, base_path, upstream_url, status,
	error_media_type, max_body_bytes, upstream_options, document, created_at, updated_at`
	selectAPI = `SELECT ` + apiColumns + ` FROM apis`
)

func scanAPI(row scanner) (*store.API, error) {
	a := new(store.API)
	var upstream string
	if err := row.Scan(&a.Name, &a.Title, &a.Version, &a.BasePath, &a.UpstreamURL, &a.Status,
		&a.ErrorMediaType, &a.MaxBodyBytes, &upstream, &a.Document,
		(*tm)(&a.CreatedAt), (*tm)(&a.UpdatedAt)); err != nil {
		return nil, err
	}
	if upstream != "" {
		if err := json.Unmarshal([]byte(upstream), &a.Upstream); err != nil {
			return nil, fmt.Errorf("sqlstore: decode upstream options: %w", err)
		}
	}
	a.Document = nilIfEmpty(a.Document)
	return a, nil
}

// apiArgs returns a's columns in apiColumns order.
func (db *DB) apiArgs(a *store.API) []any {
	upstream, err := json.Marshal(a.Upstream)
	if err != nil {
		panic(fmt.Sprintf("sqlstore: encode upstream options: %v", err)) // plain strings, bools and bytes cannot fail
	}
	return []any{a.Name, a.Title, a.Version, a.BasePath, a.UpstreamURL, a.Status,
		a.ErrorMediaType, a.MaxBodyBytes, string(upstream), orNull(a.Document),
		db.t(a.CreatedAt), db.t(a.UpdatedAt)}
}

func (db *DB) CreateAPI(ctx context.Context, a *store.API) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		const op = "create API"
		aa := *a
		db.stamp(&aa.CreatedAt, &aa.UpdatedAt)
		err := db.insert(ctx, op, generationAPIs, aa.Name, `INSERT INTO apis (`+apiColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, db.apiArgs(&aa))
		if err == nil {
			a.CreatedAt, a.UpdatedAt = aa.CreatedAt, aa.UpdatedAt
		}
		return err
	})
}

func (db *DB) GetAPI(ctx context.Context, name string) (*store.API, error) {
	return get(db, ctx, "get API", scanAPI, selectAPI+` WHERE name = ?`, name)
}

func (db *DB) ListAPIs(ctx context.Context) ([]*store.API, error) {
	return list(db, ctx, "list APIs", scanAPI, selectAPI+` ORDER BY name`)
}

func (db *DB) UpdateAPI(ctx context.Context, name string, change func(a *store.API) error) (*store.API, error) {
	const op = "update API"
	return update(db, ctx, op, name, "name", func(a *store.API) []string { return []string{a.Name} },
		scanAPI, selectAPI+` WHERE name = ?`, change,
		func(ctx context.Context, tx *sql.Tx, a *store.API) error {
			a.UpdatedAt = db.now()
			if _, err := db.exec(ctx, tx, `UPDATE apis SET title = ?, version = ?,
				base_path = ?, upstream_url = ?, status = ?, error_media_type = ?,
				max_body_bytes = ?, upstream_options = ?, document = ?, created_at = ?, updated_at = ?
				WHERE name = ?`, append(db.apiArgs(a)[1:], name)...); err != nil {
				return db.err(ctx, op, err)
			}
			return db.bumpGeneration(ctx, op, tx, generationAPIs)
		})
}

func (db *DB) DeleteAPI(ctx context.Context, name string) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		return db.deleteWithSubscriptions(ctx, "delete API", "apis", "name", "api_name", name)
	})
}

func (db *DB) APIsGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, generationAPIs)
}
