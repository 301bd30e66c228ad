package oauth

import (
	"testing"

	"gatehouse/internal/testhttp"
)

// TestDiscoveryRequestObjects: discovery says request objects by value are
// supported, with the algorithms they may be signed with for the
// authorization endpoint and CIBA, and that request_uri is not, explicitly,
// since its absence would mean true (OpenID Connect Discovery §3).
func TestDiscoveryRequestObjects(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	algs := testhttp.MustJSON(t, assertionAlgorithmNames())
	for _, path := range discoveryPaths {
		d := e.discovery(path)
		if v, ok := d["request_parameter_supported"]; !ok || v != true {
			t.Errorf("%s: request_parameter_supported = %v (present %v); want true", path, v, ok)
		}
		if v, ok := d["request_uri_parameter_supported"]; !ok || v != false {
			t.Errorf("%s: request_uri_parameter_supported = %v (present %v); want false", path, v, ok)
		}
		for _, member := range []string{"request_object_signing_alg_values_supported", "backchannel_authentication_request_signing_alg_values_supported"} {
			if got := testhttp.MustJSON(t, d[member]); got != algs {
				t.Errorf("%s: %s = %s; want %s", path, member, got, algs)
			}
		}
	}
}
