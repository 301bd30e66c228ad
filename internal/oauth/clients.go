package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// ClientSpec is what an operator sets on a client. Nil fields of an update
// are left as they are.
type ClientSpec struct {
	// ID, when not empty, is the new client's id instead of a random one
	// (Create only; never read from a request body). The admin API derives
	// it from the request's Idempotency-Key, so that a retried create whose
	// first attempt was stored after all conflicts instead of creating a
	// second client.
	ID string `json:"-"`
	// AppID and Environment make the client an app's credential (Create
	// only; set by the portal, never read from a request body).
	AppID                   string           `json:"-"`
	Environment             string           `json:"-"`
	Name                    *string          `json:"name,omitempty"`
	GrantTypes              *[]string        `json:"grant_types,omitempty"`
	Scopes                  *[]string        `json:"scopes,omitempty"`
	RedirectURIs            *[]string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod *string          `json:"token_endpoint_auth_method,omitempty"`
	JWKS                    *json.RawMessage `json:"jwks,omitempty"`
	Status                  *string          `json:"status,omitempty"`
	// AllowUnknownScopes accepts scopes that neither the platform nor any
	// API defines yet (for an API to be imported later). It is an option
	// of this one request, not stored on the client.
	AllowUnknownScopes bool `json:"allow_unknown_scopes,omitempty"`
}

// ClientView is a client as operators see it; ClientSecret is set only in
// the answer to create and rotate-secret, the one time it is shown.
type ClientView struct {
	ClientID                string          `json:"client_id"`
	ClientSecret            string          `json:"client_secret,omitempty"`
	Name                    string          `json:"name"`
	GrantTypes              []string        `json:"grant_types"`
	Scopes                  []string        `json:"scopes"`
	RedirectURIs            []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	Status                  string          `json:"status"`
	PreviousSecretExpiresAt *time.Time      `json:"previous_secret_expires_at,omitempty"`
	AppID                   string          `json:"app_id,omitempty"`
	Environment             string          `json:"environment,omitempty"`
	LastUsedAt              *time.Time      `json:"last_used_at,omitempty"`
	CreatedAt               time.Time       `json:"created_at"`
	UpdatedAt               time.Time       `json:"updated_at"`
}

