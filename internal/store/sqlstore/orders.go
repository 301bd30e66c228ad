package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"gatehouse/internal/store"
)

const (
	orderColumns = `id, organization_id, app_id, developer_id, client_id, api_name,
	subscription_id, kind, from_plan, to_plan, price_label, status, created_at, updated_at`
	selectOrder = `SELECT ` + orderColumns + ` FROM orders`
	// selectPendingOrder finds a subscription's pending order, of which
	// there is at most one (index orders_pending).
	selectPendingOrder = selectOrder + ` WHERE subscription_id = ? AND status = '` + store.OrderPending + `'`
)

// orderTable is only ever inserted into: an order's status changes
// through PlaceOrder and supersedePending, and orders are never deleted.
// Its seq column, which orders them, is filled by the database.
var orderTable = newTable(table[store.Order]{
	name: "orders", ids: 1, what: "ID",
	columns: orderColumns, get: selectOrder + ` WHERE id = ?`, scan: scanOrder,
	args: func(db *DB, o *store.Order) []any {
		return []any{o.ID, o.OrganizationID, o.AppID, o.DeveloperID, o.ClientID, o.APIName,
			o.SubscriptionID, o.Kind, o.FromPlan, o.ToPlan, o.PriceLabel, o.Status,
			db.t(o.CreatedAt), db.t(o.UpdatedAt)}
	},
	stamps: func(o *store.Order) (_, _ *time.Time) { return &o.CreatedAt, &o.UpdatedAt },
	check: func(o *store.Order) error {
		if o.ID == "" || o.SubscriptionID == "" {
			return fmt.Errorf("sqlstore: place order: empty ID or subscription ID (%q, %q)", o.ID, o.SubscriptionID)
		}
		return nil
	},
})

func scanOrder(row scanner) (*store.Order, error) {
	o := new(store.Order)
	return o, row.Scan(&o.ID, &o.OrganizationID, &o.AppID, &o.DeveloperID, &o.ClientID, &o.APIName,
		&o.SubscriptionID, &o.Kind, &o.FromPlan, &o.ToPlan, &o.PriceLabel, &o.Status,
		(*tm)(&o.CreatedAt), (*tm)(&o.UpdatedAt))
}

