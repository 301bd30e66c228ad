package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gatehouse/internal/store"
)

const (
	planColumns = `name, price_label, description, rate_per_second, burst,
	quota_day, quota_month, requires_approval, created_at, updated_at`
	selectPlan = `SELECT ` + planColumns + ` FROM plans`
)

// planTable: a write to plans increments the access generation.
var planTable = newTable(table[store.Plan]{
	name: "plans", ids: 1, what: "name", gen: generationAccess,
	columns: planColumns, get: selectPlan + ` WHERE name = ?`, scan: scanPlan, args: (*DB).planArgs,
	stamps: func(p *store.Plan) (_, _ *time.Time) { return &p.CreatedAt, &p.UpdatedAt },
})

func scanPlan(row scanner) (*store.Plan, error) {
	p := new(store.Plan)
	return p, row.Scan(&p.Name, &p.PriceLabel, &p.Description, &p.RatePerSecond, &p.Burst,
		&p.QuotaDay, &p.QuotaMonth, &p.RequiresApproval, (*tm)(&p.CreatedAt), (*tm)(&p.UpdatedAt))
}

// planArgs returns p's columns in planColumns order.
func (db *DB) planArgs(p *store.Plan) []any {
	return []any{p.Name, p.PriceLabel, p.Description, p.RatePerSecond, p.Burst,
		p.QuotaDay, p.QuotaMonth, p.RequiresApproval, db.t(p.CreatedAt), db.t(p.UpdatedAt)}
}

func (db *DB) CreatePlan(ctx context.Context, p *store.Plan) error {
	return create(db, ctx, "create plan", planTable, p)
}

func (db *DB) GetPlan(ctx context.Context, name string) (*store.Plan, error) {
	return get(db, ctx, "get plan", scanPlan, planTable.get, name)
}

func (db *DB) ListPlans(ctx context.Context) ([]*store.Plan, error) {
	return list(db, ctx, "list plans", scanPlan, selectPlan+` ORDER BY name`)
}

func (db *DB) UpdatePlan(ctx context.Context, name string, change func(p *store.Plan) error) (*store.Plan, error) {
	return update(db, ctx, "update plan", planTable, name, change)
}

func (db *DB) DeletePlan(ctx context.Context, name string) error {
	const op = "delete plan"
	return db.writeTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		err := db.one(ctx, tx, op, name, `DELETE FROM plans WHERE name = ?`, name)
		if _, fk := db.d.foreignKey(err); fk { // ON DELETE RESTRICT
			return fmt.Errorf("sqlstore: delete plan %q: subscriptions use it or wait for it: %w", name, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		return db.bumpGeneration(ctx, op, tx, generationAccess)
	})
}

const (
	subscriptionColumns = `id, client_id, api_name, plan_name, pending_plan_name, status,
	created_at, updated_at`
	selectSubscription      = `SELECT ` + subscriptionColumns + ` FROM subscriptions`
	selectSubscriptionByApp = selectSubscription + ` WHERE client_id = ? AND api_name = ?`
)

// subscriptionTable: a write to subscriptions increments the access
// generation. The constraints are named in
// 0003_plans_subscriptions_usage.sql and 0009_orders.sql; the pending
// plan's comes before the plan's, whose name ends like it. An empty
// pending plan is NULL, which refers to no plan.
var subscriptionTable = newTable(table[store.Subscription]{
	name: "subscriptions", ids: 3, what: "ID, client or API", gen: generationAccess,
	refs:    []ref{refClient.at(1), refAPI.at(2), refPendingPlan.at(4), refPlan.at(3)},
	columns: subscriptionColumns, get: selectSubscription + ` WHERE id = ?`, scan: scanSubscription,
	args: func(db *DB, s *store.Subscription) []any {
		return []any{s.ID, s.ClientID, s.APIName, s.PlanName, orNull(s.PendingPlanName), s.Status,
			db.t(s.CreatedAt), db.t(s.UpdatedAt)}
	},
	stamps: func(s *store.Subscription) (_, _ *time.Time) { return &s.CreatedAt, &s.UpdatedAt },
	check: func(s *store.Subscription) error {
		if s.ID == "" {
			return errors.New("sqlstore: create subscription: empty ID")
		}
		return nil
	},
})

func scanSubscription(row scanner) (*store.Subscription, error) {
	s := new(store.Subscription)
	var pending sql.NullString
	err := row.Scan(&s.ID, &s.ClientID, &s.APIName, &s.PlanName, &pending, &s.Status,
		(*tm)(&s.CreatedAt), (*tm)(&s.UpdatedAt))
	s.PendingPlanName = pending.String
	return s, err
}

func (db *DB) CreateSubscription(ctx context.Context, s *store.Subscription) error {
	return create(db, ctx, "create subscription", subscriptionTable, s)
}

func (db *DB) GetSubscription(ctx context.Context, id string) (*store.Subscription, error) {
	return get(db, ctx, "get subscription", scanSubscription, subscriptionTable.get, id)
}

func (db *DB) FindSubscription(ctx context.Context, clientID, apiName string) (*store.Subscription, error) {
	return run(db, ctx, false, func(ctx context.Context) (*store.Subscription, error) {
		s, err := scanSubscription(db.readRow(ctx, selectSubscriptionByApp, clientID, apiName))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: find subscription of client %q to API %q: %w", clientID, apiName, store.ErrNotFound)
		}
		if err != nil {
			return nil, db.err(ctx, "find subscription", err)
		}
		return s, nil
	})
}

func (db *DB) ListSubscriptions(ctx context.Context, f store.SubscriptionFilter) ([]*store.Subscription, error) {
	var w where
	w.add(f.ClientID != "", "client_id = ?", f.ClientID)
	w.add(f.APIName != "", "api_name = ?", f.APIName)
	w.add(f.PlanName != "", "plan_name = ?", f.PlanName)
	return list(db, ctx, "list subscriptions", scanSubscription,
		selectSubscription+w.String()+` ORDER BY client_id, api_name`, w.args...)
}

// where builds a query's WHERE clause from optional conditions.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(ok bool, cond string, arg any) {
	if ok {
		w.conds, w.args = append(w.conds, cond), append(w.args, arg)
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return ` WHERE ` + strings.Join(w.conds, " AND ")
}

func (db *DB) UpdateSubscription(ctx context.Context, id string, change func(s *store.Subscription) error) (*store.Subscription, error) {
	return update(db, ctx, "update subscription", subscriptionTable, id, change)
}

func (db *DB) DeleteSubscription(ctx context.Context, id string) error {
	const op = "delete subscription"
	return db.writeTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		if err := db.supersedePending(ctx, tx, op, "id", id); err != nil {
			return err
		}
		if err := db.one(ctx, tx, op, id, `DELETE FROM subscriptions WHERE id = ?`, id); err != nil {
			return err
		}
		return db.bumpGeneration(ctx, op, tx, generationAccess)
	})
}

func (db *DB) AccessGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, generationAccess)
}
