package developers

import (
	"context"
	"errors"
	"fmt"

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
