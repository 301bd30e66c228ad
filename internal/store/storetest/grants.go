package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// concurrency is how many goroutines the grant tests race: the number of
// concurrent refreshers the token endpoint must stay correct under.
const concurrency = 32

// setupGrants creates what grants refer to: clients app-1 and app-2, users
// alice (u-1) and bob (u-2).
func setupGrants(t *testing.T, s store.Store) {
	t.Helper()
	for _, id := range []string{"app-1", "app-2"} {
		mustCreateClient(t, s, fullClient(id))
	}
	mustCreateUser(t, s, fullUser("u-1", "alice", "+34600000001"))
	mustCreateUser(t, s, fullUser("u-2", "bob", "+34600000002"))
}

// digest stands for the hex SHA-256 of the code or token called name:
// distinct for every name, and readable in failure messages.
func digest(name string) string {
	sum := sha256.Sum256([]byte(name))
	return name + ":" + hex.EncodeToString(sum[:8])
}

// fullAuthCode returns an unused code with every other field set.
func fullAuthCode(name, clientID, userID string) *store.AuthCode {
	return &store.AuthCode{
		Hash:                digest(name),
		ClientID:            clientID,
		UserID:              userID,
		RedirectURI:         "https://app.example.com/cb?x=1&y=2",
		Scopes:              []string{"openid", "sim-swap:check"},
		Nonce:               "n-0S6_WzA2Mj",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		AuthTime:            at(-2),
		ExpiresAt:           at(10),
		GrantID:             "grant-" + name,
		CreatedAt:           at(0),
	}
}

// refreshToken returns a usable token of family with every other field
// set.
func refreshToken(name, family, clientID, userID string) *store.RefreshToken {
	return &store.RefreshToken{
		Hash:      digest(name),
		FamilyID:  family,
		ClientID:  clientID,
		UserID:    userID,
		Scopes:    []string{"openid", "offline_access", "sim-swap:check"},
		AuthTime:  at(-2),
		ExpiresAt: at(60 * 24),
		CreatedAt: at(0),
	}
}

// cibaRequest returns a pending request with every field set.
func cibaRequest(id, clientID, userID string) *store.CIBARequest {
	return &store.CIBARequest{
		ID:             id,
		ClientID:       clientID,
		UserID:         userID,
		Scopes:         []string{"openid", "sim-swap:check"},
		BindingMessage: "Código 7F3A — \"approve\"?",
		Status:         store.CIBAPending,
		Interval:       5,
		LastPollAt:     at(1),
		AuthTime:       time.Time{},
		ExpiresAt:      at(2),
		CreatedAt:      at(0),
		UpdatedAt:      at(1),
	}
}

func mustCreateAuthCode(t *testing.T, s store.Store, c *store.AuthCode) {
	t.Helper()
	if err := s.CreateAuthCode(t.Context(), c); err != nil {
		t.Fatalf("CreateAuthCode(%q): %v", c.Hash, err)
	}
}

func mustCreateRefreshToken(t *testing.T, s store.Store, tok *store.RefreshToken) {
	t.Helper()
	if err := s.CreateRefreshToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateRefreshToken(%q): %v", tok.Hash, err)
	}
}

func mustGetRefreshToken(t *testing.T, s store.Store, hash string) *store.RefreshToken {
	t.Helper()
	tok, err := s.GetRefreshToken(t.Context(), hash)
	if err != nil {
		t.Fatalf("GetRefreshToken(%q): %v", hash, err)
	}
	return tok
}

func mustRotate(t *testing.T, s store.Store, hash string, now time.Time, next *store.RefreshToken) *store.RefreshToken {
	t.Helper()
	tok, err := s.RotateRefreshToken(t.Context(), hash, now, next)
	if err != nil {
		t.Fatalf("RotateRefreshToken(%q): %v", hash, err)
	}
	return tok
}

func mustCreateCIBARequest(t *testing.T, s store.Store, r *store.CIBARequest) {
	t.Helper()
	if err := s.CreateCIBARequest(t.Context(), r); err != nil {
		t.Fatalf("CreateCIBARequest(%q): %v", r.ID, err)
	}
}

func mustGetCIBARequest(t *testing.T, s store.Store, id string) *store.CIBARequest {
	t.Helper()
	r, err := s.GetCIBARequest(t.Context(), id)
	if err != nil {
		t.Fatalf("GetCIBARequest(%q): %v", id, err)
	}
	return r
}

// checkAuthCode reports every field of got that differs from want under
// the suite's rules.
func checkAuthCode(t *testing.T, got, want *store.AuthCode) {
	t.Helper()
	if got == nil {
		t.Fatalf("auth code %q: got nil", want.Hash)
	}
	checkString(t, "Hash", got.Hash, want.Hash)
	checkString(t, "ClientID", got.ClientID, want.ClientID)
	checkString(t, "UserID", got.UserID, want.UserID)
	checkString(t, "RedirectURI", got.RedirectURI, want.RedirectURI)
	checkList(t, "Scopes", got.Scopes, want.Scopes)
	checkString(t, "Nonce", got.Nonce, want.Nonce)
	checkString(t, "CodeChallenge", got.CodeChallenge, want.CodeChallenge)
	checkString(t, "CodeChallengeMethod", got.CodeChallengeMethod, want.CodeChallengeMethod)
	checkTime(t, "AuthTime", got.AuthTime, want.AuthTime)
	checkTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTime(t, "UsedAt", got.UsedAt, want.UsedAt)
	checkString(t, "GrantID", got.GrantID, want.GrantID)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
}

// checkRefreshToken reports every field of got that differs from want
// under the suite's rules.
func checkRefreshToken(t *testing.T, got, want *store.RefreshToken) {
	t.Helper()
	if got == nil {
		t.Fatalf("refresh token %q: got nil", want.Hash)
	}
	checkString(t, "Hash", got.Hash, want.Hash)
	checkString(t, "FamilyID", got.FamilyID, want.FamilyID)
	checkString(t, "ClientID", got.ClientID, want.ClientID)
	checkString(t, "UserID", got.UserID, want.UserID)
	checkList(t, "Scopes", got.Scopes, want.Scopes)
	checkTime(t, "AuthTime", got.AuthTime, want.AuthTime)
	checkTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTime(t, "RotatedAt", got.RotatedAt, want.RotatedAt)
	checkTime(t, "RevokedAt", got.RevokedAt, want.RevokedAt)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
}

// checkCIBARequest reports every field of got that differs from want under
// the suite's rules.
func checkCIBARequest(t *testing.T, got, want *store.CIBARequest) {
	t.Helper()
	if got == nil {
		t.Fatalf("CIBA request %q: got nil", want.ID)
	}
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "ClientID", got.ClientID, want.ClientID)
	checkString(t, "UserID", got.UserID, want.UserID)
	checkList(t, "Scopes", got.Scopes, want.Scopes)
	checkString(t, "BindingMessage", got.BindingMessage, want.BindingMessage)
	checkString(t, "Status", got.Status, want.Status)
	if got.Interval != want.Interval {
		t.Errorf("Interval = %d; want %d", got.Interval, want.Interval)
	}
	checkTime(t, "LastPollAt", got.LastPollAt, want.LastPollAt)
	checkTime(t, "AuthTime", got.AuthTime, want.AuthTime)
	checkTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

