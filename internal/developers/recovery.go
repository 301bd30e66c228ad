package developers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// Recovery codes: the way back in when the authenticator app is lost.
//
// Turning two-step sign-in on issues RecoveryCodes codes, and so does
// RegenerateRecoveryCodes, which replaces every earlier one. Each is 10
// characters of Crockford's base32 (50 random bits), shown once as
// xxxxx-xxxxx; typed in any case, with or without the hyphen or spaces,
// and i, l and o read as 1, 1 and 0 (the alphabet has none of them).
//
// Only a SHA-256 hash of each code is kept, bound to the developer, inside
// the sealed second factor (sealedTOTP): no new record, and a code is
// useless to whoever reads the store without the system secret. A fast
// hash is enough for 50 random bits behind a throttled form (a password
// needs argon2id because people choose weak ones).
//
// At sign-in the code step takes a recovery code wherever it takes an
// authenticator code. A code is marked used in the same store transaction
// that checks it (UpdateDeveloper reads the row for update), so of two
// requests racing with one code exactly one signs in. A used code keeps
// its hash and the time it was used, so entering it again is answered
// unauthenticated/recovery_code_used with that time rather than "wrong
// code": the developer learns that someone used it.

const (
	// RecoveryCodes is how many recovery codes a set holds.
	RecoveryCodes = 10
	// RecoveryCodesLow is the number of unused codes at or below which the
	// account page asks for new ones.
	RecoveryCodesLow = 3

	recoveryLen = 10
	// recoveryAlphabet is Crockford's base32, lower case: digits and
	// letters without i, l, o and u.
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryPurpose  = "gatehouse developer recovery code v1"
)

// ErrRecoveryCodeUsed is wrapped by the registry error a used recovery code
// gets (problem.UnauthenticatedRecoveryCodeUsed).
var ErrRecoveryCodeUsed = errors.New("the recovery code was already used")

// recoveryCode is a recovery code as sealedTOTP keeps it.
type recoveryCode struct {
	// Hash is recoveryHash of the code.
	Hash []byte `json:"h"`
	// Used is when the code signed in (Unix seconds); 0 while unused.
	Used int64 `json:"u,omitempty"`
}

// SecondFactor is what an accepted code was.
type SecondFactor struct {
	// Recovery tells a recovery code (now used up) from an authenticator
	// code.
	Recovery bool
	// Remaining is the number of unused recovery codes left.
	Remaining int
}

// newRecoveryCodes returns a new set of codes for the developer id: as
// shown (xxxxx-xxxxx) and as kept.
func newRecoveryCodes(id string) ([]string, []recoveryCode, error) {
	shown := make([]string, RecoveryCodes)
	kept := make([]recoveryCode, RecoveryCodes)
	b := make([]byte, recoveryLen)
	for i := range shown {
		if _, err := rand.Read(b); err != nil {
			return nil, nil, problem.Internal(err)
		}
		for j := range b {
			b[j] = recoveryAlphabet[b[j]%32] // 256 is a multiple of 32: uniform
		}
		code := string(b)
		shown[i] = code[:5] + "-" + code[5:]
		kept[i] = recoveryCode{Hash: recoveryHash(id, code)}
	}
	return shown, kept, nil
}

// recoveryHash binds a normalised code to its developer.
func recoveryHash(id, code string) []byte {
	h := sha256.Sum256([]byte(recoveryPurpose + "\x00" + id + "\x00" + code))
	return h[:]
}

// normalizeRecoveryCode returns the code as generated, and false when s
// cannot be a recovery code (an authenticator code, for one).
func normalizeRecoveryCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case '-', ' ', '\t':
			continue
		case 'i', 'l':
			r = '1'
		case 'o':
			r = '0'
		}
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != recoveryLen {
		return "", false
	}
	return b.String(), true
}

