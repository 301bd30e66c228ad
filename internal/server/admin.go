package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"gatehouse/internal/oauth"
	"gatehouse/internal/problem"
)

// adminAPI is the operators' JSON API. It shares oauth.ClientManager with
// the CLI, so both apply the same rules.
type adminAPI struct{ s *Server }

const maxAdminBody = 1 << 20

func (a *adminAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.s.deps.Render.Admin(w, r, err)
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decodeSpec reads a JSON client spec, rejecting unknown fields so typos
// are reported instead of silently ignored.
func decodeSpec(w http.ResponseWriter, r *http.Request) (oauth.ClientSpec, error) {
	var spec oauth.ClientSpec
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return spec, problem.Newf("unsupported_media_type", "content_type_unsupported",
			"Send the body as application/json; got Content-Type %q.", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return spec, problem.Newf("payload_too_large", "body_too_large", "The body exceeds %d bytes.", maxAdminBody)
		}
		if errors.Is(err, io.EOF) {
			return spec, problem.New("bad_request", "malformed_body", "The body is empty; send a JSON object.")
		}
		return spec, problem.Newf("bad_request", "malformed_body", "The body is not the expected JSON: %v.", err)
	}
	return spec, nil
}

func (a *adminAPI) listClients(w http.ResponseWriter, r *http.Request) {
	list, err := a.s.deps.Clients.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"clients": list})
}

func (a *adminAPI) createClient(w http.ResponseWriter, r *http.Request) {
	spec, err := decodeSpec(w, r)
	if err == nil {
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
	spec, err := decodeSpec(w, r)
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

func (a *adminAPI) listKeys(w http.ResponseWriter, r *http.Request) {
	list, err := a.s.deps.Keys.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
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
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]string{"kid": kid})
}
