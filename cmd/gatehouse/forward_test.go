package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
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

// TestForwardTarget sends request-targets Go's server refuses itself (the
// request line no longer parses, or holds raw control characters): the
// platform's front answers them from the registry and they never reach
// the upstream. The targets the gateway refuses or canonicalises are in
// internal/gateway's TestForwardTarget.
func TestForwardTarget(t *testing.T) {
	_, rec, tok, addr := forwardServer(t)
	for _, target := range []string{"/items/v1/items/a b", "/items/v1/items/a\x01b"} {
		t.Run(target, func(t *testing.T) {
			resp, body, _ := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: "+addr+
				"\r\nAuthorization: Bearer "+tok+"\r\n\r\n", false)
			got := rec.take()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			var e gatewayError
			if err := json.Unmarshal(body, &e); err != nil || e.Cause == nil {
				t.Fatalf("body %s is not a registry error: %v", body, err)
			}
			if e.Cause.ID != "malformed_request" || e.Code != "INVALID_ARGUMENT" {
				t.Errorf("code %s cause %s, want INVALID_ARGUMENT malformed_request (%s)", e.Code, e.Cause.ID, e.Detail)
			}
			if len(got) != 0 {
				t.Errorf("the upstream received %q", got[0].target)
			}
		})
	}
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
