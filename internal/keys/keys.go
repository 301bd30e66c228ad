// Package keys manages the authorization server's token-signing keys: it
// generates them, keeps their private parts encrypted in the store with the
// system secret, rotates them, and publishes the current and retired public
// keys as a JWKS. Every node reloads the key set from the store, so a
// rotation made by any node or by the CLI reaches all of them.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"gatehouse/internal/seal"
	"gatehouse/internal/store"
)

// Algorithm is the JWS algorithm of generated keys.
const Algorithm = jose.ES256

// Manager holds the signing keys. Load must be called before use.
type Manager struct {
	// Store persists the keys.
	Store store.SigningKeys
	// Secret is the system secret that encrypts private keys at rest.
	Secret string
	// Retention is how long a retired key stays published. Zero means 7 days.
	Retention time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	mu      sync.RWMutex
	state   *keySet
	signers sync.Map // typ → *typedSigner for the current key
}

type keySet struct {
	current    *loadedKey
	public     map[string]*loadedKey // kid → key, current and retired
	jwks       []byte
	generation string // kids joined, to notice changes
}

type loadedKey struct {
	id      string
	alg     jose.SignatureAlgorithm
	private crypto.Signer
	public  crypto.PublicKey
}

type typedSigner struct {
	kid    string
	signer jose.Signer
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) retention() time.Duration {
	if m.Retention > 0 {
		return m.Retention
	}
	return 7 * 24 * time.Hour
}

// Load reads the keys from the store, generating the first key when there is
// none. It is safe to call again (Refresh does).
func (m *Manager) Load(ctx context.Context) error {
	list, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if len(list) == 0 {
		if _, err := m.Rotate(ctx); err != nil {
			return err
		}
		if list, err = m.Store.ListSigningKeys(ctx); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
	}
	return m.install(list)
}

// Refresh reloads the key set from the store; cheap when nothing changed.
func (m *Manager) Refresh(ctx context.Context) error {
	list, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if len(list) == 0 {
		return nil
	}
	return m.install(list)
}

// Rotate generates a new current key, stores it and retires the previous one,
// which stays published for the retention period. It returns the new key's id.
func (m *Manager) Rotate(ctx context.Context) (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("keys: %w", err)
	}
	now := m.now().UTC()
	pub := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(Algorithm), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("keys: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("keys: %w", err)
	}
	sealed, err := m.seal(pub.KeyID, der)
	if err != nil {
		return "", err
	}
	k := &store.SigningKey{ID: pub.KeyID, Algorithm: string(Algorithm), PrivateKey: sealed, PublicJWK: pubJSON, CreatedAt: now}
	if err := m.Store.RotateSigningKey(ctx, k); err != nil {
		return "", fmt.Errorf("keys: storing new key: %w", err)
	}
	_ = m.Store.DeleteSigningKeysRetiredBefore(ctx, now.Add(-m.retention()))
	return k.ID, nil
}

func (m *Manager) install(list []*store.SigningKey) error {
	cutoff := m.now().Add(-m.retention())
	var kids []string
	for _, k := range list {
		if k.RetiredAt.IsZero() || k.RetiredAt.After(cutoff) {
			kids = append(kids, k.ID)
		}
	}
	slices.Sort(kids)
	gen := fmt.Sprint(kids)
	m.mu.RLock()
	same := m.state != nil && m.state.generation == gen && m.state.current.id == currentID(list)
	m.mu.RUnlock()
	if same {
		return nil
	}

	ks := &keySet{public: map[string]*loadedKey{}, generation: gen}
	var jwks jose.JSONWebKeySet
	for _, k := range list { // newest first
		if !k.RetiredAt.IsZero() && !k.RetiredAt.After(cutoff) {
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil {
			return fmt.Errorf("keys: key %s: public key: %w", k.ID, err)
		}
		lk := &loadedKey{id: k.ID, alg: jose.SignatureAlgorithm(k.Algorithm), public: jwk.Key}
		if k.RetiredAt.IsZero() && ks.current == nil {
			der, err := m.open(k.ID, k.PrivateKey)
			if err != nil {
				return err
			}
			priv, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return fmt.Errorf("keys: key %s: %w", k.ID, err)
			}
			signer, ok := priv.(crypto.Signer)
			if !ok {
				return fmt.Errorf("keys: key %s is not a signing key", k.ID)
			}
			lk.private = signer
			ks.current = lk
		}
		ks.public[k.ID] = lk
		jwks.Keys = append(jwks.Keys, jwk)
	}
	if ks.current == nil {
		return errors.New("keys: the store holds no current signing key; run `gatehouse keys rotate`")
	}
	b, err := json.Marshal(jwks)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	ks.jwks = b
	m.mu.Lock()
	m.state = ks
	m.signers.Clear()
	m.mu.Unlock()
	return nil
}