// View returns the operator's view of c (without any secret).
func View(c *store.Client) *ClientView {
	v := &ClientView{
		ClientID: c.ID, Name: c.Name, GrantTypes: orEmpty(c.GrantTypes), Scopes: orEmpty(c.Scopes),
		RedirectURIs: orEmpty(c.RedirectURIs), TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		Status: c.Status, AppID: c.AppID, Environment: c.Environment, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	if !c.LastUsedAt.IsZero() {
		t := c.LastUsedAt
		v.LastUsedAt = &t
	}
	if c.JWKS != "" {
		v.JWKS = json.RawMessage(c.JWKS)
	}
	if !c.PreviousSecretExpiresAt.IsZero() && len(c.PreviousSecretHash) > 0 {
		t := c.PreviousSecretExpiresAt
		v.PreviousSecretExpiresAt = &t
	}
	return v
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ClientStore is the storage ClientManager needs.
type ClientStore interface {
	store.Clients
}

// ClientManager creates and changes clients with every rule applied. The
// admin API and the CLI share it, so both validate the same way.
type ClientManager struct {
	Store ClientStore
	// SecretGrace is how long the previous secret keeps working after a
	// rotation. Zero means 24 h.
	SecretGrace time.Duration
	// SupportedGrants lists the grant types clients may be registered for.
	// Nil means RegistrableGrants.
	SupportedGrants []string
	// DefinedScopes returns every scope that exists: PlatformScopes and
	// those the APIs define. A scope a create or update adds that is not
	// among them is refused (bad_request, unknown_scope) unless the spec
	// sets AllowUnknownScopes. Nil means any well-formed scope is accepted.
	DefinedScopes func(ctx context.Context) ([]string, error)
	// OnChange, when set, is called with the id of every changed client
	// (to drop caches).
	OnChange func(id string)
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

func (m *ClientManager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *ClientManager) changed(id string) {
	if m.OnChange != nil {
		m.OnChange(id)
	}
}

// Create registers a client and returns it with its secret (shown once).
func (m *ClientManager) Create(ctx context.Context, spec ClientSpec) (*ClientView, error) {
	now := m.now()
	c := &store.Client{
		ID:                      "gh_" + randomString(16),
		GrantTypes:              []string{GrantClientCredentials},
		Scopes:                  []string{},
		RedirectURIs:            []string{},
		TokenEndpointAuthMethod: AuthClientSecretBasic,
		Status:                  store.ClientActive,
		CreatedAt:               now,
		UpdatedAt:               now,
	}
	if spec.ID != "" {
		c.ID = spec.ID
	}
	c.AppID, c.Environment = spec.AppID, spec.Environment
	if spec.Name == nil || strings.TrimSpace(*spec.Name) == "" {
		return nil, invalidField("name", "a client needs a name")
	}
	defined, err := m.definedScopes(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := m.apply(c, spec, defined); err != nil {
		return nil, err
	}
	var secret string
	if usesSecret(c.TokenEndpointAuthMethod) {
		secret = newClientSecret(c.Environment)
		c.SecretHash = HashSecret(secret)
	}
	if err := m.Store.CreateClient(ctx, c); err != nil {
		return nil, problem.FromStore(err, "client", c.ID)
	}
	v := View(c)
	v.ClientSecret = secret
	return v, nil
}

// Get returns one client.
func (m *ClientManager) Get(ctx context.Context, id string) (*ClientView, error) {
	c, err := m.Store.GetClient(ctx, id)
	if err != nil {
		return nil, problem.FromStore(err, "client", id)
	}
	return View(c), nil
}

// List returns every client.
func (m *ClientManager) List(ctx context.Context) ([]*ClientView, error) {
	list, err := m.Store.ListClients(ctx)
	if err != nil {
		return nil, problem.FromStore(err, "client", "")
	}
	out := make([]*ClientView, len(list))
	for i, c := range list {
		out[i] = View(c)
	}
	return out, nil
}

// Update changes the fields set in spec.
func (m *ClientManager) Update(ctx context.Context, id string, spec ClientSpec) (*ClientView, error) {
	var secret string
	defined, err := m.definedScopes(ctx, spec)
	if err != nil {
		return nil, err
	}
	c, err := m.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		wasSecret := usesSecret(c.TokenEndpointAuthMethod)
		if err := m.apply(c, spec, defined); err != nil {
			return err
		}
		switch now := usesSecret(c.TokenEndpointAuthMethod); {
		case now && !wasSecret: // moving to a secret method: issue one
			secret = newClientSecret(c.Environment)
			c.SecretHash = HashSecret(secret)
		case !now:
			c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpiresAt = nil, nil, time.Time{}
		}
		c.UpdatedAt = m.now()
		return nil
	})
	if err != nil {
		return nil, problem.FromStore(err, "client", id)
	}
	m.changed(id)
	v := View(c)
	v.ClientSecret = secret
	return v, nil
}

// Delete removes a client.
func (m *ClientManager) Delete(ctx context.Context, id string) error {
	if err := m.Store.DeleteClient(ctx, id); err != nil {
		return problem.FromStore(err, "client", id)
	}
	m.changed(id)
	return nil
}

// RotateSecret issues a new secret; the previous one keeps working for
// the grace period so deployed apps can switch without downtime.
func (m *ClientManager) RotateSecret(ctx context.Context, id string) (*ClientView, error) {
	grace := m.SecretGrace
	if grace <= 0 {
		grace = 24 * time.Hour
	}
	var secret string
	c, err := m.Store.UpdateClient(ctx, id, func(c *store.Client) error {
		if !usesSecret(c.TokenEndpointAuthMethod) {
			return invalidField("token_endpoint_auth_method",
				"this client authenticates with "+c.TokenEndpointAuthMethod+" and has no secret to rotate")
		}
		secret = newClientSecret(c.Environment) // again if the update is retried
		now := m.now()
		c.PreviousSecretHash = c.SecretHash
		c.PreviousSecretExpiresAt = now.Add(grace)
		c.SecretHash = HashSecret(secret)
		c.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, problem.FromStore(err, "client", id)
	}
	m.changed(id)
	v := View(c)
	v.ClientSecret = secret
	return v, nil
}

func usesSecret(method string) bool {
	return method == AuthClientSecretBasic || method == AuthClientSecretPost
}

// definedScopes returns the scopes that exist when spec sets scopes that
// must be checked against them, nil otherwise. It runs before the update's
// transaction, which must not wait on other reads.
func (m *ClientManager) definedScopes(ctx context.Context, spec ClientSpec) ([]string, error) {
	if spec.Scopes == nil || spec.AllowUnknownScopes || m.DefinedScopes == nil {
		return nil, nil
	}
	defined, err := m.DefinedScopes(ctx)
	if err != nil {
		return nil, problem.FromStore(err, "API", "")
	}
	if defined == nil {
		defined = []string{}
	}
	return defined, nil
}

// apply validates spec and copies its set fields onto c. defined, when not
// nil, lists the scopes that exist: a scope spec adds to c outside it is
// refused. Scopes c already holds stay acceptable, so that deleting an API
// does not block every later change of its clients.
func (m *ClientManager) apply(c *store.Client, spec ClientSpec, defined []string) error {
	if spec.Name != nil {
		name := strings.TrimSpace(*spec.Name)
		if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) {
			return invalidField("name", "the name must be 1 to 200 characters")
		}
		c.Name = name
	}
	if spec.GrantTypes != nil {
		supported := m.SupportedGrants
		if supported == nil {
			supported = RegistrableGrants
		}
		if len(*spec.GrantTypes) == 0 {
			return invalidField("grant_types", "at least one grant type is needed; supported: "+strings.Join(supported, ", "))
		}
		for _, g := range *spec.GrantTypes {
			if !slices.Contains(supported, g) {
				return invalidField("grant_types", fmt.Sprintf("%q is not supported; supported: %s", g, strings.Join(supported, ", ")))
			}
		}
		c.GrantTypes = dedupe(*spec.GrantTypes)
	}
	if spec.Scopes != nil {
		for _, sc := range *spec.Scopes {
			if _, p := parseScope(sc); p != nil || sc == "" || strings.Contains(sc, " ") {
				return invalidField("scopes", fmt.Sprintf("%q is not a valid scope token (RFC 6749 §3.3)", sc))
			}
		}
		if defined != nil {
			for _, sc := range *spec.Scopes {
				if !slices.Contains(defined, sc) && !slices.Contains(c.Scopes, sc) {
					slices.Sort(defined)
					return problem.Newf(problem.BadRequestUnknownScope,
						"scopes: %q is not defined by the platform or by any API; known scopes: %s. "+
							"Import the API that defines it first, or pass --allow-unknown-scopes (allow_unknown_scopes in the admin API) for one you will import later.",
						sc, strings.Join(defined, " ")).With("field", "scopes")
				}
			}
		}
		c.Scopes = dedupe(*spec.Scopes)
	}
	if spec.RedirectURIs != nil {
		for _, u := range *spec.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				return invalidField("redirect_uris", err.Error())
			}
		}
		c.RedirectURIs = dedupe(*spec.RedirectURIs)
	}
	if spec.TokenEndpointAuthMethod != nil {
		switch *spec.TokenEndpointAuthMethod {
		case AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthNone:
			c.TokenEndpointAuthMethod = *spec.TokenEndpointAuthMethod
		default:
			return invalidField("token_endpoint_auth_method", fmt.Sprintf("%q is not one of client_secret_basic, client_secret_post, private_key_jwt, none", *spec.TokenEndpointAuthMethod))
		}
	}
	if spec.JWKS != nil {
		raw := strings.TrimSpace(string(*spec.JWKS))
		if raw == "" || raw == "null" {
			c.JWKS = ""
		} else {
			if err := checkPublicJWKS([]byte(raw)); err != nil {
				return invalidField("jwks", err.Error())
			}
			c.JWKS = raw
		}
	}
	if spec.Status != nil {
		if *spec.Status != store.ClientActive && *spec.Status != store.ClientSuspended {
			return invalidField("status", "status must be active or suspended")
		}
		c.Status = *spec.Status
	}
	// Rules across fields.
	if c.TokenEndpointAuthMethod == AuthPrivateKeyJWT && c.JWKS == "" {
		return invalidField("jwks", "private_key_jwt needs the client's public JWKS")
	}
	if c.TokenEndpointAuthMethod == AuthNone {
		for _, g := range []string{GrantClientCredentials, GrantCIBA, GrantJWTBearer} {
			if slices.Contains(c.GrantTypes, g) {
				return invalidField("grant_types", "a public client (method none) cannot use "+g+": it has no credentials to prove")
			}
		}
	}
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return invalidField("redirect_uris", "the authorization_code grant needs at least one registered redirect URI")
	}
	if slices.Contains(c.GrantTypes, GrantJWTBearer) && c.JWKS == "" {
		return invalidField("jwks", "the JWT bearer grant needs the public keys (JWKS) the client signs its assertions with")
	}
	return nil
}

