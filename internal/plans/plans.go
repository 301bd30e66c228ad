// Package plans is what developers buy: plans (a rate with a burst and
// request quotas) and subscriptions binding an app to an API on a plan. The
// admin API, the CLI and the portal change them through the managers here,
// so every channel applies the same rules; the gateway enforces them.
//
// # Orders
//
// Every change of a subscription is a purchase, recorded as an order
// (store.Order) in the same transaction as the change: who placed it
// (a developer, or the operator), for which organisation and app, the
// plan before and after and the price label then. Its kind is subscribe,
// change, cancel, or an operator's approve or refuse; whether a change
// is an upgrade or a downgrade is for the reader to say by comparing the
// plans.
//
// Approval never cuts an app off:
//   - A new subscription on a plan that requires approval waits, pending,
//     with no plan in force yet (the gateway answers 403
//     subscription_pending); its order is pending too.
//   - A change to a plan that requires approval leaves the plan in force:
//     the subscription stays active and the app keeps calling on it,
//     while the plan asked for waits as the subscription's pending plan,
//     its order pending.
//   - Approve puts what waits in force (its order completed); Refuse
//     drops a pending change, the plan in force staying, or deletes a
//     pending new subscription (its order refused). The decision is an
//     order of its own.
//   - A subscription has at most one pending order. A later change or a
//     cancellation supersedes it: its status becomes superseded, not
//     refused, since no operator said no. A change back to the plan in
//     force withdraws the pending change; asking again for the plan
//     pending, or for the plan in force with nothing pending, places no
//     order.
//
// # Plan changes and the period's quota
//
// A change applies from the next request, upgrade or downgrade alike
// (no downgrade waits for the next period). The gateway keeps one budget
// per subscription (its limiter key is the client and the API), not per
// plan, and counts quotas per UTC day and month: a change moves neither
// the count nor the period. The requests admitted earlier in the period
// count against the new plan's quota, so after a downgrade to a smaller
// quota, an app that already made more requests this period than the new
// quota allows is refused with 429 QUOTA_EXCEEDED until the period
// resets; after an upgrade it has at once what the larger quota leaves. A
// period counts only the requests admitted while the plan in force had a
// quota for it: moving to a plan with a day quota from one without starts
// that day's count at the change. The rate's state carries over the same
// way: a burst just spent on the old plan is paid back at the new rate,
// so a move to a plan whose burst spans less time (burst ÷ rate) than the
// old one's may refuse calls for at most the difference.
package plans

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
)

// Sandbox is the free plan every app gets on every sandbox API without
// subscribing.
const Sandbox = "sandbox"

// Defaults are the plans of a fresh install.
var Defaults = []store.Plan{
	{Name: Sandbox, PriceLabel: "Free", Description: "For trying the sandbox APIs: 10 requests per second, 1,000 per day.",
		RatePerSecond: 10, Burst: 20, QuotaDay: 1000},
	{Name: "starter", PriceLabel: "€49 / month", Description: "For launching: 50 requests per second, 100,000 per month.",
		RatePerSecond: 50, Burst: 100, QuotaMonth: 100_000},
	{Name: "business", PriceLabel: "€490 / month", Description: "For scale: 500 requests per second, 5,000,000 per month. Approved by the operator.",
		RatePerSecond: 500, Burst: 1000, QuotaMonth: 5_000_000, RequiresApproval: true},
}

// Policy is the limiter policy a plan promises.
func Policy(p *store.Plan) ratelimit.Policy {
	return ratelimit.Policy{Rate: p.RatePerSecond, Burst: p.Burst, QuotaDay: p.QuotaDay, QuotaMonth: p.QuotaMonth}
}

// Store is the storage the managers need.
type Store interface {
	store.Plans
	store.Subscriptions
	store.Orders
	GetClient(ctx context.Context, id string) (*store.Client, error)
	GetAPI(ctx context.Context, name string) (*store.API, error)
}

// Manager creates and changes plans and subscriptions.
type Manager struct {
	Store Store
	// OnChange, when set, is called after every change (to drop this
	// node's cached subscriptions at once).
	OnChange func()
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// OnDecision, when set, is told of each approval or refusal once it
	// is stored (the organisation's webhooks).
	OnDecision func(ctx context.Context, d Decision)
}

