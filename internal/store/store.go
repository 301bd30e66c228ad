// Package store defines gatehouse's durable records and the one storage
// contract every backend (SQLite, PostgreSQL) implements. It is plain
// persistence: rules about secrets, scopes and tokens live in the feature
// packages. Backends are in store/sql; the conformance suite every backend
// passes is store/storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors are part of the contract: every backend returns them
// (possibly wrapped) and callers match with errors.Is.
var (
	// ErrNotFound means no record has the requested key.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a record with the same unique key already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrUnavailable means the backend could not be reached; callers
	// answer 503 rather than 500.
	ErrUnavailable = errors.New("store: unavailable")
)

// Client statuses.
const (
	ClientActive    = "active"
	ClientSuspended = "suspended"
)

// Client is an OAuth client (a developer's app).
type Client struct {
	ID   string
	Name string
	// SecretHash is the SHA-256 digest of the current secret; empty for
	// clients that do not use a secret.
	SecretHash []byte
	// PreviousSecretHash is the digest of the secret replaced by the last
	// rotation, valid until PreviousSecretExpiresAt.
	PreviousSecretHash      []byte
	PreviousSecretExpiresAt time.Time
	GrantTypes              []string
	Scopes                  []string
	RedirectURIs            []string
	// TokenEndpointAuthMethod is one of client_secret_basic,
	// client_secret_post, private_key_jwt, none.
	TokenEndpointAuthMethod string
	// JWKS is the client's public JSON Web Key Set (private_key_jwt), raw
	// JSON; empty when unused.
	JWKS      string
	Status    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SigningKey is one of the authorization server's token-signing keys.
type SigningKey struct {
	ID        string // the JWK kid
	Algorithm string // e.g. ES256
	// PrivateKey is the encrypted private key (the caller encrypts).
	PrivateKey []byte
	// PublicJWK is the public key as a JWK, raw JSON.
	PublicJWK []byte
	CreatedAt time.Time
	// RetiredAt is set when a newer key replaced this one; zero while it is
	// the current key. Retired keys stay published until they are pruned.
	RetiredAt time.Time
}

// RevokedToken records a revoked access token by its jti until it expires.
type RevokedToken struct {
	ID        string // jti
	ClientID  string
	ExpiresAt time.Time
	RevokedAt time.Time
}

// Clients stores OAuth clients.
type Clients interface {
	CreateClient(ctx context.Context, c *Client) error
	GetClient(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]*Client, error)
	// UpdateClient reads the client, calls update on a copy and writes the
	// result, all in one transaction. An error from update aborts it.
	UpdateClient(ctx context.Context, id string, update func(c *Client) error) (*Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// SigningKeys stores token-signing keys.
type SigningKeys interface {
	// RotateSigningKey stores k as the current key and retires the
	// previous current key at k.CreatedAt, in one transaction.
	RotateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns every stored key, newest first.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// DeleteSigningKeysRetiredBefore prunes keys retired before t.
	DeleteSigningKeysRetiredBefore(ctx context.Context, t time.Time) error
}

// Tokens stores what stateless JWTs cannot carry: revocations and used
// assertion ids.
type Tokens interface {
	// RevokeToken records a revocation; revoking twice is not an error.
	RevokeToken(ctx context.Context, t *RevokedToken) error
	// ListRevokedTokensSince returns revocations recorded at or after
	// since, for caches on every node to catch up.
	ListRevokedTokensSince(ctx context.Context, since time.Time) ([]*RevokedToken, error)
	// UseAssertionID records a client assertion's jti until expiresAt and
	// returns ErrConflict if it was already recorded and has not expired.
	UseAssertionID(ctx context.Context, clientID, jti string, expiresAt time.Time) error
	// DeleteExpired removes revocations and assertion ids that expired
	// before now.
	DeleteExpired(ctx context.Context, now time.Time) error
}

// Store is the whole storage contract.
type Store interface {
	Clients
	SigningKeys
	Tokens
	// Ping reports whether the backend is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
