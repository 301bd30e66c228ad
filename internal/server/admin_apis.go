package server

import (
	"net/http"

	"gatehouse/internal/gateway"
	"gatehouse/internal/problem"
)

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
	// TryLive opens a live API to the portal's try-it console.
	TryLive bool `json:"try_live"`
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
		TryLive: req.TryLive,
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
