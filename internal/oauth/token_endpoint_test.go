package oauth

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/store"
	"gatehouse/internal/testhttp"
)

// TestTokenEndpointErrors drives the token endpoint through every error the
// seed page names for it, and checks status, code, cause and headers, and
// that no token was issued. That the public front sends the correlator as
// the x-correlator header too is cmd/gatehouse's
// TestTokenErrorsCarryTheCorrelator.
func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	basic := e.createClient("basic app", "scopes", "sim-swap:check sim-swap:retrieve-date")
	post := e.createClient("post app", "token_endpoint_auth_method", "client_secret_post", "scopes", "sim-swap:check")
	suspended := e.createClient("suspended app")
	status := store.ClientSuspended
	if _, err := e.clients.Update(t.Context(), suspended.ID, ClientSpec{Status: &status}); err != nil {
		t.Fatal(err)
	}
	codeOnly := e.createClient("code-only app", "grant_types", "authorization_code", "redirect_uris", "https://app.example/cb")
	key := e.newAssertionKey()
	jwtClient := e.createClient("jwt app", "token_endpoint_auth_method", "private_key_jwt", "jwks", key.JWKS(t), "scopes", "sim-swap:check")
	otherKey := e.newAssertionKey()
	tokenURL := e.ts.URL + PathToken
	usedAssertion := key.Assertion(t, jwtClient.ID, tokenURL, nil)
	if resp := e.postForm(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {usedAssertion}}, "", ""); resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("private_key_jwt token: %d %s", resp.StatusCode, b)
	}

	assertionForm := func(a string) string {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}.Encode()
	}
	now := e.clock.Now()
	const cc = "grant_type=client_credentials"
	type creds struct{ id, secret string }
	cases := []struct {
		name        string
		method      string // default POST
		contentType string // default form
		body        string
		basic       *creds
		header      map[string]string
		status      int
		code        string
		cause       string // "" when the cause must be concealed
		wwwAuth     bool
		allow       string
		retryAfter  bool
	}{
		{name: "missing grant_type", body: "scope=sim-swap:check", basic: &creds{basic.ID, basic.Secret}, status: 400, code: "invalid_request", cause: "missing_parameter"},
		{name: "repeated parameter", body: cc + "&grant_type=client_credentials", basic: &creds{basic.ID, basic.Secret}, status: 400, code: "invalid_request", cause: "repeated_parameter"},
		{name: "JSON body", contentType: "application/json", body: `{"grant_type":"client_credentials"}`, basic: &creds{basic.ID, basic.Secret}, status: 400, code: "invalid_request", cause: "wrong_content_type"},
		{name: "no content type", contentType: "-", body: cc, basic: &creds{basic.ID, basic.Secret}, status: 400, code: "invalid_request", cause: "wrong_content_type"},
		{name: "bad percent-encoding", body: "grant_type=%zz", basic: &creds{basic.ID, basic.Secret}, status: 400, code: "invalid_request", cause: "malformed_body"},
		{name: "two client auth methods", body: cc + "&client_id=" + post.ID + "&client_secret=" + post.Secret, basic: &creds{basic.ID, basic.Secret}, status: 400, code: "invalid_request", cause: "multiple_client_auth"},
		{name: "no credentials", body: cc, status: 401, code: "invalid_client", cause: "missing_credentials", wwwAuth: true},
		{name: "malformed basic header", body: cc, header: map[string]string{"Authorization": "Basic !!!"}, status: 401, code: "invalid_client", cause: "malformed_basic_auth", wwwAuth: true},
		{name: "bearer instead of basic", body: cc, header: map[string]string{"Authorization": "Bearer abc"}, status: 401, code: "invalid_client", cause: "missing_credentials", wwwAuth: true},
		{name: "unknown client", body: cc, basic: &creds{"gh_nobody", basic.Secret}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "wrong secret", body: cc, basic: &creds{basic.ID, "not-the-secret"}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "wrong secret in body", body: cc + "&client_id=" + post.ID + "&client_secret=nope", status: 401, code: "invalid_client"},
		{name: "suspended client", body: cc, basic: &creds{suspended.ID, suspended.Secret}, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "registered method differs", body: cc, basic: &creds{post.ID, post.Secret}, status: 401, code: "invalid_client", cause: "auth_method_mismatch", wwwAuth: true},
		{name: "client_id only", body: cc + "&client_id=" + basic.ID, status: 401, code: "invalid_client", cause: "missing_credentials"},
		{name: "assertion garbage", body: assertionForm("not.a.jwt"), status: 401, code: "invalid_client", cause: "invalid_assertion"},
		{name: "assertion wrong assertion type", body: url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"jwt"}, "client_assertion": {"x"}}.Encode(), status: 400, code: "invalid_request", cause: "invalid_parameter"},
		{name: "assertion signed by another key", body: assertionForm(otherKey.Assertion(t, jwtClient.ID, tokenURL, nil)), status: 401, code: "invalid_client", cause: "invalid_assertion"},
		{name: "assertion expired", body: assertionForm(key.Assertion(t, jwtClient.ID, tokenURL, func(c *jwt.Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-10 * time.Minute))
			c.Expiry = jwt.NewNumericDate(now.Add(-9 * time.Minute))
		})), status: 401, code: "invalid_client", cause: "assertion_expired"},
		{name: "assertion lives too long", body: assertionForm(key.Assertion(t, jwtClient.ID, tokenURL, func(c *jwt.Claims) {
			c.Expiry = jwt.NewNumericDate(now.Add(time.Hour))
		})), status: 401, code: "invalid_client", cause: "assertion_lifetime_too_long"},
		{name: "assertion for another audience", body: assertionForm(key.Assertion(t, jwtClient.ID, "https://elsewhere.example/token", nil)), status: 401, code: "invalid_client", cause: "assertion_audience"},
		{name: "assertion replayed", body: assertionForm(usedAssertion), status: 401, code: "invalid_client", cause: "assertion_replayed"},
		{name: "assertion without jti", body: assertionForm(key.Assertion(t, jwtClient.ID, tokenURL, func(c *jwt.Claims) { c.ID = "" })), status: 401, code: "invalid_client", cause: "invalid_assertion"},
		{name: "grant not allowed for client", body: cc, basic: &creds{codeOnly.ID, codeOnly.Secret}, status: 400, code: "unauthorized_client", cause: "grant_not_allowed"},
		{name: "unknown grant", body: "grant_type=password&username=a&password=b", basic: &creds{basic.ID, basic.Secret}, status: 400, code: "unsupported_grant_type", cause: "unknown_grant_type"},
		{name: "misspelled grant", body: "grant_type=client_credential", basic: &creds{basic.ID, basic.Secret}, status: 400, code: "unsupported_grant_type", cause: "unknown_grant_type"},
		{name: "unknown scope", body: cc + "&scope=sim-swap:teleport", basic: &creds{basic.ID, basic.Secret}, status: 400, code: "invalid_scope", cause: "unknown_scope"},
		{name: "known scope not allowed", body: cc + "&scope=sim-swap:retrieve-date&client_id=" + post.ID + "&client_secret=" + post.Secret, status: 400, code: "invalid_scope", cause: "scope_not_allowed"},
		{name: "malformed scope", body: cc + "&scope=" + url.QueryEscape("sim-swap:check  sim-swap:retrieve-date"), basic: &creds{basic.ID, basic.Secret}, status: 400, code: "invalid_scope", cause: "malformed_scope"},
		{name: "GET", method: http.MethodGet, basic: &creds{basic.ID, basic.Secret}, status: 405, code: "invalid_request", cause: "method_not_supported", allow: "POST"},
		{name: "PUT", method: http.MethodPut, body: cc, basic: &creds{basic.ID, basic.Secret}, status: 405, code: "invalid_request", cause: "method_not_supported", allow: "POST"},
		{name: "declared body too large", body: cc + "&pad=" + strings.Repeat("a", 70<<10), basic: &creds{basic.ID, basic.Secret}, status: 413, code: "invalid_request", cause: "declared_too_large"},
		{name: "streamed body too large", body: "chunked:" + cc + "&pad=" + strings.Repeat("a", 70<<10), basic: &creds{basic.ID, basic.Secret}, status: 413, code: "invalid_request", cause: "body_too_large"},
		{name: "Accept excludes JSON", body: cc, basic: &creds{basic.ID, basic.Secret}, header: map[string]string{"Accept": "text/html"}, status: 406, code: "invalid_request", cause: "accept_unsatisfiable"},
		{name: "Accept JSON with q=0", body: cc, basic: &creds{basic.ID, basic.Secret}, header: map[string]string{"Accept": "application/json;q=0, text/plain"}, status: 406, code: "invalid_request", cause: "accept_unsatisfiable"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := testhttp.Request{Method: tc.method, Path: PathToken, Body: tc.body, ContentType: tc.contentType,
				Header: map[string]string{}, Correlator: "token-errors-" + strconv.Itoa(i)}
			if req.ContentType == "" {
				req.ContentType = "application/x-www-form-urlencoded"
			}
			if tc.basic != nil {
				req.Header["Authorization"] = testhttp.BasicAuth(tc.basic.id, tc.basic.secret)
			}
			maps.Copy(req.Header, tc.header)
			resp, raw := testhttp.Send(t, e.ts.URL, req)
			var oe testhttp.OAuthError
			if err := json.Unmarshal(raw, &oe); err != nil {
				t.Fatalf("body is not JSON: %q", raw)
			}
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Errorf("status = %d; want %d (body %s)", got, want, raw)
			}
			if got, want := oe.Error, tc.code; got != want {
				t.Errorf("error = %q; want %q (body %s)", got, want, raw)
			}
			if got, want := oe.Cause, tc.cause; got != want {
				t.Errorf("cause = %q; want %q (body %s)", got, want, raw)
			}
			if strings.Contains(string(raw), "access_token") {
				t.Errorf("a token was issued: %s", raw)
			}
			if oe.Description == "" || !strings.HasPrefix(oe.URI, e.ts.URL+"/docs/errors#") {
				t.Errorf("error_description %q / error_uri %q: want both, the URI on the troubleshooting page", oe.Description, oe.URI)
			}
			if got, want := resp.Header.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("Cache-Control = %q; want %q", got, want)
			}
			if got := resp.Header.Get("WWW-Authenticate"); (got != "") != tc.wwwAuth {
				t.Errorf("WWW-Authenticate = %q; want present: %v", got, tc.wwwAuth)
			}
			if got, want := resp.Header.Get("Allow"), tc.allow; got != want {
				t.Errorf("Allow = %q; want %q", got, want)
			}
			if oe.Correlator != req.Correlator {
				t.Errorf("body correlator %q; want the request's, %q", oe.Correlator, req.Correlator)
			}
		})
	}
}

