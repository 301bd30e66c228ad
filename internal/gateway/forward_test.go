package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/gateway"
	"gatehouse/internal/store"
	"gatehouse/internal/testhttp"
)

// forwardHarness starts a harness with the items API on a recording
// upstream and an app subscribed to it; it returns the app's token.
func forwardHarness(t *testing.T) (h *harness, rec *testhttp.Recorder, tok string) {
	t.Helper()
	rec = testhttp.NewRecorder(t)
	h = newHarness(t, nil)
	h.importAPI(testhttp.ItemsAPI, gateway.ImportOptions{Upstream: rec.URL + "/up", Name: "items", BasePath: "/items/v1"})
	app := h.createClient("forward app", "items:read")
	h.subscribeUnmetered(app, "items")
	tok = h.token(app, "items:read")
	if resp, b := h.send(t, testhttp.Request{Method: http.MethodGet, Path: "/items/v1/items/1", Token: tok}); resp.StatusCode != http.StatusOK {
		t.Fatalf("the items API does not serve the app: %d %s", resp.StatusCode, b)
	}
	rec.Take()
	return h, rec, tok
}

// TestForwardTarget sends crafted request-targets of the security review
// (issue 9) over a raw connection: each is refused with its own cause and
// never reaches the upstream, or reaches it exactly canonical. Targets Go's
// server refuses before any handler are in cmd/gatehouse.
func TestForwardTarget(t *testing.T) {
	t.Parallel()
	h, rec, tok := forwardHarness(t)
	cases := []struct {
		target string
		status int
		cause  string // refused with this cause
		code   string // and this CAMARA code; default INVALID_ARGUMENT
		want   string // else the request-target the upstream receives
	}{
		{target: "/items/v1/items/x%00y", status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/x%09y", status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/x%7Fy", status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/x%0d%0aX-Injected:%201", status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/1%3Flimit=1000", status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/1%23frag", status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/1#frag", status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/a%2Fb", status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/a%2fb", status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/a%5Cb", status: 400, cause: "path_encoded_delimiter"},
		{target: `/items/v1/items/a\b`, status: 400, cause: "path_encoded_delimiter"},
		{target: "/items/v1/items/../../admin", status: 400, cause: "path_dot_segment"},
		{target: "/items/v1/../items/v1/items/1", status: 400, cause: "path_dot_segment"},
		{target: "/items/v1/items/%2e%2e/1", status: 400, cause: "path_dot_segment"},
		{target: "/items/v1/items/%2E/1", status: 400, cause: "path_dot_segment"},
		{target: "/items/v1/items/./1", status: 400, cause: "path_dot_segment"},
		{target: "/items/v1/items/..", status: 400, cause: "path_dot_segment"},
		{target: "/items/v1/items/1?limit=5;limit=1000", status: 400, cause: "query_not_canonical"},
		{target: "/items/v1/items/1?limit=5&x=%zz", status: 400, cause: "query_not_canonical"},
		{target: "/items/v1/items/1?limit=5%", status: 400, cause: "query_not_canonical"},
		{target: "/items/v1/items/1?limit=1000", status: 400, cause: "value_out_of_range", code: "OUT_OF_RANGE"},

		{target: "/items/v1/items/a%20b", status: 200, want: "/up/items/a%20b"},
		{target: "/items/v1/items/%61bc", status: 200, want: "/up/items/abc"},
		{target: "/items/v1/items/caf%c3%a9", status: 200, want: "/up/items/caf%C3%A9"},
		{target: "/items/v1/items/a%25b", status: 200, want: "/up/items/a%25b"},
		{target: "/items/v1/items/a.b..c", status: 200, want: "/up/items/a.b..c"},
		{target: "/items/v1/items/1?limit=5&q=a%20b", status: 200, want: "/up/items/1?limit=5&q=a%20b"},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			resp, body := h.rawExchange(t, "GET "+c.target+" HTTP/1.1\r\nHost: "+h.Addr+
				"\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
			got := rec.Take()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.cause != "" {
				var e testhttp.GatewayError
				if err := json.Unmarshal(body, &e); err != nil || e.Cause == nil {
					t.Fatalf("body %s is not a registry error: %v", body, err)
				}
				code := c.code
				if code == "" {
					code = "INVALID_ARGUMENT"
				}
				if e.Cause.ID != c.cause || e.Code != code {
					t.Errorf("code %s cause %s, want %s %s (%s)", e.Code, e.Cause.ID, code, c.cause, e.Detail)
				}
				if len(got) != 0 {
					t.Errorf("the upstream received %q", got[0].Target)
				}
				return
			}
			if len(got) != 1 || got[0].Target != c.want {
				t.Fatalf("upstream received %v, want exactly %q", got, c.want)
			}
		})
	}
}

