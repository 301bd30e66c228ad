package oauth

import (
	"net/http"
	"net/url"
	"testing"
)

// TestDiscoveryRequestObjects: discovery says request objects are not
// supported, explicitly for request_uri, whose absence would mean true
// (OpenID Connect Discovery §3), and an authorization request carrying
// one is refused with the code OpenID Connect Core §3.1.2.6 names.
func TestDiscoveryRequestObjects(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	for _, path := range discoveryPaths {
		d := e.discovery(path)
		for _, member := range []string{"request_parameter_supported", "request_uri_parameter_supported"} {
			if v, ok := d[member]; !ok || v != false {
				t.Errorf("%s: %s = %v (present %v); want false", path, member, v, ok)
			}
		}
	}
	c := e.createClient("web app", "grant_types", "authorization_code", "redirect_uris", "https://app.example/cb", "scopes", "openid")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {c.ID}, "request": {"eyJhbGciOiJub25lIn0.eyJyZXNwb25zZV90eXBlIjoiY29kZSJ9."}, "state": {"s1"}}
	resp, err := noFollow.Get(e.ts.URL + PathAuthorize + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("error") != "request_not_supported" ||
		loc.Query().Get("state") != "s1" || loc.Query().Get("iss") != e.ts.URL {
		t.Errorf("authorize with only request: %d Location %q; want a redirect with error=request_not_supported, state and iss", resp.StatusCode, resp.Header.Get("Location"))
	}
}
