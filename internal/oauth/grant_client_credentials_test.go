package oauth

import (
	"context"
	"net/url"
	"reflect"
	"slices"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/internal/problem"
)

// TestIssueClientToken: a token issued in-process is the one the token
// endpoint's client_credentials grant issues (same claims, lifetime and
// scope rules), and it is refused for the same reasons.
func TestIssueClientToken(t *testing.T) {
	t.Parallel()
	e := newAuthzEnv(t, nil)
	ctx := context.Background()
	c := e.createClient("try", "scopes", "sim-swap:check sim-swap:retrieve-date")

	claimsOf := func(raw string) map[string]any {
		t.Helper()
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tok.Headers[0].ExtraHeaders["typ"], any("at+jwt"); got != want {
			t.Errorf("typ = %v; want %v", got, want)
		}
		var claims map[string]any
		_ = tok.UnsafeClaimsWithoutVerification(&claims)
		return claims
	}
	minted, p := e.srv.IssueClientToken(ctx, c.ID, []string{"sim-swap:check"})
	if p != nil {
		t.Fatalf("IssueClientToken: %v", p)
	}
	got := claimsOf(minted)
	want := claimsOf(e.token(c, "sim-swap:check"))
	for k, v := range want {
		switch k {
		case "jti":
			if got[k] == v {
				t.Errorf("jti %v is the endpoint token's: each token needs its own", v)
			}
		default: // iat, exp and the rest: the clock stands still
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("claim %s = %v; the token endpoint issues %v", k, got[k], v)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("claims %v; the token endpoint issues %v", got, want)
	}
	if _, p := e.srv.VerifyAccessToken(minted); p != nil {
		t.Errorf("the gateway's check refuses the token: %v", p)
	}
	if in := e.introspect(c, minted); in["active"] != true || in["scope"] != "sim-swap:check" {
		t.Errorf("introspection = %v; want active with scope sim-swap:check", in)
	}

	// No scope: every scope the client is allowed, as the endpoint does.
	all, p := e.srv.IssueClientToken(ctx, c.ID, nil)
	if p != nil {
		t.Fatal(p)
	}
	if got, want := claimsOf(all)["scope"], "sim-swap:check sim-swap:retrieve-date"; got != want {
		t.Errorf("scope = %v; want %q", got, want)
	}

	// Refusals: the token endpoint's, for the same client and scopes.
	suspended := e.createClient("suspended", "scopes", "sim-swap:check")
	status := "suspended"
	if _, err := e.clients.Update(ctx, suspended.ID, ClientSpec{Status: &status}); err != nil {
		t.Fatal(err)
	}
	codeOnly := e.createClient("code only", "grant_types", "authorization_code", "scopes", "openid sim-swap:check",
		"redirect_uris", appRedirect)
	for _, tc := range []struct {
		name   string
		client testClient
		scopes []string
		want   problem.Reason
	}{
		{"unknown client", testClient{ID: "gh_nobody"}, nil, problem.InvalidClientUnknownClient},
		{"suspended client", suspended, nil, problem.InvalidClientClientSuspended},
		{"grant not allowed", codeOnly, []string{"sim-swap:check"}, problem.UnauthorizedClientGrantNotAllowed},
		{"scope not allowed", c, []string{"device-location:read"}, problem.InvalidScopeScopeNotAllowed},
		{"unknown scope", c, []string{"sim-swap:teleport"}, problem.InvalidScopeUnknownScope},
		{"malformed scope", c, []string{"sim-swap:check\x7f"}, problem.InvalidScopeMalformedScope},
		{"empty scope", c, []string{""}, problem.InvalidScopeMalformedScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, p := e.srv.IssueClientToken(ctx, tc.client.ID, tc.scopes)
			if p == nil || p.Reason() != tc.want {
				t.Fatalf("IssueClientToken = %q, %v; want %s", tok, p, tc.want)
			}
			if tok != "" {
				t.Errorf("a token came with the refusal")
			}
			if tc.client.Secret == "" || tc.want == problem.InvalidClientClientSuspended || slices.Contains(tc.scopes, "") {
				return // the endpoint conceals a suspension; it cannot be sent an empty scope
			}
			form := url.Values{"grant_type": {GrantClientCredentials}}
			if tc.scopes != nil {
				form.Set("scope", tc.scopes[0])
			}
			status, body := e.tokenForm(tc.client, form)
			if status != p.Status() || body["cause"] != p.CauseID {
				t.Errorf("the token endpoint answers %d %v; IssueClientToken %d %s", status, body["cause"], p.Status(), p.CauseID)
			}
		})
	}
}
