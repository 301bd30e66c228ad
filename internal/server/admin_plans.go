package server

import (
	"net/http"

	"gatehouse/internal/plans"
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
