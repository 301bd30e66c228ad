package oauth

import (
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"gatehouse/internal/store"
	"gatehouse/internal/testhttp"
)

// secretPattern is what a secret scanner would match.
var secretPattern = regexp.MustCompile(`^gth_(sbx|prd|op)_[0-9A-Za-z]{49}$`)

func TestClientSecretFormat(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for env, kind := range map[string]string{store.EnvironmentSandbox: "sbx", store.EnvironmentProduction: "prd", "": "op"} {
		for range 200 {
			s := newClientSecret(env)
			if !secretPattern.MatchString(s) || !strings.HasPrefix(s, "gth_"+kind+"_") {
				t.Fatalf("secret %q for %q does not have the documented form", s, env)
			}
			if garbledSecret(s) {
				t.Fatalf("a fresh secret %q reads as garbled", s)
			}
			if seen[s] {
				t.Fatalf("secret %q issued twice", s)
			}
			seen[s] = true
		}
	}

	s := newClientSecret(store.EnvironmentSandbox)
	swap := func(c byte) byte {
		if c == 'a' {
			return 'b'
		}
		return 'a'
	}
	for name, garbled := range map[string]string{
		"truncated":        s[:len(s)-1],
		"one more":         s + "x",
		"a character off":  s[:20] + string(swap(s[20])) + s[21:],
		"checksum changed": s[:len(s)-1] + string(swap(s[len(s)-1])),
		"unknown kind":     "gth_xyz_" + s[len("gth_sbx_"):],
		"no kind":          "gth_" + s[len("gth_sbx_"):],
		"not base62":       s[:10] + "-" + s[11:],
	} {
		if !garbledSecret(garbled) {
			t.Errorf("%s: %q passes the checksum", name, garbled)
		}
	}
	// Secrets from before the format are not held to it.
	for _, legacy := range []string{"wrong", randomString(32), "gth"} {
		if garbledSecret(legacy) {
			t.Errorf("%q without the prefix reads as garbled", legacy)
		}
	}
}

// TestGarbledSecretIsNamed: a truncated copy of a secret gets its own
// cause, said openly (it depends on the string alone, not on the client),
// while a well-formed wrong secret stays the concealed invalid_client.
func TestGarbledSecretIsNamed(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	c := e.createClient("garbled")
	if !secretPattern.MatchString(c.Secret) {
		t.Fatalf("operator client secret %q lacks the gth_op_ form", c.Secret)
	}
	for _, tc := range []struct {
		name, id, secret, cause string
	}{
		{"truncated copy", c.ID, c.Secret[:len(c.Secret)-3], "secret_garbled"},
		{"truncated copy, unknown client", "gh_unknown", c.Secret[:len(c.Secret)-3], "secret_garbled"},
		{"well-formed but wrong", c.ID, newClientSecret(""), ""},
	} {
		resp := e.postForm(PathToken, url.Values{"grant_type": {"client_credentials"}}, tc.id, tc.secret)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var oe testhttp.OAuthError
		if err := json.Unmarshal(b, &oe); err != nil {
			t.Fatalf("%s: %v: %s", tc.name, err, b)
		}
		if resp.StatusCode != 401 || oe.Error != "invalid_client" || oe.Cause != tc.cause {
			t.Errorf("%s: %d %s cause %q; want 401 invalid_client cause %q: %s", tc.name, resp.StatusCode, oe.Error, oe.Cause, tc.cause, b)
		}
		if tc.cause != "" && !strings.Contains(oe.Description, "checksum") {
			t.Errorf("%s: the description does not say what is wrong: %s", tc.name, oe.Description)
		}
	}
}
