package developers

import (
	"context"
	"errors"
	"slices"

	"gatehouse/internal/oauth"
	"gatehouse/internal/plans"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// Purchases: an app subscribes to a live API on a plan with its production
// credential, which the first subscription creates. Every subscribe,
// change and cancellation is an order (plans.Manager writes it with the
// change, in one transaction). Owners and admins buy; developers read.

// SandboxPlan is the free plan of the sandbox APIs, which no live API is
// sold on.
const SandboxPlan = plans.Sandbox

// Purchase is what a subscription left to show.
type Purchase struct {
	Subscription *plans.SubscriptionView
	// Credential is the production credential created for it, with its
	// secret (shown once); nil when the app had one, or when the
	// subscription waits for approval (the secret is issued once it is
	// approved, by rotating: a key that cannot call anything yet is never
	// handed out).
	Credential *oauth.ClientView
}

// canBuy checks the developer's access to the app and that their role
// may place orders.
func (m *Manager) canBuy(ctx context.Context, developerID, appID string) (*AppView, error) {
	v, role, err := m.App(ctx, developerID, appID)
	if err != nil {
		return nil, err
	}
	if role == store.RoleDeveloper {
		return nil, problem.New(problem.PermissionDeniedRoleInsufficient,
			"Only the organisation's owners and admins can subscribe, change plans or cancel; ask one of them.")
	}
	return v, nil
}

func (m *Manager) actor(developerID string, v *AppView) plans.Actor {
	return plans.Actor{DeveloperID: developerID, OrganizationID: v.OrganizationID, AppID: v.ID}
}

// Subscribe subscribes the app to a live API on a plan.
func (m *Manager) Subscribe(ctx context.Context, developerID, appID, apiName, planName string) (*Purchase, error) {
	v, err := m.canBuy(ctx, developerID, appID)
	if err != nil {
		return nil, err
	}
	api, err := m.Store.GetAPI(ctx, apiName)
	if err != nil {
		return nil, problem.FromStore(err, "API", apiName)
	}
	if api.Status == store.APISandbox {
		return nil, problem.Newf(problem.IncompatibleStateWrongState,
			"%s is a sandbox API: it needs no subscription, and the app's sandbox credentials call it on the free sandbox plan.", api.Title)
	}
	if planName == SandboxPlan {
		return nil, problem.Newf(problem.BadRequestInvalidParameter,
			"plan: the %s plan is the free plan of the sandbox APIs; choose another plan for %s.", SandboxPlan, api.Title).With("field", "plan")
	}
	scopes, err := m.APIScopes(ctx, apiName)
	if err != nil {
		return nil, err
	}
	var created *oauth.ClientView
	cred := v.Production
	if cred == nil {
		created, err = m.createCredential(ctx, v.App, store.EnvironmentProduction, AppSpec{GrantTypes: v.grants()})
		if err != nil {
			return nil, err
		}
		cred = created
	}
	if missing := slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return slices.Contains(cred.Scopes, s) }); len(missing) > 0 {
		all := append(slices.Clone(cred.Scopes), missing...)
		if _, err := m.Clients.Update(ctx, cred.ClientID, oauth.ClientSpec{Scopes: &all}); err != nil {
			m.dropCreated(ctx, created)
			return nil, err
		}
	}
	sub, err := m.Plans.Subscribe(ctx, m.actor(developerID, v), cred.ClientID, apiName, planName)
	if err != nil {
		// A credential made for a purchase that did not happen would be
		// a production key with nothing to call: remove it.
		m.dropCreated(ctx, created)
		return nil, err
	}
	p := &Purchase{Subscription: sub}
	if created != nil && sub.Status == store.SubscriptionActive {
		p.Credential = created
	}
	return p, nil
}

func (m *Manager) dropCreated(ctx context.Context, created *oauth.ClientView) {
	if created != nil {
		_ = m.Clients.Delete(context.WithoutCancel(ctx), created.ClientID)
	}
}

// subscriptionOf returns a subscription of one of the developer's apps,
// with the app.
func (m *Manager) subscriptionOf(ctx context.Context, developerID, subID string) (*AppView, error) {
	s, err := m.Plans.GetSubscription(ctx, subID)
	if err != nil {
		var pe *problem.Error
		if errors.As(err, &pe) && pe.Entry.Key == "not_found" {
			return nil, notYours("subscription", subID)
		}
		return nil, err
	}
	c, err := m.Store.GetClient(ctx, s.ClientID)
	if err != nil || c.AppID == "" {
		return nil, notYours("subscription", subID)
	}
	return m.canBuy(ctx, developerID, c.AppID)
}

// ChangePlan moves one of the developer's subscriptions to another plan
// (see plans.Manager.ChangePlan: at once, or pending approval with the
// current plan kept in force).
func (m *Manager) ChangePlan(ctx context.Context, developerID, subID, planName string) (*plans.SubscriptionView, *AppView, error) {
	if planName == SandboxPlan {
		return nil, nil, problem.Newf(problem.BadRequestInvalidParameter,
			"plan: the %s plan is the free plan of the sandbox APIs; choose another plan.", SandboxPlan).With("field", "plan")
	}
	v, err := m.subscriptionOf(ctx, developerID, subID)
	if err != nil {
		return nil, nil, err
	}
	s, err := m.Plans.ChangePlan(ctx, m.actor(developerID, v), subID, planName)
	return s, v, err
}

// Cancel ends one of the developer's subscriptions.
func (m *Manager) Cancel(ctx context.Context, developerID, subID string) (*AppView, error) {
	v, err := m.subscriptionOf(ctx, developerID, subID)
	if err != nil {
		return nil, err
	}
	return v, m.Plans.Unsubscribe(ctx, m.actor(developerID, v), subID)
}

// Subscriptions returns the app's subscriptions and its orders, newest
// first.
func (m *Manager) Subscriptions(ctx context.Context, v *AppView) ([]*plans.SubscriptionView, []*plans.OrderView, error) {
	var subs []*plans.SubscriptionView
	if v.Production != nil {
		var err error
		if subs, err = m.Plans.ListSubscriptions(ctx, store.SubscriptionFilter{ClientID: v.Production.ClientID}); err != nil {
			return nil, nil, err
		}
	}
	orders, err := m.Plans.ListOrders(ctx, store.OrderFilter{AppID: v.ID})
	if err != nil {
		return nil, nil, err
	}
	return subs, orders, nil
}
