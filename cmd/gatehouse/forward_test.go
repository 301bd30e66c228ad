package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
)

// itemsAPI is the document of the recording upstream: a path parameter, a
// bounded query parameter and a JSON body.
const itemsAPI = `openapi: 3.0.3
info:
  title: Items
  version: 1.0.0
servers:
  - url: /items/v1
paths:
  /items/{id}:
    parameters:
      - name: id
        in: path
        required: true
        schema:
          type: string
    get:
      operationId: getItem
      security:
        - openId:
            - items:read
      parameters:
        - name: limit
          in: query
          schema:
            type: integer
            maximum: 10
      responses:
        "200":
          description: The item
          content:
            application/json:
              schema:
                type: object
    post:
      operationId: putItem
      security:
        - openId:
            - items:read
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
      responses:
        "200":
          description: The item
          content:
            application/json:
              schema:
                type: object
components:
  securitySchemes:
    openId:
      type: openIdConnect
      openIdConnectUrl: https://example.com/.well-known/openid-configuration
`

// recorded is one request as the upstream received it.
type recorded struct {
	method string
	target string // the request-target, as sent on the wire
	path   string // the decoded path
	header http.Header
	body   string
}

// recorder is an upstream that records every request it receives and
// answers with hop-by-hop headers the gateway must not pass on.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{method: r.Method, target: r.RequestURI, path: r.URL.Path,
			header: r.Header.Clone(), body: string(body)})
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "X-Hop-Resp")
		w.Header().Set("X-Hop-Resp", "secret")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Kept-Resp", "yes")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(rec.Close)
	return rec
}

// take returns the requests recorded since the last call.
func (rec *recorder) take() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.reqs
	rec.reqs = nil
	return out
}

// requests returns every request recorded since the last take, as
// "METHOD path body", without taking them.
func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]string, len(rec.reqs))
	for i, r := range rec.reqs {
		out[i] = r.method + " " + r.path + " " + r.body
	}
	return out
}

// rawExchange writes req on a new connection and reads one response, its
// body in full. With checkClose it then reports whether the server closed
// the connection (instead of answering a request pipelined behind).
func rawExchange(t *testing.T, addr, req string, checkClose bool) (*http.Response, []byte, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", firstLine(req), err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !checkClose {
		return resp, body, false
	}
	_, err = br.ReadByte()
	closed := errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
	return resp, body, closed
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// forwardServer starts a platform with a short body read timeout, the items
// API on a recording upstream, and an app subscribed to it.
// env, when set, adds to the server's environment.
func forwardServer(t *testing.T, env ...string) (ts *testServer, rec *recorder, tok string, addr string) {
	t.Helper()
	rec = newRecorder(t)
	ts = startServer(t, func(e map[string]string) {
		e["GATEHOUSE_BODY_READ_TIMEOUT"] = "300ms"
		for i := 0; i+1 < len(env); i += 2 {
			e[env[i]] = env[i+1]
		}
	})
	ts.importAPI(t, itemsAPI, "--upstream", rec.URL+"/up", "--name", "items", "--base-path", "/items/v1")
	app := ts.createClient("forward app", "--scopes", "items:read")
	ts.cli("plans", "create", "--name", "unmetered", "--rate", "0")
	ts.cli("subscriptions", "create", "--client", app.ID, "--api", "items", "--plan", "unmetered")
	tok = ts.token(app, "items:read")
	eventually(t, 10*time.Second, "the items API to serve the app", func() bool {
		resp, _ := ts.send(t, gwRequest{method: http.MethodGet, path: "/items/v1/items/1", token: tok})
		return resp.StatusCode == http.StatusOK
	})
	rec.take()
	return ts, rec, tok, strings.TrimPrefix(ts.Issuer, "http://")
}

