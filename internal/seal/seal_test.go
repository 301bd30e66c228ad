package seal

import (
	"bytes"
	"errors"
	"testing"
)

// TestBox checks that a sealed value opens only with the same secret,
// purpose and context, and that a missing secret is refused.
func TestBox(t *testing.T) {
	box := Box{Secret: "s3cret", Purpose: "test v1"}
	sealed, err := box.Seal("api-1", []byte("key material"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("key material")) {
		t.Fatal("the sealed value holds the plaintext")
	}
	if got, err := box.Open("api-1", sealed); err != nil || string(got) != "key material" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for name, c := range map[string]struct {
		box     Box
		context string
		sealed  []byte
	}{
		"other context": {box, "api-2", sealed},
		"other purpose": {Box{Secret: "s3cret", Purpose: "signing v1"}, "api-1", sealed},
		"other secret":  {Box{Secret: "other", Purpose: "test v1"}, "api-1", sealed},
		"truncated":     {box, "api-1", sealed[:5]},
		"altered":       {box, "api-1", append(bytes.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1)},
	} {
		if _, err := c.box.Open(c.context, c.sealed); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open err = %v; want ErrOpen", name, err)
		}
	}
	if _, err := (Box{Purpose: "test v1"}).Seal("x", []byte("k")); !errors.Is(err, ErrNoSecret) {
		t.Errorf("Seal without a secret: %v; want ErrNoSecret", err)
	}
}
