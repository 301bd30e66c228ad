package problem

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

// StoreRetryAfter is the Retry-After of answers given while the database
// cannot be reached.
const StoreRetryAfter = 5 * time.Second

// FromStore maps a storage failure of an operator or portal action on the
// record kind ("client", "API") with the given id to the registry: not
// found 404, conflict 409, an unreachable database or a refused write 503
// with Retry-After (StoreUnavailable), anything else 500. Registry errors
// pass through.
func FromStore(err error, kind, id string) *Error {
	var p *Error
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, store.ErrNotFound):
		return Newf("not_found", "resource_not_found", "No %s %q exists.", kind, id)
	case errors.Is(err, store.ErrConflict):
		return Newf("already_exists", "duplicate", "A %s %q already exists.", kind, id)
	}
	if p := StoreUnavailable("unavailable", err); p != nil {
		return p
	}
	return Internal(fmt.Errorf("%s %s: %w", kind, id, err))
}

// StoreUnavailable maps a store failure that is not the request's fault to
// the entry key ("unavailable", or "temporarily_unavailable" on OAuth
// endpoints) with its cause and Retry-After: a database that cannot be
// reached or did not answer in time (store_unavailable), one that refused a
// write for space (storage_full) or because it is read-only
// (storage_read_only). It returns nil for any other error.
func StoreUnavailable(key string, err error) *Error {
	switch {
	case errors.Is(err, store.ErrStorageFull):
		return New(key, "storage_full", "The database has no space left for this change; nothing was changed. Retry once the operator has freed space.").
			Wrap(err).WithRetryAfter(StoreRetryAfter)
	case errors.Is(err, store.ErrReadOnly):
		return New(key, "storage_read_only", "The database is read-only; nothing was changed. Retry once the operator has made it writable.").
			Wrap(err).WithRetryAfter(StoreRetryAfter)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return New(key, "store_unavailable", "The database cannot be reached or did not answer in time; retry shortly.").
			Wrap(err).WithRetryAfter(StoreRetryAfter)
	}
	return nil
}