// TestTokenEndpointSuccessShapes checks the token response and the claims
// of the access token (RFC 6749 §5.1, RFC 9068 §2).
func TestTokenEndpointSuccessShapes(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	c := e.createClient("shapes", "scopes", "sim-swap:check sim-swap:retrieve-date")

	resp := e.postForm(PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"sim-swap:check"}}, c.ID, c.Secret)
	var body map[string]any
	testhttp.DecodeJSON(t, resp, &body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, body)
	}
	if got, want := resp.Header.Get("Cache-Control"), "no-store"; got != want {
		t.Errorf("Cache-Control = %q; want %q", got, want)
	}
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) || body["scope"] != "sim-swap:check" {
		t.Errorf("token response = %v; want Bearer, 3599 s, scope sim-swap:check", body)
	}
	tok, err := jwt.ParseSigned(body["access_token"].(string), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Headers[0].ExtraHeaders["typ"], any("at+jwt"); got != want {
		t.Errorf("typ = %v; want %v", got, want)
	}
	var claims map[string]any
	_ = tok.UnsafeClaimsWithoutVerification(&claims)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing (RFC 9068 §2.2): %v", k, claims)
		}
	}
	if claims["sub"] != c.ID || claims["client_id"] != c.ID || claims["iss"] != e.ts.URL {
		t.Errorf("claims = %v", claims)
	}

	// No scope requested: every allowed scope is granted.
	resp = e.postForm(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
	testhttp.DecodeJSON(t, resp, &body)
	if got, want := body["scope"], "sim-swap:check sim-swap:retrieve-date"; got != want {
		t.Errorf("default scope = %v; want %q", got, want)
	}

	// client_secret_post, and a secret that needs form-encoding in Basic.
	p := e.createClient("post", "token_endpoint_auth_method", "client_secret_post")
	resp = e.postForm(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ID}, "client_secret": {p.Secret}}, "", "")
	testhttp.DecodeJSON(t, resp, &body)
	if resp.StatusCode != 200 {
		t.Errorf("client_secret_post: %d %v", resp.StatusCode, body)
	}
}

