package server

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"gatehouse/internal/testhttp"
)

// TestStatusPage runs the public status page (issue 13 §4) through the real
// server: every API operational on a fresh platform; an incident the
// operator opens makes its API degraded on the page and in /status.json
// (the gateway's own view stays beside it); updates, resolution and the
// registry's errors for what cannot be; and an API whose backend refuses
// connections is shown down once the gateway's circuit opens.
func TestStatusPage(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, nil)
	admin := tp.adminToken()
	anon := newBrowser(t, tp)
	statusJSON := func() (doc struct {
		Status string `json:"status"`
		APIs   []struct {
			Name, Status string
			Seen         string `json:"seen_by_gateway"`
			CircuitOpen  bool   `json:"circuit_open"`
		} `json:"apis"`
		Incidents []map[string]any `json:"incidents"`
	}) {
		t.Helper()
		resp, body := tp.send(t, testhttp.Request{Method: "GET", Path: "/status.json"})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET /status.json = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("/status.json: %v\n%s", err, body)
		}
		return doc
	}
	apiStatus := func(name string) (status, seen string, open bool) {
		t.Helper()
		for _, a := range statusJSON().APIs {
			if a.Name == name {
				return a.Status, a.Seen, a.CircuitOpen
			}
		}
		t.Fatalf("/status.json lacks %s", name)
		return
	}

	if status, page := anon.get("/status"); status != 200 || !strings.Contains(page, "All APIs are operational.") {
		t.Fatalf("GET /status on a fresh platform = %d, not all operational", status)
	}
	if d := statusJSON(); d.Status != "operational" || len(d.APIs) < 3 {
		t.Errorf("/status.json on a fresh platform: %+v", d)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"api":"sim-swap","title":"Slow","impact":"bad","message":"x"}`, "impact"},
		{`{"api":"nope","title":"Slow","impact":"degraded","message":"x"}`, "api"},
		{`{"api":"sim-swap","title":"Slow","impact":"degraded","message":"  "}`, "message"},
		{`{"api":"sim-swap","title":"Slow","impact":"degraded","message":"x","status":"resolved"}`, "status"},
	} {
		resp, body := tp.adminCall("POST", "/admin/incidents", admin, "application/json", tc.body)
		if p := testhttp.CheckProblem(t, "POST /admin/incidents "+tc.body, resp, body, 400, "bad_request", "invalid_parameter"); p != nil && p["field"] != tc.field {
			t.Errorf("POST /admin/incidents %s: field %v; want %s", tc.body, p["field"], tc.field)
		}
	}
	resp, body := tp.adminCall("POST", "/admin/incidents", admin, "application/json",
		`{"api":"sim-swap","title":"Slow SIM swap answers","impact":"degraded","message":"Answers take seconds; we are looking into it."}`)
	var inc struct{ ID string }
	if resp.StatusCode != 201 || json.Unmarshal(body, &inc) != nil || inc.ID == "" {
		t.Fatalf("opening an incident = %d %s", resp.StatusCode, body)
	}
	if status, seen, _ := apiStatus("sim-swap"); status != "degraded" || seen != "operational" {
		t.Errorf("sim-swap with an open incident: status %q, seen %q; want degraded, operational", status, seen)
	}
	if _, page := anon.get("/status"); !strings.Contains(page, "Some APIs are degraded.") || !strings.Contains(page, "Slow SIM swap answers") ||
		!strings.Contains(page, "Answers take seconds; we are looking into it.") {
		t.Errorf("the status page does not show the open incident")
	}

	resp, body = tp.adminCall("PATCH", "/admin/incidents/"+inc.ID, admin, "application/json", `{"status":"resolved","message":"Fixed: a slow database index."}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"resolved_at"`) {
		t.Fatalf("resolving the incident = %d %s", resp.StatusCode, body)
	}
	if status, _, _ := apiStatus("sim-swap"); status != "operational" {
		t.Errorf("sim-swap after the incident was resolved: %q", status)
	}
	if _, page := anon.get("/status"); !strings.Contains(page, "Past incidents") || !strings.Contains(page, "Fixed: a slow database index.") {
		t.Error("the status page does not list the resolved incident")
	}
	resp, body = tp.adminCall("PATCH", "/admin/incidents/"+inc.ID, admin, "application/json", `{"message":"again"}`)
	testhttp.CheckProblem(t, "updating a resolved incident", resp, body, 409, "conflict", "already_closed")
	resp, body = tp.adminCall("PATCH", "/admin/incidents/inc_nope", admin, "application/json", `{"message":"x"}`)
	testhttp.CheckProblem(t, "updating an unknown incident", resp, body, 404, "not_found", "resource_not_found")

	// A backend that refuses connections: once the circuit opens, the
	// gateway itself shows the API down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	imp := testhttp.MustJSON(t, map[string]any{"name": "dead", "base_path": "/dead/v1", "upstream_url": dead, "status": "live", "document": testhttp.EchoAPI})
	if resp, body := tp.adminCall("POST", "/admin/apis", admin, "application/json", imp); resp.StatusCode != 201 {
		t.Fatalf("importing the API = %d %s", resp.StatusCode, body)
	}
	c := tp.createClient("status", "echo:call")
	if resp, body := tp.adminCall("POST", "/admin/subscriptions", admin, "application/json", `{"client_id":"`+c.ID+`","api":"dead","plan":"starter"}`); resp.StatusCode != 201 {
		t.Fatalf("subscribing = %d %s", resp.StatusCode, body)
	}
	tok := tp.token(c, "echo:call")
	for range 6 {
		r, _ := tp.send(t, testhttp.Request{Method: "POST", Path: "/dead/v1/call", Token: tok, Body: `{}`})
		if r.StatusCode != 502 && r.StatusCode != 503 {
			t.Fatalf("a call to the dead backend = %d; want 502 or 503", r.StatusCode)
		}
	}
	if status, seen, open := apiStatus("dead"); status != "outage" || seen != "outage" || !open {
		t.Errorf("an API whose backend refuses connections: status %q, seen %q, circuit open %v; want outage, outage, true", status, seen, open)
	}
	if _, page := anon.get("/status"); !strings.Contains(page, "Some APIs are down.") || !strings.Contains(page, "The backend is failing") {
		t.Error("the status page does not show the dead API down")
	}
}
