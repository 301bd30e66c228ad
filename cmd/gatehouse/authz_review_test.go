package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// signCompact signs claims as a compact JWS with the header given, using
// sign for the signature: a hand-made JWS, so that any alg label can be
// put on any signature.
func signCompact(t *testing.T, header map[string]any, claims any, sign func([]byte) []byte) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(mustJSON(t, header))) + "." + enc.EncodeToString([]byte(mustJSON(t, claims)))
	return input + "." + enc.EncodeToString(sign([]byte(input)))
}

func assertionClaims(clientID, sub, aud string) jwt.Claims {
	now := time.Now()
	return jwt.Claims{
		Issuer: clientID, Subject: sub, Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
		ID: base64.RawURLEncoding.EncodeToString(randomBytes(12)),
	}
}

// TestEd25519Assertions: private_key_jwt assertions and JWT bearer grants
// signed with alg Ed25519 (RFC 9864's fully specified name) are accepted
// beside EdDSA (issue 9), discovery publishes Ed25519, and no alg label can
// move a signature to another key type: an Ed25519 signature labelled
// ES256, and an ES256 signature labelled Ed25519, are refused.
func TestEd25519Assertions(t *testing.T) {
	ts := startServer(t, nil)
	d := discovery(t, ts.Issuer)
	for _, member := range []string{"token_endpoint_auth_signing_alg_values_supported", "revocation_endpoint_auth_signing_alg_values_supported"} {
		var algs []string
		_ = json.Unmarshal([]byte(mustJSON(t, d[member])), &algs)
		if !slices.Contains(algs, "Ed25519") || !slices.Contains(algs, "EdDSA") {
			t.Errorf("%s = %v; want Ed25519 and EdDSA", member, algs)
		}
	}

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := mustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "ed", Use: "sig"}}})
	c := ts.createClient("ed25519 app", "--auth-method", "private_key_jwt", "--jwks", set,
		"--grant-types", "client_credentials urn:ietf:params:oauth:grant-type:jwt-bearer", "--scopes", "sim-swap:check number-verification:verify")
	tokenURL := ts.Issuer + "/oauth2/token"
	edSign := func(b []byte) []byte { return ed25519.Sign(priv, b) }
	withAssertion := func(a string, form url.Values) (int, oauthError, map[string]any) {
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
		resp := ts.post("/oauth2/token", form, "", "")
		var body map[string]any
		decode(t, resp, &body)
		var e oauthError
		_ = json.Unmarshal([]byte(mustJSON(t, body)), &e)
		return resp.StatusCode, e, body
	}
	cc := func() url.Values { return url.Values{"grant_type": {"client_credentials"}} }

	// alg Ed25519, hand-signed with crypto/ed25519.
	a := signCompact(t, map[string]any{"alg": "Ed25519", "kid": "ed", "typ": "JWT"}, assertionClaims(c.ID, c.ID, tokenURL), edSign)
	if status, e, body := withAssertion(a, cc()); status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("alg Ed25519 client assertion: %d %+v", status, e)
	}
	// alg EdDSA, signed by go-jose.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", "ed"))
	if err != nil {
		t.Fatal(err)
	}
	a, err = jwt.Signed(signer).Claims(assertionClaims(c.ID, c.ID, tokenURL)).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if status, e, _ := withAssertion(a, cc()); status != http.StatusOK {
		t.Fatalf("alg EdDSA client assertion: %d %+v", status, e)
	}
	// The JWT bearer grant with alg Ed25519, the client authenticated by an
	// Ed25519 assertion too.
	grant := signCompact(t, map[string]any{"alg": "Ed25519", "kid": "ed"}, assertionClaims(c.ID, "tel:+34600000001", tokenURL), edSign)
	client := signCompact(t, map[string]any{"alg": "Ed25519"}, assertionClaims(c.ID, c.ID, tokenURL), edSign)
	if status, e, _ := withAssertion(client, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {grant}}); status != http.StatusOK {
		t.Fatalf("alg Ed25519 JWT bearer grant: %d %+v", status, e)
	}

	refused := []struct {
		name string
		jws  string
	}{
		{"Ed25519 key, header ES256", signCompact(t, map[string]any{"alg": "ES256", "kid": "ed"}, assertionClaims(c.ID, c.ID, tokenURL), edSign)},
		{"Ed25519 key, header none", signCompact(t, map[string]any{"alg": "none", "kid": "ed"}, assertionClaims(c.ID, c.ID, tokenURL), edSign)},
		{"Ed25519 with crit", signCompact(t, map[string]any{"alg": "Ed25519", "crit": []string{"exp"}, "exp": 1}, assertionClaims(c.ID, c.ID, tokenURL), edSign)},
		{"Ed25519, tampered claims", func() string {
			a := signCompact(t, map[string]any{"alg": "Ed25519"}, assertionClaims(c.ID, c.ID, tokenURL), edSign)
			parts := strings.Split(a, ".")
			other := signCompact(t, map[string]any{"alg": "Ed25519"}, assertionClaims(c.ID, c.ID, "https://x.example"), edSign)
			return parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
		}()},
		{"Ed25519, another key", signCompact(t, map[string]any{"alg": "Ed25519"}, assertionClaims(c.ID, c.ID, tokenURL), func(b []byte) []byte {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			return ed25519.Sign(other, b)
		})},
	}
	for _, tc := range refused {
		if status, e, _ := withAssertion(tc.jws, cc()); status != http.StatusUnauthorized || e.Error != "invalid_client" || e.Cause != "invalid_assertion" {
			t.Errorf("%s: %d %+v; want 401 invalid_client (invalid_assertion)", tc.name, status, e)
		}
	}

	// An EC client's valid ES256 signature (64 bytes, like Ed25519's) over
	// a header saying Ed25519: the EC key never verifies alg Ed25519.
	key := newAssertionKey(t)
	ec := ts.createClient("ec app", "--auth-method", "private_key_jwt", "--jwks", key.jwks(t), "--scopes", "sim-swap:check")
	relabelled := signCompact(t, map[string]any{"alg": "Ed25519", "kid": key.kid}, assertionClaims(ec.ID, ec.ID, tokenURL), func(b []byte) []byte {
		sum := sha256.Sum256(b)
		r, s, err := ecdsa.Sign(rand.Reader, key.priv, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	})
	if status, e, _ := withAssertion(relabelled, cc()); status != http.StatusUnauthorized || e.Cause != "invalid_assertion" {
		t.Errorf("ES256 signature labelled Ed25519: %d %+v; want 401 invalid_assertion", status, e)
	}
	// The same signature labelled ES256 is valid: the test signs correctly.
	es := signCompact(t, map[string]any{"alg": "ES256", "kid": key.kid}, assertionClaims(ec.ID, ec.ID, tokenURL), func(b []byte) []byte {
		sum := sha256.Sum256(b)
		r, s, _ := ecdsa.Sign(rand.Reader, key.priv, sum[:])
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	})
	if status, e, _ := withAssertion(es, cc()); status != http.StatusOK {
		t.Errorf("hand-signed ES256 control: %d %+v; want 200", status, e)
	}
}

