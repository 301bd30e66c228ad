// Package plans is what developers buy: plans (a rate with a burst and
// request quotas) and subscriptions binding an app to an API on a plan. The
// admin API, the CLI and the portal change them through the managers here,
// so every channel applies the same rules; the gateway enforces them.
package plans

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
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

// DeletePlan deletes a plan no subscription uses.
func (m *Manager) DeletePlan(ctx context.Context, name string) error {
	if err := m.Store.DeletePlan(ctx, name); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return problem.Newf(problem.ConflictResourceInUse,
				"The plan %q has subscribers; move them to another plan first.", name)
		}
		return problem.FromStore(err, "plan", name)
	}
	m.changed()
	return nil
}

// SubscriptionView is a subscription as operators and developers see it.
type SubscriptionView struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	API       string    `json:"api"`
	Plan      string    `json:"plan"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewSubscription(s *store.Subscription) *SubscriptionView {
	return &SubscriptionView{ID: s.ID, ClientID: s.ClientID, API: s.APIName, Plan: s.PlanName, Status: s.Status,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

// Subscribe subscribes an app to an API on a plan: "purchase". Plans that
// need approval start pending.
func (m *Manager) Subscribe(ctx context.Context, clientID, apiName, planName string) (*SubscriptionView, error) {
	if _, err := m.Store.GetClient(ctx, clientID); err != nil {
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
	if plan.RequiresApproval {
		s.Status = store.SubscriptionPending
	}
	if err := m.Store.CreateSubscription(ctx, s); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, problem.Newf(problem.AlreadyExistsDuplicate,
				"The app %s is already subscribed to %s; change its plan instead.", clientID, apiName)
		}
		return nil, problem.FromStore(err, "subscription", s.ID)
	}
	m.changed()
	return viewSubscription(s), nil
}

// ChangePlan moves a subscription to another plan (upgrade or downgrade);
// it applies to the next request. A plan that needs approval makes the
// subscription pending again.
func (m *Manager) ChangePlan(ctx context.Context, id, planName string) (*SubscriptionView, error) {
	plan, err := m.Store.GetPlan(ctx, planName)
	if err != nil {
		return nil, problem.FromStore(err, "plan", planName)
	}
	s, err := m.Store.UpdateSubscription(ctx, id, func(s *store.Subscription) error {
		if s.PlanName != planName {
			s.PlanName = planName
			if plan.RequiresApproval {
				s.Status = store.SubscriptionPending
			}
		}
		s.UpdatedAt = m.now()
		return nil
	})
	if err != nil {
		return nil, problem.FromStore(err, "subscription", id)
	}
	m.changed()
	return viewSubscription(s), nil
}

// Approve activates a pending subscription.
func (m *Manager) Approve(ctx context.Context, id string) (*SubscriptionView, error) {
	s, err := m.Store.UpdateSubscription(ctx, id, func(s *store.Subscription) error {
		s.Status = store.SubscriptionActive
		s.UpdatedAt = m.now()
		return nil
	})
	if err != nil {
		return nil, problem.FromStore(err, "subscription", id)
	}
	m.changed()
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

// Unsubscribe deletes a subscription.
func (m *Manager) Unsubscribe(ctx context.Context, id string) error {
	if err := m.Store.DeleteSubscription(ctx, id); err != nil {
		return problem.FromStore(err, "subscription", id)
	}
	m.changed()
	return nil
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
