package oauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// Argon2Params are the argon2id cost parameters of new password hashes
// (RFC 9106). Verification reads the parameters from each stored hash, so
// changing them affects new passwords only.
type Argon2Params struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// DefaultArgon2Params are m=64 MiB, t=2, p=1: above both of OWASP's
// argon2id profiles (19 MiB/t=2 and 46 MiB/t=1), about 50-100 ms on one
// core of a current server. Tests lower them for speed (a test hash costs
// well under a millisecond); hashes made that way verify anywhere, since
// the parameters travel in the hash.
var DefaultArgon2Params = Argon2Params{Memory: 64 * 1024, Time: 2, Threads: 1}

const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// argon2Slots bounds concurrent argon2id computations in the process: each
// takes its Memory in RAM, so unbounded parallel sign-in attempts could
// exhaust it. Waiting for a slot honours the request's context.
var argon2Slots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// HashPassword returns the argon2id hash of password in PHC string format:
// $argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash>, salt and hash in unpadded
// standard base64.
func HashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argon2KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// errMalformedHash means a stored password hash is not an argon2id PHC
// string this package can verify.
var errMalformedHash = errors.New("oauth: stored password hash is not a supported argon2id PHC string")

// VerifyPassword reports whether password matches the PHC-format argon2id
// hash, comparing in constant time. Parameters outside sane bounds are
// refused rather than computed.
func VerifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errMalformedHash
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, errMalformedHash
	}
	if p.Time < 1 || p.Time > 16 || p.Threads < 1 || p.Threads > 16 || p.Memory < 8*uint32(p.Threads) || p.Memory > 1<<21 {
		return false, errMalformedHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false, errMalformedHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// acquireArgon2 waits for a hashing slot; release it with the returned
// function.
func acquireArgon2(ctx context.Context) (func(), error) {
	select {
	case argon2Slots <- struct{}{}:
		return func() { <-argon2Slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// dummyHash is verified against when the user is unknown or has no
// password, so those cases cost what a wrong password costs (no user
// enumeration by timing).
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("gatehouse: no such user", DefaultArgon2Params)
	if err != nil {
		panic("oauth: " + err.Error())
	}
	return h
})

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

const (
	minPasswordLen = 8
	maxPasswordLen = 1024
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
	// DefaultArgon2Params.
	Params Argon2Params
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

func (m *UserManager) params() Argon2Params {
	if m.Params == (Argon2Params{}) {
		return DefaultArgon2Params
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
	if n := utf8.RuneCountInString(password); n < minPasswordLen || n > maxPasswordLen || !utf8.ValidString(password) {
		return nil, invalidField("password", fmt.Sprintf("a password is %d to %d characters", minPasswordLen, maxPasswordLen))
	}
	if phone != "" && !ValidPhoneNumber(phone) {
		return nil, invalidField("phone", "the phone number must be E.164: + then country code and number, digits only (+34600000001)")
	}
	release, err := acquireArgon2(ctx)
	if err != nil {
		return nil, err
	}
	hash, err := HashPassword(password, m.params())
	release()
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
	if usernamePattern.MatchString(username) && len(password) <= maxPasswordLen {
		var err error
		u, err = m.Store.GetUserByUsername(ctx, username)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	hash := dummyHash()
	if u != nil && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	release, err := acquireArgon2(ctx)
	if err != nil {
		return nil, err
	}
	ok, verr := VerifyPassword(hash, password)
	release()
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
