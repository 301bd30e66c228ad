// Package signin holds what every sign-in form of gatehouse shares: the
// subscribers' sign-in on the authorization pages (internal/oauth) and the
// developers' sign-in on the portal (internal/portal) check passwords,
// throttle attempts and sign their cookies with this one implementation.
package signin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
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

// Password lengths, in characters (NIST SP 800-63B §5.1.1.2: at least 8,
// long passphrases allowed; the upper bound keeps hashing cost bounded).
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// ValidPassword reports whether a new password has an acceptable length
// and is valid UTF-8.
func ValidPassword(p string) bool {
	n := utf8.RuneCountInString(p)
	return n >= MinPasswordLen && n <= MaxPasswordLen && utf8.ValidString(p)
}

// argon2Slots bounds concurrent argon2id computations in the process: each
// takes its Memory in RAM, so unbounded parallel sign-in attempts could
// exhaust it. Waiting for a slot honours the request's context.
var argon2Slots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// acquire waits for a hashing slot; release it with the returned function.
func acquire(ctx context.Context) (func(), error) {
	select {
	case argon2Slots <- struct{}{}:
		return func() { <-argon2Slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Hash returns the argon2id hash of password, computed in one of the
// process's hashing slots.
func Hash(ctx context.Context, password string, p Argon2Params) (string, error) {
	release, err := acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(password, p)
}

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

// ErrMalformedHash means a stored password hash is not an argon2id PHC
// string this package can verify.
var ErrMalformedHash = errors.New("signin: stored password hash is not a supported argon2id PHC string")

// VerifyPassword reports whether password matches the PHC-format argon2id
// hash, comparing in constant time. Parameters outside sane bounds are
// refused rather than computed.
func VerifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, ErrMalformedHash
	}
	if p.Time < 1 || p.Time > 16 || p.Threads < 1 || p.Threads > 16 || p.Memory < 8*uint32(p.Threads) || p.Memory > 1<<21 {
		return false, ErrMalformedHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false, ErrMalformedHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when the account is unknown or has no
// password, so those cases cost what a wrong password costs (no account
// enumeration by timing).
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("gatehouse: no such account", DefaultArgon2Params)
	if err != nil {
		panic("signin: " + err.Error())
	}
	return h
})

// Check verifies password against hash in one of the hashing slots. An
// empty hash (no such account, or an account without a password) is
// checked against a dummy hash and reports false, so every failure costs
// the same time. Passwords longer than MaxPasswordLen are checked the same
// way and never match.
func Check(ctx context.Context, hash, password string) (bool, error) {
	use := hash
	if use == "" || len(password) > 4*MaxPasswordLen {
		use = dummyHash()
	}
	release, err := acquire(ctx)
	if err != nil {
		return false, err
	}
	ok, err := VerifyPassword(use, password)
	release()
	if use != hash {
		return false, nil
	}
	return ok, err
}
