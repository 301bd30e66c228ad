package server

import (
	"net/http"

	"gatehouse/internal/oauth"
)

func (a *adminAPI) listClients(w http.ResponseWriter, r *http.Request) {
	list, err := a.s.deps.Clients.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"clients": list})
}

func (a *adminAPI) createClient(w http.ResponseWriter, r *http.Request) {
	var spec oauth.ClientSpec
	err := decodeJSON(w, r, &spec)
	if err == nil {
		spec.ID = idempotentClientID(r.Context())
		var v *oauth.ClientView
		if v, err = a.s.deps.Clients.Create(r.Context(), spec); err == nil {
			w.Header().Set("Location", "/admin/clients/"+v.ClientID)
			writeAdminJSON(w, http.StatusCreated, v)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *adminAPI) getClient(w http.ResponseWriter, r *http.Request) {
	v, err := a.s.deps.Clients.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, v)
}

func (a *adminAPI) updateClient(w http.ResponseWriter, r *http.Request) {
	var spec oauth.ClientSpec
	err := decodeJSON(w, r, &spec)
	if err == nil {
		var v *oauth.ClientView
		if v, err = a.s.deps.Clients.Update(r.Context(), r.PathValue("id"), spec); err == nil {
			writeAdminJSON(w, http.StatusOK, v)
			return
		}
	}
	a.fail(w, r, err)
}

func (a *adminAPI) deleteClient(w http.ResponseWriter, r *http.Request) {
	if err := a.s.deps.Clients.Delete(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *adminAPI) rotateSecret(w http.ResponseWriter, r *http.Request) {
	v, err := a.s.deps.Clients.RotateSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, v)
}