// TestForwardHeaders checks what headers the upstream receives: spoofed
// identity, forwarding, hop-by-hop and method-override headers from the
// client are dropped or replaced, and underscore names pass only for an API
// that opts in, never when they normalise to one gatehouse sets. It also
// checks the response direction. Behind trusted proxies: see
// TestForwardHeadersTrustedProxy in cmd/gatehouse.
func TestForwardHeaders(t *testing.T) {
	t.Parallel()
	h, rec, tok := forwardHarness(t)
	addr := h.Addr
	spoofed := "X_Gatehouse_Subject: +34600000666\r\n" +
		"X_Gatehouse_Client_Id: someone-else\r\n" +
		"X-GATEHOUSE-SUBJECT: +34600000667\r\n" +
		"x-gatehouse-extra: 1\r\n" +
		"X_Forwarded_For: 6.6.6.6\r\n" +
		"X_Correlator: spoof\r\n" +
		"X_Custom: kept-if-allowed\r\n" +
		"Forwarded: for=6.6.6.6;host=evil.example;proto=https\r\n" +
		"X-Forwarded-For: 6.6.6.6\r\n" +
		"X-Real-IP: 6.6.6.6\r\n" +
		"X-Forwarded-Host: evil.example\r\n" +
		"X-Forwarded-Proto: https\r\n" +
		"Connection: keep-alive, X-Hop-Req\r\n" +
		"X-Hop-Req: secret\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"TE: trailers\r\n" +
		"Proxy-Authorization: Basic eDp5\r\n" +
		"Proxy-Foo: bar\r\n" +
		"X-HTTP-Method-Override: DELETE\r\n" +
		"X-HTTP-Method: DELETE\r\n" +
		"X-Method-Override: DELETE\r\n" +
		"X-Kept: yes\r\n"
	send := func(t *testing.T) (*http.Response, testhttp.Recorded) {
		t.Helper()
		resp, body := h.rawExchange(t, "GET /items/v1/items/1 HTTP/1.1\r\nHost: "+addr+
			"\r\nAuthorization: Bearer "+tok+"\r\n"+spoofed+"\r\n")
		got := rec.Take()
		if resp.StatusCode != http.StatusOK || len(got) != 1 {
			t.Fatalf("status %d, %d upstream requests: %s", resp.StatusCode, len(got), body)
		}
		return resp, got[0]
	}
	// normalised finds a header by its name lowercased with "_" as "-".
	normalised := func(h http.Header, name string) []string {
		var out []string
		for k, vs := range h {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), name) {
				out = append(out, vs...)
			}
		}
		return out
	}
	checkCommon := func(t *testing.T, resp *http.Response, up testhttp.Recorded) {
		t.Helper()
		h := up.Header
		for _, name := range []string{"X-Gatehouse-Subject", "X-Gatehouse-Extra", "X-Hop-Req", "Keep-Alive", "Te",
			"Proxy-Authorization", "Proxy-Foo", "X-Http-Method-Override", "X-Http-Method", "X-Method-Override"} {
			if v := normalised(h, name); len(v) > 0 {
				t.Errorf("upstream got %s: %q", name, v)
			}
		}
		if v := normalised(h, "X-Gatehouse-Client-Id"); len(v) != 1 || v[0] == "someone-else" {
			t.Errorf("X-Gatehouse-Client-Id = %q, want only gatehouse's", v)
		}
		if v := normalised(h, "X-Correlator"); len(v) != 1 || v[0] == "spoof" {
			t.Errorf("X-Correlator = %q, want only gatehouse's", v)
		}
		for name, want := range map[string]string{
			"X-Forwarded-For":   "127.0.0.1",
			"X-Real-Ip":         "127.0.0.1",
			"X-Forwarded-Host":  addr,
			"X-Forwarded-Proto": "http",
			"Forwarded":         `for=127.0.0.1;host="` + addr + `";proto=http`,
			"X-Kept":            "yes",
		} {
			if v := normalised(h, name); len(v) != 1 || v[0] != want {
				t.Errorf("upstream %s = %q, want [%q]", name, v, want)
			}
		}
		for _, name := range []string{"X-Hop-Resp", "Proxy-Authenticate", "Keep-Alive"} {
			if v := resp.Header.Values(name); len(v) > 0 {
				t.Errorf("client got the upstream's %s: %q", name, v)
			}
		}
		if got := resp.Header.Get("X-Kept-Resp"); got != "yes" {
			t.Errorf("client got X-Kept-Resp %q, want yes", got)
		}
	}

	t.Run("default", func(t *testing.T) {
		resp, up := send(t)
		checkCommon(t, resp, up)
		if v := normalised(up.Header, "X-Custom"); len(v) > 0 {
			t.Errorf("upstream got X_Custom %q; underscore names are dropped by default", v)
		}
	})

	t.Run("underscores allowed", func(t *testing.T) {
		if _, err := h.Store.UpdateAPI(context.Background(), "items", func(a *store.API) error {
			a.Upstream.AllowUnderscoreHeaders = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var resp *http.Response
		var up testhttp.Recorded
		testhttp.Eventually(t, 10*time.Second, "the API's header policy to apply", func() bool {
			resp, up = send(t)
			return len(normalised(up.Header, "X-Custom")) > 0
		})
		checkCommon(t, resp, up)
		if got := normalised(up.Header, "X-Custom"); len(got) != 1 || got[0] != "kept-if-allowed" {
			t.Errorf("X_Custom = %q", got)
		}
	})
}
