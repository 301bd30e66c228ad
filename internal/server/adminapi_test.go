package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testhttp"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// TestAdminOpenAPI checks the admin API's OpenAPI document (issue 13 §5)
// against the handlers: it is served and valid; every route the admin
// listener registers is documented and every documented one is served;
// and real calls' answers (successes and the registry's problems) are
// valid against it.
func TestAdminOpenAPI(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	admin := tp.adminToken()
	resp, body := tp.adminCall("GET", "/admin/openapi.yaml", admin, "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /admin/openapi.yaml = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	routes := map[string]*routers.Route{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			routes[method+" "+path] = &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
		}
	}
	served := slices.DeleteFunc(slices.Clone(tp.server.adminRoutes), func(r string) bool { return strings.Contains(r, "/debug/pprof") })
	for _, r := range served {
		if routes[r] == nil {
			t.Errorf("%s is served but not documented", r)
		}
	}
	for r := range routes {
		if !slices.Contains(served, r) {
			t.Errorf("%s is documented but not served", r)
		}
	}

	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	call := func(method, pattern, path, body string) []byte {
		t.Helper()
		resp, out := tp.adminCall(method, path, admin, "application/json", body)
		rt := routes[method+" "+pattern]
		if rt == nil {
			t.Fatalf("%s %s is not documented", method, pattern)
		}
		req, _ := http.NewRequest(method, path, nil)
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: rt, Options: opts},
			Status:                 resp.StatusCode, Header: resp.Header, Options: opts,
		}
		in.SetBodyBytes(out)
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Errorf("%s %s = %d: the answer does not follow the document: %v\n%s", method, path, resp.StatusCode, err, out)
		}
		return out
	}
	var client struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal(call("POST", "/admin/clients", "/admin/clients", `{"name":"doc","scopes":["sim-swap:check"]}`), &client)
	call("GET", "/admin/clients", "/admin/clients", "")
	call("GET", "/admin/clients/{id}", "/admin/clients/"+client.ClientID, "")
	call("GET", "/admin/clients/{id}", "/admin/clients/gh_nope", "")
	call("POST", "/admin/clients/{id}/rotate-secret", "/admin/clients/"+client.ClientID+"/rotate-secret", "")
	call("GET", "/admin/apis", "/admin/apis", "")
	call("GET", "/admin/apis/{name}", "/admin/apis/sim-swap", "")
	call("PATCH", "/admin/apis/{name}", "/admin/apis/sim-swap", `{"deprecation":{"at":"2027-01-01T00:00:00Z"}}`)
	call("PATCH", "/admin/apis/{name}", "/admin/apis/sim-swap", `{"status":"nope"}`)
	call("GET", "/admin/apis/{name}/document", "/admin/apis/sim-swap/document", "")
	call("GET", "/admin/plans", "/admin/plans", "")
	call("GET", "/admin/plans/{name}", "/admin/plans/starter", "")
	var sub struct{ ID string }
	_ = json.Unmarshal(call("POST", "/admin/subscriptions", "/admin/subscriptions", `{"client_id":"`+client.ClientID+`","api":"sim-swap","plan":"business"}`), &sub)
	call("GET", "/admin/subscriptions", "/admin/subscriptions", "")
	call("POST", "/admin/subscriptions/{id}/approve", "/admin/subscriptions/"+sub.ID+"/approve", "")
	call("POST", "/admin/subscriptions/{id}/approve", "/admin/subscriptions/"+sub.ID+"/approve", "")
	call("GET", "/admin/orders", "/admin/orders", "")
	call("GET", "/admin/usage", "/admin/usage", "")
	call("GET", "/admin/usage", "/admin/usage?from=yesterday", "")
	call("GET", "/admin/keys", "/admin/keys", "")
	call("GET", "/admin/developers", "/admin/developers", "")
	var inc struct{ ID string }
	_ = json.Unmarshal(call("POST", "/admin/incidents", "/admin/incidents", `{"title":"t","impact":"outage","message":"m"}`), &inc)
	call("PATCH", "/admin/incidents/{id}", "/admin/incidents/"+inc.ID, `{"status":"resolved","message":"done"}`)
	call("GET", "/admin/incidents", "/admin/incidents", "")
	call("GET", "/admin/openapi.yaml", "/admin/openapi.yaml", "")

	// The audit log has the changes above (reads are not actions), the
	// operator's newest first; and a developer's portal form.
	dev := newBrowser(t, tp)
	appID, _, _ := dev.signUp("Audit Dev", "audit@example.com", "correct horse battery")
	if status, _ := dev.post("/portal/apps/"+appID+"/credentials/sandbox/rotate", url.Values{}); status != 200 {
		t.Fatalf("rotating = %d", status)
	}
	var audit struct {
		Entries []struct {
			ActorKind string `json:"actor_kind"`
			ActorID   string `json:"actor_id"`
			Action    string `json:"action"`
			Target    string `json:"target"`
			Address   string `json:"address"`
			Status    int    `json:"status"`
		} `json:"entries"`
	}
	// Entries are written off the request path: the rotation shows
	// within moments.
	testhttp.Eventually(t, 30*time.Second, "the rotation in the audit log", func() bool {
		audit.Entries = nil
		if err := json.Unmarshal(call("GET", "/admin/audit", "/admin/audit", ""), &audit); err != nil || len(audit.Entries) < 10 {
			return false
		}
		return audit.Entries[0].ActorKind == "developer" && strings.HasSuffix(audit.Entries[0].Target, "/rotate")
	})
	rotation := audit.Entries[0]
	if rotation.ActorKind != "developer" || !strings.HasPrefix(rotation.ActorID, "dev_") || rotation.Action != "POST /portal/apps/{id}/credentials/{env}/{action}" ||
		rotation.Target != "/portal/apps/"+appID+"/credentials/sandbox/rotate" || rotation.Address != "127.0.0.1" || rotation.Status != 200 {
		t.Errorf("the newest entry = %+v; want the developer's rotation", rotation)
	}
	var sawCreate, sawGet bool
	for _, e := range audit.Entries {
		sawCreate = sawCreate || (e.ActorKind == "operator" && e.Action == "POST /admin/clients" && e.Status == 201)
		sawGet = sawGet || strings.HasPrefix(e.Action, "GET ")
	}
	if !sawCreate || sawGet {
		t.Errorf("the operator's client creation logged: %v; a read logged: %v", sawCreate, sawGet)
	}
	if p := call("GET", "/admin/audit", "/admin/audit?before=x", ""); !strings.Contains(string(p), "invalid_parameter") {
		t.Errorf("GET /admin/audit?before=x: %s", p)
	}
}