// checkTokenAbsent requires that no token has the given hash.
func checkTokenAbsent(t *testing.T, s store.Store, hash, why string) {
	t.Helper()
	if tok, err := s.GetRefreshToken(t.Context(), hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRefreshToken(%q) %s: got (%+v, %v); want store.ErrNotFound", hash, why, tok, err)
	}
}

// checkCodeAbsent requires that no code has the given hash (redeeming it
// otherwise).
func checkCodeAbsent(t *testing.T, s store.Store, hash, why string) {
	t.Helper()
	if c, err := s.RedeemAuthCode(t.Context(), hash, at(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RedeemAuthCode(%q) %s: got (%+v, %v); want store.ErrNotFound", hash, why, c, err)
	}
}

// checkCIBAAbsent requires that no CIBA request has the given ID.
func checkCIBAAbsent(t *testing.T, s store.Store, id, why string) {
	t.Helper()
	if r, err := s.GetCIBARequest(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCIBARequest(%q) %s: got (%+v, %v); want store.ErrNotFound", id, why, r, err)
	}
}

func testAuthCodeRoundTrip(t *testing.T, s store.Store) {
	setupGrants(t, s)
	want := fullAuthCode("code-1", "app-1", "u-1")
	sent := *want
	mustCreateAuthCode(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("CreateAuthCode changed an explicit CreatedAt to %v; want %v", sent.CreatedAt, want.CreatedAt)
	}
	got, err := s.RedeemAuthCode(t.Context(), want.Hash, at(1))
	if err != nil {
		t.Fatalf("RedeemAuthCode: %v", err)
	}
	want.UsedAt = at(1)
	checkAuthCode(t, got, want)

	// Empty values and a zero CreatedAt.
	c := &store.AuthCode{Hash: digest("bare"), ClientID: "app-2", UserID: "u-2", Scopes: []string{}}
	before := time.Now()
	if err := s.CreateAuthCode(t.Context(), c); err != nil {
		t.Fatalf("CreateAuthCode: %v", err)
	}
	checkNow(t, "CreateAuthCode set CreatedAt", c.CreatedAt, before, time.Now())
	got, err = s.RedeemAuthCode(t.Context(), c.Hash, at(2))
	if err != nil {
		t.Fatalf("RedeemAuthCode: %v", err)
	}
	checkAuthCode(t, got, &store.AuthCode{Hash: c.Hash, ClientID: "app-2", UserID: "u-2", UsedAt: at(2), CreatedAt: c.CreatedAt})
	if !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("stored CreatedAt = %v; want %v as written back", got.CreatedAt, c.CreatedAt)
	}
}

func testCreateAuthCodeErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	want := fullAuthCode("code-1", "app-1", "u-1")
	mustCreateAuthCode(t, s, want)

	dup := fullAuthCode("code-1", "app-2", "u-2")
	if err := s.CreateAuthCode(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateAuthCode with a taken hash: got %v; want store.ErrConflict", err)
	}
	for _, c := range []*store.AuthCode{
		fullAuthCode("no-client", "app-9", "u-1"),
		fullAuthCode("no-user", "app-1", "u-9"),
		fullAuthCode("neither", "app-9", "u-9"),
	} {
		err := s.CreateAuthCode(ctx, c)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateAuthCode for client %q and user %q: got %v; want store.ErrNotFound", c.ClientID, c.UserID, err)
		}
		if errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateAuthCode for a missing reference: %v wraps store.ErrConflict", err)
		}
		checkCodeAbsent(t, s, c.Hash, "after a failed create")
	}
	checkNotSentinel(t, "CreateAuthCode with an empty hash", s.CreateAuthCode(ctx, &store.AuthCode{ClientID: "app-1", UserID: "u-1"}))
	checkCodeAbsent(t, s, "", "after a create with an empty hash")

	got, err := s.RedeemAuthCode(ctx, want.Hash, at(1))
	if err != nil {
		t.Fatalf("RedeemAuthCode: %v", err)
	}
	want.UsedAt = at(1)
	checkAuthCode(t, got, want) // the first code, untouched by the failed create
}

func testRedeemAuthCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	want := fullAuthCode("code-1", "app-1", "u-1")
	mustCreateAuthCode(t, s, want)

	for _, hash := range []string{"missing", "", strings.ToUpper(want.Hash), want.Hash + " "} {
		c, err := s.RedeemAuthCode(ctx, hash, at(1))
		if !errors.Is(err, store.ErrNotFound) || c != nil {
			t.Errorf("RedeemAuthCode(%q): got (%+v, %v); want nil and store.ErrNotFound", hash, c, err)
		}
	}

	got, err := s.RedeemAuthCode(ctx, want.Hash, at(1))
	if err != nil {
		t.Fatalf("RedeemAuthCode: %v", err)
	}
	want.UsedAt = at(1)
	checkAuthCode(t, got, want)

	// A replay gets the stored code, marked with the first use, and
	// ErrConflict; replaying again changes nothing.
	for _, now := range []time.Time{at(2), at(3)} {
		got, err = s.RedeemAuthCode(ctx, want.Hash, now)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second RedeemAuthCode: got %v; want store.ErrConflict", err)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Errorf("second RedeemAuthCode: %v wraps store.ErrNotFound", err)
		}
		checkAuthCode(t, got, want)
	}

	// Expiry is the caller's to check: an expired code is redeemed like any
	// other, and its ExpiresAt tells.
	expired := fullAuthCode("expired", "app-2", "u-2")
	expired.ExpiresAt = at(-10)
	mustCreateAuthCode(t, s, expired)
	got, err = s.RedeemAuthCode(ctx, expired.Hash, at(5))
	if err != nil {
		t.Fatalf("RedeemAuthCode of an expired code: %v; want it returned", err)
	}
	expired.UsedAt = at(5)
	checkAuthCode(t, got, expired)

	// A zero now is the current time.
	c := fullAuthCode("now", "app-1", "u-2")
	mustCreateAuthCode(t, s, c)
	before := time.Now()
	got, err = s.RedeemAuthCode(ctx, c.Hash, time.Time{})
	if err != nil {
		t.Fatalf("RedeemAuthCode with a zero now: %v", err)
	}
	checkNow(t, "RedeemAuthCode with a zero now set UsedAt", got.UsedAt, before, time.Now())
	again, err := s.RedeemAuthCode(ctx, c.Hash, time.Time{})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second RedeemAuthCode with a zero now: got %v; want store.ErrConflict", err)
	}
	checkTime(t, "UsedAt after a replay", again.UsedAt, got.UsedAt)
}

