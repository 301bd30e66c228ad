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

func (db *DB) CreatePlan(ctx context.Context, p *store.Plan) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	const op = "create plan"
	pp := *p
	if pp.CreatedAt.IsZero() {
		pp.CreatedAt = db.now()
	}
	if pp.UpdatedAt.IsZero() {
		pp.UpdatedAt = pp.CreatedAt
	}
	err = db.tx(ctx, op, func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `INSERT INTO plans (`+planColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, db.planArgs(&pp)...); err != nil {
			return db.err(ctx, op, err)
		}
		return db.bumpGeneration(ctx, op, tx, generationAccess)
	})
	if err == nil {
		p.CreatedAt, p.UpdatedAt = pp.CreatedAt, pp.UpdatedAt
	}
	return err
}

func (db *DB) GetPlan(ctx context.Context, name string) (_ *store.Plan, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return get(db, ctx, nil, "get plan", scanPlan, `SELECT `+planColumns+` FROM plans WHERE name = ?`, name)
}

func (db *DB) ListPlans(ctx context.Context) (_ []*store.Plan, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return list(db, ctx, "list plans", scanPlan, `SELECT `+planColumns+` FROM plans ORDER BY name`)
}

func (db *DB) UpdatePlan(ctx context.Context, name string, change func(p *store.Plan) error) (_ *store.Plan, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	const op = "update plan"
	return update(db, ctx, op, name, scanPlan, `SELECT `+planColumns+` FROM plans WHERE name = ?`, change,
		func(_, p *store.Plan) error {
			if p.Name != name {
				return fmt.Errorf("sqlstore: update plan %q: update must not change the name (to %q)", name, p.Name)
			}
			return nil
		},
		func(tx *sql.Tx, p *store.Plan) error {
			p.UpdatedAt = db.now()
			p.CreatedAt = truncate(p.CreatedAt, db.d.precision)
			if _, err := db.exec(ctx, tx, `UPDATE plans SET price_label = ?,
				description = ?, rate_per_second = ?, burst = ?, quota_day = ?,
				quota_month = ?, requires_approval = ?, created_at = ?, updated_at = ?
				WHERE name = ?`, append(db.planArgs(p)[1:], name)...); err != nil {
				return db.err(ctx, op, err)
			}
			return db.bumpGeneration(ctx, op, tx, generationAccess)
		})
}

func (db *DB) DeletePlan(ctx context.Context, name string) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
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

func (db *DB) CreateSubscription(ctx context.Context, s *store.Subscription) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	const op = "create subscription"
	if s.ID == "" {
		return errors.New("sqlstore: create subscription: empty ID")
	}
	ss := *s
	if ss.CreatedAt.IsZero() {
		ss.CreatedAt = db.now()
	}
	if ss.UpdatedAt.IsZero() {
		ss.UpdatedAt = ss.CreatedAt
	}
	err = db.tx(ctx, op, func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `INSERT INTO subscriptions (id, client_id,
			api_name, plan_name, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			ss.ID, ss.ClientID, ss.APIName, ss.PlanName, ss.Status,
			db.t(ss.CreatedAt), db.t(ss.UpdatedAt)); err != nil {
			if _, fk := db.d.foreignKey(err); fk {
				// The constraints are named in 0003_plans_subscriptions_usage.sql.
				return db.missing(ctx, op, tx, ss.ID, err,
					ref{"client", "clients", "id", "client", ss.ClientID},
					ref{"API", "apis", "name", "api", ss.APIName},
					ref{"plan", "plans", "name", "plan", ss.PlanName})
			}
			return db.err(ctx, op, err)
		}
		return db.bumpGeneration(ctx, op, tx, generationAccess)
	})
	if err == nil {
		s.CreatedAt, s.UpdatedAt = ss.CreatedAt, ss.UpdatedAt
	}
	return err
}

func (db *DB) GetSubscription(ctx context.Context, id string) (_ *store.Subscription, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	return get(db, ctx, nil, "get subscription", scanSubscription, selectSubscription+` WHERE id = ?`, id)
}

func (db *DB) FindSubscription(ctx context.Context, clientID, apiName string) (_ *store.Subscription, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	s, err := scanSubscription(db.readRow(ctx, selectSubscriptionByApp, clientID, apiName))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: find subscription of client %q to API %q: %w", clientID, apiName, store.ErrNotFound)
	}
	if err != nil {
		return nil, db.err(ctx, "find subscription", err)
	}
	return s, nil
}

func (db *DB) ListSubscriptions(ctx context.Context, f store.SubscriptionFilter) (_ []*store.Subscription, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, false)
	defer call.end(&err)
	w := where{}
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

func (db *DB) UpdateSubscription(ctx context.Context, id string, change func(s *store.Subscription) error) (_ *store.Subscription, err error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
	const op = "update subscription"
	return update(db, ctx, op, id, scanSubscription, selectSubscription+` WHERE id = ?`, change,
		func(old, s *store.Subscription) error {
			if s.ID != old.ID || s.ClientID != old.ClientID || s.APIName != old.APIName {
				return fmt.Errorf("sqlstore: %s %q: update must not change the ID, client or API (from %q, %q, %q to %q, %q, %q)",
					op, id, old.ID, old.ClientID, old.APIName, s.ID, s.ClientID, s.APIName)
			}
			return nil
		},
		func(tx *sql.Tx, s *store.Subscription) error {
			s.UpdatedAt = db.now()
			s.CreatedAt = truncate(s.CreatedAt, db.d.precision)
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

func (db *DB) DeleteSubscription(ctx context.Context, id string) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	ctx, call := db.start(ctx, true)
	defer call.end(&err)
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
}

func (db *DB) AccessGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, generationAccess)
}
