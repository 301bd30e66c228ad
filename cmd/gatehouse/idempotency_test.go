package main

import (
	"io"
	"net/http"
	"strings"
)

// keyedPost sends an admin POST with an Idempotency-Key through client c
// (nil: the default client) and returns the response and body, or the
// transport error (a caller that gave up).
func (ts *testServer) keyedPost(c *http.Client, path, key, body string) (*http.Response, []byte, error) {
	ts.t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.Admin+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminTokenOf(ts.t, ts))
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