// TestDiscoveryRequestObjects: discovery says request objects are not
// supported, explicitly for request_uri, whose absence would mean true
// (OpenID Connect Discovery §3), and an authorization request carrying
// one is refused with the code OpenID Connect Core §3.1.2.6 names.
func TestDiscoveryRequestObjects(t *testing.T) {
	ts := startServer(t, nil)
	for _, path := range discoveryPaths {
		d := discoveryAt(t, ts.Issuer, path)
		for _, member := range []string{"request_parameter_supported", "request_uri_parameter_supported"} {
			if v, ok := d[member]; !ok || v != false {
				t.Errorf("%s: %s = %v (present %v); want false", path, member, v, ok)
			}
		}
	}
	c := ts.createClient("web app", "--grant-types", "authorization_code", "--redirect-uris", "https://app.example/cb", "--scopes", "openid")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {c.ID}, "request": {"eyJhbGciOiJub25lIn0.eyJyZXNwb25zZV90eXBlIjoiY29kZSJ9."}, "state": {"s1"}}
	resp, err := noFollow.Get(ts.Issuer + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("error") != "request_not_supported" ||
		loc.Query().Get("state") != "s1" || loc.Query().Get("iss") != ts.Issuer {
		t.Errorf("authorize with only request: %d Location %q; want a redirect with error=request_not_supported, state and iss", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestRefreshScopeFollowsClient: a refreshed access token gets the original
// grant intersected with what the client may request now and with the
// scopes that still exist (issue 9: after a PATCH removed
// number-verification:verify, the refreshed token still had it). Rotation
// and reuse detection keep working around the refusals.
func TestRefreshScopeFollowsClient(t *testing.T) {
	ts := startServer(t, nil)
	admin := adminTokenOf(t, ts)
	c := ts.createClient("ciba app", "--grant-types", "urn:openid:params:grant-type:ciba refresh_token",
		"--scopes", "openid offline_access number-verification:verify number-verification:device-phone-number:read sim-swap:check")
	patchScopes := func(scopes string) {
		t.Helper()
		resp, body := ts.adminCall("PATCH", "/admin/clients/"+c.ID, admin, "application/json", `{"scopes":`+mustJSON(t, strings.Fields(scopes))+`}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PATCH scopes %q: %d %s", scopes, resp.StatusCode, body)
		}
	}
	resp := ts.post("/oauth2/bc-authorize", url.Values{"login_hint": {"tel:+34600000001"},
		"scope": {"openid offline_access number-verification:verify number-verification:device-phone-number:read sim-swap:check"}}, c.ID, c.Secret)
	var bc map[string]any
	decode(t, resp, &bc)
	status, tokens := ts.tokenForm(t, c, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {fmt.Sprint(bc["auth_req_id"])}})
	if status != http.StatusOK || tokens["refresh_token"] == nil {
		t.Fatalf("CIBA tokens: %d %v", status, tokens)
	}
	refresh := func(rt string, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return ts.tokenForm(t, c, form)
	}
	verify := func(access string) int {
		resp, _ := call(t, ts.Issuer+"/number-verification/v2/verify", access, `{"phoneNumber":"+34600000001"}`)
		return resp.StatusCode
	}
	if got := verify(tokens["access_token"].(string)); got != http.StatusOK {
		t.Fatalf("verify with the first token: %d", got)
	}

	// The operator removes number-verification:verify from the client.
	patchScopes("openid offline_access number-verification:device-phone-number:read sim-swap:check")
	rt0 := tokens["refresh_token"].(string)
	status, body := refresh(rt0, "")
	if status != http.StatusOK || body["scope"] != "openid offline_access number-verification:device-phone-number:read sim-swap:check" {
		t.Fatalf("refresh after the PATCH: %d %v; want 200 with scope without number-verification:verify", status, body)
	}
	if got := verify(body["access_token"].(string)); got != http.StatusForbidden {
		t.Errorf("verify with the refreshed token: %d; want 403 insufficient_scope", got)
	}
	if got := ts.introspect(c, body["access_token"].(string))["scope"]; got != body["scope"] {
		t.Errorf("introspected scope %v; want %v", got, body["scope"])
	}
	rt1 := body["refresh_token"].(string)
	// Asking for it explicitly names the cause, and does not rotate.
	status, body = refresh(rt1, "number-verification:verify")
	if status != http.StatusBadRequest || body["error"] != "invalid_scope" || body["cause"] != "scope_no_longer_allowed" {
		t.Errorf("explicit removed scope: %d %v; want invalid_scope scope_no_longer_allowed", status, body)
	}
	status, body = refresh(rt1, "nope:read")
	if status != http.StatusBadRequest || body["cause"] != "scope_exceeds_grant" {
		t.Errorf("scope never granted: %d %v; want invalid_scope scope_exceeds_grant", status, body)
	}

	// The sim-swap API is deleted: its scope exists no more.
	if resp, b := ts.adminCall("DELETE", "/admin/apis/sim-swap", admin, "", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE sim-swap: %d %s", resp.StatusCode, b)
	}
	status, body = refresh(rt1, "sim-swap:check")
	if status != http.StatusBadRequest || body["error"] != "invalid_scope" || body["cause"] != "scope_no_longer_defined" {
		t.Errorf("explicit scope of a deleted API: %d %v; want invalid_scope scope_no_longer_defined", status, body)
	}
	status, body = refresh(rt1, "")
	if status != http.StatusOK || body["scope"] != "openid offline_access number-verification:device-phone-number:read" {
		t.Fatalf("refresh after the API was deleted: %d %v", status, body)
	}
	rt2 := body["refresh_token"].(string)

	// Reuse detection still holds: rt1 was rotated.
	if status, body := refresh(rt1, ""); status != http.StatusBadRequest || body["cause"] != "refresh_token_reused" {
		t.Fatalf("reusing a rotated refresh token: %d %v; want refresh_token_reused", status, body)
	}
	if status, body := refresh(rt2, ""); status != http.StatusBadRequest || body["cause"] != "refresh_token_revoked" {
		t.Fatalf("the family after reuse: %d %v; want refresh_token_revoked", status, body)
	}

	// A new grant, then nothing but offline_access left for it, then
	// offline_access itself withdrawn.
	patchScopes("openid offline_access number-verification:device-phone-number:read")
	resp = ts.post("/oauth2/bc-authorize", url.Values{"login_hint": {"tel:+34600000001"},
		"scope": {"openid offline_access number-verification:device-phone-number:read"}}, c.ID, c.Secret)
	decode(t, resp, &bc)
	_, tokens = ts.tokenForm(t, c, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {fmt.Sprint(bc["auth_req_id"])}})
	rt := fmt.Sprint(tokens["refresh_token"])
	patchScopes("offline_access")
	if status, body := refresh(rt, ""); status != http.StatusBadRequest || body["error"] != "invalid_grant" || body["cause"] != "grant_scopes_withdrawn" {
		t.Errorf("nothing left of the grant: %d %v; want invalid_grant grant_scopes_withdrawn", status, body)
	}
	patchScopes("openid number-verification:device-phone-number:read")
	if status, body := refresh(rt, ""); status != http.StatusBadRequest || body["error"] != "invalid_grant" || body["cause"] != "offline_access_withdrawn" {
		t.Errorf("offline_access removed: %d %v; want invalid_grant offline_access_withdrawn", status, body)
	}
	// Given back, the refresh token works again with the original grant:
	// the refusals above did not rotate or revoke it.
	patchScopes("openid offline_access number-verification:device-phone-number:read")
	if status, body := refresh(rt, ""); status != http.StatusOK || body["scope"] != "openid offline_access number-verification:device-phone-number:read" {
		t.Errorf("refresh after the scopes were given back: %d %v", status, body)
	}
}

// TestUnknownScopesRefused: a client can no longer be registered, or given
// by update, a scope that neither the platform nor any API defines (issue
// 9), through the CLI and the admin API alike; the error lists the known
// scopes, and --allow-unknown-scopes / allow_unknown_scopes is the escape
// for an API imported later. Scopes a client already holds stay editable
// after their API is deleted.
func TestUnknownScopesRefused(t *testing.T) {
	ts := startServer(t, nil)
	admin := adminTokenOf(t, ts)

	// CLI.
	_, err := ts.tryCLI("clients", "create", "--name", "typo", "--scopes", "sim-swap:check sim-swap:chek")
	if err == nil {
		t.Fatal("clients create with sim-swap:chek succeeded")
	}
	for _, want := range []string{"sim-swap:chek", "sim-swap:check", "number-verification:verify", "openid", "offline_access", "phone", "gatehouse:introspect", "--allow-unknown-scopes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("clients create error %q does not name %s", err, want)
		}
	}
	later := ts.createClient("early bird", "--scopes", "sim-swap:check future-api:read", "--allow-unknown-scopes")
	c := ts.createClient("app", "--scopes", "sim-swap:check")
	if _, err := ts.tryCLI("clients", "update", c.ID, "--scopes", "sim-swap:check nope:read"); err == nil || !strings.Contains(err.Error(), "nope:read") {
		t.Errorf("clients update adding nope:read: err = %v; want a refusal naming it", err)
	}
	if _, err := ts.tryCLI("clients", "update", c.ID, "--scopes", "sim-swap:check nope:read", "--allow-unknown-scopes"); err != nil {
		t.Errorf("clients update with --allow-unknown-scopes: %v", err)
	}

	// Admin API.
	resp, body := ts.adminCall("POST", "/admin/clients", admin, "application/json", `{"name":"x","scopes":["sim-swap:check","made-up"]}`)
	p := checkProblem(t, "POST /admin/clients with an unknown scope", resp, body, http.StatusBadRequest, "bad_request", "unknown_scope")
	if p["field"] != "scopes" || !strings.Contains(fmt.Sprint(p["detail"]), "location-verification:verify") {
		t.Errorf("unknown scope problem: field %v, detail %v; want field scopes and the known scopes listed", p["field"], p["detail"])
	}
	resp, body = ts.adminCall("POST", "/admin/clients", admin, "application/json", `{"name":"x","scopes":["made-up"],"allow_unknown_scopes":true}`)
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("POST with allow_unknown_scopes: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.adminCall("PATCH", "/admin/clients/"+c.ID, admin, "application/json", `{"scopes":["made-up"]}`)
	checkProblem(t, "PATCH adding an unknown scope", resp, body, http.StatusBadRequest, "bad_request", "unknown_scope")

	// Deleting an API does not block editing the clients that hold its
	// scopes, but no client can be given them anew.
	if resp, b := ts.adminCall("DELETE", "/admin/apis/sim-swap", admin, "", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE sim-swap: %d %s", resp.StatusCode, b)
	}
	resp, body = ts.adminCall("PATCH", "/admin/clients/"+later.ID, admin, "application/json", `{"name":"renamed","scopes":["sim-swap:check","future-api:read","openid"]}`)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("PATCH keeping held scopes after their API was deleted: %d %s", resp.StatusCode, body)
	}
	if _, err := ts.tryCLI("clients", "create", "--name", "late", "--scopes", "sim-swap:check"); err == nil {
		t.Error("a new client got sim-swap:check after the sim-swap API was deleted")
	}
}
