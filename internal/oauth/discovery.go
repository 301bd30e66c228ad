package oauth

import (
	"encoding/json"
	"net/http"
	"slices"
)

// metadata is the authorization server metadata (RFC 8414 §2), which is also
// the OpenID Provider metadata (OpenID Connect Discovery §3). It lists only
// what is implemented: discovery is the contract clients build on.
type metadata struct {
	Issuer                                string   `json:"issuer"`
	AuthorizationEndpoint                 string   `json:"authorization_endpoint"`
	UserinfoEndpoint                      string   `json:"userinfo_endpoint,omitempty"`
	BackchannelAuthenticationEndpoint     string   `json:"backchannel_authentication_endpoint"`
	BackchannelTokenDeliveryModes         []string `json:"backchannel_token_delivery_modes_supported"`
	BackchannelUserCodeParameterSupported bool     `json:"backchannel_user_code_parameter_supported"`
	CodeChallengeMethodsSupported         []string `json:"code_challenge_methods_supported"`
	ResponseModesSupported                []string `json:"response_modes_supported"`
	ClaimsSupported                       []string `json:"claims_supported,omitempty"`
	PromptValuesSupported                 []string `json:"prompt_values_supported,omitempty"`
	RequestParameterSupported             bool     `json:"request_parameter_supported"`
	// RequestObjectSigningAlgs are the algorithms request objects may be
	// signed with (OpenID Connect Discovery §3, RFC 8414 §2);
	// BackchannelRequestSigningAlgs those of CIBA's signed authentication
	// requests (CIBA Core §4). Both are the client assertions' list.
	RequestObjectSigningAlgs      []string `json:"request_object_signing_alg_values_supported"`
	BackchannelRequestSigningAlgs []string `json:"backchannel_authentication_request_signing_alg_values_supported"`
	// RequestURIParameterSupported defaults to true when absent (OpenID
	// Connect Discovery §3), so false must be published explicitly.
	RequestURIParameterSupported           bool     `json:"request_uri_parameter_supported"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	JWKSURI                                string   `json:"jwks_uri"`
	IntrospectionEndpoint                  string   `json:"introspection_endpoint"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	ScopesSupported                        []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                 []string `json:"response_types_supported"`
	GrantTypesSupported                    []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs           []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethods       []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigningAlgs   []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethods          []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationEndpointAuthSigningAlgs      []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	ServiceDocumentation                   string   `json:"service_documentation"`
	SubjectTypesSupported                  []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported       []string `json:"id_token_signing_alg_values_supported,omitempty"`
	AccessTokenSigningAlgValuesSupported   []string `json:"access_token_signing_alg_values_supported,omitempty"`
	TLSClientCertificateBoundAccessTokens  bool     `json:"tls_client_certificate_bound_access_tokens"`
	AuthorizationResponseISSParamSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

func (s *Server) metadata(oidc bool) metadata {
	iss := s.cfg.Issuer
	secretMethods := []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT}
	algs := assertionAlgorithmNames()
	m := metadata{
		Issuer:                                 iss,
		AuthorizationEndpoint:                  iss + PathAuthorize,
		BackchannelAuthenticationEndpoint:      iss + PathBCAuthorize,
		BackchannelTokenDeliveryModes:          []string{"poll"},
		CodeChallengeMethodsSupported:          []string{"S256"},
		ResponseModesSupported:                 []string{"query"},
		ScopesSupported:                        []string{ScopeOpenID, ScopePhone, ScopeOfflineAccess},
		AuthorizationResponseISSParamSupported: true,
		RequestParameterSupported:              true,
		RequestObjectSigningAlgs:               algs,
		BackchannelRequestSigningAlgs:          algs,
		TokenEndpoint:                          iss + PathToken,
		JWKSURI:                                iss + PathJWKS,
		IntrospectionEndpoint:                  iss + PathIntrospect,
		RevocationEndpoint:                     iss + PathRevoke,
		ResponseTypesSupported:                 []string{"code"},
		GrantTypesSupported:                    s.GrantTypes(),
		TokenEndpointAuthMethodsSupported:      append(slices.Clone(secretMethods), AuthNone),
		TokenEndpointAuthSigningAlgs:           algs,
		IntrospectionEndpointAuthMethods:       secretMethods,
		IntrospectionEndpointAuthSigningAlgs:   algs,
		RevocationEndpointAuthMethods:          append(slices.Clone(secretMethods), AuthNone),
		RevocationEndpointAuthSigningAlgs:      algs,
		ServiceDocumentation:                   iss + "/docs/errors",
		AccessTokenSigningAlgValuesSupported:   []string{"ES256"},
	}
	if oidc {
		m.UserinfoEndpoint = iss + PathUserinfo
		m.SubjectTypesSupported = []string{"pairwise"}
		m.IDTokenSigningAlgValuesSupported = []string{"ES256"}
		m.ClaimsSupported = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "phone_number", "phone_number_verified"}
		m.PromptValuesSupported = []string{"none", "login", "consent"}
	}
	return m
}

// Discovery serves the OpenID Provider configuration (oidc true) or the
// RFC 8414 authorization server metadata.
func (s *Server) Discovery(oidc bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := json.MarshalIndent(s.metadata(oidc), "", "  ")
		if err != nil {
			s.render.API(w, r, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	})
}

// JWKS serves the public signing keys (RFC 7517), current first.
func (s *Server) JWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		// Short: verifiers must see a rotated-in key soon, and they
		// re-fetch on an unknown kid anyway.
		h.Set("Cache-Control", "public, max-age=60")
		_, _ = w.Write(s.cfg.Keys.JWKS())
	})
}
