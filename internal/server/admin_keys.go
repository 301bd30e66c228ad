package server

import (
	"net/http"

	"gatehouse/internal/problem"
)

func (a *adminAPI) listKeys(w http.ResponseWriter, r *http.Request) {
	list, err := a.s.deps.Keys.List(r.Context())
	if err != nil {
		a.fail(w, r, problem.FromStore(err, "signing key", ""))
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"keys": list})
}

func (a *adminAPI) rotateKeys(w http.ResponseWriter, r *http.Request) {
	kid, err := a.s.deps.Keys.Rotate(r.Context())
	if err == nil {
		err = a.s.deps.Keys.Refresh(r.Context())
	}
	if err != nil {
		a.fail(w, r, problem.FromStore(err, "signing key", kid))
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]string{"kid": kid})
}
