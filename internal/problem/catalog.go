package problem

// catalog is the registry. Keys and cause ids are a public contract: clients
// and dashboards match on them, so never rename one; add new ones instead.
var catalog = []Entry{
	// ---- HTTP status codes (the seed page's first table) ----
	{
		Key: "bad_request", Status: 400, OAuthCode: "invalid_request", CamaraCode: "INVALID_ARGUMENT", Group: GroupHTTP,
		Title:       "Bad Request",
		Description: "The request could not be understood or is missing required parameters.",
		Causes: []Cause{
			{ID: "malformed_body", Text: "The request body is not valid JSON, or not the JSON the API expects."},
			{ID: "schema_violation", Text: "A field is missing, has the wrong type or breaks a rule of the API's schema."},
			{ID: "invalid_parameter", Text: "A path, query or header parameter is missing or invalid."},
			{ID: "malformed_request", Text: "The HTTP request itself is malformed (bad header, missing Host, bad encoding)."},
		},
		Fix: "Compare the request with the API reference: send every required field with the documented type and format, as valid JSON with Content-Type: application/json.",
	},
	{
		Key: "unauthenticated", Status: 401, CamaraCode: "UNAUTHENTICATED", Group: GroupHTTP,
		Title:       "Unauthorized",
		Description: "The request lacks valid authentication credentials: missing, invalid, or expired credentials.",
		Causes: []Cause{
			{ID: "missing_token", Text: "No access token was sent in the Authorization header."},
			{ID: "missing_admin_token", Text: "The admin API was called without the admin token."},
			{ID: "invalid_admin_token", Text: "The admin token sent does not match the configured one."},
		},
		Fix: "Send `Authorization: Bearer <access token>`; get a token from the token endpoint with your app's client_id and client_secret.",
	},
	{
		Key: "permission_denied", Status: 403, CamaraCode: "PERMISSION_DENIED", Group: GroupHTTP,
		Title:       "Forbidden",
		Description: "The authenticated client does not have permission to access the requested resource.",
		Causes: []Cause{
			{ID: "not_subscribed", Text: "The app is not subscribed to this API."},
			{ID: "client_not_allowed", Text: "The client app is not authorized for this action."},
		},
		Fix: "Subscribe the app to the API in the portal, and request the scopes the operation needs.",
	},
	{
		Key: "not_found", Status: 404, CamaraCode: "NOT_FOUND", Group: GroupHTTP,
		Title:       "Not Found",
		Description: "The requested resource could not be found.",
		Causes: []Cause{
			{ID: "unknown_path", Text: "No API or endpoint is served at this path."},
			{ID: "resource_not_found", Text: "The resource named in the path does not exist or was deleted."},
		},
		Fix: "Check the endpoint URL against the API reference or the discovery document, including the version segment.",
	},
	{
		Key: "method_not_allowed", Status: 405, CamaraCode: "METHOD_NOT_ALLOWED", Group: GroupHTTP,
		Title:       "Method Not Allowed",
		Description: "The HTTP method is not supported for this endpoint.",
		Causes: []Cause{
			{ID: "method_not_supported", Text: "The endpoint exists but does not accept this HTTP method (for example GET instead of POST on the token endpoint)."},
		},
		Fix: "Use one of the methods listed in the Allow response header.",
	},
	{
		Key: "not_acceptable", Status: 406, CamaraCode: "NOT_ACCEPTABLE", Group: GroupHTTP,
		Title:       "Not Acceptable",
		Description: "The server cannot produce a response in a format the Accept header allows.",
		Causes: []Cause{
			{ID: "accept_unsatisfiable", Text: "The Accept header excludes every media type this endpoint can return."},
		},
		Fix: "Send `Accept: application/json` (or omit Accept).",
	},
	{
		Key: "unsupported_media_type", Status: 415, CamaraCode: "UNSUPPORTED_MEDIA_TYPE", Group: GroupHTTP,
		Title:       "Unsupported Media Type",
		Description: "The request body's Content-Type is not one this endpoint accepts.",
		Causes: []Cause{
			{ID: "content_type_unsupported", Text: "The Content-Type header names a media type the endpoint does not accept."},
		},
		Fix: "Send the body with a Content-Type the endpoint documents, usually application/json.",
	},
	{
		Key: "payload_too_large", Status: 413, CamaraCode: "PAYLOAD_TOO_LARGE", Group: GroupHTTP,
		Title:       "Payload Too Large",
		Description: "The request body exceeds the maximum size this endpoint accepts.",
		Causes: []Cause{
			{ID: "declared_too_large", Text: "Content-Length declares a body larger than the limit."},
			{ID: "body_too_large", Text: "The body sent grew past the limit while it was being read."},
		},
		Fix: "Send a smaller body; the limit is given in the error detail.",
	},
	{
		Key: "uri_too_long", Status: 414, CamaraCode: "URI_TOO_LONG", Group: GroupHTTP,
		Title:       "URI Too Long",
		Description: "The request URI is longer than the server accepts.",
		Causes: []Cause{
			{ID: "uri_too_long", Text: "The path and query string together exceed the limit."},
		},
		Fix: "Shorten the query string, or send the parameters in a POST body.",
	},
	{
		Key: "unprocessable_entity", Status: 422, CamaraCode: "UNPROCESSABLE_ENTITY", Group: GroupHTTP,
		Title:       "Unprocessable Entity",
		Description: "The request is well-formed but breaks a rule of the API.",
		Causes: []Cause{
			{ID: "validation_rule", Text: "A field value is well-formed but violates an API rule."},
		},
		Fix: "Correct the field named in the error detail according to the API reference.",
	},
	{
		Key: "too_many_requests", Status: 429, OAuthCode: "slow_down", CamaraCode: "TOO_MANY_REQUESTS", Group: GroupHTTP,
		Title:       "Too Many Requests",
		Description: "The client sent more requests than its rate limit allows.",
		Causes: []Cause{
			{ID: "rate_limited", Text: "The plan's rate limit for this API was exceeded."},
			{ID: "token_endpoint_rate_limited", Text: "Too many token requests came from this client or address."},
		},
		Fix: "Wait the number of seconds in Retry-After, then retry with exponential backoff; consider a plan with a higher rate.",
	},
	{
		Key: "header_fields_too_large", Status: 431, CamaraCode: "HEADER_FIELDS_TOO_LARGE", Group: GroupHTTP,
		Title:       "Request Header Fields Too Large",
		Description: "The request's headers are larger than the server accepts.",
		Causes: []Cause{
			{ID: "headers_too_large", Text: "The header block as a whole exceeds the limit."},
		},
		Fix: "Send fewer or smaller headers; drop unneeded cookies and metadata.",
	},
	{
		Key: "internal", Status: 500, OAuthCode: "server_error", CamaraCode: "INTERNAL", Group: GroupHTTP,
		Title:       "Internal Server Error",
		Description: "An unexpected error occurred on the server.",
		Causes: []Cause{
			{ID: "unexpected", Text: "An unexpected condition on the server side."},
			{ID: "panic", Text: "The server hit a bug while handling the request; it was logged with the correlator."},
		},
		Fix: "Retry later. If it persists, contact support with the x-correlator value of the failed response.",
	},
	{
		Key: "unavailable", Status: 503, OAuthCode: "temporarily_unavailable", CamaraCode: "UNAVAILABLE", Group: GroupHTTP,
		Title:       "Service Unavailable",
		Description: "The service is temporarily unable to handle the request.",
		Causes: []Cause{
			{ID: "store_unavailable", Text: "The platform's database cannot be reached."},
			{ID: "maintenance", Text: "The API is in maintenance."},
			{ID: "shutting_down", Text: "The server is shutting down."},
		},
		Fix: "Wait the number of seconds in Retry-After and retry.",
	},

	// ---- OAuth 2.0 & OpenID Connect ----
	{
		Key: "invalid_request", Status: 400, OAuthCode: "invalid_request", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Invalid Request",
		Description: "The request is missing a required parameter, repeats one, or includes an invalid value.",
		Causes: []Cause{
			{ID: "missing_parameter", Text: "A required parameter is missing."},
			{ID: "repeated_parameter", Text: "A parameter appears more than once."},
			{ID: "invalid_parameter", Text: "A parameter has an invalid value."},
			{ID: "wrong_content_type", Text: "The body is not application/x-www-form-urlencoded."},
			{ID: "malformed_body", Text: "The form body could not be parsed."},
			{ID: "multiple_client_auth", Text: "The client authenticated with more than one method in the same request."},
			{ID: "multiple_credentials", Text: "The request carried more than one access token."},
		},
		Fix: "Send every required parameter exactly once, form-encoded, as the endpoint's documentation lists them.",
	},
	{
		Key: "invalid_client", Status: 401, OAuthCode: "invalid_client", CamaraCode: "UNAUTHENTICATED", Group: GroupOAuth,
		Title:       "Invalid Client",
		Description: "Client authentication failed.",
		Causes: []Cause{
			{ID: "missing_credentials", Text: "The request carried no client credentials."},
			{ID: "unknown_client", Text: "No client with this client_id exists."},
			{ID: "wrong_secret", Text: "The client_secret does not match."},
			{ID: "client_suspended", Text: "The client is suspended."},
			{ID: "auth_method_mismatch", Text: "The client authenticated with a method other than the one it is registered for."},
			{ID: "invalid_assertion", Text: "The client assertion (private_key_jwt) is malformed or its signature does not verify."},
			{ID: "assertion_expired", Text: "The client assertion has expired or lives longer than allowed."},
			{ID: "assertion_audience", Text: "The client assertion's aud does not name this server."},
			{ID: "assertion_replayed", Text: "The client assertion's jti was already used."},
		},
		Fix: "Check client_id and client_secret (or the assertion key), and that the app is active and uses its registered authentication method.",
	},
	{
		Key: "unauthorized_client", Status: 400, OAuthCode: "unauthorized_client", CamaraCode: "PERMISSION_DENIED", Group: GroupOAuth,
		Title:       "Unauthorized Client",
		Description: "The client is not allowed to use this grant type.",
		Causes: []Cause{
			{ID: "grant_not_allowed", Text: "The client is not registered for this grant type."},
		},
		Fix: "Register the grant type for the client, or use one it is registered for.",
	},
	{
		Key: "unsupported_grant_type", Status: 400, OAuthCode: "unsupported_grant_type", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Unsupported Grant Type",
		Description: "The authorization server does not support the requested grant type.",
		Causes: []Cause{
			{ID: "unknown_grant_type", Text: "The grant_type value is unknown or misspelled."},
		},
		Fix: "Use a grant type listed in grant_types_supported in the discovery document.",
	},
	{
		Key: "invalid_scope", Status: 400, OAuthCode: "invalid_scope", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Invalid Scope",
		Description: "The requested scope is invalid, unknown, or not allowed for this client.",
		Causes: []Cause{
			{ID: "unknown_scope", Text: "A requested scope does not exist."},
			{ID: "scope_not_allowed", Text: "A requested scope is not allowed for this client."},
			{ID: "malformed_scope", Text: "The scope parameter is not a space-separated list of scope tokens."},
		},
		Fix: "Request only scopes the client is allowed, spelled exactly as documented.",
	},
	{
		Key: "server_error", Status: 500, OAuthCode: "server_error", CamaraCode: "INTERNAL", Group: GroupOAuth,
		Title:       "Server Error",
		Description: "The authorization server encountered an unexpected condition.",
		Causes: []Cause{
			{ID: "unexpected", Text: "An unexpected condition on the server."},
		},
		Fix: "Retry later; if it persists, contact support with the correlator.",
	},
	{
		Key: "temporarily_unavailable", Status: 503, OAuthCode: "temporarily_unavailable", CamaraCode: "UNAVAILABLE", Group: GroupOAuth,
		Title:       "Temporarily Unavailable",
		Description: "The authorization server is temporarily unable to handle the request.",
		Causes: []Cause{
			{ID: "store_unavailable", Text: "The platform's database cannot be reached."},
			{ID: "maintenance", Text: "The server is in maintenance or shutting down."},
		},
		Fix: "Wait the number of seconds in Retry-After and retry.",
	},

	// ---- Token-related ----
	{
		Key: "invalid_token", Status: 401, OAuthCode: "invalid_token", CamaraCode: "UNAUTHENTICATED", Group: GroupToken,
		Title:       "Invalid Token",
		Description: "The access token is missing, invalid, or expired.",
		Causes: []Cause{
			{ID: "malformed", Text: "The token is not a well-formed JWT."},
			{ID: "expired", Text: "The token has expired."},
			{ID: "not_yet_valid", Text: "The token is not valid yet."},
			{ID: "revoked", Text: "The token was revoked."},
			{ID: "wrong_issuer", Text: "The token was issued by another authorization server."},
			{ID: "wrong_audience", Text: "The token was issued for another resource."},
			{ID: "bad_signature", Text: "The token's signature does not verify, or it uses an algorithm or key this server does not accept."},
		},
		Fix: "Request a new access token and use it within its lifetime.",
	},
	{
		Key: "insufficient_scope", Status: 403, OAuthCode: "insufficient_scope", CamaraCode: "PERMISSION_DENIED", Group: GroupToken,
		Title:       "Insufficient Scope",
		Description: "The access token does not carry a scope the operation requires.",
		Causes: []Cause{
			{ID: "scope_missing", Text: "The token lacks the scope this operation requires."},
		},
		Fix: "Request a new token with the scope named in the error (and make sure your app is allowed it).",
	},
	{
		Key: "already_exists", Status: 409, CamaraCode: "ALREADY_EXISTS", Group: GroupAPI,
		Title:       "Already Exists",
		Description: "The resource you tried to create already exists.",
		Causes: []Cause{
			{ID: "duplicate", Text: "A resource with the same identifier or name already exists."},
		},
		Fix: "Use another name, or update the existing resource instead.",
	},
}
