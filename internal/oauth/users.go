package oauth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// ErrInvalidCredentials means a sign-in failed: unknown username, wrong
// password, or a user who has no password. Which one is in the wrapped
// message, for logs only: the page says the same thing for all three.
var ErrInvalidCredentials = errors.New("unknown username or wrong password")

var (
	// phonePattern is an E.164 number: + and 5 to 15 digits, no leading 0.
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{4,14}$`)
	// usernamePattern allows the characters of e-mail addresses and
	// phone numbers, which is what usernames usually are.
	usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,64}$`)
)

// ValidPhoneNumber reports whether s is an E.164 phone number (+, country
// code and number, 5 to 15 digits).
func ValidPhoneNumber(s string) bool { return phonePattern.MatchString(s) }

// UserView is an end user as operators see it, without the password hash.
type UserView struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	PhoneNumber string    `json:"phone_number,omitempty"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// UserStore is the storage UserManager needs.
type UserStore interface {
	store.Users
}

// UserManager creates, lists, deletes and authenticates end users (the
// subscribers of the three-legged flows). The CLI and the authorization
// pages share it. The zero value with Store set works.
type UserManager struct {
	Store UserStore
	// Params are the argon2id costs of new password hashes. Zero means
	// signin.DefaultArgon2Params.
	Params signin.Argon2Params
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// OnDelete, when set, is called with the id of every deleted user (to
	// drop caches).
	OnDelete func(id string)
}

func (m *UserManager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *UserManager) params() signin.Argon2Params {
	if m.Params == (signin.Argon2Params{}) {
		return signin.DefaultArgon2Params
	}
	return m.Params
}

func userView(u *store.User) *UserView {
	return &UserView{ID: u.ID, Username: u.Username, PhoneNumber: u.PhoneNumber, HasPassword: u.PasswordHash != "",
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// Create adds a user with a password and, optionally, the phone number of
// their line (E.164).
func (m *UserManager) Create(ctx context.Context, username, password, phone string) (*UserView, error) {
	if !usernamePattern.MatchString(username) {
		return nil, invalidField("username", "a username is 1 to 64 letters, digits or . _ @ + -")
	}
	if !signin.ValidPassword(password) {
		return nil, invalidField("password", fmt.Sprintf("a password is %d to %d characters", signin.MinPasswordLen, signin.MaxPasswordLen))
	}
	if phone != "" && !ValidPhoneNumber(phone) {
		return nil, invalidField("phone", "the phone number must be E.164: + then country code and number, digits only (+34600000001)")
	}
	hash, err := signin.Hash(ctx, password, m.params())
	if err != nil {
		return nil, problem.Internal(err)
	}
	now := m.now()
	u := &store.User{ID: newUserID(), Username: username, PhoneNumber: phone, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := m.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, problem.Newf(problem.AlreadyExistsDuplicate,
				"A user with the username %q or the phone number %q already exists.", username, phone)
		}
		return nil, problem.FromStore(err, "user", username)
	}
	return userView(u), nil
}

// List returns every user.
func (m *UserManager) List(ctx context.Context) ([]*UserView, error) {
	list, err := m.Store.ListUsers(ctx)
	if err != nil {
		return nil, problem.FromStore(err, "user", "")
	}
	out := make([]*UserView, len(list))
	for i, u := range list {
		out[i] = userView(u)
	}
	return out, nil
}

// Delete removes a user by id.
func (m *UserManager) Delete(ctx context.Context, id string) error {
	if err := m.Store.DeleteUser(ctx, id); err != nil {
		return problem.FromStore(err, "user", id)
	}
	if m.OnDelete != nil {
		m.OnDelete(id)
	}
	return nil
}

// Authenticate checks a username and password. It returns the user, an
// error wrapping ErrInvalidCredentials, or a store failure. Unknown users
// and users without a password cost one argon2id verification like a wrong
// password does.
func (m *UserManager) Authenticate(ctx context.Context, username, password string) (*store.User, error) {
	var u *store.User
	if usernamePattern.MatchString(username) {
		var err error
		u, err = m.Store.GetUserByUsername(ctx, username)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	var hash string
	if u != nil {
		hash = u.PasswordHash
	}
	ok, verr := signin.Check(ctx, hash, password)
	if errors.Is(verr, context.Canceled) || errors.Is(verr, context.DeadlineExceeded) {
		return nil, verr
	}
	switch {
	case u == nil:
		return nil, fmt.Errorf("%w (no user %q)", ErrInvalidCredentials, username)
	case u.PasswordHash == "":
		return nil, fmt.Errorf("%w (user %s has no password)", ErrInvalidCredentials, u.ID)
	case verr != nil:
		return nil, fmt.Errorf("user %s: %w", u.ID, verr)
	case !ok:
		return nil, fmt.Errorf("%w (wrong password for user %s)", ErrInvalidCredentials, u.ID)
	}
	return u, nil
}

// IdentifyLine is the sandbox's "identified by the network" sign-in: the
// phone number alone names the subscriber, as a mobile network identifies
// the line a request comes from. It returns the user with that phone
// number, creating one on first use (username = the number, no password).
// Only offer it where Config.NetworkLogin is set: anyone who can type a
// number can sign in as its line.
func (m *UserManager) IdentifyLine(ctx context.Context, phone string) (*store.User, error) {
	if !ValidPhoneNumber(phone) {
		return nil, invalidField("phone", "the phone number must be E.164: + then country code and number, digits only (+34600000001)")
	}
	u, err := m.Store.GetUserByPhone(ctx, phone)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	now := m.now()
	u = &store.User{ID: newUserID(), Username: phone, PhoneNumber: phone, CreatedAt: now, UpdatedAt: now}
	err = m.Store.CreateUser(ctx, u)
	if errors.Is(err, store.ErrConflict) {
		// Created concurrently by another sign-in, or the username is
		// taken by a user registered with another number.
		u, err = m.Store.GetUserByPhone(ctx, phone)
		if errors.Is(err, store.ErrNotFound) {
			return nil, problem.Newf(problem.AlreadyExistsDuplicate,
				"The username %q belongs to a user with another phone number.", phone)
		}
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

func newUserID() string { return "usr_" + randomString(16) }
