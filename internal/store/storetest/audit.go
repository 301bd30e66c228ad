package storetest

import (
	"testing"

	"gatehouse/internal/store"
)

// testAuditLog: entries come back newest first, filtered by actor, paged
// by id.
func testAuditLog(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, e := range []store.AuditEntry{
		{ActorKind: store.ActorOperator, Action: "POST /admin/clients", Target: "/admin/clients", Address: "127.0.0.1", Status: 201, Correlator: "c1"},
		{ActorKind: store.ActorDeveloper, ActorID: "dev-1", Action: "POST /portal/apps", Target: "/portal/apps", Address: "::1", Status: 303},
		{ActorKind: store.ActorOperator, Action: "DELETE /admin/clients/{id}", Target: "/admin/clients/x", Status: 404},
	} {
		e.At = at(i)
		if err := s.AddAudit(ctx, &e); err != nil {
			t.Fatalf("AddAudit: %v", err)
		}
	}
	all, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil || len(all) != 3 || all[0].Status != 404 || all[2].Correlator != "c1" || !all[2].At.Equal(at(0)) || all[1].Address != "::1" {
		t.Fatalf("ListAudit() = %+v, %v", all, err)
	}
	if dev, err := s.ListAudit(ctx, store.AuditFilter{ActorKind: store.ActorDeveloper, ActorID: "dev-1"}); err != nil || len(dev) != 1 || dev[0].Action != "POST /portal/apps" {
		t.Errorf("ListAudit(developer dev-1) = %+v, %v", dev, err)
	}
	if page, err := s.ListAudit(ctx, store.AuditFilter{Before: all[0].ID, Limit: 1}); err != nil || len(page) != 1 || page[0].ID != all[1].ID {
		t.Errorf("ListAudit(before the newest, limit 1) = %+v, %v", page, err)
	}
}
