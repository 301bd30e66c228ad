package developers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// Why a password that matched still cannot sign in.
var (
	// ErrUnverified: the address has not been confirmed yet.
	ErrUnverified = errors.New("the e-mail address is not verified yet")
	// ErrPendingApproval: an operator has not approved the account yet.
	ErrPendingApproval = errors.New("the account waits for an operator's approval")
	// ErrSuspended: an operator suspended the account.
	ErrSuspended = errors.New("the account is suspended")
)

// Authenticate checks an e-mail address and password. It returns the
// developer, an error wrapping ErrInvalidCredentials (unknown address or
// wrong password, one answer for both, at the cost of one argon2id either
// way), ErrUnverified, ErrPendingApproval or ErrSuspended (only after the
// password matched, so they reveal nothing to a guesser), or a store
// failure.
func (m *Manager) Authenticate(ctx context.Context, email, password string) (*store.Developer, error) {
	var d *store.Developer
	if addr, err := NormalizeEmail(email); err == nil {
		d, err = m.Store.GetDeveloperByEmail(ctx, addr)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, problem.FromStore(err, "developer", addr)
		}
	}
	var hash string
	if d != nil {
		hash = d.PasswordHash
	}
	ok, err := signin.Check(ctx, hash, password)
	switch {
	case d == nil:
		return nil, fmt.Errorf("%w (no developer %q)", ErrInvalidCredentials, email)
	case err != nil && !errors.Is(err, signin.ErrMalformedHash):
		return nil, err
	case !ok:
		return nil, fmt.Errorf("%w (wrong password for developer %s)", ErrInvalidCredentials, d.ID)
	case d.EmailVerifiedAt.IsZero():
		return d, ErrUnverified
	case d.Status == store.DeveloperPending:
		return d, ErrPendingApproval
	case d.Status != store.DeveloperActive:
		return d, ErrSuspended
	}
	return d, nil
}

// ChangePassword sets a new password after checking the current one, and
// signs out every other session (the caller starts a new one).
func (m *Manager) ChangePassword(ctx context.Context, id, current, next string) (*store.Developer, error) {
	d, err := m.Store.GetDeveloper(ctx, id)
	if err != nil {
		return nil, problem.FromStore(err, "developer", id)
	}
	if ok, err := signin.Check(ctx, d.PasswordHash, current); err != nil || !ok {
		return nil, fieldErr("current_password", "This is not your current password.")
	}
	if !signin.ValidPassword(next) {
		return nil, passwordFieldErr()
	}
	hash, err := signin.Hash(ctx, next, m.params())
	if err != nil {
		return nil, err
	}
	d, err = m.Store.UpdateDeveloper(ctx, id, func(d *store.Developer) error {
		now := m.now()
		d.PasswordHash, d.SessionsNotBefore, d.UpdatedAt = hash, voidBefore(now), now
		return nil
	})
	if err != nil {
		return nil, problem.FromStore(err, "developer", id)
	}
	return d, nil
}

func passwordFieldErr() error {
	return fieldErr("password", fmt.Sprintf("Choose a password of %d to %d characters.", signin.MinPasswordLen, signin.MaxPasswordLen))
}

// Developer returns the account with the id.
func (m *Manager) Developer(ctx context.Context, id string) (*store.Developer, error) {
	d, err := m.Store.GetDeveloper(ctx, id)
	if err != nil {
		return nil, problem.FromStore(err, "developer", id)
	}
	return d, nil
}

// View is a developer as operators see it: no password hash, no second
// factor's secret.
type View struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	Name          string     `json:"name"`
	Status        string     `json:"status"`
	EmailVerified bool       `json:"email_verified"`
	VerifiedAt    *time.Time `json:"email_verified_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

func view(d *store.Developer) *View {
	v := &View{ID: d.ID, Email: d.Email, Name: d.Name, Status: d.Status, EmailVerified: !d.EmailVerifiedAt.IsZero(),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if v.EmailVerified {
		t := d.EmailVerifiedAt
		v.VerifiedAt = &t
	}
	return v
}

// List returns every developer, for operators.
func (m *Manager) List(ctx context.Context) ([]*View, error) {
	list, err := m.Store.ListDevelopers(ctx)
	if err != nil {
		return nil, problem.FromStore(err, "developer", "")
	}
	out := make([]*View, len(list))
	for i, d := range list {
		out[i] = view(d)
	}
	return out, nil
}

// SetStatus is an operator's decision on an account: approve (active) a
// pending one, suspend one, or reinstate it. Suspending ends its sessions
// at once (SessionValid); its apps keep their credentials.
func (m *Manager) SetStatus(ctx context.Context, id, status string) (*View, error) {
	if status != store.DeveloperActive && status != store.DeveloperSuspended {
		return nil, problem.Newf(problem.BadRequestInvalidParameter, "status: a developer is made active or suspended, not %q.", status).With("field", "status")
	}
	var setUp bool
	d, err := m.Store.UpdateDeveloper(ctx, id, func(d *store.Developer) error {
		setUp = d.Status == store.DeveloperPending && status == store.DeveloperActive && !d.EmailVerifiedAt.IsZero()
		d.Status, d.UpdatedAt = status, m.now()
		return nil
	})
	if err != nil {
		return nil, problem.FromStore(err, "developer", id)
	}
	if setUp { // approved after verifying: the organisation and app now
		if _, err := m.setUp(ctx, d, ""); err != nil {
			return nil, err
		}
	}
	return view(d), nil
}
