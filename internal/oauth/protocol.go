package oauth

// Grant types (RFC 6749 §4, RFC 7523 §2.1, OpenID Connect CIBA §4).
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantCIBA              = "urn:openid:params:grant-type:ciba"
)

// RegistrableGrants are the grant types a client may be registered for. The
// token endpoint serves the subset its grants implement (Server.GrantTypes,
// also what discovery lists); a registered but unserved grant type is
// answered unsupported_grant_type until its flow ships.
var RegistrableGrants = []string{
	GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken, GrantJWTBearer, GrantCIBA,
}

// Client authentication methods (RFC 7591 §2, OpenID Connect Core §9).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthNone              = "none"
)

// ClientAssertionTypeJWT is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2).
const ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Token types.
const (
	TokenTypeBearer = "Bearer"
	// AccessTokenJWTType is the typ header of access tokens (RFC 9068 §2.1).
	AccessTokenJWTType = "at+jwt"
	// HintAccessToken and HintRefreshToken are token_type_hint values
	// (RFC 7009 §2.1, RFC 7662 §2.1).
	HintAccessToken  = "access_token"
	HintRefreshToken = "refresh_token"
)

// MaxAssertionLifetime bounds exp-iat of private_key_jwt client assertions.
const MaxAssertionLifetime = 300

// ScopeIntrospect lets a client (a resource server) introspect tokens issued
// to other clients. Without it a client may introspect only its own tokens.
const ScopeIntrospect = "gatehouse:introspect"

// Paths of the authorization server's endpoints, relative to the issuer.
const (
	PathToken         = "/oauth2/token"
	PathIntrospect    = "/oauth2/introspect"
	PathRevoke        = "/oauth2/revoke"
	PathJWKS          = "/oauth2/jwks"
	PathOIDCDiscovery = "/.well-known/openid-configuration"
	PathASDiscovery   = "/.well-known/oauth-authorization-server"
)
