package server

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/testhttp"
	"gatehouse/internal/testmail"
	"gatehouse/internal/webhooks"
)

var (
	webhookSecretOnPage = regexp.MustCompile(`id="webhook-secret">(whsec_[^<]+)<`)
	webhookIDOnPage     = regexp.MustCompile(`action="/portal/org/webhooks/(wh_[^/]+)/test"`)
	orgOnPage           = regexp.MustCompile(`name="org" value="(org_[^"]+)"`)
)

// TestWebhooks runs issue 13 §3's webhooks through the real server: an
// owner adds an endpoint in the portal (its secret shown once), a test
// event, a rotated secret and an operator's approval reach a real
// receiver on loopback signed as Standard Webhooks says, and the portal's
// delivery log shows them delivered.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	tp := newTestPlatform(t, func(c *config.Config) { c.WebhookAllowPrivate = true })
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	// received waits for an event of the type and returns it, verified.
	var secret string
	received := func(eventType string) webhooks.Event {
		t.Helper()
		var ev webhooks.Event
		testhttp.Eventually(t, 30*time.Second, "a "+eventType+" event at the receiver", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for i, r := range got {
				var e webhooks.Event
				if json.Unmarshal(bodies[i], &e) == nil && e.Type == eventType {
					if err := webhooks.Verify(secret, r.Header, bodies[i], time.Now()); err != nil {
						t.Fatalf("the %s event does not verify: %v", eventType, err)
					}
					ev = e
					return true
				}
			}
			return false
		})
		return ev
	}

	dev := newBrowser(t, tp)
	appID, clientID, _ := dev.signUp("Hook Owner", "hooks@example.com", "correct horse battery")
	status, page := dev.get("/portal/org/webhooks")
	if status != 200 || !strings.Contains(page, "None yet.") {
		t.Fatalf("GET /portal/org/webhooks = %d", status)
	}
	org := orgOnPage.FindStringSubmatch(page)
	if org == nil {
		t.Fatalf("the webhooks page names no organisation:\n%s", page)
	}
	if status, page := dev.post("/portal/org/webhooks", url.Values{"org": {org[1]}, "url": {"ftp://example.com/x"}}); status != 400 || !strings.Contains(page, "https only") {
		t.Errorf("adding an ftp URL = %d; want 400 saying https only", status)
	}
	status, page = dev.post("/portal/org/webhooks", url.Values{"org": {org[1]}, "url": {rcv.URL + "/hooks"}})
	s, id := webhookSecretOnPage.FindStringSubmatch(page), webhookIDOnPage.FindStringSubmatch(page)
	if status != http.StatusCreated || s == nil || id == nil {
		t.Fatalf("adding a webhook = %d without its secret or id:\n%s", status, page)
	}
	secret = html.UnescapeString(s[1])
	if _, again := dev.get("/portal/org/webhooks"); strings.Contains(again, secret) {
		t.Error("the secret shows again after the page that added the webhook")
	}

	if status, _ := dev.post("/portal/org/webhooks/"+id[1]+"/test", url.Values{"org": {org[1]}}); status != 200 {
		t.Fatalf("sending a test event = %d", status)
	}
	if ev := received(webhooks.EventTest); ev.OrganizationID != org[1] {
		t.Errorf("the test event's organisation = %q; want %q", ev.OrganizationID, org[1])
	}

	status, page = dev.post("/portal/apps/"+appID+"/credentials/sandbox/rotate", url.Values{})
	if status != 200 {
		t.Fatalf("rotating the sandbox secret = %d", status)
	}
	if ev := received(webhooks.EventSecretRotated); ev.Data.(map[string]any)["client_id"] != clientID {
		t.Errorf("the rotation event's data = %v", ev.Data)
	}

	// The operator approves a subscription waiting for approval.
	admin := tp.adminToken()
	if resp, body := tp.adminCall("POST", "/admin/plans", admin, "application/json",
		`{"name":"tiny","rate_per_second":100,"burst":100,"quota_day":5,"requires_approval":true}`); resp.StatusCode != 201 {
		t.Fatalf("creating the plan = %d %s", resp.StatusCode, body)
	}
	resp, body := tp.adminCall("POST", "/admin/subscriptions", admin, "application/json",
		`{"client_id":"`+clientID+`","api":"sim-swap","plan":"tiny"}`)
	var sub struct{ ID, Status string }
	if resp.StatusCode != 201 || json.Unmarshal(body, &sub) != nil {
		t.Fatalf("subscribing to the business plan = %d %s", resp.StatusCode, body)
	}
	if sub.Status != "pending" {
		t.Fatalf("a business subscription is %q; want pending (it needs approval)", sub.Status)
	}
	if resp, body := tp.adminCall("POST", "/admin/subscriptions/"+sub.ID+"/approve", admin, "", ""); resp.StatusCode != 200 {
		t.Fatalf("approving = %d %s", resp.StatusCode, body)
	}
	if ev := received(webhooks.EventSubscriptionApproved); ev.Data.(map[string]any)["plan"] != "tiny" {
		t.Errorf("the approval's data = %v", ev.Data)
	}

	// The day quota of 5: the 4th call reaches 80 %, the 5th the end.
	tok := tp.token(client{ID: clientID, Secret: rotatedSecret(t, page)}, "sim-swap:check")
	for i := range 5 {
		resp, body := tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Token: tok, Body: `{"phoneNumber":"+34600000001","maxAge":240}`})
		if resp.StatusCode != 200 {
			t.Fatalf("call %d = %d %s", i+1, resp.StatusCode, body)
		}
	}
	for event, percent := range map[string]float64{webhooks.EventQuotaWarning: 80, webhooks.EventQuotaExhausted: 100} {
		if d := received(event).Data.(map[string]any); d["percent"] != percent || d["period"] != "day" || d["quota"] != 5.0 || d["api"] != "sim-swap" {
			t.Errorf("the %s event's data = %v", event, d)
		}
	}

	// Deprecating the API tells the organisations that called it.
	testhttp.Eventually(t, 30*time.Second, "the calls in the usage counts", func() bool {
		_, b := tp.adminCall("GET", "/admin/usage?api=sim-swap", admin, "", "")
		return strings.Contains(string(b), clientID)
	})
	if resp, body := tp.adminCall("PATCH", "/admin/apis/sim-swap", admin, "application/json", `{"deprecation":{"at":"2027-01-01T00:00:00Z"}}`); resp.StatusCode != 200 {
		t.Fatalf("deprecating = %d %s", resp.StatusCode, body)
	}
	if d := received(webhooks.EventAPIDeprecated).Data.(map[string]any); d["api"] != "sim-swap" || d["deprecated_at"] != "2027-01-01T00:00:00Z" {
		t.Errorf("the deprecation event's data = %v", d)
	}

	// The operator suspends the app: told, and its calls are refused
	// with 403 app_suspended (within the client cache's second); then
	// reinstated.
	if resp, body := tp.adminCall("POST", "/admin/apps/"+appID+"/suspend", admin, "", ""); resp.StatusCode != 200 {
		t.Fatalf("suspending the app = %d %s", resp.StatusCode, body)
	}
	if d := received(webhooks.EventAppSuspended).Data.(map[string]any); d["app_id"] != appID {
		t.Errorf("the suspension's data = %v", d)
	}
	call := func() (*http.Response, []byte) {
		return tp.send(t, testhttp.Request{Method: "POST", Path: "/sim-swap/v2/check", Token: tok, Body: `{"phoneNumber":"+34600000001","maxAge":240}`})
	}
	var refused []byte
	testhttp.Eventually(t, 30*time.Second, "the suspended app's calls to be refused", func() bool {
		resp, body := call()
		refused = body
		return resp.StatusCode == http.StatusForbidden
	})
	if !strings.Contains(string(refused), `"app_suspended"`) {
		t.Errorf("the suspended app's call: %s; want permission_denied / app_suspended", refused)
	}
	if resp, body := tp.adminCall("POST", "/admin/apps/"+appID+"/reinstate", admin, "", ""); resp.StatusCode != 200 {
		t.Fatalf("reinstating the app = %d %s", resp.StatusCode, body)
	}
	testhttp.Eventually(t, 30*time.Second, "the reinstated app's calls to pass the token check (429: its day quota is used up)", func() bool {
		resp, _ := call()
		return resp.StatusCode == http.StatusTooManyRequests
	})

	// The receiver got each before its delivery was recorded: the log
	// catches up.
	testhttp.Eventually(t, 30*time.Second, "the delivery log to show 7 messages delivered", func() bool {
		_, page := dev.get("/portal/org/webhooks")
		return strings.Count(page, `<span class="health health-operational">delivered</span>`) == 7
	})
}

