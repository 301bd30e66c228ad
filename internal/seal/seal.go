// Package seal encrypts the secrets gatehouse keeps in its store (token
// signing keys, upstream client keys) with a key derived from the system
// secret. It is the one place that decides how: AES-256-GCM with a random
// nonce, under a key derived by HKDF-SHA256 from the system secret and a
// purpose label, so a value sealed for one purpose never opens for another.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// ErrNoSecret is returned when no system secret is configured.
var ErrNoSecret = errors.New("no system secret configured")

// ErrOpen is returned when a sealed value does not open: it is truncated,
// altered, bound to another context, or sealed with another system secret.
var ErrOpen = errors.New("the sealed value cannot be decrypted: is this the system secret it was sealed with? (GATEHOUSE_SECRET or <data_dir>/secret)")

// Box seals and opens values for one purpose.
type Box struct {
	// Secret is the system secret. Required.
	Secret string
	// Purpose is the HKDF info label, e.g. "gatehouse signing-key
	// encryption v1". Values sealed under one label never open under
	// another; change the version to rotate the scheme.
	Purpose string
}

func (b Box) aead() (cipher.AEAD, error) {
	if b.Secret == "" {
		return nil, ErrNoSecret
	}
	kek, err := hkdf.Key(sha256.New, []byte(b.Secret), nil, b.Purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext, bound to context (additional authenticated data:
// the id of what it belongs to, so a sealed value cannot be moved to another
// record). The result is the nonce followed by the ciphertext.
func (b Box) Seal(context string, plaintext []byte) ([]byte, error) {
	a, err := b.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, a.NonceSize())
	_, _ = rand.Read(nonce)
	return a.Seal(nonce, nonce, plaintext, []byte(context)), nil
}

// Open decrypts what Seal returned for the same purpose and context.
func (b Box) Open(context string, sealed []byte) ([]byte, error) {
	a, err := b.aead()
	if err != nil {
		return nil, err
	}
	if len(sealed) < a.NonceSize() {
		return nil, ErrOpen
	}
	out, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
