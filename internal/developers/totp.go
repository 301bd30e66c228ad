package developers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"gatehouse/internal/problem"
	"gatehouse/internal/seal"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

// The optional second factor: a time-based one-time password (RFC 6238)
// as every authenticator app reads it: HMAC-SHA-1, six digits, a 30-second
// step, a 20-byte secret.
//
// Setting it up is two steps. BeginTOTP makes a secret and returns it with
// a pending token: the secret sealed (AES-GCM under the system secret,
// bound to the developer) with an expiry, which the portal carries in the
// confirmation form and a short-lived cookie for the QR code; nothing is
// stored. EnableTOTP opens the token, checks a current code against it and
// only then stores the secret, sealed, in Developer.TOTPSecretSealed, and
// signs every other session out.
//
// Replay: the stored value seals the secret together with the last time
// step a code was accepted for. A code counts only for a step after that
// one, and the check and the new step are written in one store
// transaction (UpdateDeveloper reads the row for update), so a code works
// once, on every node, even when two requests race. A step on either side
// of the current one is accepted (clock skew, a code typed as it changed).
//
// Turning it on also issues recovery codes (recovery.go), kept as hashes in
// the same sealed value; wherever a code is asked for, one of them will do.

const (
	// TOTPPeriod is the time step in seconds.
	TOTPPeriod = 30
	// TOTPDigits is the length of a code.
	TOTPDigits = 6
	// TOTPSetupTTL is how long a secret being set up may be confirmed.
	TOTPSetupTTL = 10 * time.Minute
	// totpSkew is the steps accepted on either side of the current one.
	totpSkew = 1

	totpPurpose        = "gatehouse developer totp secret v1"
	totpPendingPurpose = "gatehouse developer pending totp secret v1"
)

// Why a code was refused.
var (
	// ErrWrongCode: the code matches no step in the window.
	ErrWrongCode = errors.New("the code is not the current one")
	// ErrCodeUsed: the code is right but its step was already used.
	ErrCodeUsed = errors.New("the code was already used")
	// ErrNoTOTP: the account has no second factor (any more).
	ErrNoTOTP = errors.New("the account has no second factor")
)

