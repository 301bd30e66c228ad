package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// adminCall sends a request to the admin listener. token "" sends no
// Authorization; contentType "" sends none.
func (ts *testServer) adminCall(method, path, token, contentType, body string) (*http.Response, []byte) {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.Admin+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp, b
}

// checkProblem checks an RFC 9457 admin error: status, content type, every
// member gatehouse promises, the registry key (code) and, when not "", the
// cause. It returns the decoded body.
func checkProblem(t testing.TB, what string, resp *http.Response, body []byte, status int, code, cause string) map[string]any {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d; want %d (body %s)", what, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q; want application/problem+json", what, ct)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Errorf("%s: body is not JSON: %q", what, body)
		return nil
	}
	for _, k := range []string{"type", "title", "detail", "instance", "code", "fix", "correlator"} {
		if s, _ := p[k].(string); s == "" {
			t.Errorf("%s: member %q missing or empty in %s", what, k, body)
		}
	}
	if st, _ := p["status"].(float64); int(st) != resp.StatusCode {
		t.Errorf("%s: status member %v; want %d", what, p["status"], resp.StatusCode)
	}
	c, _ := p["cause"].(map[string]any)
	if id, _ := c["id"].(string); id == "" {
		t.Errorf("%s: cause.id missing in %s", what, body)
	} else if cause != "" && id != cause {
		t.Errorf("%s: cause.id %q; want %q", what, id, cause)
	}
	if text, _ := c["text"].(string); text == "" {
		t.Errorf("%s: cause.text missing in %s", what, body)
	}
	if p["code"] != code {
		t.Errorf("%s: code %v; want %q", what, p["code"], code)
	}
	if typ, _ := p["type"].(string); !strings.Contains(typ, "/docs/errors#"+code) {
		t.Errorf("%s: type %q; want the troubleshooting anchor of %s", what, typ, code)
	}
	if corr := resp.Header.Get("X-Correlator"); corr == "" || corr != p["correlator"] {
		t.Errorf("%s: X-Correlator %q vs body correlator %v", what, corr, p["correlator"])
	}
	return p
}

func unmarshalT(t testing.TB, what string, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: body is not the expected JSON: %v: %q", what, err, b)
	}
}

// tokenStatus requests a client_credentials token and returns the status
// and the decoded body.
func (ts *testServer) tokenStatus(id, secret string) (int, map[string]any, http.Header) {
	ts.t.Helper()
	resp := ts.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, id, secret)
	var body map[string]any
	decode(ts.t, resp, &body)
	return resp.StatusCode, body, resp.Header
}
