package problem_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/problem"
)

const docsURL = "https://dev.example.com/docs/errors"

// render runs one renderer on a fresh request and returns the recorder and
// the decoded JSON body (nil when the body is empty).
func render(t *testing.T, write func(http.ResponseWriter, *http.Request, error), method, correlator string, err error) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, "/sim-swap/v2/check", nil)
	if correlator != "" {
		r = r.WithContext(problem.WithCorrelator(r.Context(), correlator))
	}
	w := httptest.NewRecorder()
	write(w, r, err)
	if w.Body.Len() == 0 {
		return w, nil
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, w.Body)
	}
	return w, body
}

func checkHeaders(t *testing.T, w *httptest.ResponseRecorder, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func checkBody(t *testing.T, got, want map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("body:\n%s\nwant:\n%s", g, w)
	}
}

func TestOAuth(t *testing.T) {
	rd := &problem.Renderer{DocsURL: docsURL}
	err := problem.New(problem.InvalidGrantCodeExpired, "")
	w, body := render(t, rd.OAuth, http.MethodPost, "c-1", err)
	if got, want := w.Code, http.StatusBadRequest; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	checkHeaders(t, w, map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store",
		"Pragma":        "no-cache",
		"Retry-After":   "",
	})
	checkBody(t, body, map[string]any{
		"error":             "invalid_grant",
		"error_description": "The authorization code has expired; codes are valid for a short time only.",
		"error_uri":         docsURL + "#invalid_grant",
		"cause":             "code_expired",
		"correlator":        "c-1",
	})
}

func TestOAuthDetailAndNoCorrelator(t *testing.T) {
	rd := &problem.Renderer{}
	err := problem.New(problem.InvalidRequestMissingParameter, "The grant_type parameter is required.")
	_, body := render(t, rd.OAuth, http.MethodPost, "", err)
	checkBody(t, body, map[string]any{
		"error":             "invalid_request",
		"error_description": "The grant_type parameter is required.",
		"error_uri":         "/docs/errors#invalid_request",
		"cause":             "missing_parameter",
	})
}

func TestOAuthConcealed(t *testing.T) {
	rd := &problem.Renderer{DocsURL: docsURL}
	err := problem.New(problem.InvalidClientWrongSecret, "the secret was wrong").Conceal().
		WithHeader("WWW-Authenticate", `Basic realm="gatehouse"`)
	w, body := render(t, rd.OAuth, http.MethodPost, "", err)
	if got, want := w.Code, http.StatusUnauthorized; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	checkHeaders(t, w, map[string]string{"WWW-Authenticate": `Basic realm="gatehouse"`})
	entry, _ := problem.Lookup("invalid_client")
	checkBody(t, body, map[string]any{
		"error":             "invalid_client",
		"error_description": entry.Description,
		"error_uri":         docsURL + "#invalid_client",
	})
	if strings.Contains(w.Body.String(), "wrong_secret") || strings.Contains(w.Body.String(), "secret was wrong") {
		t.Errorf("concealed body names the cause: %s", w.Body)
	}
}

