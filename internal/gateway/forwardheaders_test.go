package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"testing"
)

// TestForwardHeadersOrigin checks the forwarding headers gatehouse writes:
// from the connection alone for an untrusted peer (client values
// replaced), and the client's chain extended with the proxy behind a
// trusted one.
func TestForwardHeadersOrigin(t *testing.T) {
	spoof := map[string]string{
		"X-Forwarded-For":   "203.0.113.7",
		"Forwarded":         "for=203.0.113.7;proto=https",
		"X-Forwarded-Host":  "api.example.com",
		"X-Forwarded-Proto": "https",
		"X-Real-Ip":         "6.6.6.6",
	}
	cases := []struct {
		name    string
		remote  string
		trusted string // the trusted proxy the request came through
		want    map[string]string
	}{
		{"untrusted IPv4", "198.51.100.9:4000", "", map[string]string{
			"X-Forwarded-For": "198.51.100.9", "X-Real-Ip": "198.51.100.9", "X-Forwarded-Host": "gw.example",
			"X-Forwarded-Proto": "http", "Forwarded": "for=198.51.100.9;host=gw.example;proto=http",
		}},
		{"untrusted IPv6", "[2001:db8::1]:4000", "", map[string]string{
			"X-Forwarded-For": "2001:db8::1", "X-Real-Ip": "2001:db8::1", "X-Forwarded-Host": "gw.example",
			"X-Forwarded-Proto": "http", "Forwarded": `for="[2001:db8::1]";host=gw.example;proto=http`,
		}},
		{"trusted proxy", "203.0.113.7:0", "10.0.0.1", map[string]string{
			"X-Forwarded-For": "203.0.113.7, 10.0.0.1", "X-Real-Ip": "203.0.113.7", "X-Forwarded-Host": "api.example.com",
			"X-Forwarded-Proto": "https", "Forwarded": "for=203.0.113.7;proto=https, for=10.0.0.1;host=gw.example;proto=http",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://gw.example/x", nil)
			r.RemoteAddr = c.remote
			for k, v := range spoof {
				r.Header.Set(k, v)
			}
			if c.trusted != "" {
				r = r.WithContext(WithTrustedPeer(r.Context(), netip.MustParseAddr(c.trusted)))
			}
			got := http.Header{}
			forwardHeaders(r, &Caller{ClientID: "app", Subject: "app"}, false, got.Add)
			for k, v := range c.want {
				if g := got.Values(k); !reflect.DeepEqual(g, []string{v}) {
					t.Errorf("%s = %q, want [%q]", k, g, v)
				}
			}
		})
	}
}

// TestResponseHeaderForwarded checks the response direction: hop-by-hop,
// Proxy-* and Connection-named upstream headers stop at the gateway,
// whatever their case.
func TestResponseHeaderForwarded(t *testing.T) {
	conn := []string{"close, X-Internal"}
	for name, want := range map[string]bool{
		"connection": false, "KEEP-ALIVE": false, "transfer-encoding": false, "Upgrade": false,
		"proxy-authenticate": false, "Proxy-Whatever": false, "x-internal": false, "Trailer": false,
		"Content-Type": true, "X-Other": true, "RateLimit": true,
	} {
		if got := responseHeaderForwarded(name, conn); got != want {
			t.Errorf("responseHeaderForwarded(%q) = %v, want %v", name, got, want)
		}
	}
}
