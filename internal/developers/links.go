package developers

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/url"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// verifyLink is the signed content of an e-mail verification link.
type verifyLink struct {
	Developer string `json:"d"`
	Email     string `json:"m"`
	// Organization is the name the sign-up form gave, used when the
	// account is set up on verification.
	Organization string `json:"o,omitempty"`
	// Next is the page the developer was going to when they signed up.
	Next    string `json:"n,omitempty"`
	Expires int64  `json:"e"`
}

// resetLink is the signed content of a password reset link.
type resetLink struct {
	Developer string `json:"d"`
	// Password is a MAC of the password hash the link was made for: a
	// reset changes the hash, which voids the link.
	Password string `json:"p"`
	Expires  int64  `json:"e"`
}

func (m *Manager) key(purpose string) []byte { return signin.MAC(m.Key, "developers "+purpose) }

func (m *Manager) passwordMark(hash string) string {
	return base64.RawURLEncoding.EncodeToString(signin.MAC(m.key("password-mark"), hash)[:16])
}

func (m *Manager) sendVerification(ctx context.Context, d *store.Developer, org, next string) error {
	if len(next) > 512 {
		next = "" // a link must stay short enough for every mail client
	}
	token, err := signin.Seal(m.key("verify"), verifyLink{Developer: d.ID, Email: d.Email, Organization: org, Next: next,
		Expires: m.now().Add(VerifyTTL).Unix()})
	if err != nil {
		return err
	}
	return m.send(ctx, d.Email, "Confirm your e-mail address",
		"Hello "+d.Name+",\n\nConfirm your address to finish creating your developer account:\n\n"+
			m.BaseURL+"/portal/verify?token="+url.QueryEscape(token)+"\n\n"+
			"The link works for 48 hours. If you did not sign up, ignore this message.")
}

// ResendVerification sends a new verification link to an unverified
// account; for any other address it does nothing (same answer either way).
func (m *Manager) ResendVerification(ctx context.Context, email string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	d, err := m.Store.GetDeveloperByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !d.EmailVerifiedAt.IsZero()) {
		return nil
	}
	if err != nil {
		return problem.FromStore(err, "developer", email)
	}
	return m.sendVerification(ctx, d, "", "")
}

// Verify confirms the address a verification link was sent to and sets
// the account up (its organisation and default sandbox app). A link that
// is forged, expired, for a deleted account or for an address already
// verified is refused with its own cause: a used link never signs anyone
// in again.
func (m *Manager) Verify(ctx context.Context, token string) (*Outcome, error) {
	var l verifyLink
	if !signin.Open(m.key("verify"), token, &l) || l.Developer == "" {
		return nil, problem.New(problem.InvalidRequestInvalidParameter,
			"This verification link is not valid: copy the whole link from the e-mail, or sign up again.")
	}
	if m.now().Unix() >= l.Expires {
		return nil, problem.New(problem.InvalidRequestInvalidParameter,
			"This verification link has expired (links work for 48 hours). Sign in to have a new one sent.")
	}
	var first bool
	d, err := m.Store.UpdateDeveloper(ctx, l.Developer, func(d *store.Developer) error {
		if d.Email != l.Email {
			return problem.New(problem.InvalidRequestInvalidParameter,
				"This verification link was sent to an address the account no longer uses.")
		}
		if d.EmailVerifiedAt.IsZero() {
			first = true
			d.EmailVerifiedAt = m.now()
			d.UpdatedAt = d.EmailVerifiedAt
		}
		return nil
	})
	if err != nil {
		return nil, problem.FromStore(err, "developer", l.Developer)
	}
	if !first {
		return nil, problem.New(problem.IncompatibleStateWrongState,
			"This address is already verified, and its link cannot be used again. Sign in with your e-mail address and password.")
	}
	if d.Status != store.DeveloperActive {
		return &Outcome{Developer: d}, nil
	}
	s, err := m.setUp(ctx, d, l.Organization)
	if err != nil {
		return nil, err
	}
	return &Outcome{Developer: d, Ready: s, Next: l.Next}, nil
}

