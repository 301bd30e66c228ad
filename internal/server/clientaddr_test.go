package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"gatehouse/internal/config"
)

func TestTrustProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	var seen string
	h := trustProxies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }), trusted)
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct client, no header", "203.0.113.7:5555", nil, "203.0.113.7:5555"},
		{"untrusted peer: its header is ignored", "203.0.113.7:5555", []string{"198.51.100.1"}, "203.0.113.7:5555"},
		{"one trusted proxy", "127.0.0.1:40000", []string{"198.51.100.1"}, "198.51.100.1:0"},
		{"two trusted hops", "127.0.0.1:40000", []string{"198.51.100.1, 10.1.2.3"}, "198.51.100.1:0"},
		{"spoofed entries left of the client are ignored", "127.0.0.1:40000", []string{"6.6.6.6, 198.51.100.1, 10.1.2.3"}, "198.51.100.1:0"},
		{"header split over two fields", "127.0.0.1:40000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1:0"},
		{"entry with a port", "127.0.0.1:40000", []string{"198.51.100.1:8443"}, "198.51.100.1:0"},
		{"IPv6 client", "127.0.0.1:40000", []string{"2001:db9::5"}, "[2001:db9::5]:0"},
		{"every entry trusted: the leftmost", "127.0.0.1:40000", []string{"10.0.0.9, 10.0.0.8"}, "10.0.0.9:0"},
		{"malformed entry stops the walk", "127.0.0.1:40000", []string{"198.51.100.1, junk, 10.0.0.8"}, "10.0.0.8:0"},
		{"trusted proxy without a header", "127.0.0.1:40000", nil, "127.0.0.1:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if seen != tc.want {
				t.Errorf("RemoteAddr = %q; want %q", seen, tc.want)
			}
		})
	}
	// No trusted proxies: the handler is not wrapped at all.
	plain := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := trustProxies(plain, nil); got == nil {
		t.Fatal("nil handler")
	}
}

// TestTrustedProxies: behind a trusted reverse proxy, the per-address
// token limit counts each client named by X-Forwarded-For; without the
// setting, the header is ignored and every request counts against the
// peer's own address.
func TestTrustedProxies(t *testing.T) {
	// Not parallel: it needs a few requests within one second of a
	// limiter, which the package's other tests would slow down.
	tokenFrom := func(ts *testPlatform, c client, forwardedFor string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.Issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", forwardedFor)
		req.SetBasicAuth(c.ID, c.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// 1 token request per second per address, bursts of 2.
	limitOne := func(c *config.Config) { c.TokenRatePerAddress = 1 }

	behind := newTestPlatform(t, func(c *config.Config) {
		limitOne(c)
		c.TrustedProxies = "127.0.0.0/8, ::1"
	})
	app := behind.createClient("app behind a proxy")
	var statuses []int
	for range 3 {
		statuses = append(statuses, tokenFrom(behind, app, "198.51.100.1"))
	}
	if statuses[2] != http.StatusTooManyRequests {
		t.Errorf("third request from 198.51.100.1 in a second: %v; want the last refused with 429", statuses)
	}
	if got := tokenFrom(behind, app, "6.6.6.6, 198.51.100.2"); got != http.StatusOK {
		t.Errorf("first request from 198.51.100.2 (a spoofed entry to its left): %d; want 200, its own budget", got)
	}

	direct := newTestPlatform(t, limitOne)
	app = direct.createClient("app without a proxy")
	statuses = nil
	for i := range 3 {
		statuses = append(statuses, tokenFrom(direct, app, fmt.Sprintf("198.51.100.%d", i+1)))
	}
	if statuses[2] != http.StatusTooManyRequests {
		t.Errorf("untrusted X-Forwarded-For: %v; want the third refused (one address, the header ignored)", statuses)
	}
}
