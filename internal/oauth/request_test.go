package oauth

import (
	"slices"
	"testing"
)

func TestAcceptsJSON(t *testing.T) {
	cases := []struct {
		accept []string
		want   bool
	}{
		{nil, true},
		{[]string{"application/json"}, true},
		{[]string{"*/*"}, true},
		{[]string{"application/*"}, true},
		{[]string{"text/html, application/json;q=0.5"}, true},
		{[]string{"APPLICATION/JSON"}, true},
		{[]string{"text/html"}, false},
		{[]string{"application/json;q=0"}, false},
		{[]string{"application/json; q=0.0, text/plain"}, false},
		{[]string{"text/plain", "application/json"}, true},
		{[]string{"application/xml"}, false},
	}
	for _, tc := range cases {
		if got := acceptsJSON(tc.accept); got != tc.want {
			t.Errorf("acceptsJSON(%q) = %v; want %v", tc.accept, got, tc.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	cases := []struct {
		raw   string
		want  []string
		cause string
	}{
		{"", nil, ""},
		{"a", []string{"a"}, ""},
		{"a b a", []string{"a", "b"}, ""},
		{"sim-swap:check openid", []string{"sim-swap:check", "openid"}, ""},
		{"a  b", nil, "malformed_scope"},
		{" a", nil, "malformed_scope"},
		{"a ", nil, "malformed_scope"},
		{`a"b`, nil, "malformed_scope"},
		{`a\b`, nil, "malformed_scope"},
		{"a\tb", nil, "malformed_scope"},
		{"é", nil, "malformed_scope"},
	}
	for _, tc := range cases {
		got, p := parseScope(tc.raw)
		cause := ""
		if p != nil {
			cause = p.CauseID
		}
		if cause != tc.cause || !slices.Equal(got, tc.want) {
			t.Errorf("parseScope(%q) = %q, %q; want %q, %q", tc.raw, got, cause, tc.want, tc.cause)
		}
	}
}

func TestCheckRedirectURI(t *testing.T) {
	ok := []string{"https://app.example/cb", "http://localhost:3000/cb", "http://127.0.0.1/cb", "com.example.app:/oauth2redirect"}
	bad := []string{"/relative", "https://app.example/cb#frag", "http://app.example/cb", "https:///nohost", "not a uri"}
	for _, u := range ok {
		if err := checkRedirectURI(u); err != nil {
			t.Errorf("checkRedirectURI(%q) = %v; want nil", u, err)
		}
	}
	for _, u := range bad {
		if err := checkRedirectURI(u); err == nil {
			t.Errorf("checkRedirectURI(%q) = nil; want an error", u)
		}
	}
}

func TestRedirectURIRules(t *testing.T) {
	for _, u := range []string{"javascript:alert(1)", "data:text/html,x", "file:///etc/passwd"} {
		if err := checkRedirectURI(u); err == nil {
			t.Errorf("checkRedirectURI(%q) = nil; want refused", u)
		}
	}
	reg := []string{"http://127.0.0.1/cb", "https://app.example/cb"}
	for got, want := range map[string]bool{
		"http://127.0.0.1:51234/cb":   true,  // loopback: any port (RFC 8252 §7.3)
		"http://127.0.0.1:51234/x":    false, // path must match
		"https://app.example/cb":      true,
		"https://app.example:8443/cb": false, // non-loopback: exact
		"http://localhost:51234/cb":   false, // host must match too
	} {
		if ok := redirectURIRegistered(reg, got); ok != want {
			t.Errorf("redirectURIRegistered(%q) = %v; want %v", got, ok, want)
		}
	}
}