// remaining counts the unused recovery codes.
func (rec *sealedTOTP) remaining() int {
	n := 0
	for _, c := range rec.Recovery {
		if c.Used == 0 {
			n++
		}
	}
	return n
}

// useCode accepts an authenticator or a recovery code of the developer id
// and records it in rec (the caller seals rec in the same transaction):
// ErrWrongCode, ErrCodeUsed (an authenticator code's step), or a registry
// error wrapping ErrRecoveryCodeUsed.
func useCode(id string, rec *sealedTOTP, code string, now time.Time) (SecondFactor, error) {
	norm, ok := normalizeRecoveryCode(code)
	if !ok {
		step, err := matchTOTP(rec.Secret, code, now, rec.Last)
		if err != nil {
			return SecondFactor{}, err
		}
		rec.Last = step
		return SecondFactor{Remaining: rec.remaining()}, nil
	}
	h := recoveryHash(id, norm)
	found := -1
	for i, c := range rec.Recovery {
		if subtle.ConstantTimeCompare(c.Hash, h) == 1 {
			found = i
		}
	}
	if found < 0 {
		return SecondFactor{}, ErrWrongCode
	}
	if used := rec.Recovery[found].Used; used != 0 {
		at := time.Unix(used, 0).UTC()
		return SecondFactor{}, problem.New(problem.UnauthenticatedRecoveryCodeUsed,
			"This recovery code was already used, on "+at.Format("2 January 2006 at 15:04 MST")+
				". Each recovery code works once: enter another one, or the code your authenticator app shows. "+
				"If you did not use it, someone else has your password and this code: once signed in, make new recovery codes and change your password.").
			Wrap(ErrRecoveryCodeUsed)
	}
	rec.Recovery[found].Used = now.Unix()
	return SecondFactor{Recovery: true, Remaining: rec.remaining()}, nil
}

// RecoveryCodesLeft returns how many unused recovery codes the developer
// has (0 when two-step sign-in is off, or was turned on before recovery
// codes existed).
func (m *Manager) RecoveryCodesLeft(d *store.Developer) (int, error) {
	if !HasTOTP(d) {
		return 0, nil
	}
	rec, err := m.openTOTP(d)
	if err != nil {
		return 0, err
	}
	return rec.remaining(), nil
}

// RegenerateRecoveryCodes checks the password and replaces every recovery
// code of the developer with a new set, which it returns for showing once.
//
// It asks for the password, not an authenticator code: whoever needs new
// codes most has just lost the authenticator and signed in with a
// recovery code, and GitHub's "sudo mode" likewise asks for the password
// again before recovery codes are regenerated. The session alone is not
// enough: new codes are a second factor for life.
func (m *Manager) RegenerateRecoveryCodes(ctx context.Context, id, password string) ([]string, error) {
	d, err := m.Store.GetDeveloper(ctx, id)
	if err != nil {
		return nil, problem.FromStore(err, "developer", id)
	}
	off := func() error {
		return problem.New(problem.IncompatibleStateWrongState,
			"Two-step sign-in is off for your account, and recovery codes come with it: turn it on from your account page.")
	}
	if !HasTOTP(d) {
		return nil, off()
	}
	if ok, err := signin.Check(ctx, d.PasswordHash, password); err != nil || !ok {
		return nil, fieldErr("recovery_password", "This is not your current password.")
	}
	shown, kept, err := newRecoveryCodes(id)
	if err != nil {
		return nil, err
	}
	now := m.now()
	_, err = m.Store.UpdateDeveloper(ctx, id, func(d *store.Developer) error {
		if !HasTOTP(d) {
			return off()
		}
		rec, err := m.openTOTP(d)
		if err != nil {
			return err
		}
		rec.Recovery = kept
		d.TOTPSecretSealed, err = m.sealTOTP(d.ID, *rec)
		d.UpdatedAt = now
		return err
	})
	if err != nil {
		return nil, problem.FromStore(err, "developer", id)
	}
	return shown, nil
}