// testRedeemAuthCodeConcurrent redeems one code from many goroutines at
// once: exactly one may succeed, and every other one must see its use.
func testRedeemAuthCodeConcurrent(t *testing.T, s store.Store) {
	setupGrants(t, s)
	want := fullAuthCode("raced", "app-1", "u-1")
	mustCreateAuthCode(t, s, want)
	type result struct {
		now  time.Time
		code *store.AuthCode
		err  error
	}
	results := make(chan result, concurrency)
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			now := at(1).Add(time.Duration(i) * time.Second)
			c, err := s.RedeemAuthCode(t.Context(), want.Hash, now)
			results <- result{now, c, err}
		})
	}
	wg.Wait()
	close(results)
	var winner *result
	var losers []result
	for r := range results {
		switch {
		case r.err == nil:
			if winner != nil {
				t.Errorf("two concurrent redemptions succeeded, at %v and %v", winner.now, r.now)
			}
			winner = &r
		case errors.Is(r.err, store.ErrConflict):
			losers = append(losers, r)
		default:
			t.Errorf("concurrent RedeemAuthCode: got %v; want nil or store.ErrConflict", r.err)
		}
	}
	if winner == nil {
		t.Fatalf("none of %d concurrent redemptions succeeded", concurrency)
	}
	if got, want := len(losers), concurrency-1; got != want {
		t.Errorf("%d concurrent redemptions got store.ErrConflict; want %d", got, want)
	}
	want.UsedAt = winner.now
	checkAuthCode(t, winner.code, want)
	for _, r := range losers {
		if r.code == nil {
			t.Errorf("a losing redemption got no code with its store.ErrConflict")
			continue
		}
		checkTime(t, "UsedAt seen by a losing redemption", r.code.UsedAt, winner.now)
	}
}

func testRefreshTokenRoundTrip(t *testing.T, s store.Store) {
	setupGrants(t, s)
	want := refreshToken("tok-1", "fam-1", "app-1", "u-1")
	sent := *want
	mustCreateRefreshToken(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("CreateRefreshToken changed an explicit CreatedAt to %v; want %v", sent.CreatedAt, want.CreatedAt)
	}
	checkRefreshToken(t, mustGetRefreshToken(t, s, want.Hash), want)

	// Rotation and revocation times are stored as given.
	spent := refreshToken("tok-2", "fam-2", "app-2", "u-2")
	spent.RotatedAt, spent.RevokedAt = at(3), at(4)
	mustCreateRefreshToken(t, s, spent)
	checkRefreshToken(t, mustGetRefreshToken(t, s, spent.Hash), spent)

	// Empty values and a zero CreatedAt.
	bare := &store.RefreshToken{Hash: digest("bare"), FamilyID: "fam-3", ClientID: "app-1", UserID: "u-2", Scopes: []string{}}
	before := time.Now()
	mustCreateRefreshToken(t, s, bare)
	checkNow(t, "CreateRefreshToken set CreatedAt", bare.CreatedAt, before, time.Now())
	got := mustGetRefreshToken(t, s, bare.Hash)
	checkRefreshToken(t, got, &store.RefreshToken{Hash: bare.Hash, FamilyID: "fam-3", ClientID: "app-1", UserID: "u-2", CreatedAt: bare.CreatedAt})
	if !got.CreatedAt.Equal(bare.CreatedAt) {
		t.Errorf("stored CreatedAt = %v; want %v as written back", got.CreatedAt, bare.CreatedAt)
	}
	for _, hash := range []string{"missing", "", strings.ToUpper(want.Hash)} {
		checkTokenAbsent(t, s, hash, "of an unknown hash")
	}
}

func testCreateRefreshTokenErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	want := refreshToken("tok-1", "fam-1", "app-1", "u-1")
	mustCreateRefreshToken(t, s, want)

	if err := s.CreateRefreshToken(ctx, refreshToken("tok-1", "fam-2", "app-2", "u-2")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateRefreshToken with a taken hash: got %v; want store.ErrConflict", err)
	}
	for _, tok := range []*store.RefreshToken{
		refreshToken("no-client", "fam-2", "app-9", "u-1"),
		refreshToken("no-user", "fam-2", "app-1", "u-9"),
	} {
		err := s.CreateRefreshToken(ctx, tok)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateRefreshToken for client %q and user %q: got %v; want store.ErrNotFound", tok.ClientID, tok.UserID, err)
		}
		checkTokenAbsent(t, s, tok.Hash, "after a failed create")
	}
	noHash := refreshToken("no-hash", "fam-2", "app-1", "u-1")
	noHash.Hash = ""
	checkNotSentinel(t, "CreateRefreshToken with an empty hash", s.CreateRefreshToken(ctx, noHash))
	checkTokenAbsent(t, s, "", "after a create with an empty hash")
	empty := refreshToken("no-family", "", "app-1", "u-1")
	checkNotSentinel(t, "CreateRefreshToken with an empty family", s.CreateRefreshToken(ctx, empty))
	checkTokenAbsent(t, s, empty.Hash, "after a create with an empty family")
	checkRefreshToken(t, mustGetRefreshToken(t, s, want.Hash), want)
}

func testRotateRefreshToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	t0 := refreshToken("t0", "fam", "app-1", "u-1")
	mustCreateRefreshToken(t, s, t0)

	t1 := refreshToken("t1", "fam", "app-1", "u-1")
	t1.Scopes = []string{"openid"} // a successor may carry less
	t1.CreatedAt = time.Time{}
	got := mustRotate(t, s, t0.Hash, at(5), t1)
	if !t1.CreatedAt.Equal(at(5)) {
		t.Errorf("RotateRefreshToken set next's CreatedAt = %v; want now, %v", t1.CreatedAt, at(5))
	}
	w0 := *t0
	w0.RotatedAt = at(5)
	checkRefreshToken(t, got, &w0)
	checkRefreshToken(t, mustGetRefreshToken(t, s, t0.Hash), &w0)
	checkRefreshToken(t, mustGetRefreshToken(t, s, t1.Hash), t1)

	// Reuse: the stored token comes back with ErrConflict, and the
	// would-be successor is not stored.
	t2 := refreshToken("t2", "fam", "app-1", "u-1")
	got, err := s.RotateRefreshToken(ctx, t0.Hash, at(6), t2)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotating a rotated token: got %v; want store.ErrConflict", err)
	}
	checkRefreshToken(t, got, &w0)
	checkTokenAbsent(t, s, t2.Hash, "after rotating a rotated token to it")

	// The chain goes on from the successor, explicit CreatedAt kept.
	t2.CreatedAt = at(6)
	mustRotate(t, s, t1.Hash, at(7), t2)
	checkRefreshToken(t, mustGetRefreshToken(t, s, t2.Hash), t2)
	w1 := *t1
	w1.RotatedAt = at(7)
	checkRefreshToken(t, mustGetRefreshToken(t, s, t1.Hash), &w1)

	// A revoked token cannot be rotated either.
	r0 := refreshToken("r0", "fam-r", "app-2", "u-2")
	r0.RevokedAt = at(1)
	mustCreateRefreshToken(t, s, r0)
	r1 := refreshToken("r1", "fam-r", "app-2", "u-2")
	got, err = s.RotateRefreshToken(ctx, r0.Hash, at(2), r1)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotating a revoked token: got %v; want store.ErrConflict", err)
	}
	checkRefreshToken(t, got, r0)
	checkTokenAbsent(t, s, r1.Hash, "after rotating a revoked token to it")

	// Expiry is the caller's to check.
	e0 := refreshToken("e0", "fam-e", "app-2", "u-2")
	e0.ExpiresAt = at(-1)
	mustCreateRefreshToken(t, s, e0)
	e1 := refreshToken("e1", "fam-e", "app-2", "u-2")
	got = mustRotate(t, s, e0.Hash, at(3), e1)
	checkTime(t, "ExpiresAt of a rotated expired token", got.ExpiresAt, at(-1))

	// A zero now is the current time, for the rotation and the successor.
	e2 := refreshToken("e2", "fam-e", "app-2", "u-2")
	e2.CreatedAt = time.Time{}
	before := time.Now()
	got = mustRotate(t, s, e1.Hash, time.Time{}, e2)
	checkNow(t, "RotateRefreshToken with a zero now set RotatedAt", got.RotatedAt, before, time.Now())
	if !e2.CreatedAt.Equal(got.RotatedAt) {
		t.Errorf("next's CreatedAt = %v; want the rotation's time %v", e2.CreatedAt, got.RotatedAt)
	}
}

func testRotateRefreshTokenErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	t0 := refreshToken("t0", "fam", "app-1", "u-1")
	mustCreateRefreshToken(t, s, t0)
	other := refreshToken("other", "fam-2", "app-1", "u-1")
	mustCreateRefreshToken(t, s, other)

	next := refreshToken("next", "fam", "app-1", "u-1")
	for _, hash := range []string{"missing", "", strings.ToUpper(t0.Hash)} {
		got, err := s.RotateRefreshToken(ctx, hash, at(1), next)
		if !errors.Is(err, store.ErrNotFound) || got != nil {
			t.Errorf("RotateRefreshToken(%q): got (%+v, %v); want nil and store.ErrNotFound", hash, got, err)
		}
	}
	checkTokenAbsent(t, s, next.Hash, "after rotating an unknown token to it")

	for _, c := range []struct {
		name string
		next *store.RefreshToken
	}{
		{"another family", refreshToken("next", "fam-2", "app-1", "u-1")},
		{"an empty family", refreshToken("next", "", "app-1", "u-1")},
		{"the token's own hash", refreshToken("t0", "fam", "app-1", "u-1")},
		{"a taken hash", refreshToken("other", "fam", "app-1", "u-1")},
		{"an empty hash", &store.RefreshToken{FamilyID: "fam", ClientID: "app-1", UserID: "u-1"}},
		{"no token", nil},
	} {
		got, err := s.RotateRefreshToken(ctx, t0.Hash, at(1), c.next)
		checkNotSentinel(t, "RotateRefreshToken to "+c.name, err)
		if got != nil {
			t.Errorf("RotateRefreshToken to %s returned %+v with an error", c.name, got)
		}
	}
	checkTokenAbsent(t, s, next.Hash, "after failed rotations to it")
	got, err := s.RotateRefreshToken(ctx, t0.Hash, at(1), refreshToken("next", "fam", "app-1", "u-9"))
	if !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || got != nil {
		t.Errorf("RotateRefreshToken to a missing user's token: got (%+v, %v); want nil and store.ErrNotFound only", got, err)
	}
	checkTokenAbsent(t, s, next.Hash, "after a rotation for a missing user")
	// Nothing failed changed the token or the other family.
	checkRefreshToken(t, mustGetRefreshToken(t, s, t0.Hash), t0)
	checkRefreshToken(t, mustGetRefreshToken(t, s, other.Hash), other)

	// Reuse is reported before a wrong family: the caller revokes.
	mustRotate(t, s, t0.Hash, at(2), next)
	got, err = s.RotateRefreshToken(ctx, t0.Hash, at(3), refreshToken("late", "fam-2", "app-1", "u-1"))
	if !errors.Is(err, store.ErrConflict) || got == nil {
		t.Errorf("rotating a rotated token to another family: got (%+v, %v); want the token and store.ErrConflict", got, err)
	}
}

// testRotateRefreshTokenConcurrent rotates one token from many goroutines
// at once, each to its own successor: exactly one may succeed, and only its
// successor may be stored.
func testRotateRefreshTokenConcurrent(t *testing.T, s store.Store) {
	setupGrants(t, s)
	t0 := refreshToken("t0", "fam", "app-1", "u-1")
	mustCreateRefreshToken(t, s, t0)
	errs := make([]error, concurrency)
	toks := make([]*store.RefreshToken, concurrency)
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			next := refreshToken(fmt.Sprintf("next-%02d", i), "fam", "app-1", "u-1")
			toks[i], errs[i] = s.RotateRefreshToken(t.Context(), t0.Hash, at(1).Add(time.Duration(i)*time.Second), next)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("two concurrent rotations succeeded: %d and %d", winner, i)
			}
			winner = i
		case errors.Is(err, store.ErrConflict):
			if toks[i] == nil {
				t.Errorf("rotation %d got store.ErrConflict without the token", i)
			}
		default:
			t.Errorf("concurrent RotateRefreshToken: got %v; want nil or store.ErrConflict", err)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent rotations succeeded", concurrency)
	}
	rotatedAt := at(1).Add(time.Duration(winner) * time.Second)
	checkTime(t, "RotatedAt", mustGetRefreshToken(t, s, t0.Hash).RotatedAt, rotatedAt)
	for i := range concurrency {
		hash := digest(fmt.Sprintf("next-%02d", i))
		if i == winner {
			mustGetRefreshToken(t, s, hash)
			continue
		}
		checkTokenAbsent(t, s, hash, "of a losing rotation")
		if toks[i] != nil {
			checkTime(t, "RotatedAt seen by a losing rotation", toks[i].RotatedAt, rotatedAt)
		}
	}
}

