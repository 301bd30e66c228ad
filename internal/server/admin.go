package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"gatehouse/internal/gateway"
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

// decodeJSON reads a JSON request body into v, rejecting unknown fields so
// typos are reported instead of silently ignored.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return problem.Newf(problem.UnsupportedMediaTypeContentTypeUnsupported,
			"Send the body as application/json; got Content-Type %q.", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return problem.Newf(problem.PayloadTooLargeBodyTooLarge, "The body exceeds %d bytes.", maxAdminBody)
		}
		if errors.Is(err, io.EOF) {
			return problem.New(problem.BadRequestMalformedBody, "The body is empty; send a JSON object.")
		}
		return problem.Newf(problem.BadRequestMalformedBody, "The body is not the expected JSON: %v.", err)
	}
	return nil
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

// importRequest is the admin API's body for importing an API: the OpenAPI
// document as a string (YAML or JSON) and the operator's choices.
type importRequest struct {
	Name           string `json:"name"`
	BasePath       string `json:"base_path"`
	UpstreamURL    string `json:"upstream_url"`
	Status         string `json:"status"`
	MaxBodyBytes   int64  `json:"max_body_bytes"`
	ErrorMediaType string `json:"error_media_type"`
	Document       string `json:"document"`
	// Upstream TLS: PEM texts; the key is sealed and never shown again.
	UpstreamCAPEM          string `json:"upstream_ca_pem"`
	UpstreamServerName     string `json:"upstream_server_name"`
	UpstreamClientCertPEM  string `json:"upstream_client_cert_pem"`
	UpstreamClientKeyPEM   string `json:"upstream_client_key_pem"`
	AllowUnderscoreHeaders bool   `json:"allow_underscore_headers"`
	// Circuit breaker: 0 means the platform's setting.
	BreakerFailures   int   `json:"breaker_failures"`
	BreakerPauseMS    int64 `json:"breaker_pause_ms"`
	BreakerMaxPauseMS int64 `json:"breaker_max_pause_ms"`
}

// updateRequest changes an API; a document, when given, replaces the old.
type updateRequest struct {
	gateway.APIUpdate
	Document *string `json:"document,omitempty"`
}

func (a *adminAPI) listAPIs(w http.ResponseWriter, r *http.Request) {
	list, err := a.s.deps.APIs.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"apis": list})
}

func (a *adminAPI) importAPI(w http.ResponseWriter, r *http.Request) {
	var req importRequest
	if err := decodeJSON(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Document == "" {
		a.fail(w, r, problem.New(problem.BadRequestInvalidParameter, "document: the OpenAPI document (YAML or JSON text) is required.").With("field", "document"))
		return
	}
	v, err := a.s.deps.APIs.Import(r.Context(), []byte(req.Document), gateway.ImportOptions{
		Name: req.Name, BasePath: req.BasePath, Upstream: req.UpstreamURL, Status: req.Status, MaxBodyBytes: req.MaxBodyBytes,
		ErrorMediaType: req.ErrorMediaType, UpstreamCAPEM: req.UpstreamCAPEM, UpstreamServerName: req.UpstreamServerName,
		UpstreamClientCertPEM: req.UpstreamClientCertPEM, UpstreamClientKeyPEM: req.UpstreamClientKeyPEM,
		AllowUnderscoreHeaders: req.AllowUnderscoreHeaders,
		BreakerFailures:        req.BreakerFailures, BreakerPauseMS: req.BreakerPauseMS, BreakerMaxPauseMS: req.BreakerMaxPauseMS,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/admin/apis/"+v.Name)
	writeAdminJSON(w, http.StatusCreated, v)
}

func (a *adminAPI) getAPI(w http.ResponseWriter, r *http.Request) {
	v, err := a.s.deps.APIs.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, v)
}

func (a *adminAPI) getAPIDocument(w http.ResponseWriter, r *http.Request) {
	doc, err := a.s.deps.APIs.Document(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ct := "application/yaml"
	if len(doc) > 0 && doc[0] == '{' {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(doc)
}

func (a *adminAPI) updateAPI(w http.ResponseWriter, r *http.Request) {
	var req updateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Document != nil {
		req.APIUpdate.Document = []byte(*req.Document)
	}
	v, err := a.s.deps.APIs.Update(r.Context(), r.PathValue("name"), req.APIUpdate)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, v)
}

func (a *adminAPI) deleteAPI(w http.ResponseWriter, r *http.Request) {
	if err := a.s.deps.APIs.Delete(r.Context(), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
