package problem

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StoreRetryAfter is the Retry-After of answers given while the database
// cannot be reached.
const StoreRetryAfter = 5 * time.Second

// StoreFailure is what a storage layer's sentinel errors implement
// (gatehouse/internal/store: ErrNotFound, ErrConflict, ErrUnavailable,
// ErrStorageFull, ErrReadOnly) to say which kind of failure they are, so
// that this package maps them without importing the store.
// StoreFailureKind returns one of the StoreNotFound… constants.
type StoreFailure interface {
	error
	StoreFailureKind() string
}

// The kinds of StoreFailure this package maps.
const (
	StoreNotFound    = "not_found"    // no record has the key: 404
	StoreConflict    = "conflict"     // the write conflicts with stored records: 409
	StoreUnreachable = "unavailable"  // unreachable or too slow: 503 store_unavailable
	StoreFull        = "storage_full" // a write refused for space: 503 storage_full
	StoreReadOnly    = "read_only"    // a write refused by a read-only database: 503 storage_read_only
)

// isStore reports whether err wraps, anywhere in its tree, a StoreFailure
// of the given kind (as errors.Is would find the sentinel).
func isStore(err error, kind string) bool {
	switch e := err.(type) {
	case nil:
		return false
	case StoreFailure:
		if e.StoreFailureKind() == kind {
			return true
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return isStore(u.Unwrap(), kind)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if isStore(e, kind) {
				return true
			}
		}
	}
	return false
}

// FromStore maps a storage failure of an operator or portal action on the
// record kind ("client", "API") with the given id to the registry: not
// found 404, conflict 409, an unreachable database or a refused write 503
// with Retry-After (StoreUnavailable), anything else 500. Registry errors
// pass through.
func FromStore(err error, kind, id string) *Error {
	var p *Error
	if errors.As(err, &p) {
		return p
	}
	switch {
	case isStore(err, StoreNotFound):
		return Newf(NotFoundResourceNotFound, "No %s %q exists.", kind, id)
	case isStore(err, StoreConflict):
		return Newf(AlreadyExistsDuplicate, "A %s %q already exists.", kind, id)
	}
	if p := StoreUnavailable(err); p != nil {
		return p
	}
	return Internal(fmt.Errorf("%s %s: %w", kind, id, err))
}

// FromOAuthStore maps a storage failure on an OAuth endpoint: an
// unreachable database or a refused write is 503 temporarily_unavailable
// with its cause and Retry-After (OAuthStoreUnavailable), anything else a
// 500 server_error.
func FromOAuthStore(err error) *Error {
	if p := OAuthStoreUnavailable(err); p != nil {
		return p
	}
	return New(ServerErrorUnexpected, "").Wrap(err)
}

// storeCauses are the three causes a store outage is reported with.
type storeCauses struct{ unreachable, full, readOnly Reason }

// StoreUnavailable maps a store failure that is not the request's fault to
// `unavailable` with its cause and Retry-After: a database that cannot be
// reached or did not answer in time (store_unavailable), one that refused a
// write for space (storage_full) or because it is read-only
// (storage_read_only). It returns nil for any other error.
func StoreUnavailable(err error) *Error {
	return storeUnavailable(storeCauses{UnavailableStoreUnavailable, UnavailableStorageFull, UnavailableStorageReadOnly}, err)
}

// OAuthStoreUnavailable is StoreUnavailable for OAuth endpoints, which
// answer `temporarily_unavailable` (RFC 6749 section 5.2).
func OAuthStoreUnavailable(err error) *Error {
	return storeUnavailable(storeCauses{TemporarilyUnavailableStoreUnavailable, TemporarilyUnavailableStorageFull, TemporarilyUnavailableStorageReadOnly}, err)
}

func storeUnavailable(c storeCauses, err error) *Error {
	switch {
	case isStore(err, StoreFull):
		return New(c.full, "The database has no space left for this change; nothing was changed. Retry once the operator has freed space.").
			Wrap(err).WithRetryAfter(StoreRetryAfter)
	case isStore(err, StoreReadOnly):
		return New(c.readOnly, "The database is read-only; nothing was changed. Retry once the operator has made it writable.").
			Wrap(err).WithRetryAfter(StoreRetryAfter)
	case isStore(err, StoreUnreachable), errors.Is(err, context.DeadlineExceeded):
		return New(c.unreachable, "The database cannot be reached or did not answer in time; retry shortly.").
			Wrap(err).WithRetryAfter(StoreRetryAfter)
	}
	return nil
}
