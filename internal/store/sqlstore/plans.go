package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"gatehouse/internal/store"
)

const planColumns = `name, price_label, description, rate_per_second, burst,
	quota_day, quota_month, requires_approval, created_at, updated_at`

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
	return db.run(ctx, true, func(ctx context.Context) error {
		const op = "create plan"
		pp := *p
		db.stamp(&pp.CreatedAt, &pp.UpdatedAt)
		err := db.insert(ctx, op, generationAccess, pp.Name, `INSERT INTO plans (`+planColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, db.planArgs(&pp))
		if err == nil {
			p.CreatedAt, p.UpdatedAt = pp.CreatedAt, pp.UpdatedAt
		}
		return err
	})
}

func (db *DB) GetPlan(ctx context.Context, name string) (*store.Plan, error) {
	return get(db, ctx, "get plan", scanPlan, `SELECT `+planColumns+` FROM plans WHERE name = ?`, name)
}

func (db *DB) ListPlans(ctx context.Context) ([]*store.Plan, error) {
	return list(db, ctx, "list plans", scanPlan, `SELECT `+planColumns+` FROM plans ORDER BY name`)
}

func (db *DB) UpdatePlan(ctx context.Context, name string, change func(p *store.Plan) error) (*store.Plan, error) {
	const op = "update plan"
	return update(db, ctx, op, name, "name", func(p *store.Plan) []string { return []string{p.Name} },
		scanPlan, `SELECT `+planColumns+` FROM plans WHERE name = ?`, change,
		func(ctx context.Context, tx *sql.Tx, p *store.Plan) error {
			p.UpdatedAt = db.now()
			if _, err := db.exec(ctx, tx, `UPDATE plans SET price_label = ?,
				description = ?, rate_per_second = ?, burst = ?, quota_day = ?,
				quota_month = ?, requires_approval = ?, created_at = ?, updated_at = ?
				WHERE name = ?`, append(db.planArgs(p)[1:], name)...); err != nil {
				return db.err(ctx, op, err)
			}
			return db.bumpGeneration(ctx, op, tx, generationAccess)
		})
}

func (db *DB) DeletePlan(ctx context.Context, name string) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		const op = "delete plan"
		return db.tx(ctx, op, func(tx *sql.Tx) error {
			n, err := db.count(ctx, tx, `DELETE FROM plans WHERE name = ?`, name)
			if _, fk := db.d.foreignKey(err); fk { // ON DELETE RESTRICT
				return fmt.Errorf("sqlstore: delete plan %q: subscriptions use it: %w", name, store.ErrConflict)
			}
			if err != nil {
				return db.err(ctx, op, err)
			}
			if n == 0 {
				return fmt.Errorf("sqlstore: delete plan %q: %w", name, store.ErrNotFound)
			}
			return db.bumpGeneration(ctx, op, tx, generationAccess)
		})
	})
}

const (
	selectSubscription      = `SELECT id, client_id, api_name, plan_name, status, created_at, updated_at FROM subscriptions`
	selectSubscriptionByApp = selectSubscription + ` WHERE client_id = ? AND api_name = ?`
)

func scanSubscription(row scanner) (*store.Subscription, error) {
	s := new(store.Subscription)
	return s, row.Scan(&s.ID, &s.ClientID, &s.APIName, &s.PlanName, &s.Status,
		(*tm)(&s.CreatedAt), (*tm)(&s.UpdatedAt))
}

func (db *DB) CreateSubscription(ctx context.Context, s *store.Subscription) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		const op = "create subscription"
		if s.ID == "" {
			return errors.New("sqlstore: create subscription: empty ID")
		}
		ss := *s
		db.stamp(&ss.CreatedAt, &ss.UpdatedAt)
		// The constraints are named in 0003_plans_subscriptions_usage.sql.
		err := db.insert(ctx, op, generationAccess, ss.ID, `INSERT INTO subscriptions (id, client_id,
			api_name, plan_name, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{ss.ID, ss.ClientID, ss.APIName, ss.PlanName, ss.Status, db.t(ss.CreatedAt), db.t(ss.UpdatedAt)},
			ref{"client", "clients", "id", "client", ss.ClientID},
			ref{"API", "apis", "name", "api", ss.APIName},
			ref{"plan", "plans", "name", "plan", ss.PlanName})
		if err == nil {
			s.CreatedAt, s.UpdatedAt = ss.CreatedAt, ss.UpdatedAt
		}
		return err
	})
}

func (db *DB) GetSubscription(ctx context.Context, id string) (*store.Subscription, error) {
	return get(db, ctx, "get subscription", scanSubscription, selectSubscription+` WHERE id = ?`, id)
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
	return run(db, ctx, false, func(ctx context.Context) ([]*store.Subscription, error) {
		w := where{}
		w.add(f.ClientID != "", "client_id = ?", f.ClientID)
		w.add(f.APIName != "", "api_name = ?", f.APIName)
		w.add(f.PlanName != "", "plan_name = ?", f.PlanName)
		return readAll(db, ctx, "list subscriptions", scanSubscription,
			selectSubscription+w.String()+` ORDER BY client_id, api_name`, w.args...)
	})
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
	const op = "update subscription"
	return update(db, ctx, op, id, "ID, client or API",
		func(s *store.Subscription) []string { return []string{s.ID, s.ClientID, s.APIName} }, scanSubscription, selectSubscription+` WHERE id = ?`, change,
		func(ctx context.Context, tx *sql.Tx, s *store.Subscription) error {
			s.UpdatedAt = db.now()
			if _, err := db.exec(ctx, tx, `UPDATE subscriptions SET plan_name = ?,
				status = ?, created_at = ?, updated_at = ? WHERE id = ?`,
				s.PlanName, s.Status, db.t(s.CreatedAt), db.t(s.UpdatedAt), id); err != nil {
				if _, fk := db.d.foreignKey(err); fk {
					return missingReference(op, id, "plan", s.PlanName)
				}
				return db.err(ctx, op, err)
			}
			return db.bumpGeneration(ctx, op, tx, generationAccess)
		})
}

func (db *DB) DeleteSubscription(ctx context.Context, id string) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		const op = "delete subscription"
		return db.tx(ctx, op, func(tx *sql.Tx) error {
			n, err := db.count(ctx, tx, `DELETE FROM subscriptions WHERE id = ?`, id)
			if err != nil {
				return db.err(ctx, op, err)
			}
			if n == 0 {
				return fmt.Errorf("sqlstore: delete subscription %q: %w", id, store.ErrNotFound)
			}
			return db.bumpGeneration(ctx, op, tx, generationAccess)
		})
	})
}

func (db *DB) AccessGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, generationAccess)
}