func currentID(list []*store.SigningKey) string {
	for _, k := range list {
		if k.RetiredAt.IsZero() {
			return k.ID
		}
	}
	return ""
}

// JWKS returns the published key set as JSON: the current key first, then
// retired keys still within retention.
func (m *Manager) JWKS() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.state.jwks
}

// CurrentKeyID returns the kid new tokens are signed with.
func (m *Manager) CurrentKeyID() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.state.current.id
}

// PublicKey returns the published key with the given kid and its algorithm.
func (m *Manager) PublicKey(kid string) (crypto.PublicKey, jose.SignatureAlgorithm, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.state.public[kid]
	if !ok {
		return nil, "", false
	}
	return k.public, k.alg, true
}

// Signer returns a JWS signer with the current key that sets the given typ
// header ("at+jwt" for access tokens, "JWT" for ID tokens) and the kid.
func (m *Manager) Signer(typ string) (jose.Signer, error) {
	m.mu.RLock()
	cur := m.state.current
	m.mu.RUnlock()
	if s, ok := m.signers.Load(typ); ok && s.(*typedSigner).kid == cur.id {
		return s.(*typedSigner).signer, nil
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", cur.id)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: cur.alg, Key: cur.private}, opts)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	m.signers.Store(typ, &typedSigner{kid: cur.id, signer: s})
	return s, nil
}

// box seals private keys at rest; the label is part of the stored format.
func (m *Manager) box() seal.Box {
	return seal.Box{Secret: m.Secret, Purpose: "gatehouse signing-key encryption v1"}
}

// seal encrypts a private key, bound to its key id.
func (m *Manager) seal(kid string, plaintext []byte) ([]byte, error) {
	out, err := m.box().Seal(kid, plaintext)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return out, nil
}

func (m *Manager) open(kid string, sealed []byte) ([]byte, error) {
	out, err := m.box().Open(kid, sealed)
	if errors.Is(err, seal.ErrOpen) {
		return nil, fmt.Errorf("keys: key %s cannot be decrypted: is this the system secret the key was created with? (GATEHOUSE_SECRET or <data_dir>/secret)", kid)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return out, nil
}

// Info describes a stored key for operators (public part only).
type Info struct {
	KeyID     string          `json:"kid"`
	Algorithm string          `json:"alg"`
	Current   bool            `json:"current"`
	CreatedAt time.Time       `json:"created_at"`
	RetiredAt *time.Time      `json:"retired_at,omitempty"`
	PublicJWK json.RawMessage `json:"public_jwk"`
}

// List returns every stored key, newest first.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	list, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	out := make([]Info, len(list))
	for i, k := range list {
		out[i] = Info{KeyID: k.ID, Algorithm: k.Algorithm, Current: k.RetiredAt.IsZero(), CreatedAt: k.CreatedAt, PublicJWK: k.PublicJWK}
		if !k.RetiredAt.IsZero() {
			t := k.RetiredAt
			out[i].RetiredAt = &t
		}
	}
	return out, nil
}