// testRotateRefreshTokenFamiliesConcurrent runs one refresher per family,
// many families at once, each rotating its own chain: all must succeed,
// with no rotation lost or duplicated.
func testRotateRefreshTokenFamiliesConcurrent(t *testing.T, s store.Store) {
	const rotations = 8
	setupGrants(t, s)
	name := func(f, i int) string { return fmt.Sprintf("f%02d-t%02d", f, i) }
	for f := range concurrency {
		mustCreateRefreshToken(t, s, refreshToken(name(f, 0), fmt.Sprintf("fam-%02d", f), "app-1", "u-1"))
	}
	var wg sync.WaitGroup
	errs := make(chan error, concurrency*rotations)
	for f := range concurrency {
		wg.Go(func() {
			for i := range rotations {
				next := refreshToken(name(f, i+1), fmt.Sprintf("fam-%02d", f), "app-1", "u-1")
				if _, err := s.RotateRefreshToken(t.Context(), digest(name(f, i)), at(i+1), next); err != nil {
					errs <- fmt.Errorf("family %d, rotation %d: %w", f, i+1, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent RotateRefreshToken of distinct families: %v", err)
	}
	for f := range concurrency {
		for i := range rotations + 1 {
			tok := mustGetRefreshToken(t, s, digest(name(f, i)))
			want := refreshToken(name(f, i), fmt.Sprintf("fam-%02d", f), "app-1", "u-1")
			if i < rotations {
				want.RotatedAt = at(i + 1)
			}
			checkRefreshToken(t, tok, want)
		}
		checkTokenAbsent(t, s, digest(name(f, rotations+1)), "beyond the chain")
	}
}

func testRevokeRefreshFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	chain := []*store.RefreshToken{
		refreshToken("t0", "fam", "app-1", "u-1"),
		refreshToken("t1", "fam", "app-1", "u-1"),
		refreshToken("t2", "fam", "app-1", "u-1"),
	}
	mustCreateRefreshToken(t, s, chain[0])
	mustRotate(t, s, chain[0].Hash, at(1), chain[1])
	mustRotate(t, s, chain[1].Hash, at(2), chain[2])
	chain[0].RotatedAt, chain[1].RotatedAt = at(1), at(2)
	other := refreshToken("u0", "fam-2", "app-1", "u-1")
	mustCreateRefreshToken(t, s, other)

	if err := s.RevokeRefreshFamily(ctx, "fam", at(20)); err != nil {
		t.Fatalf("RevokeRefreshFamily: %v", err)
	}
	for _, tok := range chain {
		tok.RevokedAt = at(20)
		checkRefreshToken(t, mustGetRefreshToken(t, s, tok.Hash), tok)
	}
	checkRefreshToken(t, mustGetRefreshToken(t, s, other.Hash), other)

	// Revoking again keeps the first time; an unknown family is no error.
	if err := s.RevokeRefreshFamily(ctx, "fam", at(30)); err != nil {
		t.Fatalf("second RevokeRefreshFamily: %v", err)
	}
	for _, tok := range chain {
		checkRefreshToken(t, mustGetRefreshToken(t, s, tok.Hash), tok)
	}
	for _, fam := range []string{"missing", "", "FAM"} {
		if err := s.RevokeRefreshFamily(ctx, fam, at(30)); err != nil {
			t.Errorf("RevokeRefreshFamily(%q) of an unknown family: %v; want no error", fam, err)
		}
	}
	checkRefreshToken(t, mustGetRefreshToken(t, s, other.Hash), other)

	// The family's last token is spent now.
	next := refreshToken("t3", "fam", "app-1", "u-1")
	got, err := s.RotateRefreshToken(ctx, chain[2].Hash, at(31), next)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotating a revoked token: got %v; want store.ErrConflict", err)
	}
	checkRefreshToken(t, got, chain[2])
	checkTokenAbsent(t, s, next.Hash, "after rotating a revoked token to it")

	// A zero now is the current time.
	before := time.Now()
	if err := s.RevokeRefreshFamily(ctx, "fam-2", time.Time{}); err != nil {
		t.Fatalf("RevokeRefreshFamily with a zero now: %v", err)
	}
	checkNow(t, "RevokeRefreshFamily with a zero now set RevokedAt",
		mustGetRefreshToken(t, s, other.Hash).RevokedAt, before, time.Now())
}

// testRevokeRefreshFamilyConcurrent revokes families while their tokens
// are being rotated: whatever the interleaving, every token a rotation
// stored must end up revoked, and the rotations must stop with
// store.ErrConflict.
func testRevokeRefreshFamilyConcurrent(t *testing.T, s store.Store) {
	const families = concurrency / 2
	const maxRotations = 10_000
	setupGrants(t, s)
	name := func(f, i int) string { return fmt.Sprintf("f%02d-t%05d", f, i) }
	family := func(f int) string { return fmt.Sprintf("fam-%02d", f) }
	for f := range families {
		mustCreateRefreshToken(t, s, refreshToken(name(f, 0), family(f), "app-1", "u-1"))
	}
	stored := make([]int, families) // tokens in each family's chain
	errs := make(chan error, 2*families)
	var wg sync.WaitGroup
	for f := range families {
		stored[f] = 1
		// The detector revokes once the refresher is under way (or gone).
		started := make(chan struct{})
		start := sync.OnceFunc(func() { close(started) })
		wg.Go(func() { // the refresher
			defer start()
			for i := range maxRotations {
				if i == 2 {
					start()
				}
				next := refreshToken(name(f, i+1), family(f), "app-1", "u-1")
				_, err := s.RotateRefreshToken(t.Context(), digest(name(f, i)), time.Time{}, next)
				switch {
				case err == nil:
					stored[f]++
				case errors.Is(err, store.ErrConflict):
					return
				default:
					errs <- fmt.Errorf("RotateRefreshToken in family %d: %w", f, err)
					return
				}
			}
			errs <- fmt.Errorf("family %d: %d rotations and still not revoked", f, maxRotations)
		})
		wg.Go(func() { // the reuse detector
			<-started
			if err := s.RevokeRefreshFamily(t.Context(), family(f), time.Time{}); err != nil {
				errs <- fmt.Errorf("RevokeRefreshFamily(%d): %w", f, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for f := range families {
		for i := range stored[f] {
			tok := mustGetRefreshToken(t, s, digest(name(f, i)))
			if tok.RevokedAt.IsZero() {
				t.Errorf("family %d: token %d of %d escaped the revocation (rotated at %v)", f, i, stored[f], tok.RotatedAt)
			}
		}
		checkTokenAbsent(t, s, digest(name(f, stored[f])), "after the refresher stopped")
	}
}

func testCIBARequestRoundTrip(t *testing.T, s store.Store) {
	setupGrants(t, s)
	want := cibaRequest("req-1", "app-1", "u-1")
	want.AuthTime = at(-1)
	sent := *want
	mustCreateCIBARequest(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) || !sent.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreateCIBARequest changed explicit timestamps to %v, %v; want %v, %v",
			sent.CreatedAt, sent.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	checkCIBARequest(t, mustGetCIBARequest(t, s, "req-1"), want)

	bare := &store.CIBARequest{ID: "req-2", ClientID: "app-2", UserID: "u-2", Scopes: []string{}}
	before := time.Now()
	mustCreateCIBARequest(t, s, bare)
	checkNow(t, "CreateCIBARequest set CreatedAt", bare.CreatedAt, before, time.Now())
	if !bare.UpdatedAt.Equal(bare.CreatedAt) {
		t.Errorf("CreateCIBARequest set UpdatedAt = %v; want CreatedAt %v", bare.UpdatedAt, bare.CreatedAt)
	}
	got := mustGetCIBARequest(t, s, "req-2")
	checkCIBARequest(t, got, &store.CIBARequest{ID: "req-2", ClientID: "app-2", UserID: "u-2", CreatedAt: bare.CreatedAt, UpdatedAt: bare.UpdatedAt})
	if !got.CreatedAt.Equal(bare.CreatedAt) {
		t.Errorf("stored CreatedAt = %v; want %v as written back", got.CreatedAt, bare.CreatedAt)
	}
	for _, id := range []string{"missing", "", "REQ-1"} {
		checkCIBAAbsent(t, s, id, "of an unknown ID")
	}
}

func testCreateCIBARequestErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	want := cibaRequest("req-1", "app-1", "u-1")
	mustCreateCIBARequest(t, s, want)
	if err := s.CreateCIBARequest(ctx, cibaRequest("req-1", "app-2", "u-2")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateCIBARequest with a taken ID: got %v; want store.ErrConflict", err)
	}
	for _, r := range []*store.CIBARequest{
		cibaRequest("no-client", "app-9", "u-1"),
		cibaRequest("no-user", "app-1", "u-9"),
	} {
		err := s.CreateCIBARequest(ctx, r)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateCIBARequest for client %q and user %q: got %v; want store.ErrNotFound", r.ClientID, r.UserID, err)
		}
		checkCIBAAbsent(t, s, r.ID, "after a failed create")
	}
	checkNotSentinel(t, "CreateCIBARequest with an empty ID", s.CreateCIBARequest(ctx, cibaRequest("", "app-1", "u-1")))
	checkCIBAAbsent(t, s, "", "after a create with an empty ID")
	checkCIBARequest(t, mustGetCIBARequest(t, s, "req-1"), want)
}

func testUpdateCIBARequest(t *testing.T, s store.Store) {
	setupGrants(t, s)
	orig := cibaRequest("req-1", "app-1", "u-1")
	mustCreateCIBARequest(t, s, orig)

	want := cibaRequest("req-1", "app-1", "u-1")
	want.Scopes = nil
	want.BindingMessage = ""
	want.Status = store.CIBAApproved
	want.Interval = 10
	want.LastPollAt = at(3)
	want.AuthTime = at(4)
	want.ExpiresAt = time.Time{}

	before := time.Now()
	called := 0
	got, err := s.UpdateCIBARequest(t.Context(), "req-1", func(r *store.CIBARequest) error {
		called++
		checkCIBARequest(t, r, orig) // update sees the stored request
		r.Scopes = []string{}
		r.BindingMessage = want.BindingMessage
		r.Status = want.Status
		r.Interval = want.Interval
		r.LastPollAt = want.LastPollAt
		r.AuthTime = want.AuthTime
		r.ExpiresAt = want.ExpiresAt
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatalf("UpdateCIBARequest: %v", err)
	}
	if called != 1 {
		t.Errorf("update called %d times; want 1", called)
	}
	checkNow(t, "UpdatedAt", got.UpdatedAt, before, after)
	want.UpdatedAt = got.UpdatedAt
	checkCIBARequest(t, got, want)
	stored := mustGetCIBARequest(t, s, "req-1")
	checkCIBARequest(t, stored, want)
	if !stored.UpdatedAt.Equal(got.UpdatedAt) || !stored.AuthTime.Equal(got.AuthTime) {
		t.Errorf("stored UpdatedAt, AuthTime = %v, %v; want %v, %v as returned by UpdateCIBARequest",
			stored.UpdatedAt, stored.AuthTime, got.UpdatedAt, got.AuthTime)
	}
}

func testUpdateCIBARequestErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	want := cibaRequest("req-1", "app-1", "u-1")
	mustCreateCIBARequest(t, s, want)
	mustCreateCIBARequest(t, s, cibaRequest("req-2", "app-2", "u-2"))

	called := false
	if _, err := s.UpdateCIBARequest(ctx, "missing", func(*store.CIBARequest) error {
		called = true
		return nil
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateCIBARequest(missing): got %v; want store.ErrNotFound", err)
	}
	if called {
		t.Errorf("UpdateCIBARequest(missing) called update")
	}

	errAbort := errors.New("abort the update")
	got, err := s.UpdateCIBARequest(ctx, "req-1", func(r *store.CIBARequest) error {
		r.Status = store.CIBADenied
		return fmt.Errorf("validating: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Errorf("UpdateCIBARequest: got %v; want the update function's error", err)
	}
	if got != nil {
		t.Errorf("UpdateCIBARequest returned %+v with an error", got)
	}

	for _, c := range []struct {
		name   string
		change func(*store.CIBARequest)
	}{
		{"ID", func(r *store.CIBARequest) { r.ID = "req-9" }},
		{"ID to another's", func(r *store.CIBARequest) { r.ID = "req-2" }},
		{"client", func(r *store.CIBARequest) { r.ClientID = "app-2" }},
		{"user", func(r *store.CIBARequest) { r.UserID = "u-2" }},
	} {
		got, err := s.UpdateCIBARequest(ctx, "req-1", func(r *store.CIBARequest) error {
			c.change(r)
			r.Status = store.CIBAApproved
			return nil
		})
		checkNotSentinel(t, "UpdateCIBARequest changing the "+c.name, err)
		if got != nil {
			t.Errorf("UpdateCIBARequest changing the %s returned %+v with an error", c.name, got)
		}
	}
	checkCIBARequest(t, mustGetCIBARequest(t, s, "req-1"), want)
	checkCIBAAbsent(t, s, "req-9", "after an update that changed the ID")
}

// testUpdateCIBARequestConcurrent races polls (each appending to the
// binding message and raising the interval) on one request: none may be
// lost.
func testUpdateCIBARequestConcurrent(t *testing.T, s store.Store) {
	setupGrants(t, s)
	r := cibaRequest("busy", "app-1", "u-1")
	r.BindingMessage, r.Interval = "", 0
	mustCreateCIBARequest(t, s, r)
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	for range concurrency {
		wg.Go(func() {
			_, err := s.UpdateCIBARequest(t.Context(), "busy", func(r *store.CIBARequest) error {
				r.BindingMessage += "+"
				r.Interval++
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdateCIBARequest: %v", err)
		}
	}
	got := mustGetCIBARequest(t, s, "busy")
	if got.BindingMessage != strings.Repeat("+", concurrency) || got.Interval != concurrency {
		t.Errorf("after %d concurrent updates, BindingMessage, Interval = %q, %d; want %d of each (lost updates)",
			concurrency, got.BindingMessage, got.Interval, concurrency)
	}
}

func testListPendingCIBARequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	list := func(userID string) []string {
		t.Helper()
		rs, err := s.ListPendingCIBARequests(ctx, userID)
		if err != nil {
			t.Fatalf("ListPendingCIBARequests(%q): %v", userID, err)
		}
		var ids []string
		for _, r := range rs {
			if r.UserID != userID || r.Status != store.CIBAPending {
				t.Errorf("ListPendingCIBARequests(%q) returned %q of user %q, status %q", userID, r.ID, r.UserID, r.Status)
			}
			ids = append(ids, r.ID)
		}
		return ids
	}
	if ids := list("u-1"); len(ids) != 0 {
		t.Fatalf("ListPendingCIBARequests on an empty store = %q; want none", ids)
	}
	for _, c := range []struct {
		id, client, user, status string
		created, expires         int
	}{
		{"late", "app-1", "u-1", store.CIBAPending, 3, 100},
		{"approved", "app-1", "u-1", store.CIBAApproved, 1, 100},
		{"denied", "app-2", "u-1", store.CIBADenied, 0, 100},
		{"issued", "app-2", "u-1", store.CIBAIssued, 0, 100},
		{"early", "app-2", "u-1", store.CIBAPending, 1, 100},
		{"expired", "app-1", "u-1", store.CIBAPending, 2, -100},
		{"Same-time", "app-1", "u-1", store.CIBAPending, 1, 100},
		{"bob's", "app-1", "u-2", store.CIBAPending, 0, 100},
	} {
		r := cibaRequest(c.id, c.client, c.user)
		r.Status = c.status
		r.CreatedAt = at(c.created)
		r.ExpiresAt = at(c.expires)
		mustCreateCIBARequest(t, s, r)
	}
	// Oldest first, then by ID byte by byte; expired ones are the caller's
	// to filter.
	if got, want := list("u-1"), []string{"Same-time", "early", "expired", "late"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListPendingCIBARequests(u-1) = %q; want %q", got, want)
	}
	if got, want := list("u-2"), []string{"bob's"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListPendingCIBARequests(u-2) = %q; want %q", got, want)
	}
	if got := list("missing"); len(got) != 0 {
		t.Errorf("ListPendingCIBARequests(missing) = %q; want none", got)
	}
	// Approving takes a request off the list.
	if _, err := s.UpdateCIBARequest(ctx, "early", func(r *store.CIBARequest) error {
		r.Status = store.CIBAApproved
		return nil
	}); err != nil {
		t.Fatalf("UpdateCIBARequest: %v", err)
	}
	if got, want := list("u-1"), []string{"Same-time", "expired", "late"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListPendingCIBARequests(u-1) after approving one = %q; want %q", got, want)
	}
	rs, err := s.ListPendingCIBARequests(ctx, "u-2")
	if err != nil || len(rs) != 1 {
		t.Fatalf("ListPendingCIBARequests(u-2) = %v, %v; want one request", rs, err)
	}
	want := cibaRequest("bob's", "app-1", "u-2")
	want.CreatedAt, want.ExpiresAt = at(0), at(100)
	checkCIBARequest(t, rs[0], want)
}

// testGrantsCascade checks that deleting a user or a client deletes its
// codes, refresh tokens and CIBA requests, and nothing else.
func testGrantsCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	type grant struct{ code, token, ciba string }
	grants := map[string]grant{} // by client/user
	for _, client := range []string{"app-1", "app-2"} {
		for _, user := range []string{"u-1", "u-2"} {
			key := client + "/" + user
			g := grant{code: "code " + key, token: "token " + key, ciba: "ciba " + key}
			mustCreateAuthCode(t, s, fullAuthCode(g.code, client, user))
			mustCreateRefreshToken(t, s, refreshToken(g.token, "fam "+key, client, user))
			mustCreateCIBARequest(t, s, cibaRequest(g.ciba, client, user))
			grants[key] = g
		}
	}
	gone := func(key, why string) {
		t.Helper()
		g := grants[key]
		checkCodeAbsent(t, s, digest(g.code), why)
		checkTokenAbsent(t, s, digest(g.token), why)
		checkCIBAAbsent(t, s, g.ciba, why)
	}

	if err := s.DeleteUser(ctx, "u-1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	gone("app-1/u-1", "after deleting the user")
	gone("app-2/u-1", "after deleting the user")
	if err := s.DeleteClient(ctx, "app-1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	gone("app-1/u-2", "after deleting the client")

	// The rest is untouched (the code is checked last: redeeming marks it).
	g := grants["app-2/u-2"]
	checkRefreshToken(t, mustGetRefreshToken(t, s, digest(g.token)), refreshToken(g.token, "fam app-2/u-2", "app-2", "u-2"))
	checkCIBARequest(t, mustGetCIBARequest(t, s, g.ciba), cibaRequest(g.ciba, "app-2", "u-2"))
	c, err := s.RedeemAuthCode(ctx, digest(g.code), at(1))
	if err != nil {
		t.Fatalf("RedeemAuthCode of a code of neither: %v", err)
	}
	want := fullAuthCode(g.code, "app-2", "u-2")
	want.UsedAt = at(1)
	checkAuthCode(t, c, want)
	checkClient(t, mustGetClient(t, s, "app-2"), fullClient("app-2"))
	checkUser(t, mustGetUser(t, s, "u-2"), fullUser("u-2", "bob", "+34600000002"))

	// Recreating the user and the client brings nothing back.
	mustCreateUser(t, s, fullUser("u-1", "alice", "+34600000001"))
	mustCreateClient(t, s, fullClient("app-1"))
	gone("app-1/u-1", "after recreating the user and the client")
	gone("app-1/u-2", "after recreating the client")
	if rs, err := s.ListPendingCIBARequests(ctx, "u-1"); err != nil || len(rs) != 0 {
		t.Errorf("ListPendingCIBARequests of a recreated user = %v, %v; want none", rs, err)
	}
}

func testDeleteExpiredGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	setupGrants(t, s)
	// cut is between whole milliseconds: a time stored exactly at the
	// millisecond before it is before it.
	cut := at(100).Add(500 * time.Microsecond)
	type state struct {
		name    string
		expires time.Time
		kept    bool
	}
	states := []state{
		{"expired", at(99), false},
		{"just expired", at(100), false},
		{"live", at(101), true},
		{"no expiry", time.Time{}, true},
	}
	for _, st := range states {
		c := fullAuthCode("code "+st.name, "app-1", "u-1")
		c.ExpiresAt = st.expires
		mustCreateAuthCode(t, s, c)
		tok := refreshToken("token "+st.name, "fam "+st.name, "app-1", "u-1")
		tok.ExpiresAt = st.expires
		mustCreateRefreshToken(t, s, tok)
		r := cibaRequest("ciba "+st.name, "app-1", "u-1")
		r.ExpiresAt = st.expires
		mustCreateCIBARequest(t, s, r)
	}
	// Spent records go by their expiry too: a revoked or rotated token is
	// kept while it could still be replayed.
	for _, st := range []state{{"used expired", at(99), false}, {"used live", at(101), true}} {
		states = append(states, st)
		c := fullAuthCode("code "+st.name, "app-1", "u-1")
		c.ExpiresAt, c.UsedAt = st.expires, at(1)
		mustCreateAuthCode(t, s, c)
		tok := refreshToken("token "+st.name, "fam "+st.name, "app-1", "u-1")
		tok.ExpiresAt, tok.RotatedAt, tok.RevokedAt = st.expires, at(1), at(2)
		mustCreateRefreshToken(t, s, tok)
		r := cibaRequest("ciba "+st.name, "app-1", "u-1")
		r.ExpiresAt, r.Status = st.expires, store.CIBAIssued
		mustCreateCIBARequest(t, s, r)
	}

	if err := s.DeleteExpiredGrants(ctx, cut); err != nil {
		t.Fatalf("DeleteExpiredGrants: %v", err)
	}
	for _, st := range states {
		_, tokErr := s.GetRefreshToken(ctx, digest("token "+st.name))
		_, cibaErr := s.GetCIBARequest(ctx, "ciba "+st.name)
		_, codeErr := s.RedeemAuthCode(ctx, digest("code "+st.name), at(200))
		for _, r := range []struct {
			what string
			err  error
		}{{"refresh token", tokErr}, {"CIBA request", cibaErr}, {"auth code", codeErr}} {
			switch {
			case st.kept && errors.Is(r.err, store.ErrNotFound):
				t.Errorf("%s %s: deleted; want it kept", st.name, r.what)
			case st.kept && r.err != nil && !errors.Is(r.err, store.ErrConflict): // used codes conflict
				t.Errorf("%s %s: %v", st.name, r.what, r.err)
			case !st.kept && !errors.Is(r.err, store.ErrNotFound):
				t.Errorf("%s %s: got %v; want it deleted (store.ErrNotFound)", st.name, r.what, r.err)
			}
		}
	}
	// Users and clients are not grants.
	mustGetUser(t, s, "u-1")
	mustGetClient(t, s, "app-1")
}

// checkGrantsCanceled checks the user and grant methods with a cancelled
// context: none reports store.ErrNotFound, and none writes.
func checkGrantsCanceled(t *testing.T, s store.Store) {
	t.Helper()
	mustCreateClient(t, s, fullClient("grants-app"))
	user := fullUser("grants-user", "grants-user", "+34600000099")
	mustCreateUser(t, s, user)
	code := fullAuthCode("grants-code", "grants-app", "grants-user")
	mustCreateAuthCode(t, s, code)
	tok := refreshToken("grants-token", "grants-fam", "grants-app", "grants-user")
	mustCreateRefreshToken(t, s, tok)
	req := cibaRequest("grants-ciba", "grants-app", "grants-user")
	mustCreateCIBARequest(t, s, req)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	notNotFound := func(what string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s with a cancelled context: got %v; want an error that is not store.ErrNotFound", what, err)
		}
	}
	for _, id := range []string{"grants-user", "missing"} {
		_, err := s.GetUser(ctx, id)
		notNotFound(fmt.Sprintf("GetUser(%q)", id), err)
		_, err = s.GetUserByUsername(ctx, id)
		notNotFound(fmt.Sprintf("GetUserByUsername(%q)", id), err)
	}
	_, err := s.GetUserByPhone(ctx, user.PhoneNumber)
	notNotFound("GetUserByPhone", err)
	_, err = s.ListUsers(ctx)
	notNotFound("ListUsers", err)
	notNotFound("DeleteUser", s.DeleteUser(ctx, "grants-user"))
	// The token endpoint answers an unknown code or token with
	// invalid_grant: a cancelled lookup must not look like one.
	for _, hash := range []string{code.Hash, "missing"} {
		_, err = s.RedeemAuthCode(ctx, hash, at(1))
		notNotFound(fmt.Sprintf("RedeemAuthCode(%q)", hash), err)
	}
	for _, hash := range []string{tok.Hash, "missing"} {
		_, err = s.GetRefreshToken(ctx, hash)
		notNotFound(fmt.Sprintf("GetRefreshToken(%q)", hash), err)
		_, err = s.RotateRefreshToken(ctx, hash, at(1), refreshToken("grants-next", "grants-fam", "grants-app", "grants-user"))
		notNotFound(fmt.Sprintf("RotateRefreshToken(%q)", hash), err)
	}
	notNotFound("RevokeRefreshFamily", s.RevokeRefreshFamily(ctx, "grants-fam", at(1)))
	for _, id := range []string{req.ID, "missing"} {
		_, err = s.GetCIBARequest(ctx, id)
		notNotFound(fmt.Sprintf("GetCIBARequest(%q)", id), err)
	}
	_, err = s.UpdateCIBARequest(ctx, req.ID, func(r *store.CIBARequest) error { r.Status = store.CIBADenied; return nil })
	notNotFound("UpdateCIBARequest", err)
	_, err = s.ListPendingCIBARequests(ctx, "grants-user")
	notNotFound("ListPendingCIBARequests", err)
	notNotFound("DeleteExpiredGrants", s.DeleteExpiredGrants(ctx, at(1_000_000)))
	if err := s.CreateUser(ctx, fullUser("grants-new", "grants-new", "")); err == nil {
		t.Errorf("CreateUser with a cancelled context succeeded")
	}
	if err := s.CreateAuthCode(ctx, fullAuthCode("grants-new", "grants-app", "grants-user")); err == nil {
		t.Errorf("CreateAuthCode with a cancelled context succeeded")
	}
	if err := s.CreateRefreshToken(ctx, refreshToken("grants-new", "grants-fam", "grants-app", "grants-user")); err == nil {
		t.Errorf("CreateRefreshToken with a cancelled context succeeded")
	}
	if err := s.CreateCIBARequest(ctx, cibaRequest("grants-new", "grants-app", "grants-user")); err == nil {
		t.Errorf("CreateCIBARequest with a cancelled context succeeded")
	}

	checkUser(t, mustGetUser(t, s, "grants-user"), user)
	if _, err := s.GetUser(t.Context(), "grants-new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser after a cancelled CreateUser: got %v; want store.ErrNotFound", err)
	}
	checkRefreshToken(t, mustGetRefreshToken(t, s, tok.Hash), tok)
	checkTokenAbsent(t, s, digest("grants-next"), "after a cancelled rotation")
	checkTokenAbsent(t, s, digest("grants-new"), "after a cancelled create")
	checkCIBARequest(t, mustGetCIBARequest(t, s, req.ID), req)
	checkCIBAAbsent(t, s, "grants-new", "after a cancelled create")
	checkCodeAbsent(t, s, digest("grants-new"), "after a cancelled create")
	c, err := s.RedeemAuthCode(t.Context(), code.Hash, at(1))
	if err != nil {
		t.Fatalf("RedeemAuthCode after cancelled calls: %v; want the code unused", err)
	}
	code.UsedAt = at(1)
	checkAuthCode(t, c, code)
}
