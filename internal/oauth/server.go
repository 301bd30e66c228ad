// Package oauth is gatehouse's authorization server: discovery, JWKS, the
// token endpoint and its grants, client authentication, introspection
// (RFC 7662) and revocation (RFC 7009). Access tokens are JWTs (RFC 9068)
// signed with the keys of package keys; what a stateless JWT cannot carry
// (revocations, used assertion ids) lives in the store.
//
// A grant is always an OAuth grant type (RFC 6749 §1.3) as the token
// endpoint handles it: one file each, grant_*.go, registered in NewServer.
// What one authorization issued (a code, the access tokens and the rotating
// refresh tokens that came from it) is a token family, revoked as one; the
// store still names its id AuthCode.GrantID and its records store.Grants.
package oauth

import (
	"context"
	"crypto/cipher"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"gatehouse/internal/health"
	"gatehouse/internal/keys"
	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
)

// Store is what the authorization server needs from storage.
type Store interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
	store.Tokens
	store.Users
	store.Grants
}

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Issuer is the issuer identifier and public base URL (no trailing
	// slash). Required.
	Issuer string
	// Audience is the aud of access tokens: the resource they are for.
	// Empty means Issuer, where gatehouse's gateway serves the APIs.
	Audience string
	// Store is the storage backend. Required.
	Store Store
	// StoreHealth tells whether the store is known to be unreachable:
	// then the token endpoint answers every client 503
	// temporarily_unavailable at once, known or not, rather than serving
	// some from caches (see Token). Nil means it is never consulted.
	StoreHealth *health.Tracker
	// Keys signs and verifies tokens. Required, loaded.
	Keys *keys.Manager
	// Render writes and logs errors. Nil means a Renderer that logs to
	// Logger.
	Render *problem.Renderer
	// AccessTokenTTL is the access-token lifetime. Zero means 3599 s.
	AccessTokenTTL time.Duration
	// MaxFormBytes bounds request bodies (413 beyond). Zero means 64 KiB.
	MaxFormBytes int64
	// ClientCacheTTL is how long a client or user record (or its absence) is
	// cached. Changes made on this node apply at once through Forget;
	// changes made elsewhere apply within this time. Zero means 1 s.
	ClientCacheTTL time.Duration
	// RevocationPoll is how often revocations made on other nodes are
	// fetched. Zero means 500 ms.
	RevocationPoll time.Duration
	// KnownScopes reports whether a scope exists at all, to tell an
	// unknown scope from one the client is not allowed. Nil means only the
	// client's own scopes are known.
	KnownScopes func(scope string) bool
	// Secret is the system secret; keys for sessions, CSRF tokens,
	// pairwise subjects and the encrypted line claim are derived from it.
	// Required for the three-legged flows.
	Secret string
	// ResolveOperatorToken resolves the TS.43 operator token of a JWT
	// bearer assertion's sub ("operatortoken:<token>", CAMARA profile) to
	// the line's phone number in E.164; store.ErrNotFound means the
	// network does not know it. Nil means operator tokens are not
	// resolved: such an assertion is refused (operator_token_unresolved).
	ResolveOperatorToken func(ctx context.Context, token string) (phone string, err error)
	// NetworkLogin lets end users be identified "by the network" from a
	// phone number alone, as the sandbox does; false requires a password.
	NetworkLogin bool
	// RequirePKCE requires a PKCE S256 challenge in every authorization
	// request, confidential clients' too (OAuth 2.1; RFC 9700 §2.1.1
	// recommends it). Public clients need one whatever this says.
	RequirePKCE bool
	// AbuseLimiter enforces the token endpoint's own limits. Nil means
	// none.
	AbuseLimiter ratelimit.Limiter
	// ClientRate and AddressRate are the token endpoint's limits in
	// requests per second (burst twice that) per authenticated client and
	// per source address; 0 turns one off.
	ClientRate  int
	AddressRate int
	// SignInAddressRate limits end-user sign-in attempts per source
	// address (per second, bursts of ten times that); 0 turns it off. The
	// per-account limit applies whenever AbuseLimiter is set.
	SignInAddressRate int
	// Logger receives operational logs. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Server is the authorization server. Create it with NewServer and start
// its background work with Run.
type Server struct {
	cfg Config

	lineOnce sync.Once
	line     cipher.AEAD
	lineErr  error

	render   *problem.Renderer
	clients  *recordCache[store.Client]
	users    *recordCache[store.User]
	revoked  *revocations
	verified *verifiedTokens
	grants   map[string]grant
}

// NewServer returns a Server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.Audience == "" {
		cfg.Audience = cfg.Issuer
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = 3599 * time.Second
	}
	if cfg.MaxFormBytes <= 0 {
		cfg.MaxFormBytes = 64 << 10
	}
	if cfg.ClientCacheTTL <= 0 {
		cfg.ClientCacheTTL = time.Second
	}
	if cfg.RevocationPoll <= 0 {
		cfg.RevocationPoll = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, render: cfg.Render}
	if s.render == nil {
		s.render = &problem.Renderer{Logger: cfg.Logger}
	}
	s.clients = newRecordCache(cfg.Store.GetClient, cfg.ClientCacheTTL, cfg.Now)
	s.users = newRecordCache(cfg.Store.GetUser, cfg.ClientCacheTTL, cfg.Now)
	s.revoked = newRevocations(cfg.Store, cfg.Now)
	s.verified = newVerifiedTokens(100_000)
	s.grants = map[string]grant{
		GrantClientCredentials: clientCredentials{},
		GrantAuthorizationCode: authorizationCode{},
		GrantRefreshToken:      refreshToken{},
		GrantCIBA:              cibaGrant{},
		GrantJWTBearer:         jwtBearer{},
	}
	return s
}