// TestForwardTarget sends crafted request-targets of the security review
// (issue 9) through the real server: each is refused with its own cause
// and never reaches the upstream, or reaches it exactly canonical.
func TestForwardTarget(t *testing.T) {
	ts, rec, tok, addr := forwardServer(t)
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
		// Go's server refuses a raw space (the request line no longer
		// parses) and raw control characters itself.
		{target: "/items/v1/items/a b", status: 400, cause: "malformed_request"},
		{target: "/items/v1/items/a\x01b", status: 400, cause: "malformed_request"},

		{target: "/items/v1/items/a%20b", status: 200, want: "/up/items/a%20b"},
		{target: "/items/v1/items/%61bc", status: 200, want: "/up/items/abc"},
		{target: "/items/v1/items/caf%c3%a9", status: 200, want: "/up/items/caf%C3%A9"},
		{target: "/items/v1/items/a%25b", status: 200, want: "/up/items/a%25b"},
		{target: "/items/v1/items/a.b..c", status: 200, want: "/up/items/a.b..c"},
		{target: "/items/v1/items/1?limit=5&q=a%20b", status: 200, want: "/up/items/1?limit=5&q=a%20b"},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			resp, body, _ := rawExchange(t, addr, "GET "+c.target+" HTTP/1.1\r\nHost: "+addr+
				"\r\nAuthorization: Bearer "+tok+"\r\n\r\n", false)
			got := rec.take()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.cause != "" {
				var e gatewayError
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
					t.Errorf("the upstream received %q", got[0].target)
				}
				return
			}
			if len(got) != 1 || got[0].target != c.want {
				t.Fatalf("upstream received %v, want exactly %q", got, c.want)
			}
		})
	}
	_ = ts
}

// TestForwardHeaders checks what headers the upstream receives: spoofed
// identity, forwarding, hop-by-hop and method-override headers from the
// client are dropped or replaced, and underscore names pass only for an API
// that opts in, never when they normalise to one gatehouse sets. It also
// checks the response direction.
func TestForwardHeaders(t *testing.T) {
	ts, rec, tok, addr := forwardServer(t)
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
	send := func(t *testing.T) (*http.Response, recorded) {
		t.Helper()
		resp, body, _ := rawExchange(t, addr, "GET /items/v1/items/1 HTTP/1.1\r\nHost: "+addr+
			"\r\nAuthorization: Bearer "+tok+"\r\n"+spoofed+"\r\n", false)
		got := rec.take()
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
	checkCommon := func(t *testing.T, resp *http.Response, up recorded) {
		t.Helper()
		h := up.header
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
		if v := normalised(up.header, "X-Custom"); len(v) > 0 {
			t.Errorf("upstream got X_Custom %q; underscore names are dropped by default", v)
		}
	})

	t.Run("underscores allowed", func(t *testing.T) {
		st, err := sqlstore.Open(context.Background(), filepath.Join(ts.env["GATEHOUSE_DATA_DIR"], "gatehouse.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.UpdateAPI(context.Background(), "items", func(a *store.API) error {
			a.Upstream.AllowUnderscoreHeaders = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var resp *http.Response
		var up recorded
		eventually(t, 10*time.Second, "the API's header policy to apply", func() bool {
			resp, up = send(t)
			return len(normalised(up.header, "X-Custom")) > 0
		})
		checkCommon(t, resp, up)
		if got := normalised(up.header, "X-Custom"); len(got) != 1 || got[0] != "kept-if-allowed" {
			t.Errorf("X_Custom = %q", got)
		}
	})
}

// TestForwardHeadersTrustedProxy checks that behind a trusted proxy the
// client's forwarding headers reach the upstream, extended with the proxy.
func TestForwardHeadersTrustedProxy(t *testing.T) {
	_, rec, tok, addr := forwardServer(t, "GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1")
	resp, body, _ := rawExchange(t, addr, "GET /items/v1/items/1 HTTP/1.1\r\nHost: "+addr+
		"\r\nAuthorization: Bearer "+tok+"\r\nX-Forwarded-For: 203.0.113.7\r\nForwarded: for=203.0.113.7;proto=https\r\n"+
		"X-Forwarded-Host: api.example.com\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 6.6.6.6\r\n\r\n", false)
	got := rec.take()
	if resp.StatusCode != http.StatusOK || len(got) != 1 {
		t.Fatalf("status %d, %d upstream requests: %s", resp.StatusCode, len(got), body)
	}
	for name, want := range map[string]string{
		"X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
		"X-Real-Ip":         "203.0.113.7",
		"X-Forwarded-Host":  "api.example.com",
		"X-Forwarded-Proto": "https",
		"Forwarded":         `for=203.0.113.7;proto=https, for=127.0.0.1;host="` + addr + `";proto=http`,
	} {
		if v := got[0].header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("upstream %s = %q, want [%q]", name, v, want)
		}
	}
}
