package server

import (
	"net/http"

	"gatehouse/internal/problem"
)

// The operator's side of developer accounts: list them, approve a pending
// sign-up (portal_approve_signups), suspend or reinstate one.

func (a *adminAPI) developersOff(w http.ResponseWriter, r *http.Request) bool {
	if a.s.deps.Developers == nil {
		a.fail(w, r, problem.New(problem.NotFoundUnknownPath, "Developer accounts belong to the portal, which is turned off (portal: false)."))
		return true
	}
	return false
}

func (a *adminAPI) listDevelopers(w http.ResponseWriter, r *http.Request) {
	if a.developersOff(w, r) {
		return
	}
	list, err := a.s.deps.Developers.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"developers": list})
}

// developerStatus answers POST /admin/developers/{id}/approve, /suspend
// and /reinstate.
func (a *adminAPI) developerStatus(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.developersOff(w, r) {
			return
		}
		v, err := a.s.deps.Developers.SetStatus(r.Context(), r.PathValue("id"), status)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeAdminJSON(w, http.StatusOK, v)
	}
}

// appStatus suspends or reinstates a portal app (all its credentials).
func (a *adminAPI) appStatus(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.s.deps.Developers == nil {
			a.fail(w, r, problem.New(problem.NotFoundUnknownPath, "The portal is off: there are no portal apps."))
			return
		}
		app, err := a.s.deps.Developers.SetAppStatus(r.Context(), r.PathValue("id"), status)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeAdminJSON(w, http.StatusOK, map[string]any{"id": app.ID, "name": app.Name, "organization_id": app.OrganizationID, "status": status})
	}
}
