package server

import (
	"net/http"
	"time"

	"gatehouse/internal/plans"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// planRequest creates a plan: its name and fields.
type planRequest struct {
	Name string `json:"name"`
	plans.PlanSpec
}

func (a *adminAPI) listPlans(w http.ResponseWriter, r *http.Request) {
	list, err := a.s.deps.Plans.ListPlans(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"plans": list})
}

func (a *adminAPI) createPlan(w http.ResponseWriter, r *http.Request) {
	var req planRequest
	err := decodeJSON(w, r, &req)
	if err == nil {
		var v *plans.PlanView
		if v, err = a.s.deps.Plans.CreatePlan(r.Context(), req.Name, req.PlanSpec); err == nil {
			w.Header().Set("Location", "/admin/plans/"+v.Name)
			writeAdminJSON(w, http.StatusCreated, v)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *adminAPI) getPlan(w http.ResponseWriter, r *http.Request) {
	v, err := a.s.deps.Plans.GetPlan(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, v)
}

func (a *adminAPI) updatePlan(w http.ResponseWriter, r *http.Request) {
	var spec plans.PlanSpec
	err := decodeJSON(w, r, &spec)
	if err == nil {
		var v *plans.PlanView
		if v, err = a.s.deps.Plans.UpdatePlan(r.Context(), r.PathValue("name"), spec); err == nil {
			writeAdminJSON(w, http.StatusOK, v)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *adminAPI) deletePlan(w http.ResponseWriter, r *http.Request) {
	if err := a.s.deps.Plans.DeletePlan(r.Context(), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// subscriptionRequest creates a subscription, or changes its plan.
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
		if v, err = a.s.deps.Plans.Subscribe(r.Context(), req.ClientID, req.API, req.Plan); err == nil {
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
		if v, err = a.s.deps.Plans.ChangePlan(r.Context(), r.PathValue("id"), req.Plan); err == nil {
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

func (a *adminAPI) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	if err := a.s.deps.Plans.Unsubscribe(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// usageView is one usage bucket as the admin API returns it.
type usageView struct {
	ClientID     string    `json:"client_id"`
	API          string    `json:"api"`
	Hour         time.Time `json:"hour"`
	Status       int       `json:"status"`
	Error        string    `json:"error,omitempty"`
	Count        int64     `json:"count"`
	LatencySumUs int64     `json:"latency_sum_us"`
	LatencyMaxUs int64     `json:"latency_max_us"`
}

// listUsage returns usage buckets; from and to are RFC 3339 times
// (default: the last 24 hours).
func (a *adminAPI) listUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := time.Now().UTC()
	f := store.UsageFilter{ClientID: q.Get("client_id"), APIName: q.Get("api"), From: now.Add(-24 * time.Hour).Truncate(time.Hour), To: now.Add(time.Hour)}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				a.fail(w, r, problem.Newf(problem.BadRequestInvalidParameter, "%s: %q is not an RFC 3339 time.", name, v).With("field", name))
				return
			}
			*dst = t
		}
	}
	recs, err := a.s.deps.Usage.ListUsage(r.Context(), f)
	if err != nil {
		a.fail(w, r, problem.FromStore(err, "usage", ""))
		return
	}
	out := make([]usageView, len(recs))
	for i, u := range recs {
		out[i] = usageView{ClientID: u.ClientID, API: u.APIName, Hour: u.Hour, Status: u.Status, Error: u.Error,
			Count: u.Count, LatencySumUs: u.LatencySum, LatencyMaxUs: u.LatencyMax}
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"from": f.From, "to": f.To, "usage": out})
}
