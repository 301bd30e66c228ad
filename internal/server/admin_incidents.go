package server

import (
	"net/http"

	"gatehouse/internal/status"
)

// The operator's incidents, shown on the public status page (/status).

func (a *adminAPI) listIncidents(w http.ResponseWriter, r *http.Request) {
	list, err := a.s.deps.Status.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"incidents": list})
}

func (a *adminAPI) openIncident(w http.ResponseWriter, r *http.Request) {
	var req status.NewIncident
	err := decodeJSON(w, r, &req)
	if err == nil {
		var v *status.Incident
		if v, err = a.s.deps.Status.Open(r.Context(), req); err == nil {
			w.Header().Set("Location", "/admin/incidents/"+v.ID)
			writeAdminJSON(w, http.StatusCreated, v)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *adminAPI) updateIncident(w http.ResponseWriter, r *http.Request) {
	var req status.IncidentUpdate
	err := decodeJSON(w, r, &req)
	if err == nil {
		var v *status.Incident
		if v, err = a.s.deps.Status.Update(r.Context(), r.PathValue("id"), req); err == nil {
			writeAdminJSON(w, http.StatusOK, v)
			return
		}
	}
	a.fail(w, r, err)
}
