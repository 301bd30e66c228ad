package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testhttp"
)

// benchPost measures one form POST per iteration through real loopback HTTP
// with keep-alive, b.RunParallel spreading it over GOMAXPROCS goroutines.
func benchPost(b *testing.B, target, body, id, secret string) {
	b.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkTokenEndpoint is client_credentials with client_secret_basic on
// SQLite, server and client in one process.
func BenchmarkTokenEndpoint(b *testing.B) {
	ts := startBenchServer(b)
	c := ts.createClient("bench", "--scopes", "sim-swap:check")
	benchPost(b, ts.Issuer+"/oauth2/token", "grant_type=client_credentials", c.ID, c.Secret)
}

// BenchmarkIntrospection introspects one token repeatedly.
func BenchmarkIntrospection(b *testing.B) {
	ts := startBenchServer(b)
	c := ts.createClient("bench", "--scopes", "sim-swap:check")
	tok := ts.token(c, "")
	benchPost(b, ts.Issuer+"/oauth2/introspect", url.Values{"token": {tok}}.Encode(), c.ID, c.Secret)
}

// BenchmarkGatewayProxy is one validated, token-checked call through the
// gateway to an HTTP upstream in the same process (loopback), on a plan
// whose limits the limiter checks on every call.
func BenchmarkGatewayProxy(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"pong":true}`)
	}))
	defer upstream.Close()
	ts := startBenchServer(b)
	doc := filepath.Join(b.TempDir(), "live.yaml")
	if err := os.WriteFile(doc, []byte(testhttp.LiveAPI), 0o600); err != nil {
		b.Fatal(err)
	}
	ts.cli("apis", "import", doc, "--upstream", upstream.URL+"/live/v1")
	c := ts.createClient("bench", "--scopes", "live:ping")
	ts.cli("plans", "create", "--name", "bench", "--rate", "1000000", "--burst", "1000000", "--quota-month", "1000000000000")
	ts.cli("subscriptions", "create", "--client", c.ID, "--api", "live", "--plan", "bench")
	tok := ts.token(c, "")
	target := ts.Issuer + "/live/v1/ping"
	testhttp.Eventually(b, 10*time.Second, "the API to be served", func() bool {
		req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(`{"n":1}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(`{"n":1}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
