package developers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"gatehouse/internal/store"
)

// TestMatchTOTP: a code counts for the current step and one on either
// side, only after the last step used, and nothing else passes.
func TestMatchTOTP(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Unix(1_700_000_015, 0) // inside step 56666667
	cur := now.Unix() / TOTPPeriod
	code := func(step int64) string {
		c, err := totp.GenerateCodeCustom(secret, time.Unix(step*TOTPPeriod, 0), totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		code string
		last int64
		step int64
		err  error
	}{
		{"current", code(cur), 0, cur, nil},
		{"previous step (skew)", code(cur - 1), 0, cur - 1, nil},
		{"next step (skew)", code(cur + 1), 0, cur + 1, nil},
		{"with spaces", code(cur)[:3] + " " + code(cur)[3:], 0, cur, nil},
		{"two steps old", code(cur - 2), 0, 0, ErrWrongCode},
		{"two steps ahead", code(cur + 2), 0, 0, ErrWrongCode},
		{"replayed", code(cur), cur, 0, ErrCodeUsed},
		{"older than the last used", code(cur - 1), cur, 0, ErrCodeUsed},
		{"next after the last used", code(cur + 1), cur, cur + 1, nil},
		{"letters", "12a456", 0, 0, ErrWrongCode},
		{"too short", code(cur)[:5], 0, 0, ErrWrongCode},
		{"empty", "", 0, 0, ErrWrongCode},
	} {
		step, err := matchTOTP(secret, tc.code, now, tc.last)
		if step != tc.step || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s: matchTOTP(%q, last %d) = %d, %v; want %d, %v", tc.name, tc.code, tc.last, step, err, tc.step, tc.err)
		}
	}
}

// TestPendingTOTP: a set-up travels sealed, opens for its developer only,
// until it expires, and shows the secret grouped and as a QR code.
func TestPendingTOTP(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := &Manager{Secret: "a system secret for tests", Now: func() time.Time { return now }}
	ana := &store.Developer{ID: "dev_ana", Email: "ana@example.com"}
	s, err := m.BeginTOTP(ana, "Acme: portal")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Secret) != 32 || strings.Contains(s.Pending, s.Secret) {
		t.Errorf("secret %q (want 32 base32 characters), pending %q (must not show it)", s.Secret, s.Pending)
	}
	if g := s.Grouped(); len(g) != 39 || g[4] != ' ' || strings.ReplaceAll(g, " ", "") != s.Secret {
		t.Errorf("Grouped() = %q", g)
	}
	if !strings.HasPrefix(s.URL, "otpauth://totp/Acme%20%20portal:ana@example.com?") || !strings.Contains(s.URL, "secret="+s.Secret) {
		t.Errorf("URL = %q", s.URL)
	}
	if png, err := s.QRCode(); err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Errorf("QRCode() = %.8q, %v", png, err)
	}
	got, err := m.PendingTOTP(ana, s.Pending)
	if err != nil || got.Secret != s.Secret || got.URL != s.URL {
		t.Fatalf("PendingTOTP = %+v, %v", got, err)
	}
	if _, err := m.PendingTOTP(&store.Developer{ID: "dev_eve", Email: "ana@example.com"}, s.Pending); err == nil {
		t.Error("another developer's set-up opened")
	}
	if _, err := (&Manager{Secret: "another secret", Now: m.Now}).PendingTOTP(ana, s.Pending); err == nil {
		t.Error("a set-up opened under another system secret")
	}
	if _, err := m.PendingTOTP(ana, s.Pending[:len(s.Pending)-2]+"AA"); err == nil {
		t.Error("an altered set-up opened")
	}
	now = now.Add(TOTPSetupTTL)
	if _, err := m.PendingTOTP(ana, s.Pending); err == nil {
		t.Error("an expired set-up opened")
	}
}

// TestSealedTOTP: the stored value opens only for its developer.
func TestSealedTOTP(t *testing.T) {
	m := &Manager{Secret: "a system secret for tests"}
	b, err := m.sealTOTP("dev_ana", sealedTOTP{Secret: "JBSWY3DPEHPK3PXP", Last: 42})
	if err != nil || strings.Contains(string(b), "JBSWY3DPEHPK3PXP") {
		t.Fatalf("sealTOTP = %q, %v", b, err)
	}
	rec, err := m.openTOTP(&store.Developer{ID: "dev_ana", TOTPSecretSealed: b})
	if err != nil || rec.Secret != "JBSWY3DPEHPK3PXP" || rec.Last != 42 {
		t.Errorf("openTOTP = %+v, %v", rec, err)
	}
	if _, err := m.openTOTP(&store.Developer{ID: "dev_eve", TOTPSecretSealed: b}); err == nil {
		t.Error("a second factor moved to another developer opened")
	}
}
