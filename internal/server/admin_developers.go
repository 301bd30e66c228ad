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
