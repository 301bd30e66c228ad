package main

import (
	"strings"
	"testing"
)

// TestSubscriptionOrdersCLI: a change to a plan that needs approval is
// shown waiting beside the plan in force, refused or approved from the
// CLI, and every change is listed by `orders list`.
func TestSubscriptionOrdersCLI(t *testing.T) {
	t.Parallel()
	c := cliEnv{t: t, env: map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_LOG_LEVEL": "warn"}}
	var app cliClient
	c.mustJSONOut(&app, "clients", "create", "--name", "buyer", "--json")
	var s struct {
		ID          string `json:"id"`
		Plan        string `json:"plan"`
		PendingPlan string `json:"pending_plan"`
		Status      string `json:"status"`
	}
	c.mustJSONOut(&s, "subscriptions", "create", "--client", app.ClientID, "--api", "sim-swap", "--plan", "starter", "--json")

	out := c.must("subscriptions", "update", s.ID, "--plan", "business")
	if want := "plan starter, active; plan business waits for approval"; !strings.Contains(out, want) {
		t.Errorf("subscriptions update to business printed %q; want %q in it", out, want)
	}
	if out := c.must("subscriptions", "list"); !strings.Contains(out, "PENDING PLAN") || !strings.Contains(out, "business") {
		t.Errorf("subscriptions list printed %q; want the pending plan", out)
	}
	c.mustJSONOut(&s, "subscriptions", "refuse", s.ID, "--json")
	if s.Plan != "starter" || s.PendingPlan != "" || s.Status != "active" {
		t.Errorf("subscriptions refuse = %+v; want active on starter, nothing pending", s)
	}
	if _, err := c.run("subscriptions", "approve", s.ID); err == nil || !strings.Contains(err.Error(), "incompatible_state/wrong_state") {
		t.Errorf("subscriptions approve with nothing pending: %v; want incompatible_state/wrong_state", err)
	}

	var waiting struct{ ID string }
	c.mustJSONOut(&waiting, "subscriptions", "create", "--client", app.ClientID, "--api", "number-verification", "--plan", "business", "--json")
	if out := c.must("subscriptions", "refuse", waiting.ID); !strings.Contains(out, "refused subscription "+waiting.ID) || !strings.Contains(out, "deleted") {
		t.Errorf("subscriptions refuse of a new subscription printed %q", out)
	}

	var orders struct {
		Orders []struct {
			Kind, Status, SubscriptionID string
			From                         string `json:"from_plan"`
			To                           string `json:"to_plan"`
		} `json:"orders"`
	}
	c.mustJSONOut(&orders, "orders", "list", "--client", app.ClientID, "--json")
	var got []string
	for _, o := range orders.Orders {
		got = append(got, o.Kind+" "+o.From+">"+o.To+" "+o.Status)
	}
	want := "refuse >business completed, subscribe >business refused, refuse starter>business completed, " +
		"change starter>business refused, subscribe >starter completed"
	if strings.Join(got, ", ") != want {
		t.Errorf("orders list --client:\n got  %s\n want %s", strings.Join(got, ", "), want)
	}
	c.mustJSONOut(&orders, "orders", "list", "--subscription", s.ID, "--status", "refused", "--json")
	if len(orders.Orders) != 1 || orders.Orders[0].Kind != "change" {
		t.Errorf("orders list --subscription --status refused = %+v; want the refused change", orders.Orders)
	}
	if out := c.must("orders", "list"); !strings.Contains(out, "KIND") || !strings.Contains(out, "€490 / month") || !strings.Contains(out, "operator") {
		t.Errorf("orders list printed %q", out)
	}
	if _, err := c.run("orders", "list", "--status", "done"); err == nil || !strings.Contains(err.Error(), "bad_request/invalid_parameter") {
		t.Errorf("orders list --status done: %v; want bad_request/invalid_parameter", err)
	}
}
