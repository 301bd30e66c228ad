package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// TestSentinelsMapToTheRegistry checks that the registry, which does not
// import this package, maps each sentinel (wrapped, as backends return them)
// to its entry and cause.
func TestSentinelsMapToTheRegistry(t *testing.T) {
	for _, tc := range []struct {
		err   error
		admin problem.Reason
		oauth problem.Reason
	}{
		{store.ErrNotFound, problem.NotFoundResourceNotFound, problem.ServerErrorUnexpected},
		{store.ErrConflict, problem.AlreadyExistsDuplicate, problem.ServerErrorUnexpected},
		{store.ErrUnavailable, problem.UnavailableStoreUnavailable, problem.TemporarilyUnavailableStoreUnavailable},
		{context.DeadlineExceeded, problem.UnavailableStoreUnavailable, problem.TemporarilyUnavailableStoreUnavailable},
		{store.ErrStorageFull, problem.UnavailableStorageFull, problem.TemporarilyUnavailableStorageFull},
		{store.ErrReadOnly, problem.UnavailableStorageReadOnly, problem.TemporarilyUnavailableStorageReadOnly},
		{errors.New("disk on fire"), problem.InternalUnexpected, problem.ServerErrorUnexpected},
		// A refused write wins over the outage it was joined with.
		{errors.Join(store.ErrUnavailable, store.ErrStorageFull), problem.UnavailableStorageFull, problem.TemporarilyUnavailableStorageFull},
	} {
		err := fmt.Errorf("sqlstore: saving client: %w", tc.err)
		p := problem.FromStore(err, "client", "c1")
		if p.Entry.Key+"/"+p.CauseID != tc.admin.String() {
			t.Errorf("FromStore(%v) = %s/%s, want %s", tc.err, p.Entry.Key, p.CauseID, tc.admin)
		}
		o := problem.FromOAuthStore(err)
		if o.Entry.Key+"/"+o.CauseID != tc.oauth.String() {
			t.Errorf("FromOAuthStore(%v) = %s/%s, want %s", tc.err, o.Entry.Key, o.CauseID, tc.oauth)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("errors.Is(%v, sentinel) = false", err)
		}
	}
}
