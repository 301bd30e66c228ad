// Package testhttp is what the tests of several packages (internal/gateway,
// internal/server, internal/oauth and cmd/gatehouse) need to talk to a
// gatehouse over real HTTP: requests as clients send them, raw exchanges for
// what net/http's client would not send, test upstreams that record or echo
// what reached them, the OAuth client's side (forms, tokens, assertions), and
// the checks of the error bodies every channel promises.
//
// It is imported only from _test.go files, and imports nothing of
// gatehouse's, so that any package's in-package tests may use it. Its
// helpers take the test's testing.TB: the Check functions report every
// difference from what gatehouse promises with Errorf; the others fail the
// test at once on what is not its subject (a request that could not be
// sent, a body that is not JSON).
package testhttp

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Request is one request to a server under test.
type Request struct {
	Method string            // default POST
	Path   string            // with query
	Body   string            // "chunked:" prefix: sent with unknown length
	Token  string            // sent as Authorization: Bearer <token> when set
	Header map[string]string // extra headers, set after the defaults
	// ContentType defaults to application/json when there is a body; "-"
	// sends none.
	ContentType string
	// Correlator is the x-correlator sent; "" and "-" send none.
	Correlator string
}

// Send performs r against the server at base (scheme and host) and returns
// the response with its body read. It does not follow redirects. A
// Header value of Authorization holding newlines is sent as one header
// line per line.
func Send(tb testing.TB, base string, r Request) (*http.Response, []byte) {
	tb.Helper()
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if rest, ok := strings.CutPrefix(r.Body, "chunked:"); ok {
		body = io.MultiReader(strings.NewReader(rest)) // unknown length: chunked
	} else if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequest(method, base+r.Path, body)
	if err != nil {
		tb.Fatal(err)
	}
	switch {
	case r.ContentType == "-":
	case r.ContentType != "":
		req.Header.Set("Content-Type", r.ContentType)
	case r.Body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.Correlator != "" && r.Correlator != "-" {
		req.Header.Set("X-Correlator", r.Correlator)
	}
	for k, v := range r.Header {
		if k == "Authorization" && strings.Contains(v, "\n") {
			for _, one := range strings.Split(v, "\n") {
				req.Header.Add(k, one)
			}
			continue
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, r.Path, err)
	}
	return resp, readBody(tb, resp)
}

// Call sends a request with an optional body to url and returns the
// response with its body read. token "" sends no Authorization;
// contentType "" sends none.
func Call(tb testing.TB, method, url, token, contentType, body string) (*http.Response, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, readBody(tb, resp)
}

// PostJSON sends body as a JSON POST with a bearer token and returns the
// response with its body decoded (nil when it is not a JSON object).
func PostJSON(tb testing.TB, url, token, body string) (*http.Response, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

// KeyedPost sends a JSON POST with the bearer token and, unless key is "",
// an Idempotency-Key, through client c (nil: the default client). It
// returns the response and body, or the transport error (a caller that
// gave up).
func KeyedPost(tb testing.TB, c *http.Client, url, token, key, body string) (*http.Response, []byte, error) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// RawExchange writes req on a new connection to addr and reads one
// response, its body in full: for request-targets, framings and header
// spellings net/http's client would not send. With checkClose it then
// reports whether the server closed the connection (instead of answering a
// request pipelined behind).
func RawExchange(tb testing.TB, addr, req string, checkClose bool) (*http.Response, []byte, bool) {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		tb.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		line, _, _ := strings.Cut(req, "\r\n")
		tb.Fatalf("reading the response to %q: %v", line, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	if !checkClose {
		return resp, body, false
	}
	_, err = br.ReadByte()
	var op *net.OpError
	closed := errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &op) && !op.Timeout()
	return resp, body, closed
}

// readBody reads and closes resp's body.
func readBody(tb testing.TB, resp *http.Response) []byte {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// DecodeJSON reads a JSON body into v and closes it.
func DecodeJSON(tb testing.TB, resp *http.Response, v any) {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s %s: body is not JSON: %v: %q", resp.Request.Method, resp.Request.URL.Path, err, b)
	}
}

// Unmarshal decodes the JSON body b, read from what, into v.
func Unmarshal(tb testing.TB, what string, b []byte, v any) {
	tb.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: body is not the expected JSON: %v: %q", what, err, b)
	}
}

// MustJSON returns v encoded as JSON.
func MustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Eventually polls cond until it holds or within has passed, then fails tb
// naming what it waited for. It is for effects that are asynchronous by
// design (an operator's change reaching a server at its next poll, usage
// reaching the store, a statement reaching a lock), never for timing
// assertions.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