func TestOAuthFallbackCode(t *testing.T) {
	for _, tc := range []struct {
		reason problem.Reason
		want   string
	}{
		{problem.PayloadTooLargeBodyTooLarge, "invalid_request"},
		{problem.TooManyRequestsTokenEndpointRateLimited, "temporarily_unavailable"},
		{problem.QuotaExceededDayQuota, "temporarily_unavailable"},
		{problem.BadGatewayUpstreamError, "server_error"},
		{problem.UnavailableCircuitOpen, "temporarily_unavailable"},
		{problem.SlowDownPollingTooFast, "slow_down"},
	} {
		t.Run(tc.reason.Key(), func(t *testing.T) {
			_, body := render(t, (&problem.Renderer{}).OAuth, http.MethodPost, "", problem.New(tc.reason, ""))
			if got := body["error"]; got != tc.want {
				t.Errorf("error = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{time.Nanosecond, "1"},
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{2*time.Second + time.Millisecond, "3"},
		{time.Minute, "60"},
	} {
		err := problem.New(problem.TooManyRequestsRateLimited, "").WithRetryAfter(tc.d)
		for name, write := range map[string]func(http.ResponseWriter, *http.Request, error){
			"OAuth": (&problem.Renderer{}).OAuth,
			"API":   (&problem.Renderer{}).API,
			"Admin": (&problem.Renderer{}).Admin,
		} {
			w, _ := render(t, write, http.MethodPost, "", err)
			if got := w.Header().Get("Retry-After"); got != tc.want {
				t.Errorf("%s: Retry-After for %v = %q, want %q", name, tc.d, got, tc.want)
			}
		}
	}
}

func TestAPI(t *testing.T) {
	rd := &problem.Renderer{DocsURL: docsURL}
	err := problem.New(problem.InsufficientScopeScopeMissing, "This operation needs the sim-swap:check scope.").
		With("scope", "sim-swap:check").
		With("status", 999). // extension members never override standard ones
		WithHeader("WWW-Authenticate", `Bearer error="insufficient_scope", scope="sim-swap:check"`)
	w, body := render(t, rd.API, http.MethodPost, "c-2", err)
	if got, want := w.Code, http.StatusForbidden; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	checkHeaders(t, w, map[string]string{
		"Content-Type":     "application/json",
		"Cache-Control":    "no-store",
		"WWW-Authenticate": `Bearer error="insufficient_scope", scope="sim-swap:check"`,
		"Pragma":           "",
	})
	entry, _ := problem.Lookup("insufficient_scope")
	checkBody(t, body, map[string]any{
		// CAMARA ErrorInfo
		"status":  float64(403),
		"code":    "PERMISSION_DENIED",
		"message": "This operation needs the sim-swap:check scope.",
		// RFC 9457
		"type":     docsURL + "#insufficient_scope",
		"title":    "Insufficient Scope",
		"detail":   "This operation needs the sim-swap:check scope.",
		"instance": "/sim-swap/v2/check",
		// gatehouse extensions
		"cause":      map[string]any{"id": "scope_missing", "text": "The token lacks the scope this operation requires."},
		"fix":        entry.Fix,
		"correlator": "c-2",
		"scope":      "sim-swap:check",
	})
}

func TestAPIConcealed(t *testing.T) {
	err := problem.New(problem.InvalidTokenRevoked, "").Conceal()
	_, body := render(t, (&problem.Renderer{}).API, http.MethodGet, "c-3", err)
	entry, _ := problem.Lookup("invalid_token")
	checkBody(t, body, map[string]any{
		"status":     float64(401),
		"code":       "UNAUTHENTICATED",
		"message":    entry.Description,
		"type":       "/docs/errors#invalid_token",
		"title":      "Invalid Token",
		"detail":     entry.Description,
		"instance":   "/sim-swap/v2/check",
		"fix":        entry.Fix,
		"correlator": "c-3",
	})
}

func TestAPIAllowHeader(t *testing.T) {
	err := problem.New(problem.MethodNotAllowedMethodNotSupported, "").WithHeader("Allow", "POST")
	w, body := render(t, (&problem.Renderer{}).API, http.MethodGet, "", err)
	if got, want := w.Code, http.StatusMethodNotAllowed; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	checkHeaders(t, w, map[string]string{"Allow": "POST"})
	if got, want := body["code"], "METHOD_NOT_ALLOWED"; got != want {
		t.Errorf("code = %v, want %s", got, want)
	}
}

func TestAdmin(t *testing.T) {
	rd := &problem.Renderer{DocsURL: docsURL}
	err := problem.New(problem.AlreadyExistsDuplicate, "A plan named gold already exists.").With("name", "gold")
	w, body := render(t, rd.Admin, http.MethodPost, "c-4", err)
	if got, want := w.Code, http.StatusConflict; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	checkHeaders(t, w, map[string]string{
		"Content-Type":  "application/problem+json",
		"Cache-Control": "no-store",
	})
	entry, _ := problem.Lookup("already_exists")
	checkBody(t, body, map[string]any{
		"type":       docsURL + "#already_exists",
		"title":      "Already Exists",
		"status":     float64(409),
		"detail":     "A plan named gold already exists.",
		"instance":   "/sim-swap/v2/check",
		"code":       "already_exists",
		"cause":      map[string]any{"id": "duplicate", "text": entry.Causes[0].Text},
		"fix":        entry.Fix,
		"correlator": "c-4",
		"name":       "gold",
	})
}

func TestHeadWritesNoBody(t *testing.T) {
	for name, write := range map[string]func(http.ResponseWriter, *http.Request, error){
		"OAuth": (&problem.Renderer{}).OAuth,
		"API":   (&problem.Renderer{}).API,
		"Admin": (&problem.Renderer{}).Admin,
	} {
		t.Run(name, func(t *testing.T) {
			w, _ := render(t, write, http.MethodHead, "", problem.New(problem.NotFoundUnknownPath, ""))
			if got, want := w.Code, http.StatusNotFound; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if w.Body.Len() != 0 {
				t.Errorf("HEAD wrote a body: %q", w.Body)
			}
			if w.Header().Get("Content-Type") == "" {
				t.Error("HEAD lost the Content-Type header")
			}
		})
	}
}

func TestFromPlainError(t *testing.T) {
	var logs bytes.Buffer
	var observed *problem.Error
	rd := &problem.Renderer{
		Logger:  slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observe: func(_ *http.Request, p *problem.Error) { observed = p },
	}
	secret := errors.New("dial tcp 10.0.0.7:5432: connection refused")

	p := problem.From(secret)
	if got, want := p.Entry.Key+"/"+p.CauseID, "internal/unexpected"; got != want {
		t.Errorf("From = %s, want %s", got, want)
	}
	if got, want := p.Status(), 500; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if !errors.Is(p, secret) {
		t.Error("From does not keep the error for logs")
	}

	for name, write := range map[string]func(http.ResponseWriter, *http.Request, error){
		"OAuth": rd.OAuth,
		"API":   rd.API,
		"Admin": rd.Admin,
	} {
		t.Run(name, func(t *testing.T) {
			logs.Reset()
			observed = nil
			w, body := render(t, write, http.MethodPost, "c-5", secret)
			if got, want := w.Code, http.StatusInternalServerError; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if strings.Contains(w.Body.String(), "10.0.0.7") || strings.Contains(w.Body.String(), "connection refused") {
				t.Errorf("body leaks the error: %s", w.Body)
			}
			if body == nil {
				t.Fatal("no body")
			}
			if !strings.Contains(logs.String(), "connection refused") || !strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("error not logged at ERROR level: %s", logs.String())
			}
			if !strings.Contains(logs.String(), `"correlator":"c-5"`) {
				t.Errorf("log line lacks the correlator: %s", logs.String())
			}
			if observed == nil || observed.Entry.Key != "internal" {
				t.Errorf("Observe got %v, want the internal error", observed)
			}
		})
	}
}

func TestFromPassesRegistryErrorsThrough(t *testing.T) {
	p := problem.New(problem.TimeoutUpstreamTimeout, "")
	if got := problem.From(fmt.Errorf("proxy: %w", p)); got != p {
		t.Errorf("From(wrapped) = %v, want the registry error", got)
	}
	_, body := render(t, (&problem.Renderer{}).API, http.MethodPost, "", fmt.Errorf("proxy: %w", p))
	if got, want := body["code"], "TIMEOUT"; got != want {
		t.Errorf("code = %v, want %s", got, want)
	}
}

func TestMessage(t *testing.T) {
	p := problem.New(problem.BadGatewayConnectionRefused, "")
	if got, want := p.Message(), "The upstream service refused the connection."; got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
	p.Detail = "The SIM Swap backend refused the connection."
	if got, want := p.Message(), p.Detail; got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
	p.Conceal()
	if got, want := p.Message(), p.Entry.Description; got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
}

func TestReasonForUnknownNames(t *testing.T) {
	for _, tc := range []struct{ key, cause string }{
		{"no_such_entry", "unexpected"},
		{"internal", "no_such_cause"},
		{"invalid_grant", "wrong_secret"}, // a cause of another entry
	} {
		if r, ok := problem.ReasonFor(tc.key, tc.cause); ok {
			t.Errorf("ReasonFor(%q, %q) = %v, true", tc.key, tc.cause, r)
		}
	}
	r, ok := problem.ReasonFor("invalid_grant", "code_expired")
	if !ok || r != problem.InvalidGrantCodeExpired {
		t.Errorf("ReasonFor(invalid_grant, code_expired) = %v, %v", r, ok)
	}
}

func TestNewPanicsOnTheZeroReason(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New(Reason{}) did not panic")
		}
	}()
	problem.New(problem.Reason{}, "")
}
