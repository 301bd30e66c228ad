package signin

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("s3cret pass", Argon2Params{Memory: 64 * 1024, Time: 2, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(h) {
		t.Fatalf("hash %q is not an argon2id PHC string with the default parameters", h)
	}
	if ok, err := VerifyPassword(h, "s3cret pass"); !ok || err != nil {
		t.Errorf("the right password does not verify: %v %v", ok, err)
	}
	if ok, err := VerifyPassword(h, "s3cret pas"); ok || err != nil {
		t.Errorf("a wrong password verifies: %v %v", ok, err)
	}
	h2, _ := HashPassword("s3cret pass", Argon2Params{Memory: 64, Time: 1, Threads: 1})
	if h2 == h || !strings.HasPrefix(h2, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("second hash %q: want a fresh salt and the given parameters", h2)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, err := VerifyPassword(bad, "x"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

// TestCheck: an empty hash (no such account) and an over-long password
// never match, and cost a verification like a wrong password does.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	h, err := HashPassword("s3cret pass", Argon2Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hash, password string
		want           bool
	}{
		{h, "s3cret pass", true},
		{h, "s3cret pas", false},
		{"", "s3cret pass", false},
		{"", "gatehouse: no such account", false},
		{h, strings.Repeat("x", 5*MaxPasswordLen), false},
	} {
		if got, err := Check(ctx, tc.hash, tc.password); got != tc.want || err != nil {
			t.Errorf("Check(%.12q…, %.12q…) = %v, %v; want %v", tc.hash, tc.password, got, err, tc.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for range cap(argon2Slots) { // every slot busy: Check must wait, and the context ends the wait
		argon2Slots <- struct{}{}
	}
	_, err = Check(cancelled, h, "s3cret pass")
	for range cap(argon2Slots) {
		<-argon2Slots
	}
	if err == nil {
		t.Error("Check with a cancelled context and no free slot succeeded; want the context's error")
	}
}