// TestFailedClientAuthenticationIsLogged: the client sees one
// non-descriptive invalid_client for unknown client, wrong secret and
// suspended client, while the log names the actual cause and the client for
// the operator and developer.
func TestFailedClientAuthenticationIsLogged(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil) // logs at level info, as JSON
	c := e.createClient("logged")
	var bodies []string
	for _, cr := range []testClient{{c.ID, "wrong"}, {"gh_unknown", c.Secret}} {
		resp := e.postForm(PathToken, url.Values{"grant_type": {"client_credentials"}}, cr.ID, cr.Secret)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var oe testhttp.OAuthError
		_ = json.Unmarshal(b, &oe)
		bodies = append(bodies, oe.Error+"|"+oe.Description+"|"+oe.Cause)
		if strings.Contains(string(b), "wrong_secret") || strings.Contains(string(b), "unknown_client") || strings.Contains(oe.Description, cr.ID) {
			t.Errorf("the response tells which check failed: %s", b)
		}
	}
	if bodies[0] != bodies[1] {
		t.Errorf("unknown client and wrong secret answer differently:\n%s\n%s", bodies[0], bodies[1])
	}
	logs := e.logs.String()
	for _, want := range []string{`"cause":"wrong_secret"`, `"cause":"unknown_client"`, c.ID, "gh_unknown", `"status":401`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, c.Secret) || strings.Contains(logs, `"wrong"`) {
		t.Errorf("a secret reached the log")
	}
}
