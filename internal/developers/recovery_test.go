package developers

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
)

// TestNormalizeRecoveryCode: any case, with or without the hyphen and
// spaces, i, l and o for 1, 1 and 0; nothing else is a recovery code.
func TestNormalizeRecoveryCode(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abcde-fgh23", "abcdefgh23", true},
		{"ABCDE-FGH23", "abcdefgh23", true},
		{"abcdefgh23", "abcdefgh23", true},
		{" abcde fgh23 ", "abcdefgh23", true},
		{"0a1b2-c3d4e", "0a1b2c3d4e", true},
		{"oaib2-c3d4e", "0a1b2c3d4e", true},
		{"OaLb2-c3d4e", "0a1b2c3d4e", true},
		{"123456", "", false},                // an authenticator code
		{"abcde-fgh2", "", false},            // too short
		{"abcde-fgh234", "", false},          // too long
		{"abcde-fghu3", "", false},           // u is not in the alphabet
		{"abcde_fgh23", "", false},           // nor is _
		{"", "", false},                      // empty
		{"ábcde-fgh23", "", false},           // nor is á
		{"abcde-fgh23\x00", "", false},       // nor a NUL
		{"abcde-\u00a0fgh23", "", false},     // nor a no-break space
		{"abcde--fgh23", "abcdefgh23", true}, // hyphens are ignored
	} {
		got, ok := normalizeRecoveryCode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("normalizeRecoveryCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

var recoveryShape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

// newTOTPAccount stores a developer with a password and turns two-step
// sign-in on through BeginTOTP and EnableTOTP; it returns the secret and
// the recovery codes shown.
func newTOTPAccount(t *testing.T, m *Manager, st store.Developers, id, password string) (string, []string) {
	t.Helper()
	ctx := context.Background()
	hash, err := signin.HashPassword(password, signin.Argon2Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := m.now()
	d := &store.Developer{ID: id, Email: id + "@example.com", PasswordHash: hash, Status: store.DeveloperActive,
		EmailVerifiedAt: now, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateDeveloper(ctx, d); err != nil {
		t.Fatal(err)
	}
	s, err := m.BeginTOTP(d, "portal")
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(s.Secret, now, totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	_, codes, err := m.EnableTOTP(ctx, d, s.Pending, code)
	if err != nil {
		t.Fatalf("EnableTOTP = %v", err)
	}
	return s.Secret, codes
}

func openStore(t *testing.T) *sqlstore.DB {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRecoveryCodes: turning two-step sign-in on issues ten codes, kept
// only as hashes; each signs in once, typed loosely; a used one is
// refused with the registry's recovery_code_used and the time it was
// used; new codes take the password and void every old one; turning the
// factor off takes one too.
func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 12, 4, 22, 30, 0, 0, time.UTC)
	m := &Manager{Store: st, Secret: "a system secret for tests", Now: func() time.Time { return now }}
	const password = "correct horse battery"
	secret, codes := newTOTPAccount(t, m, st, "dev_ana", password)

	if len(codes) != RecoveryCodes {
		t.Fatalf("EnableTOTP issued %d codes, want %d", len(codes), RecoveryCodes)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryShape.MatchString(c) || seen[c] {
			t.Errorf("code %q: not xxxxx-xxxxx in Crockford base32, or issued twice", c)
		}
		seen[c] = true
	}
	d, err := st.GetDeveloper(ctx, "dev_ana")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := m.openTOTP(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Recovery) != RecoveryCodes {
		t.Fatalf("the sealed factor keeps %d codes, want %d", len(rec.Recovery), RecoveryCodes)
	}
	for i, c := range rec.Recovery {
		plain := strings.ReplaceAll(codes[i], "-", "")
		if len(c.Hash) != 32 || strings.Contains(string(c.Hash), plain) || c.Used != 0 {
			t.Errorf("kept code %d = %+v, want an unused SHA-256 hash", i, c)
		}
	}
	if n, err := m.RecoveryCodesLeft(d); n != RecoveryCodes || err != nil {
		t.Errorf("RecoveryCodesLeft = %d, %v; want %d", n, err, RecoveryCodes)
	}
	// Another developer's codes are not this one's (the hash binds the id).
	_, others := newTOTPAccount(t, m, st, "dev_bo", password)
	if _, _, err := m.CheckTOTP(ctx, "dev_ana", others[0]); !errors.Is(err, ErrWrongCode) {
		t.Errorf("another developer's recovery code = %v, want ErrWrongCode", err)
	}

	// A code signs in once, typed in capitals without the hyphen.
	loose := strings.ToUpper(strings.ReplaceAll(codes[3], "-", ""))
	_, f, err := m.CheckTOTP(ctx, "dev_ana", loose)
	if err != nil || !f.Recovery || f.Remaining != RecoveryCodes-1 {
		t.Fatalf("CheckTOTP(%q) = %+v, %v; want a recovery code, %d left", loose, f, err, RecoveryCodes-1)
	}
	now = now.Add(time.Hour)
	_, _, err = m.CheckTOTP(ctx, "dev_ana", codes[3])
	var pe *problem.Error
	if !errors.Is(err, ErrRecoveryCodeUsed) || !errors.As(err, &pe) || !isReason(pe, problem.UnauthenticatedRecoveryCodeUsed) {
		t.Fatalf("the same code again = %v, want unauthenticated/recovery_code_used", err)
	}
	if !strings.Contains(pe.Detail, "4 December 2026 at 22:30 UTC") {
		t.Errorf("detail %q does not say when the code was used", pe.Detail)
	}
	if _, _, err := m.CheckTOTP(ctx, "dev_ana", "zzzzz-zzzzz"); !errors.Is(err, ErrWrongCode) {
		t.Errorf("a code never issued = %v, want ErrWrongCode", err)
	}
	// An authenticator code still works, and says how many codes are left.
	code, _ := totp.GenerateCodeCustom(secret, now, totpOpts)
	if _, f, err := m.CheckTOTP(ctx, "dev_ana", code); err != nil || f.Recovery || f.Remaining != RecoveryCodes-1 {
		t.Errorf("authenticator code = %+v, %v", f, err)
	}

	// New codes take the password and replace every old one.
	if _, err := m.RegenerateRecoveryCodes(ctx, "dev_ana", "not my password"); !isField(err, "recovery_password") {
		t.Errorf("new codes with a wrong password = %v, want a recovery_password field error", err)
	}
	fresh, err := m.RegenerateRecoveryCodes(ctx, "dev_ana", password)
	if err != nil || len(fresh) != RecoveryCodes {
		t.Fatalf("RegenerateRecoveryCodes = %d codes, %v", len(fresh), err)
	}
	for _, old := range []string{codes[0], codes[3]} {
		if _, _, err := m.CheckTOTP(ctx, "dev_ana", old); !errors.Is(err, ErrWrongCode) {
			t.Errorf("an old code after new ones were made = %v, want ErrWrongCode", err)
		}
	}
	d, _ = st.GetDeveloper(ctx, "dev_ana")
	if n, _ := m.RecoveryCodesLeft(d); n != RecoveryCodes {
		t.Errorf("RecoveryCodesLeft after new codes = %d", n)
	}
	if _, f, err := m.CheckTOTP(ctx, "dev_ana", fresh[9]); err != nil || !f.Recovery || f.Remaining != RecoveryCodes-1 {
		t.Errorf("a new code = %+v, %v", f, err)
	}

	// Turning the factor off takes a recovery code for the code, once.
	if _, err := m.DisableTOTP(ctx, "dev_ana", password, fresh[9]); !isField(err, "code") {
		t.Errorf("turning off with a used recovery code = %v, want a code field error", err)
	}
	if _, err := m.DisableTOTP(ctx, "dev_ana", password, fresh[0]); err != nil {
		t.Fatalf("turning off with a recovery code = %v", err)
	}
	if _, err := m.RegenerateRecoveryCodes(ctx, "dev_ana", password); !isReason(err, problem.IncompatibleStateWrongState) {
		t.Errorf("new codes with two-step sign-in off = %v, want wrong_state", err)
	}
}

func isField(err error, field string) bool {
	var fe *FieldError
	return errors.As(err, &fe) && fe.Field == field
}

// TestRecoveryCodeRace: two sign-ins racing with one recovery code
// through the real SQLite store: exactly one is accepted, the other is
// told the code was used, for every code of the set.
func TestRecoveryCodeRace(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	m := &Manager{Store: st, Secret: "a system secret for tests"}
	_, codes := newTOTPAccount(t, m, st, "dev_ana", "correct horse battery")
	for i, code := range codes {
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for j := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _, errs[j] = m.CheckTOTP(ctx, "dev_ana", code)
			}()
		}
		close(start)
		wg.Wait()
		ok, used := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrRecoveryCodeUsed):
				used++
			default:
				t.Errorf("code %d: %v", i, err)
			}
		}
		if ok != 1 || used != 1 {
			t.Errorf("code %d raced twice: %d accepted, %d refused as used (%v); want one each", i, ok, used, errs)
		}
	}
	d, err := st.GetDeveloper(ctx, "dev_ana")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := m.RecoveryCodesLeft(d); n != 0 {
		t.Errorf("after every code was used, %d are left", n)
	}
}