// redirectURIRegistered reports whether got matches a registered redirect
// URI: exactly, or for a loopback http URI with any port (RFC 8252 §7.3,
// RFC 9700 §4.1.3: native apps listen on an ephemeral port).
func redirectURIRegistered(registered []string, got string) bool {
	if slices.Contains(registered, got) {
		return true
	}
	g, err := url.Parse(got)
	if err != nil || g.Scheme != "http" || !isLoopbackHost(g.Hostname()) {
		return false
	}
	for _, r := range registered {
		u, err := url.Parse(r)
		if err == nil && u.Scheme == "http" && u.Hostname() == g.Hostname() &&
			u.EscapedPath() == g.EscapedPath() && u.RawQuery == g.RawQuery {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool { return h == "127.0.0.1" || h == "::1" || h == "localhost" }

// checkRedirectURI applies RFC 6749 §3.1.2 and RFC 9700 §2.1: absolute, no
// fragment, and https except for loopback or a native app's private scheme.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%q is not an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not contain a fragment (RFC 6749 §3.1.2)", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "file", "vbscript", "blob", "about":
		return fmt.Errorf("%q uses the %s: scheme, which is never a redirect target", raw, u.Scheme)
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		if host != "localhost" && host != "127.0.0.1" && host != "::1" {
			return fmt.Errorf("%q must use https (plain http only for loopback)", raw)
		}
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}

// checkPublicJWKS accepts a JWK Set of public signing keys only.
func checkPublicJWKS(raw []byte) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("not a JSON Web Key Set: %v", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("the key set has no keys")
	}
	for i, k := range set.Keys {
		if !k.Valid() {
			return fmt.Errorf("key %d is not a valid key", i)
		}
		if !k.IsPublic() {
			return fmt.Errorf("key %d is a private or symmetric key; register public keys only", i)
		}
		if k.Use != "" && k.Use != "sig" {
			return fmt.Errorf("key %d has use %q; signing keys need use sig", i, k.Use)
		}
	}
	return nil
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func invalidField(field, why string) *problem.Error {
	return problem.Newf(problem.BadRequestInvalidParameter, "%s: %s.", field, why).With("field", field)
}

// randomString returns n random bytes, base64url-encoded: safe in URLs,
// forms and HTTP Basic credentials without escaping.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
