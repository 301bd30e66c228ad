package storetest

import (
	"errors"
	"testing"

	"gatehouse/internal/store"
)

// testWebhooks: a webhook round-trips; deliveries are claimed once while
// their lease runs, oldest due first, and again once it ends; an update
// records an attempt; the organisation's deliveries list newest first;
// deleting the webhook deletes its deliveries; a webhook of an unknown
// organisation is store.ErrNotFound.
func testWebhooks(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupOrganization(t, s)
	if err := s.CreateWebhook(ctx, &store.Webhook{ID: "wh-x", OrganizationID: "org-none", URL: "https://x.example", SecretSealed: []byte{1}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateWebhook for an unknown organisation = %v; want store.ErrNotFound", err)
	}
	w := &store.Webhook{ID: "wh-1", OrganizationID: "org-1", URL: "https://hooks.example.com/in", SecretSealed: []byte{0, 1, 2},
		Events: []string{"test", "subscription.approved"}}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	got, err := s.GetWebhook(ctx, "wh-1")
	if err != nil || got.URL != w.URL || string(got.SecretSealed) != string(w.SecretSealed) || len(got.Events) != 2 || got.Events[1] != "subscription.approved" {
		t.Fatalf("GetWebhook = %+v, %v", got, err)
	}
	if l, err := s.ListWebhooks(ctx, "org-1"); err != nil || len(l) != 1 {
		t.Fatalf("ListWebhooks = %v, %v", l, err)
	}
	d := func(id string, due int) *store.WebhookDelivery {
		return &store.WebhookDelivery{ID: id, WebhookID: "wh-1", OrganizationID: "org-1", EventID: "evt-" + id, EventType: "test",
			Payload: []byte(`{"id":"evt-` + id + `"}`), Status: store.DeliveryPending, NextAttemptAt: at(due), CreatedAt: at(due)}
	}
	if err := s.AddDeliveries(ctx, []*store.WebhookDelivery{d("d2", 2), d("d1", 1), d("d9", 9)}); err != nil {
		t.Fatalf("AddDeliveries: %v", err)
	}
	claimed, err := s.ClaimDeliveries(ctx, at(5), at(60), 10)
	if err != nil || len(claimed) != 2 || claimed[0].ID != "d1" || claimed[1].ID != "d2" || !claimed[0].NextAttemptAt.Equal(at(60)) ||
		string(claimed[0].Payload) != `{"id":"evt-d1"}` {
		t.Fatalf("ClaimDeliveries(at 5) = %+v, %v; want d1 and d2 leased to 60", claimed, err)
	}
	if again, err := s.ClaimDeliveries(ctx, at(5), at(60), 10); err != nil || len(again) != 0 {
		t.Errorf("ClaimDeliveries while the lease runs = %d deliveries, %v; want none", len(again), err)
	}
	if later, err := s.ClaimDeliveries(ctx, at(61), at(120), 1); err != nil || len(later) != 1 || later[0].ID != "d9" {
		t.Errorf("ClaimDeliveries after the lease, limit 1 = %+v, %v; want d9, due first", later, err)
	}
	upd, err := s.UpdateDelivery(ctx, "d2", func(d *store.WebhookDelivery) error {
		d.Status, d.Attempts, d.LastStatus = store.DeliveryDelivered, 1, 204
		return nil
	})
	if err != nil || upd.Status != store.DeliveryDelivered || upd.LastStatus != 204 {
		t.Fatalf("UpdateDelivery = %+v, %v", upd, err)
	}
	if l, err := s.ListDeliveries(ctx, "org-1", 2); err != nil || len(l) != 2 || l[0].ID != "d9" {
		t.Errorf("ListDeliveries(limit 2) = %v, %v; want d9 first", l, err)
	}
	if err := s.DeleteWebhook(ctx, "wh-1"); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if l, err := s.ListDeliveries(ctx, "org-1", 10); err != nil || len(l) != 0 {
		t.Errorf("deliveries after the webhook was deleted: %d, %v; want none", len(l), err)
	}
	if err := s.DeleteWebhook(ctx, "wh-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteWebhook twice = %v; want store.ErrNotFound", err)
	}
}
