package server

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/problem"
)

// serveRaw serves h the way gatehouse does (cannedListener, 1 MiB header
// cap) on a loopback port and returns its address.
func serveRaw(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rd := &problem.Renderer{DocsURL: "http://gh.test/docs/errors", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := &http.Server{Handler: h, MaxHeaderBytes: 1 << 20, ErrorLog: nil}
	go func() { _ = srv.Serve(Listener(ln, rd)) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// rawExchange writes a raw request and reads one response.
func rawExchange(t *testing.T, addr, request string) (*http.Response, map[string]any) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { _, _ = io.WriteString(c, request) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("status %d: body is not JSON: %q", resp.StatusCode, b)
	}
	return resp, body
}

// TestGoCannedErrorsBecomeJSON: the responses net/http writes by itself
// before any handler runs leave as registry JSON, never text/plain.
func TestGoCannedErrorsBecomeJSON(t *testing.T) {
	addr := serveRaw(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the handler must not run for %s", r.URL)
	}))
	cases := []struct {
		name, request string
		status        int
		code, cause   string
	}{
		{"header block past the server cap", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n",
			431, "HEADER_FIELDS_TOO_LARGE", "headers_too_large"},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "INVALID_ARGUMENT", "malformed_request"},
		{"malformed header line", "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, "INVALID_ARGUMENT", "malformed_request"},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked2\r\n\r\n", 501, "NOT_IMPLEMENTED", "transfer_coding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawExchange(t, addr, tc.request)
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Errorf("status = %d; want %d (%v)", got, want, body)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q; want application/json", got)
			}
			if body["code"] != tc.code || body["status"] != float64(tc.status) {
				t.Errorf("body = %v; want code %s", body, tc.code)
			}
			if c, _ := body["cause"].(map[string]any); c["id"] != tc.cause {
				t.Errorf("cause = %v; want %s", body["cause"], tc.cause)
			}
			if resp.Header.Get("X-Correlator") == "" || resp.Header.Get("X-Correlator") != body["correlator"] {
				t.Errorf("correlator header %q / body %v", resp.Header.Get("X-Correlator"), body["correlator"])
			}
		})
	}
}

// TestLimitsAndPanics covers the front middleware: 414, 431, correlator
// echo and generation, and a panic turned into a 500 that leaves the
// process serving.
func TestLimitsAndPanics(t *testing.T) {
	rd := &problem.Renderer{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("GET /panic-late", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		panic("late boom")
	})
	channel := func(*http.Request) errorWriter { return rd.API }
	mux.Handle("/", notFoundOrMethod(mux, channel))
	addr := serveRaw(t, limits(mux, 100, 2048, channel))
	base := "http://" + addr

	get := func(path string, header map[string]string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		return resp, body
	}

	resp, body := get("/panic", nil)
	if resp.StatusCode != 500 || body["code"] != "INTERNAL" {
		t.Errorf("panic: %d %v; want 500 INTERNAL", resp.StatusCode, body)
	}
	if c, _ := body["cause"].(map[string]any); c["id"] != "panic" {
		t.Errorf("panic cause = %v", body["cause"])
	}
	if !strings.Contains(body["detail"].(string), resp.Header.Get("X-Correlator")) {
		t.Errorf("the panic detail should name the correlator: %v", body["detail"])
	}
	if strings.Contains(mustMarshal(body), "boom") {
		t.Errorf("the panic value leaked to the client: %v", body)
	}
	// A panic after the response started breaks that connection only.
	if _, err := http.Get(base + "/panic-late"); err == nil {
		// The client may or may not see an error depending on timing of
		// the abort; what matters is the server keeps serving.
		t.Log("late panic: response ended")
	}
	if resp, _ := get("/ok", nil); resp.StatusCode != 200 {
		t.Errorf("after panics the server answers %d; want 200", resp.StatusCode)
	}

	resp, body = get("/ok?"+strings.Repeat("q", 200), nil)
	if resp.StatusCode != 414 || body["code"] != "URI_TOO_LONG" {
		t.Errorf("long URI: %d %v", resp.StatusCode, body)
	}
	resp, body = get("/ok", map[string]string{"X-Big": strings.Repeat("h", 3000)})
	if resp.StatusCode != 431 || body["code"] != "HEADER_FIELDS_TOO_LARGE" {
		t.Errorf("large headers: %d %v", resp.StatusCode, body)
	}
	resp, body = get("/missing", nil)
	if resp.StatusCode != 404 || body["code"] != "NOT_FOUND" {
		t.Errorf("unknown path: %d %v", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodDelete, base+"/ok", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("wrong method: %d Allow=%q; want 405 with Allow: GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// Correlator: a valid one is echoed, an invalid one replaced.
	resp, _ = get("/ok", map[string]string{"X-Correlator": "abc-123:x"})
	if got := resp.Header.Get("X-Correlator"); got != "abc-123:x" {
		t.Errorf("valid correlator echoed as %q", got)
	}
	resp, _ = get("/ok", map[string]string{"X-Correlator": "bad correlator!"})
	if got := resp.Header.Get("X-Correlator"); got == "bad correlator!" || len(got) != 36 {
		t.Errorf("invalid correlator answered with %q; want a generated UUID", got)
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestValidCorrelator(t *testing.T) {
	for s, want := range map[string]bool{
		"abc-123":                 true,
		"a_b:c;d.e/f<g>{h}":       true,
		strings.Repeat("x", 256):  true,
		"":                        false,
		strings.Repeat("x", 257):  false,
		`back\slash`:              false,
		"space here":              false,
		"quote\"":                 false,
		"b3f49a4c-1414-4832-a7d9": true,
	} {
		if got := validCorrelator(s); got != want {
			t.Errorf("validCorrelator(%q) = %v; want %v", s, got, want)
		}
	}
}