// Decision is an operator's approval or refusal of what a subscription had
// waiting, as the order recording it says.
type Decision struct {
	Approved bool
	Order    store.Order
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Manager) changed() {
	if m.OnChange != nil {
		m.OnChange()
	}
}

// SeedDefaults creates the default plans on a fresh install (no plan or
// subscription was ever written), so later deletions stick.
func (m *Manager) SeedDefaults(ctx context.Context) error {
	gen, err := m.Store.AccessGeneration(ctx)
	if err != nil || gen != 0 {
		return err
	}
	for _, p := range Defaults {
		p := p
		if err := m.Store.CreatePlan(ctx, &p); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("creating the %s plan: %w", p.Name, err)
		}
	}
	return nil
}

// PlanSpec sets a plan's fields; nil fields are left as they are (or take
// their zero value on create).
type PlanSpec struct {
	PriceLabel       *string  `json:"price_label,omitempty"`
	Description      *string  `json:"description,omitempty"`
	RatePerSecond    *float64 `json:"rate_per_second,omitempty"`
	Burst            *int64   `json:"burst,omitempty"`
	QuotaDay         *int64   `json:"quota_day,omitempty"`
	QuotaMonth       *int64   `json:"quota_month,omitempty"`
	RequiresApproval *bool    `json:"requires_approval,omitempty"`
}