// Run loads the revocation list, then keeps it and the signing keys fresh
// until ctx is done. It returns once the first load finished (or failed) and
// continues in the background.
func (s *Server) Run(ctx context.Context) error {
	if err := s.revoked.load(ctx); err != nil {
		return err
	}
	go s.revoked.poll(ctx, s.cfg.RevocationPoll, s.cfg.Logger)
	go s.housekeeping(ctx)
	return nil
}

// housekeeping reloads the signing keys every second (rotations by other
// nodes or the CLI; an unchanged set costs one small query) and prunes expired revocations and assertion ids.
func (s *Server) housekeeping(ctx context.Context) {
	keyTick := time.NewTicker(time.Second)
	pruneTick := time.NewTicker(10 * time.Minute)
	defer keyTick.Stop()
	defer pruneTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keyTick.C:
			if err := s.cfg.Keys.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("reloading signing keys failed", "err", err)
			}
		case <-pruneTick.C:
			// Pruning may take longer than a request's store call.
			if err := s.cfg.Store.DeleteExpired(store.WithTimeout(ctx, time.Minute), s.cfg.Now()); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("pruning expired tokens failed", "err", err)
			}
		}
	}
}

// SetKnownScopes replaces the KnownScopes function (the served APIs are
// known only once the gateway has loaded). Call it before serving.
func (s *Server) SetKnownScopes(known func(scope string) bool) { s.cfg.KnownScopes = known }

// ForgetClient drops a client from the cache so changes made through this
// process apply to the next request.
func (s *Server) ForgetClient(id string) { s.clients.forget(id) }

// ForgetUser drops a user from the cache after a change, so that this node
// refuses a deleted user's access tokens at once.
func (s *Server) ForgetUser(id string) { s.users.forget(id) }

// throttle applies one of the token endpoint's abuse limits. Limiter
// failures let the request through: these limits protect the service, they
// are not a promise to anyone.
func (s *Server) throttle(ctx context.Context, key string, perSecond int, who string) *problem.Error {
	if s.cfg.AbuseLimiter == nil || perSecond <= 0 {
		return nil
	}
	p := ratelimit.Policy{Rate: float64(perSecond), Burst: int64(2 * perSecond)}
	d, err := s.cfg.AbuseLimiter.Allow(ctx, key, p, s.cfg.Now())
	if err != nil || d.Allowed() {
		return nil
	}
	return problem.Newf(problem.TooManyRequestsTokenEndpointRateLimited,
		"More than %d token requests per second came from this %s; retry after the time in Retry-After.", perSecond, who).
		WithRetryAfter(d.RetryAfter)
}

// remoteHost is the request's source address without the port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// writeJSON writes a successful OAuth JSON response that must not be cached
// (RFC 6749 §5.1), newline-terminated like every other JSON body.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	_, _ = w.Write(newline)
}

var newline = []byte("\n")
