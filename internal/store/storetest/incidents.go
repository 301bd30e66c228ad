package storetest

import (
	"errors"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// testIncidents: an incident round-trips with its updates; an update
// changes it under the lock; the list holds the open ones and those
// resolved since the time given, newest first; an unknown ID is
// store.ErrNotFound.
func testIncidents(t *testing.T, s store.Store) {
	ctx := t.Context()
	open := &store.Incident{ID: "inc-1", APIName: "sim-swap", Title: "Slow answers", Impact: store.ImpactDegraded,
		Status: store.IncidentInvestigating, Updates: []store.IncidentUpdate{{At: at(0), Status: store.IncidentInvestigating, Message: "Looking into it."}},
		CreatedAt: at(0), UpdatedAt: at(0)}
	if err := s.CreateIncident(ctx, open); err != nil {
		t.Fatalf("CreateIncident: %v", err)
	}
	old := &store.Incident{ID: "inc-0", Title: "Platform down", Impact: store.ImpactOutage, Status: store.IncidentResolved,
		CreatedAt: at(-10), UpdatedAt: at(-9), ResolvedAt: at(-9)}
	if err := s.CreateIncident(ctx, old); err != nil {
		t.Fatalf("CreateIncident: %v", err)
	}
	got, err := s.GetIncident(ctx, "inc-1")
	if err != nil {
		t.Fatalf("GetIncident: %v", err)
	}
	if got.Title != open.Title || got.APIName != "sim-swap" || got.Impact != store.ImpactDegraded || len(got.Updates) != 1 ||
		got.Updates[0].Message != "Looking into it." || !got.Updates[0].At.Equal(at(0)) || !got.ResolvedAt.IsZero() {
		t.Errorf("GetIncident = %+v; want %+v", got, open)
	}
	upd, err := s.UpdateIncident(ctx, "inc-1", func(in *store.Incident) error {
		in.Status, in.ResolvedAt, in.UpdatedAt = store.IncidentResolved, at(1), at(1)
		in.Updates = append(in.Updates, store.IncidentUpdate{At: at(1), Status: store.IncidentResolved, Message: "Fixed."})
		return nil
	})
	if err != nil || len(upd.Updates) != 2 || !upd.ResolvedAt.Equal(at(1)) {
		t.Fatalf("UpdateIncident = %+v, %v", upd, err)
	}
	if _, err := s.GetIncident(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIncident(unknown) = %v; want store.ErrNotFound", err)
	}
	if _, err := s.UpdateIncident(ctx, "nope", func(*store.Incident) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateIncident(unknown) = %v; want store.ErrNotFound", err)
	}
	list := func(since time.Time) []string {
		t.Helper()
		l, err := s.ListIncidents(ctx, since)
		if err != nil {
			t.Fatalf("ListIncidents: %v", err)
		}
		var ids []string
		for _, in := range l {
			ids = append(ids, in.ID)
		}
		return ids
	}
	if got := list(at(-20)); len(got) != 2 || got[0] != "inc-1" || got[1] != "inc-0" {
		t.Errorf("ListIncidents(long ago) = %v; want [inc-1 inc-0]", got)
	}
	if got := list(at(2)); len(got) != 0 {
		t.Errorf("ListIncidents(after both were resolved) = %v; want none", got)
	}
}
