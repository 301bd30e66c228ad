package keys

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"gatehouse/internal/store/sqlstore"
)

func openStore(t *testing.T) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func jwksKids(t *testing.T, m *Manager) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Errorf("JWKS publishes a private key: %s", k.KeyID)
		}
		kids = append(kids, k.KeyID)
	}
	return kids
}

// TestFirstStartRotationAndRetention: the first Load generates a key, a
// rotation keeps the previous key published until retention passes, and
// signing uses the newest key.
func TestFirstStartRotationAndRetention(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	m := &Manager{Store: db, Secret: "s3cret", Retention: time.Hour, Now: func() time.Time { return now }}
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	first := m.CurrentKeyID()
	if got := jwksKids(t, m); len(got) != 1 || got[0] != first {
		t.Fatalf("JWKS kids = %v; want [%s]", got, first)
	}

	now = now.Add(time.Minute)
	second, err := m.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.CurrentKeyID(); got != second {
		t.Errorf("current kid = %s; want the rotated-in %s", got, second)
	}
	if got := jwksKids(t, m); len(got) != 2 || got[0] != second || got[1] != first {
		t.Errorf("JWKS kids = %v; want [new, previous]", got)
	}
	signer, err := m.Signer("at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Signatures[0].Protected.KeyID; got != second {
		t.Errorf("signed with %s; want %s", got, second)
	}
	if pub, alg, ok := m.PublicKey(first); !ok || alg != jose.ES256 || pub == nil {
		t.Errorf("previous key not available for verification")
	}

	// Past retention the previous key leaves the JWKS.
	now = now.Add(2 * time.Hour)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := jwksKids(t, m); len(got) != 1 || got[0] != second {
		t.Errorf("after retention JWKS kids = %v; want [%s]", got, second)
	}

	// Another manager on the same store (another node, or after a restart)
	// loads the same current key without generating one.
	m2 := &Manager{Store: db, Secret: "s3cret", Retention: time.Hour, Now: func() time.Time { return now }}
	if err := m2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m2.CurrentKeyID(); got != second {
		t.Errorf("second node current kid = %s; want %s", got, second)
	}
}

// TestPrivateKeysAreEncrypted: the stored private key is not readable
// without the system secret, and a wrong secret gives a clear error.
func TestPrivateKeysAreEncrypted(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	m := &Manager{Store: db, Secret: "right"}
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListSigningKeys(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("keys: %v %v", list, err)
	}
	if strings.Contains(string(list[0].PrivateKey), "PRIVATE") || len(list[0].PrivateKey) < 100 {
		t.Errorf("stored private key does not look encrypted (%d bytes)", len(list[0].PrivateKey))
	}
	wrong := &Manager{Store: db, Secret: "wrong"}
	err = wrong.Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET") {
		t.Errorf("loading with the wrong secret: %v; want an error naming GATEHOUSE_SECRET", err)
	}
	if err := (&Manager{Store: db}).Load(ctx); err == nil {
		t.Errorf("loading with no secret succeeded")
	}
}
