package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"gatehouse/internal/problem"
)

// readForm checks the parts of a request every form-posting OAuth endpoint
// shares, in this order: method (405), Accept (406), declared size (413),
// Content-Type, then reads and parses the body without buffering more than
// the limit and rejects repeated parameters (RFC 6749 §3.2).
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) (url.Values, *problem.Error) {
	if r.Method != http.MethodPost {
		return nil, problem.Newf(problem.MethodNotAllowedMethodNotSupported,
			"%s is not allowed on %s; use POST.", r.Method, r.URL.Path).WithHeader("Allow", http.MethodPost)
	}
	if !acceptsJSON(r.Header.Values("Accept")) {
		return nil, problem.Newf(problem.NotAcceptableAcceptUnsatisfiable,
			"This endpoint answers application/json only; the request's Accept header (%q) excludes it.", r.Header.Get("Accept"))
	}
	limit := s.cfg.MaxFormBytes
	if r.ContentLength > limit {
		return nil, problem.Newf(problem.PayloadTooLargeDeclaredTooLarge,
			"The body is %d bytes; this endpoint accepts at most %d.", r.ContentLength, limit)
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, problem.Newf(problem.InvalidRequestWrongContentType,
			"The body must be application/x-www-form-urlencoded (RFC 6749 §3.2); got Content-Type %q.", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if p := problem.BodyTimeout(err); p != nil {
			return nil, p
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, problem.Newf(problem.PayloadTooLargeBodyTooLarge,
				"The body grew past %d bytes, the most this endpoint accepts.", limit)
		}
		return nil, problem.New(problem.InvalidRequestMalformedBody, "The request body could not be read completely.").Wrap(err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, problem.New(problem.InvalidRequestMalformedBody,
			"The form body is not valid application/x-www-form-urlencoded data (check the percent-encoding).").Wrap(err)
	}
	for k, vs := range form {
		if len(vs) > 1 {
			return nil, problem.Newf(problem.InvalidRequestRepeatedParameter,
				"The parameter %q appears %d times; send each parameter once (RFC 6749 §3.2).", k, len(vs))
		}
	}
	return form, nil
}

// require returns the named form parameter or an invalid_request error.
func require(form url.Values, name string) (string, *problem.Error) {
	v := form.Get(name)
	if v == "" {
		return "", problem.Newf(problem.InvalidRequestMissingParameter, "The %s parameter is required.", name)
	}
	return v, nil
}

// acceptsJSON reports whether the Accept header values allow
// application/json (RFC 9110 §12.5.1). No Accept header accepts anything.
func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mediaRange, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			mediaRange = strings.ToLower(strings.TrimSpace(mediaRange))
			if mediaRange != "application/json" && mediaRange != "application/*" && mediaRange != "*/*" {
				continue
			}
			if qZero(params) {
				continue
			}
			return true
		}
	}
	return false
}

// qZero reports whether media-range parameters carry q=0 ("not acceptable").
func qZero(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// parseScope splits a scope parameter (RFC 6749 §3.3) and checks every
// token's characters: %x21 / %x23-5B / %x5D-7E.
func parseScope(raw string) ([]string, *problem.Error) {
	if raw == "" {
		return nil, nil
	}
	scopes := strings.Split(raw, " ")
	seen := make(map[string]bool, len(scopes))
	out := scopes[:0]
	for _, sc := range scopes {
		if sc == "" {
			return nil, problem.New(problem.InvalidScopeMalformedScope,
				"The scope parameter must be scope tokens separated by single spaces (RFC 6749 §3.3).")
		}
		for i := 0; i < len(sc); i++ {
			c := sc[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, problem.Newf(problem.InvalidScopeMalformedScope,
					"The scope %q contains a character RFC 6749 §3.3 does not allow.", sc)
			}
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out, nil
}
