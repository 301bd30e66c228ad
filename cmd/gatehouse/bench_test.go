package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
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
