package oauth

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/problem"
)

// TestErrorPageSharesTheRenderersPolicy checks that the HTML error page
// sends Retry-After and logs as the JSON renderers do (problem.Error.SetHeaders,
// problem.Renderer.Report), through the server's Logger when no Renderer is
// configured.
func TestErrorPageSharesTheRenderersPolicy(t *testing.T) {
	var logs bytes.Buffer
	e := newAuthzEnv(t, func(c *Config) {
		c.Render = nil
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	for _, tc := range []struct {
		p          *problem.Error
		status     int
		retryAfter string
		level      string
	}{
		{problem.New(problem.UnavailableStoreUnavailable, "").WithRetryAfter(1200 * time.Millisecond), 503, "2", "level=ERROR"},
		{problem.New(problem.TooManyRequestsRateLimited, "").WithRetryAfter(100 * time.Millisecond), 429, "1", "level=DEBUG"},
		{problem.New(problem.InvalidRequestClientIDUnknown, ""), 400, "", "level=DEBUG"},
		{problem.New(problem.AccessDeniedConsentDenied, ""), 403, "", "level=INFO"},
	} {
		t.Run(tc.p.Reason().String(), func(t *testing.T) {
			logs.Reset()
			w := httptest.NewRecorder()
			e.srv.errorPage(w, httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil), tc.p)
			if got, want := w.Code, tc.status; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := w.Header().Get("Retry-After"), tc.retryAfter; got != want {
				t.Errorf("Retry-After = %q, want %q", got, want)
			}
			line := logs.String()
			want := "error=" + tc.p.Entry.Key + " cause=" + tc.p.CauseID
			if !strings.Contains(line, "request failed") || !strings.Contains(line, want) || !strings.Contains(line, tc.level) {
				t.Errorf("log = %q, want a %s line with %s", line, tc.level, want)
			}
		})
	}
}
