package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"gatehouse/internal/config"
	"gatehouse/internal/testhttp"
)

// adminClient is the admin API's client representation.
type adminClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret *string  `json:"client_secret"`
	Name         string   `json:"name"`
	Status       string   `json:"status"`
	Scopes       []string `json:"scopes"`
	GrantTypes   []string `json:"grant_types"`
	PrevExpires  *string  `json:"previous_secret_expires_at"`
}

// TestAdminAPI drives every admin route over HTTP, and the admin listener's
// errors, health and metrics.
func TestAdminAPI(t *testing.T) {
	t.Parallel()
	ts := newTestPlatform(t, nil)
	tok := ts.adminToken()
	const js = "application/json"

	// Create: 201, Location, the secret once.
	resp, body := ts.adminCall("POST", "/admin/clients", tok, js, `{"name":"admin app","scopes":["sim-swap:check"]}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var created adminClient
	testhttp.Unmarshal(t, "create", body, &created)
	if created.ClientID == "" || created.ClientSecret == nil || *created.ClientSecret == "" || created.Status != "active" || created.Name != "admin app" {
		t.Fatalf("create = %s", body)
	}
	if loc := resp.Header.Get("Location"); loc != "/admin/clients/"+created.ClientID {
		t.Errorf("create: Location %q; want /admin/clients/%s", loc, created.ClientID)
	}
	if ct := resp.Header.Get("Content-Type"); ct != js {
		t.Errorf("create: Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create (shows a secret): Cache-Control %q; want no-store", cc)
	}
	secret := *created.ClientSecret
	st, b, _ := ts.tokenStatus(created.ClientID, secret)
	if st != 200 || b["access_token"] == nil {
		t.Fatalf("token for the admin-created client: %d %v", st, b)
	}
	issued, _ := b["access_token"].(string)
	// The sandbox API needs no subscription: the token works at the gateway.
	sandboxCall := testhttp.Request{Path: "/sim-swap/v2/check", Token: issued, Body: `{"phoneNumber":"+34600000002"}`}
	if resp, b := ts.send(t, sandboxCall); resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox call with the admin-created client's token: %d %s", resp.StatusCode, b)
	}

	// List and show: no secret.
	resp, body = ts.adminCall("GET", "/admin/clients", tok, "", "")
	var list struct {
		Clients []adminClient `json:"clients"`
	}
	testhttp.Unmarshal(t, "list", body, &list)
	if resp.StatusCode != 200 || len(list.Clients) != 1 || list.Clients[0].ClientID != created.ClientID {
		t.Errorf("list: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), `"client_secret"`) || strings.Contains(string(body), secret) {
		t.Error("list shows a secret")
	}
	resp, body = ts.adminCall("GET", "/admin/clients/"+created.ClientID, tok, "", "")
	var shown adminClient
	testhttp.Unmarshal(t, "show", body, &shown)
	if resp.StatusCode != 200 || shown.ClientID != created.ClientID || shown.ClientSecret != nil || strings.Contains(string(body), secret) {
		t.Errorf("show: %d %s; want the client without its secret", resp.StatusCode, body)
	}

	// Update: suspend, and the token endpoint refuses at once (the server
	// drops its client cache on admin changes); then reactivate.
	resp, body = ts.adminCall("PATCH", "/admin/clients/"+created.ClientID, tok, js, `{"status":"suspended"}`)
	var updated adminClient
	testhttp.Unmarshal(t, "update", body, &updated)
	if resp.StatusCode != 200 || updated.Status != "suspended" || updated.Name != "admin app" || updated.ClientSecret != nil {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	if st, b, h := ts.tokenStatus(created.ClientID, secret); st != 401 || b["error"] != "invalid_client" || h.Get("WWW-Authenticate") == "" {
		t.Errorf("suspended client's token request: %d %v; want 401 invalid_client at once", st, b)
	}
	// Tokens issued before the suspension are refused at the gateway too.
	resp, body = ts.send(t, sandboxCall)
	var refused testhttp.GatewayError
	if err := json.Unmarshal(body, &refused); err != nil || resp.StatusCode != 401 || refused.Code != "UNAUTHENTICATED" ||
		refused.Cause == nil || refused.Cause.ID != "client_inactive" || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("gateway call with a suspended client's token: %d %s (WWW-Authenticate %q); want 401 UNAUTHENTICATED client_inactive, error=\"invalid_token\"",
			resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
	resp, body = ts.adminCall("PATCH", "/admin/clients/"+created.ClientID, tok, "application/json; charset=utf-8", `{"status":"active","name":"renamed","scopes":["sim-swap:check","sim-swap:retrieve-date"]}`)
	testhttp.Unmarshal(t, "update", body, &updated)
	if resp.StatusCode != 200 || updated.Status != "active" || updated.Name != "renamed" || len(updated.Scopes) != 2 {
		t.Fatalf("reactivate: %d %s", resp.StatusCode, body)
	}
	if st, b, _ := ts.tokenStatus(created.ClientID, secret); st != 200 || b["scope"] != "sim-swap:check sim-swap:retrieve-date" {
		t.Errorf("reactivated client's token: %d %v; want 200 with the new scopes at once", st, b)
	}
	if resp, b := ts.send(t, sandboxCall); resp.StatusCode != http.StatusOK {
		t.Errorf("the earlier token once the client is reactivated: %d %s; want 200", resp.StatusCode, b)
	}

	// Rotate the secret: a new one, shown once; the previous keeps working
	// during the grace period.
	resp, body = ts.adminCall("POST", "/admin/clients/"+created.ClientID+"/rotate-secret", tok, "", "")
	var rotated adminClient
	testhttp.Unmarshal(t, "rotate-secret", body, &rotated)
	if resp.StatusCode != 200 || rotated.ClientSecret == nil || *rotated.ClientSecret == secret || rotated.PrevExpires == nil {
		t.Fatalf("rotate-secret: %d %s", resp.StatusCode, body)
	}
	for name, s := range map[string]string{"new": *rotated.ClientSecret, "previous": secret} {
		if st, b, _ := ts.tokenStatus(created.ClientID, s); st != 200 {
			t.Errorf("token with the %s secret after rotation: %d %v", name, st, b)
		}
	}

	// Keys: list, rotate, list.
	resp, body = ts.adminCall("GET", "/admin/keys", tok, "", "")
	var keyList struct {
		Keys []struct {
			KID     string `json:"kid"`
			Current bool   `json:"current"`
		} `json:"keys"`
	}
	testhttp.Unmarshal(t, "keys", body, &keyList)
	if resp.StatusCode != 200 || len(keyList.Keys) != 1 || !keyList.Keys[0].Current {
		t.Fatalf("keys: %d %s", resp.StatusCode, body)
	}
	oldKid := keyList.Keys[0].KID
	resp, body = ts.adminCall("POST", "/admin/keys/rotate", tok, "", "")
	var rk map[string]string
	testhttp.Unmarshal(t, "keys rotate", body, &rk)
	if resp.StatusCode != 200 || rk["kid"] == "" || rk["kid"] == oldKid {
		t.Fatalf("keys rotate: %d %s", resp.StatusCode, body)
	}
	_, body = ts.adminCall("GET", "/admin/keys", tok, "", "")
	testhttp.Unmarshal(t, "keys", body, &keyList)
	if len(keyList.Keys) != 2 || keyList.Keys[0].KID != rk["kid"] || !keyList.Keys[0].Current || keyList.Keys[1].KID != oldKid || keyList.Keys[1].Current {
		t.Errorf("keys after rotate: %s", body)
	}
	// The admin rotation applies on this server at once.
	if st, b, _ := ts.tokenStatus(created.ClientID, *rotated.ClientSecret); st != 200 || testhttp.KeyIDOf(t, b["access_token"].(string)) != rk["kid"] {
		t.Errorf("token after admin key rotation: %d, kid of %v; want %s", st, b["access_token"], rk["kid"])
	}

	// Delete: 204, then 404 problem+json.
	resp, body = ts.adminCall("DELETE", "/admin/clients/"+created.ClientID, tok, "", "")
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Errorf("delete: %d %q; want 204 with no body", resp.StatusCode, body)
	}
	if st, b, _ := ts.tokenStatus(created.ClientID, *rotated.ClientSecret); st != 401 {
		t.Errorf("deleted client's token request: %d %v; want 401 at once", st, b)
	}
	resp, body = ts.adminCall("GET", "/admin/clients/"+created.ClientID, tok, "", "")
	testhttp.CheckProblem(t, "show deleted", resp, body, 404, "not_found", "resource_not_found")
	resp, body = ts.adminCall("DELETE", "/admin/clients/"+created.ClientID, tok, "", "")
	testhttp.CheckProblem(t, "delete twice", resp, body, 404, "not_found", "resource_not_found")
	resp, body = ts.adminCall("PATCH", "/admin/clients/gh_nobody", tok, js, `{"name":"x"}`)
	testhttp.CheckProblem(t, "update unknown", resp, body, 404, "not_found", "resource_not_found")
	resp, body = ts.adminCall("POST", "/admin/clients/gh_nobody/rotate-secret", tok, "", "")
	testhttp.CheckProblem(t, "rotate unknown", resp, body, 404, "not_found", "resource_not_found")

	t.Run("authentication", func(t *testing.T) {
		for _, route := range [][2]string{
			{"GET", "/admin/clients"}, {"POST", "/admin/clients"}, {"GET", "/admin/clients/x"},
			{"PATCH", "/admin/clients/x"}, {"DELETE", "/admin/clients/x"}, {"POST", "/admin/clients/x/rotate-secret"},
			{"GET", "/admin/keys"}, {"POST", "/admin/keys/rotate"},
		} {
			what := route[0] + " " + route[1]
			resp, body := ts.adminCall(route[0], route[1], "", js, `{"name":"x"}`)
			testhttp.CheckProblem(t, what+" without token", resp, body, 401, "unauthenticated", "missing_admin_token")
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s without token: WWW-Authenticate %q; want a Bearer challenge", what, resp.Header.Get("WWW-Authenticate"))
			}
			resp, body = ts.adminCall(route[0], route[1], tok+"x", js, `{"name":"x"}`)
			testhttp.CheckProblem(t, what+" with a wrong token", resp, body, 401, "unauthenticated", "invalid_admin_token")
			if !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("%s with a wrong token: WWW-Authenticate %q", what, resp.Header.Get("WWW-Authenticate"))
			}
		}
		// Other schemes and casing are wrong tokens too.
		for _, h := range []string{"Basic " + tok, "bearer " + tok, "Bearer  " + tok, tok} {
			req, _ := http.NewRequest("GET", ts.Admin+"/admin/clients", nil)
			req.Header.Set("Authorization", h)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			testhttp.CheckProblem(t, "Authorization "+strings.ReplaceAll(h, tok, "<token>"), resp, b, 401, "unauthenticated", "")
		}
		// Nothing was created by the refused requests.
		_, body := ts.adminCall("GET", "/admin/clients", tok, "", "")
		testhttp.Unmarshal(t, "list", body, &list)
		if len(list.Clients) != 0 {
			t.Errorf("refused requests created clients: %s", body)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		privateSet := testhttp.MustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv, KeyID: "p", Algorithm: "ES256", Use: "sig"}}})
		publicSet := testhttp.MustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "p", Algorithm: "ES256", Use: "sig"}}})
		cases := []struct {
			name, method, path, contentType, body string
			status                                int
			code, cause, field                    string
		}{
			{name: "unknown field", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","scope":["a"]}`, status: 400, code: "bad_request", cause: "malformed_body"},
			{name: "unknown field on update", method: "PATCH", path: "/admin/clients/gh_x", contentType: js, body: `{"stauts":"active"}`, status: 400, code: "bad_request", cause: "malformed_body"},
			{name: "not JSON", method: "POST", path: "/admin/clients", contentType: js, body: `name=x`, status: 400, code: "bad_request", cause: "malformed_body"},
			{name: "empty body", method: "POST", path: "/admin/clients", contentType: js, body: ``, status: 400, code: "bad_request", cause: "malformed_body"},
			{name: "wrong JSON type", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","scopes":"a b"}`, status: 400, code: "bad_request", cause: "malformed_body"},
			{name: "form content type", method: "POST", path: "/admin/clients", contentType: "application/x-www-form-urlencoded", body: `{"name":"x"}`, status: 415, code: "unsupported_media_type", cause: "content_type_unsupported"},
			{name: "no content type", method: "POST", path: "/admin/clients", body: `{"name":"x"}`, status: 415, code: "unsupported_media_type", cause: "content_type_unsupported"},
			{name: "text on update", method: "PATCH", path: "/admin/clients/gh_x", contentType: "text/plain", body: `{"name":"x"}`, status: 415, code: "unsupported_media_type", cause: "content_type_unsupported"},
			{name: "missing name", method: "POST", path: "/admin/clients", contentType: js, body: `{"scopes":["a"]}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "name"},
			{name: "bad grant type", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","grant_types":["password"]}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "grant_types"},
			{name: "no grant types", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","grant_types":[]}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "grant_types"},
			{name: "http redirect URI", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","grant_types":["authorization_code"],"redirect_uris":["http://app.example/cb"]}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "redirect_uris"},
			{name: "redirect URI with fragment", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","grant_types":["authorization_code"],"redirect_uris":["https://app.example/cb#x"]}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "redirect_uris"},
			{name: "relative redirect URI", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","grant_types":["authorization_code"],"redirect_uris":["/cb"]}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "redirect_uris"},
			{name: "bad scope", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","scopes":["a\"b"]}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "scopes"},
			{name: "bad auth method", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","token_endpoint_auth_method":"tls_client_auth"}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "token_endpoint_auth_method"},
			{name: "private_key_jwt without jwks", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","token_endpoint_auth_method":"private_key_jwt"}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "jwks"},
			{name: "JWKS with a private key", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","token_endpoint_auth_method":"private_key_jwt","jwks":` + privateSet + `}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "jwks"},
			{name: "JWKS not a key set", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]}}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "jwks"},
			{name: "bad status", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","status":"banned"}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "status"},
			{name: "public client with client_credentials", method: "POST", path: "/admin/clients", contentType: js, body: `{"name":"x","token_endpoint_auth_method":"none"}`, status: 400, code: "bad_request", cause: "invalid_parameter", field: "grant_types"},
			{name: "unknown route", method: "GET", path: "/admin/nothing", status: 404, code: "not_found", cause: "unknown_path"},
			{name: "unknown nested route", method: "GET", path: "/admin/clients/x/y", status: 404, code: "not_found", cause: "unknown_path"},
			{name: "root", method: "GET", path: "/", status: 404, code: "not_found", cause: "unknown_path"},
			{name: "wrong method on collection", method: "PUT", path: "/admin/clients", contentType: js, body: `{"name":"x"}`, status: 405, code: "method_not_allowed", cause: "method_not_supported"},
			{name: "wrong method on item", method: "POST", path: "/admin/clients/x", contentType: js, body: `{}`, status: 405, code: "method_not_allowed", cause: "method_not_supported"},
			{name: "wrong method on keys", method: "DELETE", path: "/admin/keys", status: 405, code: "method_not_allowed", cause: "method_not_supported"},
			{name: "GET on rotate", method: "GET", path: "/admin/keys/rotate", status: 405, code: "method_not_allowed", cause: "method_not_supported"},
			{name: "POST on healthz", method: "POST", path: "/healthz", status: 405, code: "method_not_allowed", cause: "method_not_supported"},
		}
		allow := map[string][]string{
			"/admin/clients":     {"GET", "POST"},
			"/admin/clients/x":   {"GET", "PATCH", "DELETE"},
			"/admin/keys":        {"GET"},
			"/admin/keys/rotate": {"POST"},
			"/healthz":           {"GET"},
		}
		for _, tc := range cases {
			resp, body := ts.adminCall(tc.method, tc.path, tok, tc.contentType, tc.body)
			p := testhttp.CheckProblem(t, tc.name, resp, body, tc.status, tc.code, tc.cause)
			if p == nil {
				continue
			}
			if tc.field != "" && p["field"] != tc.field {
				t.Errorf("%s: field %v; want %q (%s)", tc.name, p["field"], tc.field, body)
			}
			if p["instance"] != tc.path {
				t.Errorf("%s: instance %v; want %s", tc.name, p["instance"], tc.path)
			}
			if tc.status == 405 {
				got := resp.Header.Get("Allow")
				for _, m := range allow[tc.path] {
					if !strings.Contains(got, m) {
						t.Errorf("%s: Allow %q lacks %s", tc.name, got, m)
					}
				}
				if strings.Contains(got, tc.method) {
					t.Errorf("%s: Allow %q contains the refused method", tc.name, got)
				}
			}
		}
		// A valid public JWKS is accepted.
		resp, body := ts.adminCall("POST", "/admin/clients", tok, js, `{"name":"jwt","token_endpoint_auth_method":"private_key_jwt","jwks":`+publicSet+`}`)
		var jwtClient adminClient
		testhttp.Unmarshal(t, "create private_key_jwt", body, &jwtClient)
		if resp.StatusCode != 201 || jwtClient.ClientSecret != nil {
			t.Errorf("private_key_jwt client with a public JWKS: %d %s; want 201 with no secret", resp.StatusCode, body)
		}
		// Rotating the secret of a client without one is refused.
		resp, body = ts.adminCall("POST", "/admin/clients/"+jwtClient.ClientID+"/rotate-secret", tok, "", "")
		p := testhttp.CheckProblem(t, "rotate-secret of a private_key_jwt client", resp, body, 400, "bad_request", "invalid_parameter")
		if p != nil && p["field"] != "token_endpoint_auth_method" {
			t.Errorf("rotate-secret of a private_key_jwt client: field %v", p["field"])
		}
	})

	t.Run("health and metrics", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, body := ts.adminCall("GET", path, "", "", "")
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
				t.Errorf("%s: %d %s %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
		resp, body := ts.adminCall("GET", "/metrics", "", "", "")
		if resp.StatusCode != 200 || !strings.Contains(string(body), "gatehouse_http_requests_total") {
			t.Errorf("/metrics: %d; want gatehouse_http_requests_total in %.300s", resp.StatusCode, body)
		}
		// Requests are counted by route pattern, never by raw path.
		if !strings.Contains(string(body), `route="GET /admin/clients/{id}"`) {
			t.Errorf("/metrics does not count GET /admin/clients/{id} by its pattern")
		}
		if strings.Contains(string(body), created.ClientID) {
			t.Errorf("/metrics carries a client id as a label value")
		}
		// The admin routes are not on the public listener.
		req, _ := http.NewRequest("GET", ts.Issuer+"/admin/clients", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		if r2.StatusCode != 404 || strings.Contains(string(b), `"clients"`) {
			t.Errorf("public /admin/clients: %d %s; want 404", r2.StatusCode, b)
		}
	})
}

// TestProfiling: Go's profiles are served on the admin listener only when
// profiling is switched on, and only with the admin token.
func TestProfiling(t *testing.T) {
	t.Parallel()
	off := newTestPlatform(t, nil)
	resp, body := off.adminCall("GET", "/debug/pprof/", off.adminToken(), "", "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"code"`) {
		t.Errorf("profiling off: %d %s; want the registry's 404", resp.StatusCode, body)
	}

	on := newTestPlatform(t, func(c *config.Config) { c.Profiling = true })
	resp, body = on.adminCall("GET", "/debug/pprof/profile?seconds=1", "", "", "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("profile without the admin token: %d %s; want 401 with a challenge", resp.StatusCode, body)
	}
	resp, body = on.adminCall("GET", "/debug/pprof/profile?seconds=1", on.adminToken(), "", "")
	if resp.StatusCode != http.StatusOK || len(body) == 0 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("profile with the admin token: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}
