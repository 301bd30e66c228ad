package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/testhttp"
)

// adminTokenOf reads the admin token the server generated in its data dir.
func adminTokenOf(t testing.TB, ts *testServer) string {
	t.Helper()
	if tok := ts.env["GATEHOUSE_ADMIN_TOKEN"]; tok != "" {
		return tok
	}
	b, err := os.ReadFile(filepath.Join(ts.env["GATEHOUSE_DATA_DIR"], "admin-token"))
	if err != nil {
		t.Fatalf("reading the admin token: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		t.Fatal("empty admin token file")
	}
	return tok
}

// adminCall sends a request to the admin listener (testhttp.Call).
func (ts *testServer) adminCall(method, path, token, contentType, body string) (*http.Response, []byte) {
	ts.t.Helper()
	return testhttp.Call(ts.t, method, ts.Admin+path, token, contentType, body)
}

// keyedPost sends an admin POST with an Idempotency-Key (testhttp.KeyedPost).
func (ts *testServer) keyedPost(c *http.Client, path, key, body string) (*http.Response, []byte, error) {
	ts.t.Helper()
	return testhttp.KeyedPost(ts.t, c, ts.Admin+path, adminTokenOf(ts.t, ts), key, body)
}

// tokenStatus requests a client_credentials token (testhttp.TokenStatus).
func (ts *testServer) tokenStatus(id, secret string) (int, map[string]any, http.Header) {
	ts.t.Helper()
	return testhttp.TokenStatus(ts.t, ts.Issuer, id, secret)
}
