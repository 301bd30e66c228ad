package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"gatehouse/internal/problem"
)

// adminAPI is the operators' JSON API. It shares oauth.ClientManager with
// the CLI, so both apply the same rules. Its routes are in routes.go, its
// handlers one file per resource (admin_clients.go, admin_apis.go,
// admin_plans.go, admin_subscriptions.go, admin_usage.go, admin_keys.go),
// Idempotency-Key in idempotency.go, and the helpers they share here.
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
