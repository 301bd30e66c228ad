package server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/config"
)

// The portal answers its paths on the public listener, beside the API
// paths; `portal: false` hands them back to the gateway's 404, and the
// platform's own routes are unaffected either way.
func TestPortalRoutes(t *testing.T) {
	t.Parallel()
	get := func(base, path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	on := newTestPlatform(t, func(c *config.Config) { c.PortalName = "Acme Telecom" })
	for _, path := range []string{"/", "/portal/apis", "/portal/apis/sim-swap", "/portal/plans", "/llms.txt"} {
		if status, _, body := get(on.Issuer, path); status != 200 || !strings.Contains(body, "Acme Telecom") && path != "/llms.txt" {
			t.Errorf("portal on: GET %s = %d (branded: %v)", path, status, strings.Contains(body, "Acme Telecom"))
		}
	}
	if status, ct, _ := get(on.Issuer, "/portal/nope"); status != 404 || !strings.HasPrefix(ct, "text/html") {
		t.Errorf("portal on: GET /portal/nope = %d %s, want the portal's HTML 404", status, ct)
	}
	if status, _, body := get(on.Issuer, "/.well-known/openid-configuration"); status != 200 || !strings.Contains(body, `"issuer"`) {
		t.Errorf("portal on: discovery = %d", status)
	}

	off := newTestPlatform(t, func(c *config.Config) { c.Portal = false })
	for _, path := range []string{"/", "/portal/apis", "/llms.txt", "/static/style.css"} {
		status, ct, body := get(off.Issuer, path)
		if status != 404 || !strings.HasPrefix(ct, "application/") || !strings.Contains(body, `"NOT_FOUND"`) {
			t.Errorf("portal off: GET %s = %d %s %s, want the gateway's 404", path, status, ct, body)
		}
	}
}