func (db *DB) PlaceOrder(ctx context.Context, o *store.Order, decide func(s *store.Subscription, pending *store.Order) (*store.Subscription, error)) (*store.Subscription, error) {
	const op = "place order"
	return run(db, ctx, true, func(ctx context.Context) (*store.Subscription, error) {
		if err := orderTable.check(o); err != nil {
			return nil, err
		}
		before := *o // restored if nothing is written
		var stored *store.Subscription
		err := db.tx(ctx, op, func(tx *sql.Tx) error {
			s, err := readOne(db, ctx, tx, op, scanSubscription, subscriptionTable.get, o.SubscriptionID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			pending, err := readOne(db, ctx, tx, op, scanOrder, selectPendingOrder, o.SubscriptionID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			next, decided, err := callDecide(decide, s, pending)
			if err != nil {
				return err
			}
			// The pending order first: a deletion supersedes it unless
			// decide settled it, and o may be pending in its place.
			if pending != nil {
				want := *pending
				if want.Status = decided.Status; *decided != want {
					return fmt.Errorf("sqlstore: %s %q: decide may change only the pending order's status", op, o.ID)
				}
				if decided.Status != pending.Status {
					if err := db.do(ctx, tx, op, `UPDATE orders SET status = ?, updated_at = ? WHERE id = ?`,
						decided.Status, db.at(time.Time{}), pending.ID); err != nil {
						return err
					}
				}
			}
			if err := db.writeDecided(ctx, tx, op, o.SubscriptionID, s, next); err != nil {
				return err
			}
			db.stamp(orderTable.stamps(o))
			if err := db.do(ctx, tx, op, orderTable.insert, orderTable.args(db, o)...); err != nil {
				return err
			}
			if err := db.bumpGeneration(ctx, op, tx, generationAccess); err != nil {
				return err
			}
			if next == nil {
				return nil // deleted
			}
			stored, err = readOne(db, ctx, tx, op, scanSubscription, subscriptionTable.get, o.SubscriptionID)
			return err
		})
		if err != nil {
			*o = before
			return nil, err
		}
		return stored, nil
	})
}

// callDecide calls decide with copies of s and pending (either may be
// nil), and returns what it decided: the subscription to store and the
// pending order as changed (nil when there is none).
func callDecide(decide func(s *store.Subscription, pending *store.Order) (*store.Subscription, error),
	s *store.Subscription, pending *store.Order) (*store.Subscription, *store.Order, error) {
	var sc *store.Subscription
	if s != nil {
		c := *s
		sc = &c
	}
	var pc *store.Order
	if pending != nil {
		c := *pending
		pc = &c
	}
	next, err := decide(sc, pc)
	return next, pc, err
}

// writeDecided writes, in tx, what an order's decide made of the
// subscription id that was stored as s (nil when none): next created,
// updated or (nil) deleted.
func (db *DB) writeDecided(ctx context.Context, tx *sql.Tx, op, id string, s, next *store.Subscription) error {
	t := subscriptionTable
	switch {
	case s == nil && next == nil:
		return notFound(op, id)
	case next == nil:
		if err := db.supersedePending(ctx, tx, op, "id", id); err != nil {
			return err
		}
		return db.one(ctx, tx, op, id, `DELETE FROM subscriptions WHERE id = ?`, id)
	case s == nil:
		if next.ID != id {
			return fmt.Errorf("sqlstore: %s: the new subscription's ID %q is not the order's %q", op, next.ID, id)
		}
		db.stamp(t.stamps(next))
		args := t.args(db, next)
		if _, err := db.exec(ctx, tx, t.insert, args...); err != nil {
			return db.explain(ctx, op, tx, id, err, t.refs, args)
		}
		return nil
	}
	old := t.args(db, s)[:t.ids]
	_, updated := t.stamps(next)
	*updated = db.now()
	args := t.args(db, next)
	if ids := args[:t.ids]; !slices.Equal(old, ids) {
		return fmt.Errorf("sqlstore: %s %q: decide must not change the subscription's %s (from %q to %q)", op, id, t.what, old, ids)
	}
	if _, err := db.exec(ctx, tx, t.update, append(args[t.ids:], id)...); err != nil {
		return db.explain(ctx, op, tx, id, err, t.refs, args)
	}
	return nil
}

// supersedePending marks superseded, in tx, the pending orders of the
// subscriptions whose column is key, before they are deleted: once a
// subscription is gone, nothing is left to approve.
func (db *DB) supersedePending(ctx context.Context, tx *sql.Tx, op, column string, key any) error {
	return db.supersedePendingWhere(ctx, tx, op, column+` = ?`, key)
}

// supersedePendingWhere marks superseded the pending orders of the
// subscriptions that cond (a condition on subscriptions, of key) selects.
func (db *DB) supersedePendingWhere(ctx context.Context, tx *sql.Tx, op, cond string, key any) error {
	return db.do(ctx, tx, op, `UPDATE orders SET status = '`+store.OrderSuperseded+`', updated_at = ?
		WHERE status = '`+store.OrderPending+`'
		AND subscription_id IN (SELECT id FROM subscriptions WHERE `+cond+`)`, db.at(time.Time{}), key)
}

func (db *DB) ListOrders(ctx context.Context, f store.OrderFilter) ([]*store.Order, error) {
	var w where
	w.add(f.OrganizationID != "", "organization_id = ?", f.OrganizationID)
	w.add(f.AppID != "", "app_id = ?", f.AppID)
	w.add(f.ClientID != "", "client_id = ?", f.ClientID)
	w.add(f.SubscriptionID != "", "subscription_id = ?", f.SubscriptionID)
	w.add(f.Status != "", "status = ?", f.Status)
	return list(db, ctx, "list orders", scanOrder, selectOrder+w.String()+` ORDER BY created_at DESC, seq DESC`, w.args...)
}