// PlanView is a plan as operators and developers see it.
type PlanView struct {
	Name             string    `json:"name"`
	PriceLabel       string    `json:"price_label"`
	Description      string    `json:"description"`
	RatePerSecond    float64   `json:"rate_per_second"`
	Burst            int64     `json:"burst"`
	QuotaDay         int64     `json:"quota_day"`
	QuotaMonth       int64     `json:"quota_month"`
	RequiresApproval bool      `json:"requires_approval"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

func viewPlan(p *store.Plan) *PlanView {
	return &PlanView{
		Name: p.Name, PriceLabel: p.PriceLabel, Description: p.Description, RatePerSecond: p.RatePerSecond,
		Burst: p.Burst, QuotaDay: p.QuotaDay, QuotaMonth: p.QuotaMonth, RequiresApproval: p.RequiresApproval,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func invalid(field, format string, args ...any) *problem.Error {
	return problem.Newf(problem.BadRequestInvalidParameter, "%s: "+format+".", append([]any{field}, args...)...).With("field", field)
}

func applyPlan(p *store.Plan, s PlanSpec) error {
	if s.PriceLabel != nil {
		p.PriceLabel = *s.PriceLabel
	}
	if s.Description != nil {
		p.Description = *s.Description
	}
	if s.RatePerSecond != nil {
		p.RatePerSecond = *s.RatePerSecond
	}
	if s.Burst != nil {
		p.Burst = *s.Burst
	}
	if s.QuotaDay != nil {
		p.QuotaDay = *s.QuotaDay
	}
	if s.QuotaMonth != nil {
		p.QuotaMonth = *s.QuotaMonth
	}
	if s.RequiresApproval != nil {
		p.RequiresApproval = *s.RequiresApproval
	}
	switch {
	case math.IsNaN(p.RatePerSecond) || p.RatePerSecond < 0 || p.RatePerSecond > 1e6:
		return invalid("rate", "requests per second must be between 0 (unlimited) and 1,000,000")
	case p.RatePerSecond > 0 && p.Burst < 1:
		return invalid("burst", "a rate needs a burst of at least 1 (the requests that may arrive at once)")
	case p.Burst < 0 || p.Burst > 1e9:
		return invalid("burst", "must be between 0 and 1,000,000,000")
	case p.QuotaDay < 0 || p.QuotaMonth < 0:
		return invalid("quota", "quotas must be 0 (none) or positive")
	case p.QuotaDay > 0 && p.QuotaMonth > 0 && p.QuotaDay > p.QuotaMonth:
		return invalid("quota_day", "the day quota (%d) exceeds the month quota (%d)", p.QuotaDay, p.QuotaMonth)
	case len(p.PriceLabel) > 100 || len(p.Description) > 1000:
		return invalid("price_label", "the price label is at most 100 characters and the description 1,000")
	}
	return nil
}

// CreatePlan creates a plan.
func (m *Manager) CreatePlan(ctx context.Context, name string, s PlanSpec) (*PlanView, error) {
	if !namePattern.MatchString(name) {
		return nil, invalid("name", "%q must be lowercase letters, digits and dashes", name)
	}
	now := m.now()
	p := &store.Plan{Name: name, CreatedAt: now, UpdatedAt: now}
	if err := applyPlan(p, s); err != nil {
		return nil, err
	}
	if err := m.Store.CreatePlan(ctx, p); err != nil {
		return nil, problem.FromStore(err, "plan", name)
	}
	m.changed()
	return viewPlan(p), nil
}

// GetPlan returns one plan.
func (m *Manager) GetPlan(ctx context.Context, name string) (*PlanView, error) {
	p, err := m.Store.GetPlan(ctx, name)
	if err != nil {
		return nil, problem.FromStore(err, "plan", name)
	}
	return viewPlan(p), nil
}

// ListPlans returns every plan.
func (m *Manager) ListPlans(ctx context.Context) ([]*PlanView, error) {
	list, err := m.Store.ListPlans(ctx)
	if err != nil {
		return nil, problem.FromStore(err, "plan", "")
	}
	out := make([]*PlanView, len(list))
	for i, p := range list {
		out[i] = viewPlan(p)
	}
	return out, nil
}

// UpdatePlan changes a plan; subscribers get the new limits on their next
// request.
func (m *Manager) UpdatePlan(ctx context.Context, name string, s PlanSpec) (*PlanView, error) {
	p, err := m.Store.UpdatePlan(ctx, name, func(p *store.Plan) error {
		p.UpdatedAt = m.now()
		return applyPlan(p, s)
	})
	if err != nil {
		return nil, problem.FromStore(err, "plan", name)
	}
	m.changed()
	return viewPlan(p), nil
}

// DeletePlan deletes a plan no subscription uses or waits for.
func (m *Manager) DeletePlan(ctx context.Context, name string) error {
	if err := m.Store.DeletePlan(ctx, name); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return problem.Newf(problem.ConflictResourceInUse,
				"The plan %q has subscribers, or a change to it waits for approval; move them to another plan (or refuse the change) first.", name)
		}
		return problem.FromStore(err, "plan", name)
	}
	m.changed()
	return nil
}

// SubscriptionView is a subscription as operators and developers see it.
type SubscriptionView struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	API      string `json:"api"`
	// Plan is the plan in force, or the one asked for while Status is
	// pending; PendingPlan a change that waits for approval.
	Plan        string    `json:"plan"`
	PendingPlan string    `json:"pending_plan,omitempty"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func viewSubscription(s *store.Subscription) *SubscriptionView {
	return &SubscriptionView{ID: s.ID, ClientID: s.ClientID, API: s.APIName, Plan: s.PlanName, PendingPlan: s.PendingPlanName,
		Status: s.Status, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

// Actor is who places an order, and for which organisation and app; the
// order records it. The zero Actor is the operator (admin API, CLI). The
// caller has checked that the actor may act on the subscription.
type Actor struct {
	// DeveloperID is the developer placing the order in the portal.
	DeveloperID string
	// OrganizationID and AppID are the organisation and the app the order
	// is for; AppID defaults to the client's app (store.Client.AppID).
	OrganizationID string
	AppID          string
}

// Operator is the actor of the admin API and the CLI.
var Operator = Actor{}

// newOrder starts an order of kind on subscription subID of client c to
// apiName, placed by by: completed unless the caller says otherwise.
func (m *Manager) newOrder(by Actor, c *store.Client, apiName, subID, kind string) *store.Order {
	now := m.now()
	o := &store.Order{ID: "ord_" + randomID(), OrganizationID: by.OrganizationID, AppID: by.AppID, DeveloperID: by.DeveloperID,
		ClientID: c.ID, APIName: apiName, SubscriptionID: subID, Kind: kind, Status: store.OrderCompleted,
		CreatedAt: now, UpdatedAt: now}
	if o.AppID == "" {
		o.AppID = c.AppID
	}
	return o
}

// planInForce is the plan s's app calls on: none while s waits for
// approval.
func planInForce(s *store.Subscription) string {
	if s.Status == store.SubscriptionPending {
		return ""
	}
	return s.PlanName
}

// errUnchanged is what a decide function returns when the order would
// change nothing: nothing is written and the subscription is returned as
// it is.
var errUnchanged = errors.New("plans: the order changes nothing")

// place places o on its subscription with decide, which PlaceOrder calls
// with the subscription as stored (never nil: a subscription missing is
// not_found) and its pending order. It returns the subscription as
// stored (nil when deleted), or as it was when decide returned
// errUnchanged, and tells OnChange when something changed.
func (m *Manager) place(ctx context.Context, o *store.Order, decide func(s *store.Subscription, pending *store.Order) (*store.Subscription, error)) (*store.Subscription, error) {
	var stored store.Subscription
	s, err := m.Store.PlaceOrder(ctx, o, func(s *store.Subscription, pending *store.Order) (*store.Subscription, error) {
		if s == nil {
			return nil, problem.Newf(problem.NotFoundResourceNotFound, "No subscription %q exists.", o.SubscriptionID)
		}
		stored = *s
		return decide(s, pending)
	})
	switch {
	case errors.Is(err, errUnchanged):
		return &stored, nil
	case err != nil:
		return nil, problem.FromStore(err, "subscription", o.SubscriptionID)
	}
	m.changed()
	return s, nil
}

// Subscribe subscribes an app to an API on a plan: "purchase". On a plan
// that needs approval the subscription and its order start pending, with
// no plan in force until an operator approves.
func (m *Manager) Subscribe(ctx context.Context, by Actor, clientID, apiName, planName string) (*SubscriptionView, error) {
	client, err := m.Store.GetClient(ctx, clientID)
	if err != nil {
		return nil, problem.FromStore(err, "client", clientID)
	}
	if _, err := m.Store.GetAPI(ctx, apiName); err != nil {
		return nil, problem.FromStore(err, "API", apiName)
	}
	plan, err := m.Store.GetPlan(ctx, planName)
	if err != nil {
		return nil, problem.FromStore(err, "plan", planName)
	}
	now := m.now()
	s := &store.Subscription{ID: "sub_" + randomID(), ClientID: clientID, APIName: apiName, PlanName: planName,
		Status: store.SubscriptionActive, CreatedAt: now, UpdatedAt: now}
	o := m.newOrder(by, client, apiName, s.ID, store.OrderSubscribe)
	o.ToPlan, o.PriceLabel = planName, plan.PriceLabel
	if plan.RequiresApproval {
		s.Status, o.Status = store.SubscriptionPending, store.OrderPending
	}
	stored, err := m.Store.PlaceOrder(ctx, o, func(cur *store.Subscription, _ *store.Order) (*store.Subscription, error) {
		if cur != nil { // a random ID taken: never seen
			return nil, fmt.Errorf("plans: subscription ID %s is taken", s.ID)
		}
		return s, nil
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, problem.Newf(problem.AlreadyExistsDuplicate,
				"The app %s is already subscribed to %s; change its plan instead.", clientID, apiName)
		}
		return nil, problem.FromStore(err, "subscription", s.ID)
	}
	m.changed()
	return viewSubscription(stored), nil
}

// orderOn starts an order of kind by by on subscription id, reading it
// and its client (whose app the order names when by does not).
func (m *Manager) orderOn(ctx context.Context, by Actor, id, kind string) (*store.Order, error) {
	s, err := m.Store.GetSubscription(ctx, id)
	if err != nil {
		return nil, problem.FromStore(err, "subscription", id)
	}
	c, err := m.Store.GetClient(ctx, s.ClientID)
	if err != nil { // deleted since, with its subscriptions
		return nil, problem.FromStore(err, "subscription", id)
	}
	return m.newOrder(by, c, s.APIName, id, kind), nil
}

// supersede marks the pending order, if any, superseded by a later one.
func supersede(pending *store.Order) {
	if pending != nil {
		pending.Status = store.OrderSuperseded
	}
}

// ChangePlan moves a subscription to another plan (upgrade or downgrade)
// from the next request on. A plan that needs approval does not apply
// yet: the plan in force stays, and the one asked for waits as the
// pending plan (its order pending) until an operator approves or refuses
// it. A change pending before is superseded by this one; asking for the
// plan in force withdraws it. Asking again for the plan pending, or for
// the plan in force with nothing pending, changes nothing and places no
// order. On a subscription still waiting for approval, the plan asked
// for is replaced: one without approval puts it in force at once.
func (m *Manager) ChangePlan(ctx context.Context, by Actor, id, planName string) (*SubscriptionView, error) {
	plan, err := m.Store.GetPlan(ctx, planName)
	if err != nil {
		return nil, problem.FromStore(err, "plan", planName)
	}
	o, err := m.orderOn(ctx, by, id, store.OrderChange)
	if err != nil {
		return nil, err
	}
	o.ToPlan, o.PriceLabel = planName, plan.PriceLabel
	s, err := m.place(ctx, o, func(s *store.Subscription, pending *store.Order) (*store.Subscription, error) {
		o.FromPlan = planInForce(s)
		waiting := s.Status == store.SubscriptionPending
		if planName == s.PendingPlanName || planName == s.PlanName && (waiting || s.PendingPlanName == "") {
			return nil, errUnchanged // asked for already, or in force with nothing pending
		}
		supersede(pending)
		switch {
		case waiting:
			s.PlanName = planName
			if plan.RequiresApproval {
				o.Status = store.OrderPending
			} else {
				s.Status = store.SubscriptionActive
			}
		case plan.RequiresApproval && planName != s.PlanName:
			s.PendingPlanName, o.Status = planName, store.OrderPending
		default: // a change in force at once, or the withdrawal of the pending one
			s.PlanName, s.PendingPlanName = planName, ""
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return viewSubscription(s), nil
}

// priceLabels returns every plan's price label by name, for the orders
// of operators' decisions.
func (m *Manager) priceLabels(ctx context.Context) (map[string]string, error) {
	list, err := m.Store.ListPlans(ctx)
	if err != nil {
		return nil, problem.FromStore(err, "plan", "")
	}
	labels := make(map[string]string, len(list))
	for _, p := range list {
		labels[p.Name] = p.PriceLabel
	}
	return labels, nil
}

// decision places the operator's order of kind (approve or refuse) on
// what subscription id has waiting: a new subscription, or a change of
// plan. settle applies the decision to s, the pending order becoming
// status.
func (m *Manager) decision(ctx context.Context, id, kind, status string,
	settle func(s *store.Subscription, waiting bool) *store.Subscription) (*store.Subscription, error) {
	o, err := m.orderOn(ctx, Operator, id, kind)
	if err != nil {
		return nil, err
	}
	labels, err := m.priceLabels(ctx)
	if err != nil {
		return nil, err
	}
	s, err := m.place(ctx, o, func(s *store.Subscription, pending *store.Order) (*store.Subscription, error) {
		waiting := s.Status == store.SubscriptionPending
		switch {
		case waiting:
			o.ToPlan = s.PlanName
		case s.PendingPlanName != "":
			o.FromPlan, o.ToPlan = s.PlanName, s.PendingPlanName
		default:
			return nil, problem.Newf(problem.IncompatibleStateWrongState,
				"The subscription %s has nothing waiting for approval: its plan %s is in force.", id, s.PlanName)
		}
		o.PriceLabel = labels[o.ToPlan]
		if pending != nil {
			pending.Status = status
			// The decision belongs to the history of the order it
			// settles.
			o.OrganizationID, o.AppID = pending.OrganizationID, pending.AppID
		}
		return settle(s, waiting), nil
	})
	if err == nil && m.OnDecision != nil {
		m.OnDecision(ctx, Decision{Approved: kind == store.OrderApprove, Order: *o})
	}
	return s, err
}

// Approve approves what a subscription has waiting: a new subscription
// becomes active, a pending plan comes into force. The pending order is
// completed, and the approval recorded as an order of its own.
func (m *Manager) Approve(ctx context.Context, id string) (*SubscriptionView, error) {
	s, err := m.decision(ctx, id, store.OrderApprove, store.OrderCompleted, func(s *store.Subscription, waiting bool) *store.Subscription {
		if waiting {
			s.Status = store.SubscriptionActive
		} else {
			s.PlanName, s.PendingPlanName = s.PendingPlanName, ""
		}
		return s
	})
	if err != nil {
		return nil, err
	}
	return viewSubscription(s), nil
}

// Refuse refuses what a subscription has waiting: a new subscription is
// deleted (it never had a plan in force), a pending change is dropped and
// the plan in force stays. The pending order is refused, and the refusal
// recorded as an order of its own. It returns the subscription as it
// stays, nil when deleted.
func (m *Manager) Refuse(ctx context.Context, id string) (*SubscriptionView, error) {
	s, err := m.decision(ctx, id, store.OrderRefuse, store.OrderRefused, func(s *store.Subscription, waiting bool) *store.Subscription {
		if waiting {
			return nil
		}
		s.PendingPlanName = ""
		return s
	})
	if err != nil || s == nil {
		return nil, err
	}
	return viewSubscription(s), nil
}

// GetSubscription returns one subscription.
func (m *Manager) GetSubscription(ctx context.Context, id string) (*SubscriptionView, error) {
	s, err := m.Store.GetSubscription(ctx, id)
	if err != nil {
		return nil, problem.FromStore(err, "subscription", id)
	}
	return viewSubscription(s), nil
}

// ListSubscriptions returns the matching subscriptions.
func (m *Manager) ListSubscriptions(ctx context.Context, f store.SubscriptionFilter) ([]*SubscriptionView, error) {
	list, err := m.Store.ListSubscriptions(ctx, f)
	if err != nil {
		return nil, problem.FromStore(err, "subscription", "")
	}
	out := make([]*SubscriptionView, len(list))
	for i, s := range list {
		out[i] = viewSubscription(s)
	}
	return out, nil
}

// Unsubscribe ends a subscription, recording the cancellation; an order
// still pending on it is superseded.
func (m *Manager) Unsubscribe(ctx context.Context, by Actor, id string) error {
	o, err := m.orderOn(ctx, by, id, store.OrderCancel)
	if err != nil {
		return err
	}
	_, err = m.place(ctx, o, func(s *store.Subscription, pending *store.Order) (*store.Subscription, error) {
		o.FromPlan = planInForce(s)
		supersede(pending)
		return nil, nil
	})
	return err
}

// OrderView is an order as operators and developers see it.
type OrderView struct {
	ID             string    `json:"id"`
	OrganizationID string    `json:"organization_id"`
	AppID          string    `json:"app_id"`
	DeveloperID    string    `json:"developer_id"`
	ClientID       string    `json:"client_id"`
	API            string    `json:"api"`
	SubscriptionID string    `json:"subscription_id"`
	Kind           string    `json:"kind"`
	FromPlan       string    `json:"from_plan"`
	ToPlan         string    `json:"to_plan"`
	PriceLabel     string    `json:"price_label"`
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// OrderStatuses are the statuses an order may have, for filters.
var OrderStatuses = []string{store.OrderCompleted, store.OrderPending, store.OrderRefused, store.OrderSuperseded}

// ListOrders returns the matching orders, newest first.
func (m *Manager) ListOrders(ctx context.Context, f store.OrderFilter) ([]*OrderView, error) {
	if f.Status != "" && !slices.Contains(OrderStatuses, f.Status) {
		return nil, invalid("status", "%q is not an order status (%s)", f.Status, strings.Join(OrderStatuses, ", "))
	}
	list, err := m.Store.ListOrders(ctx, f)
	if err != nil {
		return nil, problem.FromStore(err, "order", "")
	}
	out := make([]*OrderView, len(list))
	for i, o := range list {
		out[i] = &OrderView{ID: o.ID, OrganizationID: o.OrganizationID, AppID: o.AppID, DeveloperID: o.DeveloperID,
			ClientID: o.ClientID, API: o.APIName, SubscriptionID: o.SubscriptionID, Kind: o.Kind,
			FromPlan: o.FromPlan, ToPlan: o.ToPlan, PriceLabel: o.PriceLabel, Status: o.Status,
			CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
	}
	return out, nil
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
