package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"gatehouse/internal/testhttp"
)

// adminSubscription is the admin API's subscription representation;
// PendingPlan is nil when the member is absent.
type adminSubscription struct {
	ID          string  `json:"id"`
	Plan        string  `json:"plan"`
	PendingPlan *string `json:"pending_plan"`
	Status      string  `json:"status"`
}

// adminOrder is the admin API's order representation.
type adminOrder struct {
	ID             string `json:"id"`
	OrganizationID string `json:"organization_id"`
	AppID          string `json:"app_id"`
	DeveloperID    string `json:"developer_id"`
	ClientID       string `json:"client_id"`
	API            string `json:"api"`
	SubscriptionID string `json:"subscription_id"`
	Kind           string `json:"kind"`
	FromPlan       string `json:"from_plan"`
	ToPlan         string `json:"to_plan"`
	PriceLabel     string `json:"price_label"`
	Status         string `json:"status"`
}

// decodeSubscription decodes an admin API subscription.
func decodeSubscription(t *testing.T, b []byte) adminSubscription {
	t.Helper()
	var s adminSubscription
	testhttp.Unmarshal(t, "subscription", b, &s)
	return s
}

// TestAdminSubscriptionOrders drives approval and refusal through the
// admin API: pending_plan in the subscription JSON, POST …/refuse beside
// …/approve, and GET /admin/orders with its filters and their errors.
func TestAdminSubscriptionOrders(t *testing.T) {
	t.Parallel()
	ts := newTestPlatform(t, nil)
	tok := ts.adminToken()
	app := ts.createClient("buyer", "sim-swap:check")
	other := ts.createClient("other", "sim-swap:check")
	pendingOf := func(s adminSubscription) string {
		if s.PendingPlan == nil {
			return "(absent)"
		}
		return *s.PendingPlan
	}

	s := decodeSubscription(t, ts.admin(http.MethodPost, "/admin/subscriptions", map[string]any{"client_id": app.ID, "api": "sim-swap", "plan": "starter"}, http.StatusCreated))
	if s.Status != "active" || s.Plan != "starter" || s.PendingPlan != nil {
		t.Fatalf("create: %+v; want active on starter without pending_plan", s)
	}
	path := "/admin/subscriptions/" + s.ID

	// An upgrade that needs approval: starter stays in force.
	if got := decodeSubscription(t, ts.admin(http.MethodPatch, path, map[string]any{"plan": "business"}, http.StatusOK)); got.Status != "active" || got.Plan != "starter" || pendingOf(got) != "business" {
		t.Errorf("PATCH to business: %+v (pending_plan %s); want active on starter, pending_plan business", got, pendingOf(got))
	}
	if got := decodeSubscription(t, ts.admin(http.MethodGet, path, nil, http.StatusOK)); pendingOf(got) != "business" {
		t.Errorf("GET: pending_plan %s; want business", pendingOf(got))
	}
	if list := ts.admin(http.MethodGet, "/admin/subscriptions?client_id="+app.ID, nil, http.StatusOK); !strings.Contains(string(list), `"pending_plan": "business"`) {
		t.Errorf("list: %s; want pending_plan business", list)
	}
	// Refused: the change is dropped, starter stays.
	if got := decodeSubscription(t, ts.admin(http.MethodPost, path+"/refuse", nil, http.StatusOK)); got.Status != "active" || got.Plan != "starter" || got.PendingPlan != nil {
		t.Errorf("refuse: %+v; want active on starter without pending_plan", got)
	}
	for _, action := range []string{"/refuse", "/approve"} {
		resp, body := ts.adminCall(http.MethodPost, path+action, tok, "", "")
		testhttp.CheckProblem(t, action+" with nothing pending", resp, body, http.StatusConflict, "incompatible_state", "wrong_state")
	}
	// Asked again and approved.
	ts.admin(http.MethodPatch, path, map[string]any{"plan": "business"}, http.StatusOK)
	if got := decodeSubscription(t, ts.admin(http.MethodPost, path+"/approve", nil, http.StatusOK)); got.Plan != "business" || got.PendingPlan != nil {
		t.Errorf("approve: %+v; want business in force", got)
	}

	// A new subscription waiting for approval, refused: deleted.
	waiting := decodeSubscription(t, ts.admin(http.MethodPost, "/admin/subscriptions", map[string]any{"client_id": other.ID, "api": "sim-swap", "plan": "business"}, http.StatusCreated))
	if waiting.Status != "pending" {
		t.Fatalf("subscription on business: %+v; want pending", waiting)
	}
	resp, body := ts.adminCall(http.MethodPost, "/admin/subscriptions/"+waiting.ID+"/refuse", tok, "", "")
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Errorf("refuse a new subscription: %d %q; want 204 with no body (deleted)", resp.StatusCode, body)
	}
	resp, body = ts.adminCall(http.MethodGet, "/admin/subscriptions/"+waiting.ID, tok, "", "")
	testhttp.CheckProblem(t, "the refused subscription", resp, body, http.StatusNotFound, "not_found", "resource_not_found")
	resp, body = ts.adminCall(http.MethodPost, "/admin/subscriptions/sub_nothing/refuse", tok, "", "")
	testhttp.CheckProblem(t, "refuse an unknown subscription", resp, body, http.StatusNotFound, "not_found", "resource_not_found")

	// The history, newest first.
	orders := func(query string) []adminOrder {
		t.Helper()
		var out struct {
			Orders []adminOrder `json:"orders"`
		}
		testhttp.Unmarshal(t, "orders", ts.admin(http.MethodGet, "/admin/orders"+query, nil, http.StatusOK), &out)
		return out.Orders
	}
	summary := func(list []adminOrder) []string {
		var out []string
		for _, o := range list {
			out = append(out, o.Kind+" "+o.FromPlan+">"+o.ToPlan+" "+o.Status)
		}
		return out
	}
	all := orders("")
	want := []string{
		"refuse >business completed", "subscribe >business refused",
		"approve starter>business completed", "change starter>business completed",
		"refuse starter>business completed", "change starter>business refused",
		"subscribe >starter completed",
	}
	if got := summary(all); !slices.Equal(got, want) {
		t.Errorf("GET /admin/orders:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, o := range all {
		if o.ID == "" || o.API != "sim-swap" || o.DeveloperID != "" || o.OrganizationID != "" || o.SubscriptionID == "" {
			t.Errorf("order %+v: want an operator's order on sim-swap", o)
		}
		if want := map[string]string{"starter": "€49 / month", "business": "€490 / month"}[o.ToPlan]; o.PriceLabel != want {
			t.Errorf("order %+v: price label %q; want %q", o, o.PriceLabel, want)
		}
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"?subscription_id=" + waiting.ID, want[:2]},
		{"?client_id=" + app.ID, want[2:]},
		{"?client_id=" + app.ID + "&status=refused", want[5:6]},
		{"?status=pending", nil},
		{"?app_id=nothing", nil},
		{"?organization_id=nothing", nil},
	} {
		if got := summary(orders(c.query)); !slices.Equal(got, c.want) {
			t.Errorf("GET /admin/orders%s = %q; want %q", c.query, got, c.want)
		}
	}

	for _, c := range []struct{ name, query, field string }{
		{"an unknown status", "?status=done", "status"},
		{"an unknown parameter", "?client=" + app.ID, "client"},
		{"a repeated parameter", "?client_id=a&client_id=b", "client_id"},
	} {
		resp, body := ts.adminCall(http.MethodGet, "/admin/orders"+c.query, tok, "", "")
		if p := testhttp.CheckProblem(t, c.name, resp, body, http.StatusBadRequest, "bad_request", "invalid_parameter"); p != nil && p["field"] != c.field {
			t.Errorf("%s: field %v; want %q", c.name, p["field"], c.field)
		}
	}
	resp, body = ts.adminCall(http.MethodDelete, "/admin/orders", tok, "", "")
	testhttp.CheckProblem(t, "DELETE /admin/orders", resp, body, http.StatusMethodNotAllowed, "method_not_allowed", "method_not_supported")
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("DELETE /admin/orders: Allow %q; want GET", allow)
	}
	for _, route := range [][2]string{{"GET", "/admin/orders"}, {"POST", path + "/refuse"}} {
		resp, body := ts.adminCall(route[0], route[1], "", "", "")
		testhttp.CheckProblem(t, route[0]+" "+route[1]+" without token", resp, body, http.StatusUnauthorized, "unauthenticated", "missing_admin_token")
	}
	// The refusals were not written twice by the refused calls.
	var again struct {
		Orders []json.RawMessage `json:"orders"`
	}
	testhttp.Unmarshal(t, "orders", ts.admin(http.MethodGet, "/admin/orders", nil, http.StatusOK), &again)
	if len(again.Orders) != len(want) {
		t.Errorf("%d orders after the refused calls; want %d", len(again.Orders), len(want))
	}
}