// RequestReset mails a password reset link when the address has an
// account; the answer is the same either way.
func (m *Manager) RequestReset(ctx context.Context, email string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	d, err := m.Store.GetDeveloperByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return problem.FromStore(err, "developer", email)
	}
	token, err := signin.Seal(m.key("reset"), resetLink{Developer: d.ID, Password: m.passwordMark(d.PasswordHash),
		Expires: m.now().Add(ResetTTL).Unix()})
	if err != nil {
		return err
	}
	return m.send(ctx, d.Email, "Reset your password",
		"Hello "+d.Name+",\n\nChoose a new password for your developer account:\n\n"+
			m.BaseURL+"/portal/reset?token="+url.QueryEscape(token)+"\n\n"+
			"The link works for one hour, once. If you did not ask for it, ignore this message: your password is unchanged.")
}

// CheckResetToken reports whether a reset link is still usable (for the
// form that asks for the new password).
func (m *Manager) CheckResetToken(ctx context.Context, token string) error {
	_, err := m.openReset(ctx, token)
	return err
}

func (m *Manager) openReset(ctx context.Context, token string) (*store.Developer, error) {
	var l resetLink
	if !signin.Open(m.key("reset"), token, &l) || l.Developer == "" {
		return nil, problem.New(problem.InvalidRequestInvalidParameter,
			"This password reset link is not valid: copy the whole link from the e-mail, or ask for a new one.")
	}
	if m.now().Unix() >= l.Expires {
		return nil, problem.New(problem.InvalidRequestInvalidParameter,
			"This password reset link has expired (links work for one hour). Ask for a new one.")
	}
	d, err := m.Store.GetDeveloper(ctx, l.Developer)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !hmac.Equal([]byte(l.Password), []byte(m.passwordMark(d.PasswordHash)))) {
		return nil, problem.New(problem.IncompatibleStateWrongState,
			"This password reset link was already used, or the password changed since it was sent. Ask for a new one.")
	}
	if err != nil {
		return nil, problem.FromStore(err, "developer", l.Developer)
	}
	return d, nil
}

// ResetPassword sets a new password through a reset link. It also proves
// the address, and signs the account out everywhere.
func (m *Manager) ResetPassword(ctx context.Context, token, password string) (*store.Developer, error) {
	d, err := m.openReset(ctx, token)
	if err != nil {
		return nil, err
	}
	if !signin.ValidPassword(password) {
		return nil, passwordFieldErr()
	}
	hash, err := signin.Hash(ctx, password, m.params())
	if err != nil {
		return nil, err
	}
	mark := m.passwordMark(d.PasswordHash)
	d, err = m.Store.UpdateDeveloper(ctx, d.ID, func(d *store.Developer) error {
		if m.passwordMark(d.PasswordHash) != mark { // two resets raced: the first wins
			return problem.New(problem.IncompatibleStateWrongState,
				"This password reset link was already used. Ask for a new one.")
		}
		now := m.now()
		d.PasswordHash, d.SessionsNotBefore, d.UpdatedAt = hash, voidBefore(now), now
		if d.EmailVerifiedAt.IsZero() {
			d.EmailVerifiedAt = now
		}
		return nil
	})
	if err != nil {
		return nil, problem.FromStore(err, "developer", "")
	}
	return d, nil
}

// SignOutEverywhere voids every session of the developer started before
// now, this one included.
func (m *Manager) SignOutEverywhere(ctx context.Context, id string) error {
	_, err := m.Store.UpdateDeveloper(ctx, id, func(d *store.Developer) error {
		d.SessionsNotBefore, d.UpdatedAt = voidBefore(m.now()), m.now()
		return nil
	})
	if err != nil {
		return problem.FromStore(err, "developer", id)
	}
	return nil
}

// voidBefore is the SessionsNotBefore that voids every session started up
// to now: the next whole millisecond, since the store keeps milliseconds
// and a session started earlier in this millisecond must not survive.
func voidBefore(now time.Time) time.Time {
	return now.Truncate(time.Millisecond).Add(time.Millisecond)
}

// SessionValid reports whether a session that started at start may still
// act for d.
func SessionValid(d *store.Developer, start time.Time) bool {
	return d.Status == store.DeveloperActive && !d.EmailVerifiedAt.IsZero() && !start.Before(d.SessionsNotBefore)
}
