package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

const (
	webhookColumns  = `id, organization_id, url, secret_sealed, events, created_at, updated_at`
	selectWebhook   = `SELECT ` + webhookColumns + ` FROM webhooks`
	deliveryColumns = `id, webhook_id, organization_id, event_id, event_type, payload, status, attempts,
	next_attempt_at, last_status, last_error, created_at, updated_at`
	selectDelivery = `SELECT ` + deliveryColumns + ` FROM webhook_deliveries`
)

var webhookTable = newTable(table[store.Webhook]{
	name: "webhooks", ids: 1, what: "ID or organization", columns: webhookColumns,
	refs: []ref{refOrganization.at(1)}, get: selectWebhook + ` WHERE id = ?`, scan: scanWebhook,
	args: func(db *DB, w *store.Webhook) []any {
		events := w.Events
		if events == nil {
			events = []string{}
		}
		b, _ := json.Marshal(events) // strings cannot fail
		return []any{w.ID, w.OrganizationID, w.URL, w.SecretSealed, string(b), db.t(w.CreatedAt), db.t(w.UpdatedAt)}
	},
	stamps: func(w *store.Webhook) (_, _ *time.Time) { return &w.CreatedAt, &w.UpdatedAt },
	check: func(w *store.Webhook) error {
		if w.ID == "" || len(w.SecretSealed) == 0 {
			return errors.New("sqlstore: create webhook: empty ID or secret")
		}
		return nil
	},
})

func scanWebhook(row scanner) (*store.Webhook, error) {
	w := new(store.Webhook)
	var events string
	if err := row.Scan(&w.ID, &w.OrganizationID, &w.URL, (*bytesCol)(&w.SecretSealed), &events,
		(*tm)(&w.CreatedAt), (*tm)(&w.UpdatedAt)); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return nil, fmt.Errorf("sqlstore: decode webhook events: %w", err)
	}
	return w, nil
}

var deliveryTable = newTable(table[store.WebhookDelivery]{
	name: "webhook_deliveries", ids: 1, what: "ID or webhook", columns: deliveryColumns,
	refs: []ref{{what: "webhook", table: "webhooks", column: "id", fk: "webhook", arg: 1}},
	get:  selectDelivery + ` WHERE id = ?`, scan: scanDelivery,
	args: func(db *DB, d *store.WebhookDelivery) []any {
		return []any{d.ID, d.WebhookID, d.OrganizationID, d.EventID, d.EventType, d.Payload, d.Status, d.Attempts,
			db.t(d.NextAttemptAt), d.LastStatus, d.LastError, db.t(d.CreatedAt), db.t(d.UpdatedAt)}
	},
	stamps: func(d *store.WebhookDelivery) (_, _ *time.Time) { return &d.CreatedAt, &d.UpdatedAt },
})

func scanDelivery(row scanner) (*store.WebhookDelivery, error) {
	d := new(store.WebhookDelivery)
	return d, row.Scan(&d.ID, &d.WebhookID, &d.OrganizationID, &d.EventID, &d.EventType, (*bytesCol)(&d.Payload),
		&d.Status, &d.Attempts, (*tm)(&d.NextAttemptAt), &d.LastStatus, &d.LastError, (*tm)(&d.CreatedAt), (*tm)(&d.UpdatedAt))
}

func (db *DB) CreateWebhook(ctx context.Context, w *store.Webhook) error {
	return create(db, ctx, "create webhook", webhookTable, w)
}

func (db *DB) GetWebhook(ctx context.Context, id string) (*store.Webhook, error) {
	return get(db, ctx, "get webhook", scanWebhook, webhookTable.get, id)
}

func (db *DB) ListWebhooks(ctx context.Context, organizationID string) ([]*store.Webhook, error) {
	return list(db, ctx, "list webhooks", scanWebhook, selectWebhook+` WHERE organization_id = ? ORDER BY created_at, id`, organizationID)
}

func (db *DB) DeleteWebhook(ctx context.Context, id string) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		return db.one(ctx, nil, "delete webhook", id, `DELETE FROM webhooks WHERE id = ?`, id)
	})
}

func (db *DB) AddDeliveries(ctx context.Context, ds []*store.WebhookDelivery) error {
	return db.writeTx(ctx, "add deliveries", func(ctx context.Context, tx *sql.Tx) error {
		for _, d := range ds {
			if d.ID == "" {
				return errors.New("sqlstore: add deliveries: empty ID")
			}
			db.stamp(deliveryTable.stamps(d))
			if err := insert(db, ctx, tx, "add deliveries", deliveryTable, d); err != nil {
				return err
			}
		}
		return nil
	})
}

func (db *DB) ClaimDeliveries(ctx context.Context, now, lease time.Time, limit int) ([]*store.WebhookDelivery, error) {
	// The dispatcher asks every second: look on a reader first, so that
	// an idle one never takes the write lock (SQLite has one, which the
	// CLI and the other recorders share).
	due, err := list(db, ctx, "claim deliveries", func(row scanner) (id string, err error) {
		return id, row.Scan(&id)
	}, `SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1`, db.t(now))
	if err != nil || len(due) == 0 {
		return nil, err
	}
	var out []*store.WebhookDelivery
	err = db.writeTx(ctx, "claim deliveries", func(ctx context.Context, tx *sql.Tx) error {
		ds, err := readAll(db, ctx, tx, "claim deliveries", scanDelivery, selectDelivery+
			` WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`+db.d.forUpdate, db.t(now), limit)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := db.do(ctx, tx, "claim deliveries", `UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?`, db.t(lease), d.ID); err != nil {
				return err
			}
			d.NextAttemptAt = lease.UTC()
		}
		out = ds
		return nil
	})
	return out, err
}

func (db *DB) UpdateDelivery(ctx context.Context, id string, change func(*store.WebhookDelivery) error) (*store.WebhookDelivery, error) {
	return update(db, ctx, "update delivery", deliveryTable, id, change)
}

func (db *DB) ListDeliveries(ctx context.Context, organizationID string, limit int) ([]*store.WebhookDelivery, error) {
	return list(db, ctx, "list deliveries", scanDelivery,
		selectDelivery+` WHERE organization_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, organizationID, limit)
}
