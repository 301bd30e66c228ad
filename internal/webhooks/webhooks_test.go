package webhooks

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/testclock"
)

// receiver is a real HTTP endpoint on loopback that records what it gets
// and answers status (200 by default).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	got    []received
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: 200}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		status := r.status
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) answer(status int) { r.mu.Lock(); r.status = status; r.mu.Unlock() }

func (r *receiver) calls() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// setup returns a manager over a real SQLite store holding organisations
// org-1 and org-2, with a stopped clock.
func setup(t *testing.T) (*Manager, *testclock.Clock) {
	t.Helper()
	st, err := sqlstore.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{"1", "2"} {
		if err := st.CreateDeveloper(t.Context(), &store.Developer{ID: "dev-" + id, Email: id + "@example.com", Name: "D", Status: store.DeveloperActive}); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateOrganization(t.Context(), &store.Organization{ID: "org-" + id, Name: "Org " + id}, "dev-"+id); err != nil {
			t.Fatal(err)
		}
	}
	clock := testclock.New(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	return &Manager{Store: st, Secret: "system-secret-for-tests-0123456789", AllowPrivate: true, Now: clock.Now}, clock
}

func TestDeliverySignedAndRetried(t *testing.T) {
	m, clock := setup(t)
	ctx := t.Context()
	rcv := newReceiver(t)
	ep, secret, err := m.Create(ctx, "org-1", rcv.URL+"/hooks", nil)
	if err != nil || !strings.HasPrefix(secret, "whsec_") || len(ep.Events) != len(EventTypes) {
		t.Fatalf("Create = %+v, %q, %v", ep, secret, err)
	}
	only, _, err := m.Create(ctx, "org-1", rcv.URL+"/rotations", []string{EventSecretRotated})
	if err != nil {
		t.Fatal(err)
	}

	// Delivered at once, signed as Standard Webhooks says; only the
	// endpoint that takes the type gets it.
	if err := m.Emit(ctx, "org-1", EventSubscriptionApproved, map[string]string{"api": "sim-swap"}); err != nil {
		t.Fatal(err)
	}
	if n := m.DeliverDue(ctx); n != 1 {
		t.Fatalf("DeliverDue took %d deliveries; want 1 (the other endpoint takes secret rotations only)", n)
	}
	got := rcv.calls()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d requests; want 1", len(got))
	}
	h, body := got[0].header, got[0].body
	if err := Verify(secret, h, body, clock.Now()); err != nil {
		t.Errorf("the delivery does not verify: %v (headers %v)", err, h)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type != EventSubscriptionApproved || ev.OrganizationID != "org-1" || h.Get("webhook-id") != ev.ID {
		t.Errorf("body %s, webhook-id %q", body, h.Get("webhook-id"))
	}
	// A replay later than the tolerance, or with another secret, fails.
	if err := Verify(secret, h, body, clock.Now().Add(Tolerance+time.Second)); err == nil {
		t.Error("a message older than the tolerance verified")
	}
	if err := Verify("whsec_"+strings.Repeat("A", 32), h, body, clock.Now()); err == nil {
		t.Error("a message verified under another secret")
	}
	if err := Verify(secret, h, append(body, ' '), clock.Now()); err == nil {
		t.Error("an altered body verified")
	}

	// A receiver failing: retried on the schedule, with the same id, then
	// delivered; the log says what happened.
	rcv.answer(503)
	clock.Advance(time.Minute)
	if err := m.SendTest(ctx, "org-1", only.ID); err != nil {
		t.Fatal(err)
	}
	m.DeliverDue(ctx)
	clock.Advance(Schedule[0] - time.Second)
	if n := m.DeliverDue(ctx); n != 0 {
		t.Errorf("a retry went %s early", time.Second)
	}
	rcv.answer(204)
	clock.Advance(time.Second)
	if n := m.DeliverDue(ctx); n != 1 {
		t.Fatalf("the retry after %s was not sent", Schedule[0])
	}
	calls := rcv.calls()
	if len(calls) != 3 || calls[1].header.Get("webhook-id") != calls[2].header.Get("webhook-id") ||
		calls[1].header.Get("webhook-timestamp") == calls[2].header.Get("webhook-timestamp") {
		t.Errorf("the retry's id and timestamp: %v then %v", calls[1].header, calls[2].header)
	}
	log, err := m.Deliveries(ctx, "org-1", 10)
	if err != nil || len(log) != 2 || log[0].Status != store.DeliveryDelivered || log[0].Attempts != 2 || log[0].LastStatus != 204 || log[0].EventType != EventTest {
		t.Fatalf("the delivery log = %+v, %v", log, err)
	}
}

func TestDeliveryGivesUpAfterADay(t *testing.T) {
	m, clock := setup(t)
	ctx := t.Context()
	rcv := newReceiver(t)
	rcv.answer(500)
	if _, _, err := m.Create(ctx, "org-1", rcv.URL, nil); err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	if err := m.Emit(ctx, "org-1", EventSecretRotated, nil); err != nil {
		t.Fatal(err)
	}
	m.DeliverDue(ctx)
	for _, pause := range Schedule {
		clock.Advance(pause)
		if n := m.DeliverDue(ctx); n != 1 {
			t.Fatalf("no attempt %s after the event", clock.Now().Sub(start))
		}
	}
	if last := clock.Now().Sub(start); last < 24*time.Hour {
		t.Errorf("the last attempt came %s after the event; want more than 24 h", last)
	}
	clock.Advance(24 * time.Hour)
	if n := m.DeliverDue(ctx); n != 0 {
		t.Error("a delivery was attempted after the last of the schedule")
	}
	log, _ := m.Deliveries(ctx, "org-1", 1)
	if len(log) != 1 || log[0].Status != store.DeliveryFailed || log[0].Attempts != len(Schedule)+1 ||
		log[0].LastError != "the endpoint answered 500 Internal Server Error" {
		t.Errorf("after the schedule: %+v", log)
	}
	if n := len(rcv.calls()); n != len(Schedule)+1 {
		t.Errorf("the receiver got %d attempts; want %d", n, len(Schedule)+1)
	}
}

func TestEndpointRules(t *testing.T) {
	m, _ := setup(t)
	ctx := t.Context()
	m.AllowPrivate = false
	for _, tc := range []struct{ url, says string }{
		{"ftp://hooks.example.com/x", "https only"},
		{"http://hooks.example.com/x", "https only"},
		{"https://user:pw@hooks.example.com/x", "without user"},
		{"https://127.0.0.1/x", "private address"},
		{"https://localhost/x", "private address"},
		{"not a url", "not an absolute https URL"},
	} {
		_, _, err := m.Create(ctx, "org-1", tc.url, nil)
		p := problem.From(err)
		if p.Entry.Key != "bad_request" || p.CauseID != "invalid_parameter" || !strings.Contains(p.Detail, tc.says) {
			t.Errorf("Create(%q) = %v; want invalid_parameter saying %q", tc.url, err, tc.says)
		}
	}
	// The dialler refuses a private address even when the URL was
	// accepted (a name rebound to one after the check).
	m.AllowPrivate = true
	rcv := newReceiver(t)
	if _, _, err := m.Create(ctx, "org-1", rcv.URL, []string{"nope"}); problem.From(err).CauseID != "invalid_parameter" {
		t.Errorf("an unknown event type: %v", err)
	}
	ep, _, err := m.Create(ctx, "org-1", rcv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.AllowPrivate = false
	if err := m.SendTest(ctx, "org-1", ep.ID); err != nil {
		t.Fatal(err)
	}
	m.DeliverDue(ctx)
	if len(rcv.calls()) != 0 {
		t.Error("a delivery reached a loopback address")
	}
	log, _ := m.Deliveries(ctx, "org-1", 1)
	if len(log) != 1 || !strings.Contains(log[0].LastError, "private address") {
		t.Errorf("the refused attempt's log: %+v", log)
	}
	// Another organisation's webhook is a 404 to test or delete.
	if err := m.SendTest(ctx, "org-2", ep.ID); problem.From(err).Entry.Key != "not_found" {
		t.Errorf("SendTest of another organisation's webhook = %v; want not_found", err)
	}
	if err := m.Delete(ctx, "org-2", ep.ID); problem.From(err).Entry.Key != "not_found" {
		t.Errorf("Delete of another organisation's webhook = %v; want not_found", err)
	}
	if err := m.Delete(ctx, "org-1", ep.ID); err != nil {
		t.Errorf("Delete = %v", err)
	}
}
