package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/gateway"
	"gatehouse/internal/plans"
	"gatehouse/internal/testhttp"
)

// TestFramingScanner feeds header blocks one byte at a time and in one
// piece: only a block with both Content-Length and Transfer-Encoding marks
// the connection.
func TestFramingScanner(t *testing.T) {
	for _, c := range []struct {
		name, in  string
		ambiguous bool
	}{
		{"both", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"both, lower case, bare LF", "POST / HTTP/1.1\ntransfer-encoding: chunked\ncontent-length: 4\n\n", true},
		{"length only", "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd", false},
		{"chunked only", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n", false},
		{"one in each of two requests", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"long header lines", "GET / HTTP/1.1\r\nX-Content-Length-Transfer-Encoding: 1\r\nContent-Lengthy: 1\r\n\r\n", false},
		{"second request", "GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var whole, bytewise framingScanner
			whole.scan([]byte(c.in))
			for i := 0; i < len(c.in); i++ {
				bytewise.scan([]byte{c.in[i]})
			}
			if whole.ambiguous.Load() != c.ambiguous || bytewise.ambiguous.Load() != c.ambiguous {
				t.Errorf("ambiguous = %v (whole), %v (byte by byte); want %v", whole.ambiguous.Load(), bytewise.ambiguous.Load(), c.ambiguous)
			}
		})
	}
}

// forwardPlatform serves a platform with a short body read timeout, the
// items API on a recording upstream, and an app subscribed to it. It
// returns the app's token and the public listener's address.
func forwardPlatform(t *testing.T) (tp *testPlatform, rec *testhttp.Recorder, tok string, addr string) {
	t.Helper()
	rec = testhttp.NewRecorder(t)
	tp = newTestPlatform(t, func(c *config.Config) { c.BodyReadTimeout = 300 * time.Millisecond })
	ctx := context.Background()
	if _, err := tp.parts.APIs.Import(ctx, []byte(testhttp.ItemsAPI), gateway.ImportOptions{Name: "items", BasePath: "/items/v1", Upstream: rec.URL + "/up"}); err != nil {
		t.Fatal(err)
	}
	app := tp.createClient("forward app", "items:read")
	unmetered := 0.0
	if _, err := tp.parts.Plans.CreatePlan(ctx, "unmetered", plans.PlanSpec{RatePerSecond: &unmetered}); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.parts.Plans.Subscribe(ctx, plans.Operator, app.ID, "items", "unmetered"); err != nil {
		t.Fatal(err)
	}
	tok = tp.token(app, "items:read")
	testhttp.Eventually(t, 10*time.Second, "the items API to serve the app", func() bool {
		resp, _ := tp.send(t, testhttp.Request{Method: http.MethodGet, Path: "/items/v1/items/1", Token: tok})
		return resp.StatusCode == http.StatusOK
	})
	rec.Take()
	return tp, rec, tok, strings.TrimPrefix(tp.Issuer, "http://")
}

// TestForwardBodyReadTimeout holds a request body half sent: the gateway
// and the token endpoint answer 408 from the registry and close the
// connection instead of waiting (issue 9: 1000 such connections were held
// for minutes).
func TestForwardBodyReadTimeout(t *testing.T) {
	t.Parallel()
	_, rec, tok, addr := forwardPlatform(t)
	for _, c := range []struct {
		name, req string
		cause     func(body []byte) string
	}{
		{"gateway", "POST /items/v1/items/1 HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
			func(b []byte) string {
				var e testhttp.GatewayError
				_ = json.Unmarshal(b, &e)
				if e.Cause == nil || e.Status != 408 {
					return ""
				}
				return e.Cause.ID
			}},
		{"token endpoint", "POST /oauth2/token HTTP/1.1\r\nHost: " + addr +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=cli",
			func(b []byte) string {
				var e struct{ Error, Cause string }
				_ = json.Unmarshal(b, &e)
				return e.Cause
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body, closed := testhttp.RawExchange(t, addr, c.req, true)
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("status %d, want 408: %s", resp.StatusCode, body)
			}
			if got := c.cause(body); got != "body_read_timeout" {
				t.Errorf("cause %q, want body_read_timeout: %s", got, body)
			}
			if !closed {
				t.Error("the connection stayed open")
			}
		})
	}
	if got := rec.Take(); len(got) != 0 {
		t.Errorf("the upstream received %d requests", len(got))
	}
}

// TestForwardContentLengthWithTransferEncoding sends a request with both
// framings and a request pipelined behind it: the first is refused with
// Connection: close and the second is never served (RFC 9112 §6.1).
func TestForwardContentLengthWithTransferEncoding(t *testing.T) {
	t.Parallel()
	_, rec, tok, addr := forwardPlatform(t)
	smuggled := "GET /items/v1/items/2 HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + tok + "\r\n\r\n"
	for _, c := range []struct{ name, head string }{
		{"gateway", "POST /items/v1/items/1 HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"platform, TE first", "POST /oauth2/token HTTP/1.1\r\nHost: " + addr +
			"\r\ntransfer-encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\ncontent-length: 4\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body, closed := testhttp.RawExchange(t, addr, c.head+"2\r\n{}\r\n0\r\n\r\n"+smuggled, true)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "ambiguous_framing") {
				t.Fatalf("status %d, want 400 ambiguous_framing: %s", resp.StatusCode, body)
			}
			if !resp.Close {
				t.Error("the response does not close the connection")
			}
			if !closed {
				t.Error("the connection stayed open: the pipelined request could be served")
			}
		})
	}
	if got := rec.Take(); len(got) != 0 {
		t.Errorf("the upstream received %v", got)
	}
	// A chunked request alone, and a request with Content-Length alone,
	// are still served on a kept-alive connection.
	resp, body, _ := testhttp.RawExchange(t, addr, "POST /items/v1/items/1 HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: Bearer "+tok+
		"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", false)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("chunked alone: %d %s", resp.StatusCode, body)
	}
}