// TestPlanChangesReachTheGateway: plan changes made through the admin API
// apply to the very next gateway request of the whole platform (the admin
// API drops the gateway's cached subscriptions): an upgrade admits an
// app refused for its quota, a downgrade refuses it again with the
// period's count kept, and an upgrade waiting for approval leaves the
// plan in force enforced (429 by its quota, not 403) until approved.
func TestPlanChangesReachTheGateway(t *testing.T) {
	t.Parallel()
	upstream := testhttp.NewRecorder(t)
	ts := newTestPlatform(t, nil)
	ts.admin(http.MethodPost, "/admin/apis", map[string]any{"document": testhttp.LiveAPI, "upstream_url": upstream.URL + "/live/v1"}, http.StatusCreated)
	for _, p := range []map[string]any{
		{"name": "small", "rate_per_second": 0, "quota_day": 2},
		{"name": "large", "rate_per_second": 0, "quota_day": 5},
		{"name": "vip", "rate_per_second": 0, "quota_day": 10, "requires_approval": true},
	} {
		ts.admin(http.MethodPost, "/admin/plans", p, http.StatusCreated)
	}
	app := ts.createClient("buyer", "live:ping")
	tok := ts.token(app, "live:ping")
	s := decodeSubscription(t, ts.admin(http.MethodPost, "/admin/subscriptions", map[string]any{"client_id": app.ID, "api": "live", "plan": "small"}, http.StatusCreated))
	path := "/admin/subscriptions/" + s.ID
	call := func(what string, status int, cause, policy string) {
		t.Helper()
		resp, body := testhttp.PostJSON(t, ts.Issuer+"/live/v1/ping", tok, `{"n":1}`)
		if resp.StatusCode != status || causeID(body) != cause || resp.Header.Get("RateLimit-Policy") != policy {
			t.Errorf("%s: %d %q, RateLimit-Policy %q; want %d %q, %q (%v)", what, resp.StatusCode, causeID(body),
				resp.Header.Get("RateLimit-Policy"), status, cause, policy, body)
		}
	}
	small, large, vip := `"day";q=2;w=86400`, `"day";q=5;w=86400`, `"day";q=10;w=86400`
	call("first call on small", 200, "", small)
	call("second call on small", 200, "", small)
	call("past small's quota", 429, "day_quota", small)
	ts.admin(http.MethodPatch, path, map[string]any{"plan": "large"}, http.StatusOK)
	call("the next request after the upgrade", 200, "", large)
	ts.admin(http.MethodPatch, path, map[string]any{"plan": "small"}, http.StatusOK)
	call("the next request after the downgrade: 3 counted today", 429, "day_quota", small)
	ts.admin(http.MethodPatch, path, map[string]any{"plan": "vip"}, http.StatusOK)
	call("while vip waits for approval", 429, "day_quota", small)
	ts.admin(http.MethodPost, path+"/approve", nil, http.StatusOK)
	call("the next request after the approval", 200, "", vip)
}
