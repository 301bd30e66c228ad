package server

import (
	"maps"
	"net/http"
	"slices"

	"gatehouse/internal/plans"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

type subscriptionRequest struct {
	ClientID string `json:"client_id"`
	API      string `json:"api"`
	Plan     string `json:"plan"`
}

func (a *adminAPI) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	list, err := a.s.deps.Plans.ListSubscriptions(r.Context(), store.SubscriptionFilter{ClientID: q.Get("client_id"), APIName: q.Get("api")})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"subscriptions": list})
}

func (a *adminAPI) createSubscription(w http.ResponseWriter, r *http.Request) {
	var req subscriptionRequest
	err := decodeJSON(w, r, &req)
	if err == nil {
		for field, v := range map[string]string{"client_id": req.ClientID, "api": req.API, "plan": req.Plan} {
			if v == "" {
				a.fail(w, r, problem.Newf(problem.BadRequestInvalidParameter, "%s is required.", field).With("field", field))
				return
			}
		}
		var v *plans.SubscriptionView
		if v, err = a.s.deps.Plans.Subscribe(r.Context(), plans.Operator, req.ClientID, req.API, req.Plan); err == nil {
			w.Header().Set("Location", "/admin/subscriptions/"+v.ID)
			writeAdminJSON(w, http.StatusCreated, v)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *adminAPI) getSubscription(w http.ResponseWriter, r *http.Request) {
	v, err := a.s.deps.Plans.GetSubscription(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, v)
}

func (a *adminAPI) updateSubscription(w http.ResponseWriter, r *http.Request) {
	var req subscriptionRequest
	err := decodeJSON(w, r, &req)
	if err == nil {
		if req.Plan == "" || req.ClientID != "" || req.API != "" {
			a.fail(w, r, problem.New(problem.BadRequestInvalidParameter,
				"plan: send only the new plan; a subscription's app and API do not change.").With("field", "plan"))
			return
		}
		var v *plans.SubscriptionView
		if v, err = a.s.deps.Plans.ChangePlan(r.Context(), plans.Operator, r.PathValue("id"), req.Plan); err == nil {
			writeAdminJSON(w, http.StatusOK, v)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *adminAPI) approveSubscription(w http.ResponseWriter, r *http.Request) {
	v, err := a.s.deps.Plans.Approve(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, v)
}

// refuseSubscription refuses what a subscription has waiting, like
// approve: 200 with the subscription as it stays, or 204 when the
// refused subscription was new and is deleted.
func (a *adminAPI) refuseSubscription(w http.ResponseWriter, r *http.Request) {
	v, err := a.s.deps.Plans.Refuse(r.Context(), r.PathValue("id"))
	switch {
	case err != nil:
		a.fail(w, r, err)
	case v == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeAdminJSON(w, http.StatusOK, v)
	}
}

// orderFilters are the query parameters of GET /admin/orders and the
// filter field each sets.
var orderFilters = map[string]func(f *store.OrderFilter) *string{
	"organization_id": func(f *store.OrderFilter) *string { return &f.OrganizationID },
	"app_id":          func(f *store.OrderFilter) *string { return &f.AppID },
	"client_id":       func(f *store.OrderFilter) *string { return &f.ClientID },
	"subscription_id": func(f *store.OrderFilter) *string { return &f.SubscriptionID },
	"status":          func(f *store.OrderFilter) *string { return &f.Status },
}

// listOrders returns the orders, newest first, filtered by the query
// parameters. An unknown or repeated parameter is refused rather than
// ignored: a misspelt filter would otherwise list every order.
func (a *adminAPI) listOrders(w http.ResponseWriter, r *http.Request) {
	var f store.OrderFilter
	q := r.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) { // the same error for the same query
		values := q[name]
		field, ok := orderFilters[name]
		switch {
		case !ok:
			a.fail(w, r, problem.Newf(problem.BadRequestInvalidParameter,
				"%s: not a filter of orders (organization_id, app_id, client_id, subscription_id, status).", name).With("field", name))
			return
		case len(values) != 1:
			a.fail(w, r, problem.Newf(problem.BadRequestInvalidParameter, "%s: give it once.", name).With("field", name))
			return
		}
		*field(&f) = values[0]
	}
	list, err := a.s.deps.Plans.ListOrders(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"orders": list})
}

func (a *adminAPI) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	if err := a.s.deps.Plans.Unsubscribe(r.Context(), plans.Operator, r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
