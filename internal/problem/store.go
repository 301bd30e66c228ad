package problem

import (
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
// found 404, conflict 409, unreachable database 503 with Retry-After,
// anything else 500. Registry errors pass through.
func FromStore(err error, kind, id string) *Error {
	var p *Error
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, store.ErrNotFound):
		return Newf("not_found", "resource_not_found", "No %s %q exists.", kind, id)
	case errors.Is(err, store.ErrConflict):
		return Newf("already_exists", "duplicate", "A %s %q already exists.", kind, id)
	case errors.Is(err, store.ErrUnavailable):
		return New("unavailable", "store_unavailable", "The database cannot be reached; retry shortly.").
			Wrap(err).WithRetryAfter(StoreRetryAfter)
	}
	return Internal(fmt.Errorf("%s %s: %w", kind, id, err))
}
