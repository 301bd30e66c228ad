package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

const (
	apiColumns = `name, title, version, base_path, upstream_url, status,
	error_media_type, max_body_bytes, upstream_options, lifecycle, document, created_at, updated_at`
	selectAPI = `SELECT ` + apiColumns + ` FROM apis`
)

// apiTable: a write to apis increments the apis generation.
var apiTable = newTable(table[store.API]{
	name: "apis", ids: 1, what: "name", gen: generationAPIs,
	columns: apiColumns, get: selectAPI + ` WHERE name = ?`, scan: scanAPI, args: (*DB).apiArgs,
	stamps: func(a *store.API) (_, _ *time.Time) { return &a.CreatedAt, &a.UpdatedAt },
})

func scanAPI(row scanner) (*store.API, error) {
	a := new(store.API)
	var upstream, lifecycle string
	if err := row.Scan(&a.Name, &a.Title, &a.Version, &a.BasePath, &a.UpstreamURL, &a.Status,
		&a.ErrorMediaType, &a.MaxBodyBytes, &upstream, &lifecycle, (*bytesCol)(&a.Document),
		(*tm)(&a.CreatedAt), (*tm)(&a.UpdatedAt)); err != nil {
		return nil, err
	}
	if upstream != "" {
		if err := json.Unmarshal([]byte(upstream), &a.Upstream); err != nil {
			return nil, fmt.Errorf("sqlstore: decode upstream options: %w", err)
		}
	}
	if lifecycle != "" {
		if err := json.Unmarshal([]byte(lifecycle), &a.Lifecycle); err != nil {
			return nil, fmt.Errorf("sqlstore: decode lifecycle: %w", err)
		}
		for _, t := range []*time.Time{&a.Lifecycle.DeprecatedAt, &a.Lifecycle.SunsetAt} {
			if !t.IsZero() {
				*t = t.UTC()
			}
		}
	}
	return a, nil
}

// apiArgs returns a's columns in apiColumns order.
func (db *DB) apiArgs(a *store.API) []any {
	upstream, err := json.Marshal(a.Upstream)
	if err != nil {
		panic(fmt.Sprintf("sqlstore: encode upstream options: %v", err)) // plain strings, bools and bytes cannot fail
	}
	l := a.Lifecycle
	for _, t := range []*time.Time{&l.DeprecatedAt, &l.SunsetAt} {
		if !t.IsZero() {
			*t = t.UTC().Truncate(time.Millisecond) // the store's precision
		}
	}
	lifecycle, err := json.Marshal(l)
	if err != nil {
		panic(fmt.Sprintf("sqlstore: encode lifecycle: %v", err)) // times and strings cannot fail
	}
	return []any{a.Name, a.Title, a.Version, a.BasePath, a.UpstreamURL, a.Status,
		a.ErrorMediaType, a.MaxBodyBytes, string(upstream), string(lifecycle), orNull(a.Document),
		db.t(a.CreatedAt), db.t(a.UpdatedAt)}
}

func (db *DB) CreateAPI(ctx context.Context, a *store.API) error {
	return create(db, ctx, "create API", apiTable, a)
}

func (db *DB) GetAPI(ctx context.Context, name string) (*store.API, error) {
	return get(db, ctx, "get API", scanAPI, apiTable.get, name)
}

func (db *DB) ListAPIs(ctx context.Context) ([]*store.API, error) {
	return list(db, ctx, "list APIs", scanAPI, selectAPI+` ORDER BY name`)
}

func (db *DB) UpdateAPI(ctx context.Context, name string, change func(a *store.API) error) (*store.API, error) {
	return update(db, ctx, "update API", apiTable, name, change)
}

func (db *DB) DeleteAPI(ctx context.Context, name string) error {
	return db.deleteCounting(ctx, "delete API", name, []string{`SELECT name FROM apis WHERE name = ?`},
		`api_name = ?`, `DELETE FROM apis WHERE name = ?`, generationAPIs)
}

func (db *DB) APIsGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, generationAPIs)
}

func (db *DB) ListAPIVersions(ctx context.Context, name string) ([]*store.APIVersion, error) {
	return list(db, ctx, "list API versions", func(row scanner) (*store.APIVersion, error) {
		v := new(store.APIVersion)
		return v, row.Scan(&v.APIName, &v.Version, &v.Title, (*bytesCol)(&v.Document), (*tm)(&v.CreatedAt))
	}, `SELECT api_name, version, title, document, created_at FROM api_versions WHERE api_name = ? ORDER BY id`, name)
}