var totpOpts = totp.ValidateOpts{Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// HasTOTP reports whether the developer signs in with a second factor.
func HasTOTP(d *store.Developer) bool { return len(d.TOTPSecretSealed) > 0 }

// TOTPSetup is a secret being set up, as the portal shows it.
type TOTPSetup struct {
	// Secret is the base32 secret, unpadded.
	Secret string
	// URL is the otpauth:// URI that authenticator apps read (the QR
	// code's content).
	URL string
	// Pending carries the secret, sealed, until it is confirmed.
	Pending string
}

// Grouped is the secret in groups of four characters, for typing.
func (s *TOTPSetup) Grouped() string { return groupSecret(s.Secret) }

// QRCode returns the otpauth URI as a PNG QR code.
func (s *TOTPSetup) QRCode() ([]byte, error) {
	k, err := otp.NewKeyFromURL(s.URL)
	if err != nil {
		return nil, err
	}
	img, err := k.Image(240, 240)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func groupSecret(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pendingTOTP is what a pending token seals.
type pendingTOTP struct {
	// URL is the otpauth URI, which holds the secret.
	URL     string `json:"u"`
	Expires int64  `json:"e"`
}

// sealedTOTP is what TOTPSecretSealed holds.
type sealedTOTP struct {
	Secret string `json:"s"`
	// Last is the time step of the last code accepted (Unix time / 30).
	Last int64 `json:"l"`
	// Recovery are the recovery codes, hashed (recovery.go); none for a
	// second factor turned on before they existed.
	Recovery []recoveryCode `json:"r,omitempty"`
}

func (m *Manager) box(purpose string) seal.Box { return seal.Box{Secret: m.Secret, Purpose: purpose} }

// BeginTOTP makes a new secret for the developer; issuer names the portal
// in authenticator apps. Nothing is stored.
func (m *Manager) BeginTOTP(d *store.Developer, issuer string) (*TOTPSetup, error) {
	issuer = strings.NewReplacer(":", " ", "/", " ").Replace(strings.TrimSpace(issuer))
	if issuer == "" {
		issuer = "gatehouse"
	}
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: d.Email, Period: TOTPPeriod,
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, problem.Internal(err)
	}
	b, err := json.Marshal(pendingTOTP{URL: k.URL(), Expires: m.now().Add(TOTPSetupTTL).Unix()})
	if err != nil {
		return nil, problem.Internal(err)
	}
	sealed, err := m.box(totpPendingPurpose).Seal(d.ID, b)
	if err != nil {
		return nil, problem.Internal(err)
	}
	return &TOTPSetup{Secret: k.Secret(), URL: k.URL(), Pending: base64.RawURLEncoding.EncodeToString(sealed)}, nil
}

// PendingTOTP opens a pending token made for the developer.
func (m *Manager) PendingTOTP(d *store.Developer, pending string) (*TOTPSetup, error) {
	refused := problem.New(problem.InvalidRequestInvalidParameter,
		"This set-up of two-step sign-in has expired (it waits 10 minutes) or belongs to another session. Start again from your account page.")
	raw, err := base64.RawURLEncoding.DecodeString(pending)
	if err != nil {
		return nil, refused
	}
	b, err := m.box(totpPendingPurpose).Open(d.ID, raw)
	if err != nil {
		return nil, refused
	}
	var p pendingTOTP
	if json.Unmarshal(b, &p) != nil || m.now().Unix() >= p.Expires {
		return nil, refused
	}
	k, err := otp.NewKeyFromURL(p.URL)
	if err != nil || k.Secret() == "" {
		return nil, refused
	}
	return &TOTPSetup{Secret: k.Secret(), URL: p.URL, Pending: pending}, nil
}

// EnableTOTP confirms a pending secret with a current code, stores it
// sealed with a new set of recovery codes and signs every session out (the
// caller starts a new one). It returns the recovery codes, to be shown
// once: only their hashes are kept.
func (m *Manager) EnableTOTP(ctx context.Context, d *store.Developer, pending, code string) (*store.Developer, []string, error) {
	s, err := m.PendingTOTP(d, pending)
	if err != nil {
		return nil, nil, err
	}
	now := m.now()
	step, err := matchTOTP(s.Secret, code, now, 0)
	if err != nil {
		return nil, nil, fieldErr("code", "This is not the code your app shows now: check that it has the new entry, and enter its 6 digits.")
	}
	shown, kept, err := newRecoveryCodes(d.ID)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := m.sealTOTP(d.ID, sealedTOTP{Secret: s.Secret, Last: step, Recovery: kept})
	if err != nil {
		return nil, nil, err
	}
	d, err = m.Store.UpdateDeveloper(ctx, d.ID, func(d *store.Developer) error {
		if HasTOTP(d) {
			return problem.New(problem.IncompatibleStateWrongState,
				"Two-step sign-in is already on for your account; turn it off first to use another authenticator.")
		}
		d.TOTPSecretSealed, d.SessionsNotBefore, d.UpdatedAt = sealed, voidBefore(now), now
		return nil
	})
	if err != nil {
		return nil, nil, problem.FromStore(err, "developer", "")
	}
	return d, shown, nil
}

// CheckTOTP accepts a code of the developer's second factor once, an
// authenticator code or a recovery code: it returns ErrWrongCode,
// ErrCodeUsed, ErrNoTOTP (turned off meanwhile), the registry's
// unauthenticated/recovery_code_used (wrapping ErrRecoveryCodeUsed), or
// the developer with the code recorded as used and what the code was.
func (m *Manager) CheckTOTP(ctx context.Context, id, code string) (*store.Developer, SecondFactor, error) {
	now := m.now()
	var f SecondFactor
	d, err := m.Store.UpdateDeveloper(ctx, id, func(d *store.Developer) error {
		if !HasTOTP(d) {
			return ErrNoTOTP
		}
		rec, err := m.openTOTP(d)
		if err != nil {
			return err
		}
		if f, err = useCode(d.ID, rec, code, now); err != nil {
			return err
		}
		d.TOTPSecretSealed, err = m.sealTOTP(d.ID, *rec)
		return err
	})
	if errors.Is(err, ErrWrongCode) || errors.Is(err, ErrCodeUsed) || errors.Is(err, ErrNoTOTP) {
		return nil, SecondFactor{}, err
	}
	if err != nil {
		return nil, SecondFactor{}, problem.FromStore(err, "developer", id)
	}
	return d, f, nil
}

// DisableTOTP turns the second factor off after checking the password and
// a current code or a recovery code (used up like a sign-in's): someone
// who lost the authenticator signs in with a recovery code, turns two-step
// sign-in off with another, and sets it up again on the new phone.
func (m *Manager) DisableTOTP(ctx context.Context, id, password, code string) (*store.Developer, error) {
	d, err := m.Store.GetDeveloper(ctx, id)
	if err != nil {
		return nil, problem.FromStore(err, "developer", id)
	}
	if !HasTOTP(d) {
		return nil, problem.New(problem.IncompatibleStateWrongState, "Two-step sign-in is already off for your account.")
	}
	if ok, err := signin.Check(ctx, d.PasswordHash, password); err != nil || !ok {
		return nil, fieldErr("password", "This is not your current password.")
	}
	now := m.now()
	d, err = m.Store.UpdateDeveloper(ctx, id, func(d *store.Developer) error {
		if !HasTOTP(d) {
			return problem.New(problem.IncompatibleStateWrongState, "Two-step sign-in is already off for your account.")
		}
		rec, err := m.openTOTP(d)
		if err != nil {
			return err
		}
		if _, err := useCode(d.ID, rec, code, now); err != nil {
			return err
		}
		d.TOTPSecretSealed, d.UpdatedAt = nil, now
		return nil
	})
	switch {
	case errors.Is(err, ErrCodeUsed):
		return nil, fieldErr("code", "This code was already used: wait for your app to show the next one.")
	case errors.Is(err, ErrRecoveryCodeUsed):
		return nil, fieldErr("code", "This recovery code was already used: each one works once. Enter another, or the code your app shows.")
	case errors.Is(err, ErrWrongCode):
		return nil, fieldErr("code", "This is not the code your app shows now, nor one of your unused recovery codes.")
	case err != nil:
		return nil, problem.FromStore(err, "developer", id)
	}
	return d, nil
}

func (m *Manager) sealTOTP(id string, rec sealedTOTP) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, problem.Internal(err)
	}
	out, err := m.box(totpPurpose).Seal(id, b)
	if err != nil {
		return nil, problem.Internal(err)
	}
	return out, nil
}

func (m *Manager) openTOTP(d *store.Developer) (*sealedTOTP, error) {
	b, err := m.box(totpPurpose).Open(d.ID, d.TOTPSecretSealed)
	if err != nil {
		return nil, problem.Internal(err)
	}
	var rec sealedTOTP
	if err := json.Unmarshal(b, &rec); err != nil || rec.Secret == "" {
		return nil, problem.Internal(errors.New("developers: a stored second factor does not decode"))
	}
	return &rec, nil
}

// matchTOTP returns the time step code is for among the current one and
// its neighbours: ErrCodeUsed when that step is not after last, ErrWrongCode
// when no step in the window has this code.
func matchTOTP(secret, code string, now time.Time, last int64) (int64, error) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != TOTPDigits || strings.Trim(code, "0123456789") != "" {
		return 0, ErrWrongCode
	}
	cur := now.Unix() / TOTPPeriod
	used := false
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		ok, err := totp.ValidateCustom(code, secret, time.Unix(s*TOTPPeriod, 0), totpOpts)
		if err != nil || !ok {
			continue
		}
		if s <= last {
			used = true
			continue
		}
		return s, nil
	}
	if used {
		return 0, ErrCodeUsed
	}
	return 0, ErrWrongCode
}
