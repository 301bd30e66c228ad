package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// fullUser returns a user with every field set.
func fullUser(id, username, phone string) *store.User {
	return &store.User{
		ID:           id,
		Username:     username,
		PhoneNumber:  phone,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + id,
		CreatedAt:    at(0),
		UpdatedAt:    at(1),
	}
}

func mustCreateUser(t *testing.T, s store.Store, u *store.User) {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.ID, err)
	}
}

func mustGetUser(t *testing.T, s store.Store, id string) *store.User {
	t.Helper()
	u, err := s.GetUser(t.Context(), id)
	if err != nil {
		t.Fatalf("GetUser(%q): %v", id, err)
	}
	return u
}

func mustListUsers(t *testing.T, s store.Store) []*store.User {
	t.Helper()
	us, err := s.ListUsers(t.Context())
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	return us
}

// checkUser reports every field of got that differs from want under the
// suite's rules.
func checkUser(t *testing.T, got, want *store.User) {
	t.Helper()
	if got == nil {
		t.Fatalf("user %q: got nil", want.ID)
	}
	checkString(t, "ID", got.ID, want.ID)
	checkString(t, "Username", got.Username, want.Username)
	checkString(t, "PhoneNumber", got.PhoneNumber, want.PhoneNumber)
	checkString(t, "PasswordHash", got.PasswordHash, want.PasswordHash)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func usernames(us []*store.User) []string {
	var names []string
	for _, u := range us {
		names = append(names, u.Username)
	}
	return names
}

func testUserRoundTrip(t *testing.T, s store.Store) {
	if us := mustListUsers(t, s); len(us) != 0 {
		t.Fatalf("ListUsers on an empty store: got %d users; want 0", len(us))
	}
	want := fullUser("u-1", "alice", "+34600000001")
	sent := *want
	mustCreateUser(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) || !sent.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreateUser changed explicit timestamps to %v, %v; want %v, %v",
			sent.CreatedAt, sent.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	checkUser(t, mustGetUser(t, s, "u-1"), want)
	u, err := s.GetUserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatalf("GetUserByUsername: %v", err)
	}
	checkUser(t, u, want)
	u, err = s.GetUserByPhone(t.Context(), "+34600000001")
	if err != nil {
		t.Fatalf("GetUserByPhone: %v", err)
	}
	checkUser(t, u, want)
	us := mustListUsers(t, s)
	if len(us) != 1 {
		t.Fatalf("ListUsers: got %d users; want 1", len(us))
	}
	checkUser(t, us[0], want)
}

// testUserDefaults checks the timestamps CreateUser fills and users
// without a phone number, of which there may be many.
func testUserDefaults(t *testing.T, s store.Store) {
	for _, u := range []*store.User{{ID: "u-1", Username: "first"}, {ID: "u-2", Username: "second"}} {
		before := time.Now()
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatalf("CreateUser(%q) without a phone number: %v", u.ID, err)
		}
		checkNow(t, "CreateUser set CreatedAt", u.CreatedAt, before, time.Now())
		if !u.UpdatedAt.Equal(u.CreatedAt) {
			t.Errorf("CreateUser set UpdatedAt = %v; want CreatedAt %v", u.UpdatedAt, u.CreatedAt)
		}
		got := mustGetUser(t, s, u.ID)
		checkUser(t, got, &store.User{ID: u.ID, Username: u.Username, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt})
		if !got.CreatedAt.Equal(u.CreatedAt) {
			t.Errorf("stored CreatedAt = %v; want %v as written back", got.CreatedAt, u.CreatedAt)
		}
	}
	// Having no number is not a number: nobody is found by it.
	if u, err := s.GetUserByPhone(t.Context(), ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf(`GetUserByPhone(""): got (%+v, %v); want store.ErrNotFound`, u, err)
	}
}

func testCreateUserConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullUser("u-1", "alice", "+34600000001")
	mustCreateUser(t, s, want)
	for _, c := range []struct {
		name string
		user *store.User
	}{
		{"ID", fullUser("u-1", "other", "+34600000009")},
		{"username", fullUser("u-2", "alice", "+34600000009")},
		{"phone number", fullUser("u-2", "other", "+34600000001")},
	} {
		if err := s.CreateUser(ctx, c.user); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateUser with a taken %s: got %v; want store.ErrConflict", c.name, err)
		}
	}
	for _, c := range []struct {
		name string
		user *store.User
	}{
		{"empty ID", fullUser("", "other", "")},
		{"empty username", fullUser("u-2", "", "")},
	} {
		checkNotSentinel(t, "CreateUser with an "+c.name, s.CreateUser(ctx, c.user))
	}
	checkUser(t, mustGetUser(t, s, "u-1"), want)
	if us := mustListUsers(t, s); len(us) != 1 {
		t.Fatalf("ListUsers after failed creates = %q; want only alice", usernames(us))
	}
	// Keys are compared byte for byte.
	mustCreateUser(t, s, fullUser("U-1", "Alice", "+34 600000001"))
	if us := mustListUsers(t, s); len(us) != 2 {
		t.Errorf("ListUsers = %q; want alice and Alice", usernames(us))
	}
}

func testGetUserNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, fullUser("u-1", "alice", "+34600000001"))
	mustCreateUser(t, s, fullUser("u-2", "nophone", ""))
	notFound := func(what string, u *store.User, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: got (%+v, %v); want store.ErrNotFound", what, u, err)
		}
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: error %v also wraps another sentinel", what, err)
		}
	}
	for _, id := range []string{"missing", "", "U-1", "alice"} {
		u, err := s.GetUser(ctx, id)
		notFound(fmt.Sprintf("GetUser(%q)", id), u, err)
	}
	for _, name := range []string{"bob", "", "Alice", "alice ", "u-1"} {
		u, err := s.GetUserByUsername(ctx, name)
		notFound(fmt.Sprintf("GetUserByUsername(%q)", name), u, err)
	}
	for _, phone := range []string{"+34600000002", "", "34600000001", "+34 600000001"} {
		u, err := s.GetUserByPhone(ctx, phone)
		notFound(fmt.Sprintf("GetUserByPhone(%q)", phone), u, err)
	}
}

func testListUsers(t *testing.T, s store.Store) {
	want := map[string]*store.User{}
	for i, name := range []string{"carol", "Zed", "alice", "_admin", "bob", "ålex"} {
		u := fullUser(fmt.Sprintf("u-%d", i), name, "")
		u.CreatedAt = at(-i) // creation order is not list order
		want[name] = u
		mustCreateUser(t, s, u)
	}
	us := mustListUsers(t, s)
	// Byte order: upper case before "_" before lower case before UTF-8.
	wantOrder := []string{"Zed", "_admin", "alice", "bob", "carol", "ålex"}
	if got := usernames(us); fmt.Sprint(got) != fmt.Sprint(wantOrder) {
		t.Fatalf("ListUsers = %q; want %q", got, wantOrder)
	}
	for _, u := range us {
		checkUser(t, u, want[u.Username])
	}
}

// testDeleteUser checks deleting a user; testGrantsCascade checks that the
// user's grants go with it.
func testDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, fullUser("u-1", "doomed", "+34600000001"))
	kept := fullUser("u-2", "kept", "+34600000002")
	mustCreateUser(t, s, kept)
	if err := s.DeleteUser(ctx, "u-1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetUser(ctx, "u-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser after DeleteUser: got %v; want store.ErrNotFound", err)
	}
	if _, err := s.GetUserByUsername(ctx, "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByUsername after DeleteUser: got %v; want store.ErrNotFound", err)
	}
	if _, err := s.GetUserByPhone(ctx, "+34600000001"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByPhone after DeleteUser: got %v; want store.ErrNotFound", err)
	}
	for _, id := range []string{"u-1", "missing", ""} {
		if err := s.DeleteUser(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteUser(%q) of a missing user: got %v; want store.ErrNotFound", id, err)
		}
	}
	checkUser(t, mustGetUser(t, s, "u-2"), kept)
	// The ID, the username and the number can be used again.
	mustCreateUser(t, s, fullUser("u-1", "doomed", "+34600000001"))
}