// rotatedSecret is the secret a rotation's answer shows.
func rotatedSecret(t *testing.T, page string) string {
	t.Helper()
	m := secretOnPage.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the rotation's answer shows no secret:\n%s", page)
	}
	return html.UnescapeString(m[2])
}

// TestEventMail: with mail configured, an event also reaches the
// organisation's owners and admins by e-mail (here a rotated secret,
// through a real SMTP server).
func TestEventMail(t *testing.T) {
	t.Parallel()
	box := testmail.Start(t)
	tp := newTestPlatform(t, func(c *config.Config) { c.SMTPURL = box.URL() })
	b := newBrowser(t, tp)
	page := b.signUpByMail(box, "Mia", "mia@example.com", "correct horse battery", "Mia Co", "")
	app := appLink.FindStringSubmatch(page)
	if app == nil {
		t.Fatalf("the verified sign-up shows no app:\n%s", page)
	}
	if status, _ := b.post("/portal/apps/"+app[1]+"/credentials/sandbox/rotate", url.Values{}); status != 200 {
		t.Fatalf("rotating = %d", status)
	}
	m := box.Next(t)
	if len(m.To) != 1 || m.To[0] != "mia@example.com" || !strings.Contains(m.Subject, "A secret was rotated: My first app (sandbox)") ||
		!strings.Contains(m.Text, "/portal/org/webhooks") {
		t.Errorf("the event's mail: to %v, subject %q:\n%s", m.To, m.Subject, m.Text)
	}
}
