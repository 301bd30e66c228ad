package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

const (
	incidentColumns = `id, api_name, title, impact, status, updates, created_at, updated_at, resolved_at`
	selectIncident  = `SELECT ` + incidentColumns + ` FROM incidents`
)

var incidentTable = newTable(table[store.Incident]{
	name: "incidents", ids: 1, what: "ID", columns: incidentColumns,
	get: selectIncident + ` WHERE id = ?`, scan: scanIncident, args: (*DB).incidentArgs,
	stamps: func(in *store.Incident) (_, _ *time.Time) { return &in.CreatedAt, &in.UpdatedAt },
	check: func(in *store.Incident) error {
		if in.ID == "" {
			return errors.New("sqlstore: create incident: empty ID")
		}
		return nil
	},
})

func scanIncident(row scanner) (*store.Incident, error) {
	in := new(store.Incident)
	var updates string
	if err := row.Scan(&in.ID, &in.APIName, &in.Title, &in.Impact, &in.Status, &updates,
		(*tm)(&in.CreatedAt), (*tm)(&in.UpdatedAt), (*tm)(&in.ResolvedAt)); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(updates), &in.Updates); err != nil {
		return nil, fmt.Errorf("sqlstore: decode incident updates: %w", err)
	}
	for i := range in.Updates {
		in.Updates[i].At = in.Updates[i].At.UTC()
	}
	return in, nil
}

func (db *DB) incidentArgs(in *store.Incident) []any {
	updates := in.Updates
	if updates == nil {
		updates = []store.IncidentUpdate{}
	}
	b, err := json.Marshal(updates)
	if err != nil {
		panic(fmt.Sprintf("sqlstore: encode incident updates: %v", err)) // times and strings cannot fail
	}
	return []any{in.ID, in.APIName, in.Title, in.Impact, in.Status, string(b),
		db.t(in.CreatedAt), db.t(in.UpdatedAt), db.t(in.ResolvedAt)}
}

func (db *DB) CreateIncident(ctx context.Context, in *store.Incident) error {
	return create(db, ctx, "create incident", incidentTable, in)
}

func (db *DB) GetIncident(ctx context.Context, id string) (*store.Incident, error) {
	return get(db, ctx, "get incident", scanIncident, incidentTable.get, id)
}

func (db *DB) UpdateIncident(ctx context.Context, id string, change func(*store.Incident) error) (*store.Incident, error) {
	return update(db, ctx, "update incident", incidentTable, id, change)
}

func (db *DB) ListIncidents(ctx context.Context, since time.Time) ([]*store.Incident, error) {
	return list(db, ctx, "list incidents", scanIncident,
		selectIncident+` WHERE resolved_at IS NULL OR resolved_at >= ? ORDER BY created_at DESC, id DESC`, db.ceil(since))
}
