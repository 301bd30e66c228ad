package problem

// catalog is the registry. Keys and cause ids are a public contract: clients
// and dashboards match on them, so never rename one; add new ones instead.
// After adding or removing a cause, run `go generate ./internal/problem`:
// reasons.go gives each cause the typed name callers raise it with. A cause
// nothing raises is marked Planned, Upstream or Reserved (see Cause and
// raised_test.go).
//
// Texts follow three rules, checked by catalog_test.go:
//   - Description and cause texts may be sent as an OAuth error_description,
//     so they stay within the RFC 6749 section 5.2 character set: printable
//     ASCII without double quote or backslash.
//   - Every text is a full sentence ending with a period.
//   - Fix says what to change, naming the header, parameter or portal page
//     to check. `Backticks` mark literal values; the troubleshooting page
//     shows them as code.
//
// Entries are listed in the order the troubleshooting page shows them: by
// group, then by status; OAuth entries follow the order of the specifications
// and of the flows instead (request, client, grant, authorization endpoint,
// CIBA, revocation, server).
var catalog = []Entry{
	// ---- HTTP status codes ----
	{
		Key: "bad_request", Status: 400, OAuthCode: "invalid_request", CamaraCode: "INVALID_ARGUMENT", Group: GroupHTTP,
		Title:       "Bad Request",
		Description: "The request could not be understood, or a required parameter is missing or invalid.",
		Causes: []Cause{
			{ID: "malformed_body", Text: "The request body is not valid JSON, or not the JSON structure the API expects."},
			{ID: "schema_violation", Text: "A field is missing, has the wrong type, or breaks a rule of the API's schema (format, pattern, length)."},
			{ID: "invalid_parameter", Text: "A path, query or header parameter is missing or has an invalid value."},
			{ID: "malformed_request", Text: "The HTTP request itself is malformed (bad header syntax, missing Host, invalid percent-encoding)."},
			{ID: "unknown_scope", Text: "A client was registered or updated with a scope that neither the platform nor any API defines."},
			{ID: "duplicate_key", Text: "A JSON object in the body names the same member twice; parsers disagree on which value counts, so the body is refused."},
			{ID: "member_case_mismatch", Text: "A JSON member's name differs from a documented member only by letter case (`MaxAge` for `maxAge`); decoders that ignore case would read it unchecked, so the body is refused."},
			{ID: "path_encoded_delimiter", Text: "The path percent-encodes a control character, a question mark, a number sign, a slash or a backslash, which could change how the request is routed or forwarded."},
			{ID: "path_dot_segment", Text: "The path contains a dot-segment (. or .., raw or percent-encoded), which could reach another path than the one routed."},
			{ID: "query_not_canonical", Text: "The query string contains a raw space, control character, number sign or semicolon, or an invalid percent-encoding, so it could be read differently than it was validated."},
			{ID: "invalid_idempotency_key", Text: "The Idempotency-Key header is empty, longer than 255 characters, sent more than once, or holds characters other than printable ASCII."},
			{ID: "ambiguous_framing", Text: "The request carries both Content-Length and Transfer-Encoding, so its body length is ambiguous (RFC 9112 section 6.1); the connection is closed."},
		},
		Fix: "Compare the request with the operation in the API reference: send every required field with the documented type and format, as valid JSON with `Content-Type: application/json`, each object member once. The `detail` member names the field or parameter that failed. A client's scopes must be ones the platform or an API defines (the detail lists them); register an API before the clients that use its scopes, or pass `--allow-unknown-scopes` (`allow_unknown_scopes` in the admin API) for an API you will import later. An `Idempotency-Key` is one header of 1 to 255 printable ASCII characters, for example a UUID. For OAuth endpoints, see `invalid_request`.",
	},
	{
		Key: "unauthenticated", Status: 401, CamaraCode: "UNAUTHENTICATED", Group: GroupHTTP,
		Title:       "Unauthorized",
		Description: "The request is not authenticated because credentials are missing, invalid, or expired; a new authentication is required.",
		Causes: []Cause{
			{ID: "missing_token", Text: "No access token was sent in the Authorization header."},
			{ID: "missing_admin_token", Text: "The admin API was called without the admin token in the Authorization header."},
			{ID: "invalid_admin_token", Text: "The admin token sent does not match the one the server is configured with."},
			{ID: "session_required", Text: "A portal endpoint was called without a signed-in developer session, or the session has expired."},
			{ID: "recovery_code_used", Text: "The code step of a portal sign-in was given a recovery code that was already used: each recovery code signs in once."},
		},
		Fix: "Send `Authorization: Bearer <access token>` with every API call. Get the token from the token endpoint (`token_endpoint` in `/.well-known/openid-configuration`) with your app's client_id and client_secret, and get a new one before `expires_in` runs out. Admin API calls take `Authorization: Bearer <admin token>` as configured on the server; for the portal, sign in again. For a used recovery code, enter another unused one or the code your authenticator app shows; once signed in, make new recovery codes on your account page, and change your password if you did not use that code yourself.",
	},
	{
		Key: "permission_denied", Status: 403, CamaraCode: "PERMISSION_DENIED", Group: GroupHTTP,
		Title:       "Forbidden",
		Description: "The client is authenticated but does not have permission to perform this action.",
		Causes: []Cause{
			{ID: "not_subscribed", Text: "The app is not subscribed to this API, or its subscription has ended."},
			{ID: "subscription_pending", Text: "The app's subscription to this API waits for the operator's approval of its plan."},
			{ID: "client_not_allowed", Text: "The client app is not authorized for this action.",
				Upstream: true},
			{ID: "app_suspended", Text: "The app has been suspended by the operator."},
			{ID: "environment_mismatch", Text: "Sandbox credentials were used for a production API, or production credentials for the sandbox."},
			{ID: "role_insufficient", Text: "The signed-in developer's role in the organisation does not allow this action: owners and admins manage apps, members and purchases."},
			{ID: "try_it_disabled", Text: "The portal's try-it console does not call this live API: the operator has not opened it to try-it."},
			{ID: "no_app_credentials", Text: "The portal's try-it console has no credentials of the signed-in developer's apps for this API to call with: sandbox credentials for a sandbox API, production credentials (they come with a subscription) for a live one."},
			{ID: "invitation_addressee", Text: "An invitation to join an organisation was opened by a developer signed in with another e-mail address than the one it was sent to."},
		},
		Fix: "In the developer portal, open the app and subscribe it to the API (or renew its subscription), and check that you use the credentials of the right environment: a sandbox app for the sandbox, a production app for production. Missing scopes are reported as `insufficient_scope`. If the app was suspended, contact the operator. Try-it calls with your first app's credentials of the API's environment (sandbox credentials for a sandbox API: create an app on the portal's Apps page if you have none; production credentials for a live API: subscribe an app to it first), sandbox APIs always, a live API only once the operator opens it (`gatehouse apis update NAME --try-live`): until then, call it from your app as the code samples on the API page show. An invitation to an organisation is accepted only by the account with the address it was sent to: sign in with that address, or ask for an invitation to yours.",
	},
	{
		Key: "not_found", Status: 404, CamaraCode: "NOT_FOUND", Group: GroupHTTP,
		Title:       "Not Found",
		Description: "The requested resource could not be found.",
		Causes: []Cause{
			{ID: "unknown_path", Text: "No API or endpoint is served at this path."},
			{ID: "resource_not_found", Text: "The resource named in the path does not exist or was deleted."},
			{ID: "api_version_unknown", Text: "The API exists, but not in the major version named in the path."},
		},
		Fix: "Check the URL against the API reference: host, base path with its major version (for example `/sim-swap/v2`), and operation path, with no trailing slash. OAuth and OpenID endpoints are listed in `/.well-known/openid-configuration`. For a resource, check its id and that it was not deleted.",
	},
	{
		Key: "method_not_allowed", Status: 405, CamaraCode: "METHOD_NOT_ALLOWED", Group: GroupHTTP,
		Title:       "Method Not Allowed",
		Description: "The HTTP method is not supported for this endpoint.",
		Causes: []Cause{
			{ID: "method_not_supported", Text: "The endpoint exists but does not accept this HTTP method (for example GET instead of POST on the token endpoint)."},
		},
		Fix: "Use one of the methods listed in the response's `Allow` header. The token, revocation, introspection and backchannel authentication endpoints take POST with a form body; most CAMARA operations take POST with a JSON body.",
	},
	{
		Key: "not_acceptable", Status: 406, CamaraCode: "NOT_ACCEPTABLE", Group: GroupHTTP,
		Title:       "Not Acceptable",
		Description: "The server cannot produce a response in any format the Accept header allows.",
		Causes: []Cause{
			{ID: "accept_unsatisfiable", Text: "The Accept header excludes every media type this endpoint can return."},
		},
		Fix: "Send `Accept: application/json` (or `*/*`, or no Accept header at all): results and errors are JSON. Check for typos such as `application/jsn` and for `q=0` on the type you want.",
	},
	{
		Key: "request_timeout", Status: 408, CamaraCode: "REQUEST_TIMEOUT", Group: GroupHTTP,
		Title:       "Request Timeout",
		Description: "The client did not send the complete request in the time the server waits for it.",
		Causes: []Cause{
			{ID: "body_read_timeout", Text: "The request body did not arrive completely within the server's body read time limit; the connection is closed."},
		},
		Fix: "Send the whole body right after the headers, with a `Content-Length` that matches it exactly, and retry on a new connection. The limit is the operator's `body_read_timeout` setting (10 seconds by default).",
	},
	{
		Key: "gone", Status: 410, CamaraCode: "GONE", Group: GroupHTTP,
		Title:       "Gone",
		Description: "The resource existed but is no longer available, and will not be again.",
		Causes: []Cause{
			{ID: "api_retired", Text: "This API version was retired and is no longer served.",
				Planned: "issue 13"},
			{ID: "secret_already_shown", Text: "The client secret was displayed once when it was created and cannot be displayed again."},
			{ID: "invitation_expired", Text: "The invitation to join an organisation has expired: invitations work for 7 days."},
		},
		Fix: "For a retired API version, move to the current version shown in the API catalog in the portal and update the base path. For a client secret you did not save, rotate the app's secret in the portal and store the new one right away: the old one keeps working until you revoke it. For an expired invitation, ask an owner or admin of the organisation to invite you again.",
	},
	{
		Key: "failed_precondition", Status: 412, CamaraCode: "FAILED_PRECONDITION", Group: GroupHTTP,
		Title:       "Precondition Failed",
		Description: "The request cannot be executed in the current state of the system.",
		Causes: []Cause{
			{ID: "precondition_not_met", Text: "A condition set in a request header (If-Match, If-Unmodified-Since) does not hold for the current resource.",
				Upstream: true},
		},
		Fix: "Fetch the resource again to get its current version, re-apply your change and retry with the new `ETag` in `If-Match`.",
	},
	{
		Key: "payload_too_large", Status: 413, CamaraCode: "PAYLOAD_TOO_LARGE", Group: GroupHTTP,
		Title:       "Payload Too Large",
		Description: "The request body exceeds the maximum size this endpoint accepts.",
		Causes: []Cause{
			{ID: "declared_too_large", Text: "The Content-Length header declares a body larger than the limit."},
			{ID: "body_too_large", Text: "The body grew past the limit while it was being read."},
		},
		Fix: "Send a smaller body: the limit, in bytes, is in the error detail. Remove fields the operation does not need, do not send files or base64 blobs the API does not document, and split large batches into several calls.",
	},
	{
		Key: "uri_too_long", Status: 414, CamaraCode: "URI_TOO_LONG", Group: GroupHTTP,
		Title:       "URI Too Long",
		Description: "The request URI is longer than the server accepts.",
		Causes: []Cause{
			{ID: "uri_too_long", Text: "The path and query string together exceed the server's limit."},
		},
		Fix: "Shorten the query string. CAMARA operations take their input as a JSON body in a POST, so move long values there; check that nothing is percent-encoded twice or appended again on every retry.",
	},
	{
		Key: "unsupported_media_type", Status: 415, CamaraCode: "UNSUPPORTED_MEDIA_TYPE", Group: GroupHTTP,
		Title:       "Unsupported Media Type",
		Description: "The request body's Content-Type is not one this endpoint accepts.",
		Causes: []Cause{
			{ID: "content_type_unsupported", Text: "The Content-Type header names a media type the endpoint does not accept."},
			{ID: "content_type_missing", Text: "A request body was sent without a Content-Type header."},
		},
		Fix: "Set the Content-Type the endpoint documents: `application/json` for API calls, `application/x-www-form-urlencoded` for the token, revocation, introspection and backchannel authentication endpoints.",
	},
	{
		Key: "unprocessable_entity", Status: 422, CamaraCode: "UNPROCESSABLE_ENTITY", Group: GroupHTTP,
		Title:       "Unprocessable Entity",
		Description: "The request is well-formed, but a value breaks a rule of the API.",
		Causes: []Cause{
			{ID: "validation_rule", Text: "A field value is well-formed but violates a rule of the API (for example two fields contradict each other).",
				Upstream: true},
			{ID: "idempotency_key_reused", Text: "The Idempotency-Key was already used, within its 24 hours, for a different request (another method, path or body)."},
		},
		Fix: "Correct the field named in the error detail according to the operation's description in the API reference. Problems with the phone number or device identifier have their own codes: `missing_identifier`, `unnecessary_identifier`, `unsupported_identifier`, `service_not_applicable`. An `Idempotency-Key` belongs to one request: send a new key with a changed request.",
	},
	{
		Key: "too_many_requests", Status: 429, CamaraCode: "TOO_MANY_REQUESTS", Group: GroupHTTP,
		Title:       "Too Many Requests",
		Description: "The client sent more requests in a short time than its rate limit allows.",
		Causes: []Cause{
			{ID: "rate_limited", Text: "The rate limit of the app's plan for this API was exceeded."},
			{ID: "token_endpoint_rate_limited", Text: "Too many token requests came from this client or address in a short time."},
		},
		Fix: "Wait the number of seconds in `Retry-After`, then retry with exponential backoff and jitter. The `RateLimit` and `RateLimit-Policy` headers show the limit and what is left. Reuse an access token until it expires instead of requesting one per call. For a higher rate, upgrade the app's plan on the API's page in the developer portal. A used-up daily or monthly quota is reported as `quota_exceeded` instead.",
	},
	{
		Key: "header_fields_too_large", Status: 431, CamaraCode: "HEADER_FIELDS_TOO_LARGE", Group: GroupHTTP,
		Title:       "Request Header Fields Too Large",
		Description: "The request's headers are larger than the server accepts.",
		Causes: []Cause{
			{ID: "headers_too_large", Text: "The header block as a whole, or a single header, exceeds the server's limit."},
		},
		Fix: "Send fewer or smaller headers: drop cookies and custom metadata headers the API does not need, and check that no header is repeated or grows on every retry. The access token belongs once, in the Authorization header.",
	},
	{
		Key: "internal", Status: 500, OAuthCode: "server_error", CamaraCode: "INTERNAL", Group: GroupHTTP,
		Title:       "Internal Server Error",
		Description: "An unexpected error occurred on the server.",
		Causes: []Cause{
			{ID: "unexpected", Text: "An unexpected condition occurred on the server side."},
			{ID: "panic", Text: "The server hit a bug while handling the request; it was logged with the correlator."},
		},
		Fix: "Retry later with backoff. If it keeps failing, contact support with the `x-correlator` response header (also in the `correlator` member of the body): it identifies the server's log entry for your call.",
	},
	{
		Key: "not_implemented", Status: 501, CamaraCode: "NOT_IMPLEMENTED", Group: GroupHTTP,
		Title:       "Not Implemented",
		Description: "The operation is not implemented by this deployment.",
		Causes: []Cause{
			{ID: "operation_not_implemented", Text: "The operation is in the API definition but this deployment does not implement it.",
				Upstream: true},
			{ID: "sandbox_not_supported", Text: "The sandbox does not simulate this operation.",
				Planned: "issue 12"},
			{ID: "transfer_coding", Text: "The request uses a Transfer-Encoding this server does not implement (only chunked is)."},
		},
		Fix: "Send the body with Content-Length or Transfer-Encoding: chunked. Check the API's page in the portal for the operations this deployment offers. If only the sandbox lacks the operation, test it with a production app, or ask the operator when it will be available.",
	},
	{
		Key: "bad_gateway", Status: 502, CamaraCode: "BAD_GATEWAY", Group: GroupHTTP,
		Title:       "Bad Gateway",
		Description: "The gateway could not get a valid response from the service behind the API.",
		Causes: []Cause{
			{ID: "connection_refused", Text: "The upstream service refused the connection."},
			{ID: "upstream_unreachable", Text: "The upstream host could not be resolved or reached, or the TLS handshake with it failed."},
			{ID: "upstream_error", Text: "The upstream service sent an invalid response, or closed the connection before answering."},
			{ID: "dns_failure", Text: "The upstream host name could not be resolved."},
			{ID: "connection_reset", Text: "The upstream service reset or closed the connection before answering."},
			{ID: "tls_unknown_authority", Text: "The upstream certificate is not signed by an authority the gateway trusts for this API."},
			{ID: "tls_name_mismatch", Text: "The upstream certificate is not valid for the server name the gateway checks."},
			{ID: "tls_certificate_expired", Text: "The upstream certificate has expired or is not yet valid."},
			{ID: "tls_handshake_failed", Text: "The TLS handshake with the upstream failed, for example because it requires a client certificate the gateway does not present."},
		},
		Fix: "Nothing is wrong with your request: the problem is on the provider's side. Retry with backoff; if it persists, contact support with the `x-correlator` response header.",
	},
	{
		Key: "unavailable", Status: 503, OAuthCode: "temporarily_unavailable", CamaraCode: "UNAVAILABLE", Group: GroupHTTP,
		Title:       "Service Unavailable",
		Description: "The service is temporarily unable to handle the request.",
		Causes: []Cause{
			{ID: "store_unavailable", Text: "The platform's database cannot be reached, or did not answer within the platform's time limit."},
			{ID: "storage_full", Text: "The platform's database refused to store the change because its disk or size limit is full; nothing was changed."},
			{ID: "storage_read_only", Text: "The platform's database is read-only (a read-only file or disk, or a standby database) and refused the change; nothing was changed."},
			{ID: "maintenance", Text: "The API is in maintenance."},
			{ID: "shutting_down", Text: "The server is shutting down.",
				Reserved: "A published cause id: a stopping server closes its listeners and finishes the requests it accepted, so it answers none with this cause."},
			{ID: "circuit_open", Text: "The gateway stopped calling the upstream service for a short time after repeated failures (circuit breaker open)."},
			{ID: "limiter_unavailable", Text: "The shared rate-limit store cannot be reached and the platform is set to refuse calls rather than serve them unmetered."},
			{ID: "overloaded", Text: "The server is shedding load because it is overloaded."},
			{ID: "mail_unavailable", Text: "The portal could not send an e-mail (verification, password reset or invitation): the platform's mail server refused it or could not be reached."},
		},
		Fix: "Wait the number of seconds in `Retry-After`, then retry with exponential backoff; repeat an admin `POST` with the same `Idempotency-Key` header, so a change that was made after all is not made twice. If it lasts longer than announced, contact support with the `x-correlator` response header. Operators: for `storage_full` free space on the database's disk (or raise its size limit), for `storage_read_only` make the database writable again (file and mount permissions, or point gatehouse at the primary); `/readyz` reports either until writes succeed.",
	},
	{
		Key: "timeout", Status: 504, CamaraCode: "TIMEOUT", Group: GroupHTTP,
		Title:       "Gateway Timeout",
		Description: "The service behind the API did not answer in time.",
		Causes: []Cause{
			{ID: "upstream_timeout", Text: "The upstream service did not answer within the gateway's time limit."},
		},
		Fix: "Retry with backoff. The operation may have completed upstream even though no answer reached you, so check its effect before repeating a call that changes state. If timeouts persist, contact support with the `x-correlator` response header.",
	},

	// ---- OAuth 2.0 & OpenID Connect (RFC 6749 section 5.2 and 4.1.2.1,
	// OpenID Connect Core 3.1.2.6, CIBA Core sections 11 and 13, RFC 7009) ----
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
			{ID: "pkce_required", Text: "A public client sent no code_challenge; PKCE is required for public clients."},
			{ID: "unsupported_challenge_method", Text: "The code_challenge_method is not S256; the plain method is not accepted."},
			{ID: "multiple_hints", Text: "The backchannel authentication request carried more than one of login_hint, id_token_hint and login_hint_token."},
			{ID: "invalid_login_hint", Text: "The login_hint is not a phone number in the form tel:+ followed by country code and number."},
			{ID: "client_id_unknown", Text: "The authorization request names a client_id that is not registered, so the server shows an error page instead of redirecting."},
			{ID: "client_id_inactive", Text: "The authorization request names a suspended client, so the server shows an error page instead of redirecting."},
			{ID: "authorization_request_expired", Text: "A sign-in or consent page was submitted after its authorization request expired (10 minutes)."},
			{ID: "authorization_request_invalid", Text: "A sign-in or consent page was submitted without a valid signed authorization request (the form was altered or truncated)."},
			{ID: "scope_parameter_not_allowed", Text: "A JWT bearer token request carried the scope parameter, which the CAMARA profile forbids: the scopes come from the assertion's scope claim."},
		},
		Fix: "Send every required parameter exactly once, form-encoded in the POST body (`Content-Type: application/x-www-form-urlencoded`; on the authorization endpoint, in the query string), with the values the endpoint documents; the detail names the parameter. Authenticate the client in one way only: HTTP Basic, body parameters, or a client assertion. For PKCE send `code_challenge` with `code_challenge_method=S256`. For CIBA send exactly one hint, such as `login_hint=tel:+34600000001`. On the authorization endpoint, send the `client_id` of an active app; when a sign-in page has expired, start the authorization request again from the app.",
	},
	{
		Key: "invalid_client", Status: 401, OAuthCode: "invalid_client", CamaraCode: "UNAUTHENTICATED", Group: GroupOAuth,
		Title:       "Invalid Client",
		Description: "Client authentication failed: the client is unknown, its credentials are missing or wrong, or it is not allowed to authenticate this way.",
		Causes: []Cause{
			{ID: "missing_credentials", Text: "The request carried no client credentials."},
			{ID: "unknown_client", Text: "No client with this client_id exists."},
			{ID: "wrong_secret", Text: "The client_secret does not match."},
			{ID: "secret_garbled", Text: "The client_secret has gatehouse's `gth_` prefix but not its checksum: a truncated or altered copy of a secret."},
			{ID: "client_suspended", Text: "The client is suspended."},
			{ID: "auth_method_mismatch", Text: "The client authenticated with a method other than the one it is registered for."},
			{ID: "invalid_assertion", Text: "The client assertion (private_key_jwt), or a JWT bearer grant assertion that authenticates the client by itself, is malformed or its signature does not verify with the client's registered keys."},
			{ID: "assertion_expired", Text: "The client assertion has expired."},
			{ID: "assertion_lifetime_too_long", Text: "The client assertion's lifetime (exp minus iat, or exp minus the time of receipt) is longer than 300 seconds, the most the CAMARA profile allows."},
			{ID: "assertion_audience", Text: "The client assertion's aud does not name this server."},
			{ID: "assertion_replayed", Text: "The client assertion's jti was already used."},
			{ID: "malformed_basic_auth", Text: "The Authorization header could not be decoded as HTTP Basic client_id and client_secret."},
		},
		Fix: "Check the client_id and client_secret of the app in the portal (rotate the secret there if it was lost), that the app is active, and that you use the authentication method it is registered for. With HTTP Basic, form-urlencode client_id and secret before base64-encoding `client_id:client_secret` (RFC 6749 section 2.3.1). With `private_key_jwt`, sign the assertion with a registered key and set `iss` and `sub` to the client_id, `aud` to the issuer or token endpoint, `iat`, an `exp` at most 300 seconds later, and a fresh `jti`. A JWT bearer grant's assertion authenticates the client by itself when the request carries no other client credentials.",
	},
	{
		Key: "invalid_grant", Status: 400, OAuthCode: "invalid_grant", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Invalid Grant",
		Description: "The authorization grant (code, refresh token, assertion or auth_req_id) is invalid, expired, revoked, already used, or was issued to another client or redirect URI.",
		Causes: []Cause{
			{ID: "code_not_found", Text: "The authorization code is unknown to this server."},
			{ID: "code_expired", Text: "The authorization code has expired; codes are valid for a short time only."},
			{ID: "code_already_used", Text: "The authorization code was already exchanged once."},
			{ID: "redirect_uri_mismatch", Text: "The redirect_uri differs from the one sent in the authorization request."},
			{ID: "client_mismatch", Text: "The grant was issued to another client."},
			{ID: "pkce_verifier_missing", Text: "The authorization request carried a code_challenge, but the token request sent no code_verifier."},
			{ID: "pkce_verifier_mismatch", Text: "The code_verifier does not match the code_challenge of the authorization request."},
			{ID: "refresh_token_unknown", Text: "The refresh token is unknown to this server."},
			{ID: "refresh_token_expired", Text: "The refresh token has expired."},
			{ID: "refresh_token_revoked", Text: "The refresh token was revoked by the app, the user or the operator."},
			{ID: "refresh_token_reused", Text: "A refresh token that had already been exchanged was used again, so every token issued from the same grant was revoked."},
			{ID: "invalid_assertion", Text: "The JWT bearer assertion is malformed, its signature does not verify, or it lacks a required claim (iss, sub, aud, exp, iat, jti)."},
			{ID: "assertion_expired", Text: "The JWT bearer assertion has expired."},
			{ID: "assertion_lifetime_too_long", Text: "The JWT bearer assertion's lifetime (exp minus iat, or exp minus the time of receipt) is longer than 300 seconds, the most the CAMARA profile allows."},
			{ID: "assertion_audience", Text: "The JWT bearer assertion's aud does not name this server."},
			{ID: "assertion_replayed", Text: "The JWT bearer assertion's jti was already used."},
			{ID: "assertion_scope_missing", Text: "The JWT bearer assertion has no scope claim; the CAMARA profile makes it mandatory and the requested scopes come from it."},
			{ID: "unknown_subject", Text: "The sub of the JWT bearer assertion is not a known user, or not of the form tel:+ followed by an E.164 number or operatortoken: followed by a token."},
			{ID: "operator_token_unresolved", Text: "The sub of the JWT bearer assertion is an operatortoken: value that the network does not resolve to a line."},
			{ID: "auth_req_id_unknown", Text: "The auth_req_id is unknown to this server."},
			{ID: "auth_req_id_used", Text: "Tokens were already issued for this auth_req_id."},
			{ID: "offline_access_withdrawn", Text: "The operator removed offline_access from the client, so its refresh tokens no longer work."},
			{ID: "grant_scopes_withdrawn", Text: "None of the scopes granted with this refresh token may still be issued: the operator removed them from the client, or no API defines them any more."},
		},
		Fix: "Start the flow again to get a fresh grant, and send it from the client it was issued to. Exchange an authorization code once, right after you receive it (codes live only briefly), with the same `redirect_uri` and the `code_verifier` whose S256 hash was the `code_challenge`. After a refresh, always store and use the new refresh token: a reused one ends the user's session, and they must sign in again. When the app lost `offline_access` or every granted scope, sign the user in again for the scopes the app may use now. Sign JWT bearer assertions with a registered key, `iss` the client_id, `aud` the token endpoint (or the issuer), `iat`, an `exp` at most 300 seconds later, a fresh `jti`, `sub` as `tel:+<number>` or `operatortoken:<token>`, and the scopes in the `scope` claim (not the `scope` parameter). For CIBA, send a new backchannel authentication request.",
	},
	{
		Key: "unauthorized_client", Status: 400, OAuthCode: "unauthorized_client", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Unauthorized Client",
		Description: "The client is not allowed to use this grant type or flow.",
		Causes: []Cause{
			{ID: "grant_not_allowed", Text: "The client is not registered for this grant type."},
			{ID: "response_type_not_allowed", Text: "The client is not registered for the authorization code flow, so it may not use the authorization endpoint."},
			{ID: "token_not_owned", Text: "The token to revoke was issued to another client; a client may revoke only its own tokens."},
		},
		Fix: "Check the grant types registered for the app on its page in the portal (client_credentials, authorization_code, refresh_token, CIBA, JWT bearer) and use one of them, or ask the operator to enable the one you need.",
	},
	{
		Key: "unsupported_grant_type", Status: 400, OAuthCode: "unsupported_grant_type", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Unsupported Grant Type",
		Description: "The authorization server does not support the requested grant type.",
		Causes: []Cause{
			{ID: "unknown_grant_type", Text: "The grant_type value is unknown or misspelled."},
		},
		Fix: "Use a value from `grant_types_supported` in `/.well-known/openid-configuration`, spelled exactly: `client_credentials`, `authorization_code`, `refresh_token`, `urn:openid:params:grant-type:ciba` or `urn:ietf:params:oauth:grant-type:jwt-bearer`. Instead of the password grant, use the authorization code flow with PKCE.",
	},
	{
		Key: "unsupported_response_type", Status: 400, OAuthCode: "unsupported_response_type", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Unsupported Response Type",
		Description: "The authorization server does not support the requested response type.",
		Causes: []Cause{
			{ID: "unknown_response_type", Text: "The response_type value is unknown or misspelled."},
			{ID: "response_type_not_offered", Text: "The response_type exists in OAuth but this server does not offer it (for example token, the implicit flow)."},
		},
		Fix: "Send `response_type=code` and exchange the code at the token endpoint; the accepted values are in `response_types_supported` in `/.well-known/openid-configuration`.",
	},
	{
		Key: "invalid_scope", Status: 400, OAuthCode: "invalid_scope", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Invalid Scope",
		Description: "The requested scope is invalid, unknown, malformed, or not allowed for this client.",
		Causes: []Cause{
			{ID: "unknown_scope", Text: "A requested scope does not exist."},
			{ID: "scope_not_allowed", Text: "A requested scope is not allowed for this client."},
			{ID: "malformed_scope", Text: "The scope parameter is not a space-separated list of scope tokens."},
			{ID: "openid_missing", Text: "A backchannel authentication request did not include the openid scope, which CIBA requires."},
			{ID: "scope_exceeds_grant", Text: "A refresh request asked for a scope the original grant did not include."},
			{ID: "scope_no_longer_allowed", Text: "A refresh request asked for a scope of the original grant that the operator has since removed from the client."},
			{ID: "scope_no_longer_defined", Text: "A refresh request asked for a scope of the original grant that no API defines any more."},
		},
		Fix: "Request only scopes your app may use (those of the APIs it is subscribed to, for example `sim-swap:check`), spelled exactly as in the API reference and separated by single spaces. CIBA requests must include `openid`. A refresh request may keep or narrow the original scope, never widen it, and gets only the scopes the app is still allowed: omit `scope` to get what remains, which the response's `scope` member lists.",
	},
	{
		Key: "access_denied", Status: 403, OAuthCode: "access_denied", CamaraCode: "PERMISSION_DENIED", Group: GroupOAuth,
		Title:       "Access Denied",
		Description: "The user or the authorization server denied the request.",
		Causes: []Cause{
			{ID: "user_declined", Text: "The user cancelled the sign-in instead of authenticating."},
			{ID: "consent_denied", Text: "The user refused to give the app consent on the consent page."},
			{ID: "policy_denied", Text: "The authorization server's policy does not allow this client to obtain this authorization.",
				Reserved: "A published cause id: what an app's registration does not allow is refused with causes of its own (`unauthorized_client`, `invalid_scope`)."},
			{ID: "ciba_denied", Text: "The user rejected the backchannel authentication request on their device."},
			{ID: "csrf_token_invalid", Text: "A sign-in, consent or approval form was submitted without a valid anti-forgery token: it came from another site, another browser, or a page rendered for another signed-in user."},
		},
		Fix: "The request was well-formed: the user or policy said no. Do not retry automatically; tell the user what the app needs access for and let them start again. For `policy_denied`, check the app's status and subscriptions in the portal, or contact the operator. For `csrf_token_invalid`, submit the sign-in pages in the browser that opened them, with cookies enabled, and never embed or post to them from another site.",
	},
	{
		Key: "invalid_redirect_uri", Status: 400, OAuthCode: "invalid_request", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Invalid Redirect URI",
		Description: "The authorization request's redirect_uri is missing, malformed, or not registered for the client, so the server shows an error page instead of redirecting.",
		Causes: []Cause{
			{ID: "redirect_uri_missing", Text: "The authorization request carried no redirect_uri."},
			{ID: "redirect_uri_not_registered", Text: "The redirect_uri does not exactly match any redirect URI registered for the client."},
			{ID: "redirect_uri_malformed", Text: "The redirect_uri is not an absolute URI, or it contains a fragment."},
		},
		Fix: "Register the redirect URI on the app's page in the portal and send exactly that value as `redirect_uri`: same scheme, host, port, path and query, no fragment. Matching is exact, with no wildcards or prefixes, and a trailing slash counts. For security the server never redirects to a URI it cannot match.",
	},
	{
		Key: "login_required", Status: 401, OAuthCode: "login_required", CamaraCode: "UNAUTHENTICATED", Group: GroupOAuth,
		Title:       "Login Required",
		Description: "The authorization request asked for no user interaction, but the user must sign in.",
		Causes: []Cause{
			{ID: "no_session", Text: "prompt=none was requested and there is no signed-in user session."},
			{ID: "max_age_exceeded", Text: "The user signed in longer ago than max_age allows, and prompt=none forbids asking again."},
		},
		Fix: "Send the authorization request again without `prompt=none` so the user can sign in.",
	},
	{
		Key: "consent_required", Status: 403, OAuthCode: "consent_required", CamaraCode: "PERMISSION_DENIED", Group: GroupOAuth,
		Title:       "Consent Required",
		Description: "The authorization request asked for no user interaction, but the user must give consent first.",
		Causes: []Cause{
			{ID: "consent_missing", Text: "prompt=none was requested but the user has not consented to the requested scopes."},
		},
		Fix: "Send the authorization request again without `prompt=none` so the user sees the consent page, or request only scopes the user has already approved.",
	},
	{
		Key: "interaction_required", Status: 403, OAuthCode: "interaction_required", CamaraCode: "PERMISSION_DENIED", Group: GroupOAuth,
		Title:       "Interaction Required",
		Description: "The authorization request asked for no user interaction, but the server needs the user to act.",
		Causes: []Cause{
			{ID: "interaction_needed", Text: "prompt=none was requested but the user must interact (for example to confirm the phone line) before the request can complete.",
				Reserved: "OpenID Connect Core section 3.1.2.6 defines the code; sign-in and consent, the only interactions, are reported as `login_required` and `consent_required`."},
		},
		Fix: "Send the authorization request again without `prompt=none`.",
	},
	{
		Key: "invalid_request_object", Status: 400, OAuthCode: "invalid_request_object", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Invalid Request Object",
		Description: "The request parameter of an authorization or backchannel authentication request holds a request object (a signed JWT, RFC 9101) that this server cannot accept.",
		Causes: []Cause{
			{ID: "malformed", Text: "The request object is not a compact JWS whose payload is a JSON object of request parameters (an encrypted or unsigned one included)."},
			{ID: "algorithm_not_allowed", Text: "The request object is signed with an algorithm this server does not accept: none, an HMAC algorithm, or one missing from request_object_signing_alg_values_supported."},
			{ID: "client_keys_missing", Text: "The client has no registered public keys (JWKS) to verify its request objects with."},
			{ID: "signature_invalid", Text: "The request object's signature does not verify with any key the client registered."},
			{ID: "issuer_mismatch", Text: "The request object's iss is not the client_id of the client that sent it."},
			{ID: "audience_mismatch", Text: "The request object's aud names neither this server's issuer nor the endpoint it was sent to."},
			{ID: "client_id_mismatch", Text: "The client_id inside the request object differs from the client_id of the request, or is missing from an authorization request's object."},
			{ID: "claim_missing", Text: "The request object lacks a claim the CAMARA profile or OpenID Connect CIBA requires: iss, aud, exp, iat and jti (nbf too for CIBA)."},
			{ID: "expired", Text: "The request object's exp has passed."},
			{ID: "not_yet_valid", Text: "The request object's nbf is still in the future."},
			{ID: "issued_in_future", Text: "The request object's iat is later than the time the server received it."},
			{ID: "lifetime_too_long", Text: "The request object's exp is more than 300 seconds after its iat, longer than the CAMARA profile allows."},
			{ID: "replayed", Text: "A request object with this jti was already used by this client; every request needs a new one."},
			{ID: "parameter_mismatch", Text: "A parameter sent beside the request object (response_type, scope or redirect_uri) differs from its value inside the object."},
			{ID: "nested_request", Text: "The request object itself holds a request or request_uri member, which RFC 9101 section 4 forbids."},
		},
		Fix: "Sign a new request object for every request with a key in the app's registered JWKS (`ES256` or another value of `request_object_signing_alg_values_supported`, never `none` or `HS256`), with `iss` and `client_id` set to the client_id, `aud` set to the endpoint you send it to (or the issuer), `iat` the current time, an `exp` at most 300 seconds later, and a fresh `jti`; for CIBA also `nbf`. Put every request parameter (`response_type`, `redirect_uri`, `scope`, `state`, `nonce`, `code_challenge`, `login_hint`, ...) inside the object: the server uses only those. Parameters you also send beside it must have the same values. The detail names the claim or parameter that failed.",
	},
	{
		Key: "request_uri_not_supported", Status: 400, OAuthCode: "request_uri_not_supported", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Request URI Not Supported",
		Description: "The authorization request carried a request_uri parameter (OpenID Connect Core section 6.2, or a pushed authorization request), which this server does not support.",
		Causes: []Cause{
			{ID: "request_uri_not_supported", Text: "The authorization request carried the request_uri parameter; request objects by reference and pushed authorization requests are not supported, and the server will not ignore one silently."},
		},
		Fix: "Send the request object by value in the `request` parameter instead of `request_uri`, or the authorization parameters as plain query parameters; `request_uri_parameter_supported` in `/.well-known/openid-configuration` is `false`, and no `pushed_authorization_request_endpoint` is published.",
	},
	{
		Key: "authorization_pending", Status: 400, OAuthCode: "authorization_pending", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Authorization Pending",
		Description: "The user has not yet completed the backchannel authentication request.",
		Causes: []Cause{
			{ID: "pending", Text: "The user has not yet approved or rejected the request on their authentication device."},
		},
		Fix: "This is expected in CIBA poll mode: wait `interval` seconds (from the backchannel authentication response; 5 if absent) and send the same token request again, until you get tokens or another error, or until `expires_in` has passed.",
	},
	{
		Key: "slow_down", Status: 400, OAuthCode: "slow_down", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Slow Down",
		Description: "The client is polling the token endpoint for a backchannel authentication request faster than allowed.",
		Causes: []Cause{
			{ID: "polling_too_fast", Text: "The token request for this auth_req_id came sooner than the polling interval allows."},
		},
		Fix: "Add 5 seconds to your polling interval for this and every later poll of the same `auth_req_id` (CIBA Core section 11, RFC 8628 section 3.5), and never poll more often than the `interval` you were given.",
	},
	{
		Key: "expired_token", Status: 400, OAuthCode: "expired_token", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Authentication Request Expired",
		Description: "The auth_req_id expired before the user completed authentication.",
		Causes: []Cause{
			{ID: "auth_req_id_expired", Text: "The backchannel authentication request expired (its expires_in passed) before the user approved it."},
		},
		Fix: "Send a new backchannel authentication request to start over, and stop polling an `auth_req_id` once its `expires_in` seconds have passed.",
	},
	{
		Key: "unknown_user_id", Status: 400, OAuthCode: "unknown_user_id", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Unknown User",
		Description: "The backchannel authentication request names a user the server cannot find.",
		Causes: []Cause{
			{ID: "phone_number_unknown", Text: "The phone number in login_hint does not belong to a line served by this network."},
			{ID: "user_unknown", Text: "The hint does not identify any known user.",
				Planned: "issue 14"},
		},
		Fix: "Check the phone number in `login_hint`: E.164 with the `tel:+` prefix and no spaces (`tel:+34600000001`), and a line of this operator. In the sandbox, use a test number listed on the API's page in the portal.",
	},
	{
		Key: "invalid_binding_message", Status: 400, OAuthCode: "invalid_binding_message", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Invalid Binding Message",
		Description: "The binding_message of the backchannel authentication request is invalid or unacceptable.",
		Causes: []Cause{
			{ID: "binding_message_too_long", Text: "The binding_message is longer than can be shown on the user's device."},
		},
		Fix: "Send a short `binding_message` of plain printable characters (the detail gives the limit), such as a 4 to 8 character code that your app also shows to the user.",
	},
	{
		Key: "unsupported_token_type", Status: 400, OAuthCode: "unsupported_token_type", CamaraCode: "INVALID_ARGUMENT", Group: GroupOAuth,
		Title:       "Unsupported Token Type",
		Description: "The server does not support revoking the presented type of token.",
		Causes: []Cause{
			{ID: "not_revocable", Text: "The token is of a type this server cannot revoke (for example an ID token).",
				Reserved: "RFC 7009 section 2.2.1 defines the code; gatehouse revokes both token types it issues and answers 200 for any other token, as section 2.2 asks."},
		},
		Fix: "Revoke only access tokens and refresh tokens, with `token_type_hint` set to `access_token` or `refresh_token` (or omitted). To end a user's grant, revoke its refresh token.",
	},
	{
		Key: "server_error", Status: 500, OAuthCode: "server_error", CamaraCode: "INTERNAL", Group: GroupOAuth,
		Title:       "Server Error",
		Description: "The authorization server encountered an unexpected condition.",
		Causes: []Cause{
			{ID: "unexpected", Text: "An unexpected condition occurred on the authorization server."},
		},
		Fix: "Retry later with backoff. If it persists, contact support with the `correlator` member of the error body.",
	},
	{
		Key: "temporarily_unavailable", Status: 503, OAuthCode: "temporarily_unavailable", CamaraCode: "UNAVAILABLE", Group: GroupOAuth,
		Title:       "Temporarily Unavailable",
		Description: "The authorization server is temporarily unable to handle the request.",
		Causes: []Cause{
			{ID: "store_unavailable", Text: "The platform's database cannot be reached, or did not answer within the platform's time limit."},
			{ID: "storage_full", Text: "The platform's database refused to store what the request needs because its disk or size limit is full; nothing was issued or changed."},
			{ID: "storage_read_only", Text: "The platform's database is read-only (a read-only file or disk, or a standby database) and refused what the request needs; nothing was issued or changed."},
			{ID: "maintenance", Text: "The server is in maintenance or shutting down.",
				Reserved: "A published cause id: the authorization server has no maintenance mode, and a stopping server finishes the requests it accepted."},
		},
		Fix: "Wait the number of seconds in `Retry-After`, then retry with exponential backoff. Operators: for `storage_full` free space on the database's disk, for `storage_read_only` make the database writable again; `/readyz` reports either until writes succeed.",
	},

	// ---- Token-related (RFC 6750 section 3.1) ----
	{
		Key: "invalid_token", Status: 401, OAuthCode: "invalid_token", CamaraCode: "UNAUTHENTICATED", Group: GroupToken,
		Title:       "Invalid Token",
		Description: "The access token is malformed, expired, revoked, or not valid for this API; a new token is required.",
		Causes: []Cause{
			{ID: "malformed", Text: "The token is not a well-formed JWT."},
			{ID: "expired", Text: "The token has expired."},
			{ID: "not_yet_valid", Text: "The token is not valid yet."},
			{ID: "revoked", Text: "The token was revoked."},
			{ID: "wrong_issuer", Text: "The token was issued by another authorization server."},
			{ID: "wrong_audience", Text: "The token was issued for another resource."},
			{ID: "bad_signature", Text: "The token's signature does not verify, or it uses an algorithm or key this server does not accept."},
			{ID: "wrong_token_type", Text: "The token is not an access token (for example an ID token was sent)."},
			{ID: "client_inactive", Text: "The app the token was issued to has been suspended or deleted."},
			{ID: "user_deleted", Text: "The end user the token acts for has been deleted."},
		},
		Fix: "Get a new access token from the token endpoint and send it as `Authorization: Bearer <access token>` before it expires (`expires_in` in the token response). Send the access token, not the ID token or refresh token, and one issued by this server for this API. The `WWW-Authenticate` response header repeats the error. For `client_inactive`, the operator suspended or deleted your app: a new token will be refused too until they reactivate it.",
	},
	{
		Key: "insufficient_scope", Status: 403, OAuthCode: "insufficient_scope", CamaraCode: "PERMISSION_DENIED", Group: GroupToken,
		Title:       "Insufficient Scope",
		Description: "The access token does not carry a scope the operation requires.",
		Causes: []Cause{
			{ID: "scope_missing", Text: "The token lacks the scope this operation requires."},
		},
		Fix: "Get a new token whose `scope` includes the one named in the `scope` member of the body and in the `WWW-Authenticate` header (for example `sim-swap:check`). For a user's token, the user must sign in and consent again. Your app must be subscribed to the API to be allowed the scope.",
	},

	// ---- API (CAMARA) error codes, CAMARA API Design Guide section 3.2.1 ----
	{
		Key: "out_of_range", Status: 400, CamaraCode: "OUT_OF_RANGE", Group: GroupAPI,
		Title:       "Out of Range",
		Description: "A value in the request is outside the range the API allows.",
		Causes: []Cause{
			{ID: "value_out_of_range", Text: "A field's value is outside its documented minimum or maximum."},
		},
		Fix: "Use a value within the minimum and maximum that the API reference gives for the field named in the detail (for example `maxAge` in SIM Swap is 1 to 2400 hours).",
	},
	{
		Key: "invalid_token_context", Status: 403, CamaraCode: "INVALID_TOKEN_CONTEXT", Group: GroupAPI,
		Title:       "Invalid Token Context",
		Description: "A value in the request is not consistent with the access token.",
		Causes: []Cause{
			{ID: "identifier_mismatch", Text: "The phone number or device in the request differs from the one the access token was issued for.",
				Upstream: true},
		},
		Fix: "With a token obtained for a user (authorization code or CIBA), leave the phone number or device out of the body, or send exactly the one the user authenticated with. To call the API for another line, get a token for that line.",
	},
	{
		Key: "identifier_not_found", Status: 404, CamaraCode: "IDENTIFIER_NOT_FOUND", Group: GroupAPI,
		Title:       "Identifier Not Found",
		Description: "The device or phone number identifier in the request cannot be matched to a device.",
		Causes: []Cause{
			{ID: "identifier_unknown", Text: "No device or line matches the identifier given.",
				Upstream: true},
		},
		Fix: "Check the identifier: phone numbers in E.164 form with the leading `+` and no spaces (`+34600000001`), and a line of this operator. In the sandbox, use a test number listed on the API's page in the portal.",
	},
	{
		Key: "aborted", Status: 409, CamaraCode: "ABORTED", Group: GroupAPI,
		Title:       "Aborted",
		Description: "The resource is being modified by another operation.",
		Causes: []Cause{
			{ID: "concurrent_modification", Text: "Another operation was modifying the same resource at the same time.",
				Upstream: true},
		},
		Fix: "Wait a moment and retry; if your change depends on the resource's current state, read it again first.",
	},
	{
		Key: "already_exists", Status: 409, CamaraCode: "ALREADY_EXISTS", Group: GroupAPI,
		Title:       "Already Exists",
		Description: "The resource you tried to create already exists.",
		Causes: []Cause{
			{ID: "duplicate", Text: "A resource with the same identifier or name already exists."},
		},
		Fix: "Choose another name or identifier, or update the existing resource instead of creating it again. If you are retrying a create that timed out, fetch the resource: the first attempt probably succeeded.",
	},
	{
		Key: "conflict", Status: 409, CamaraCode: "CONFLICT", Group: GroupAPI,
		Title:       "Conflict",
		Description: "The request conflicts with the current state of other resources.",
		Causes: []Cause{
			{ID: "resource_in_use", Text: "The resource cannot be changed or deleted because other resources still use it (for example a plan with active subscriptions)."},
			{ID: "idempotency_key_in_progress", Text: "A request with the same Idempotency-Key is still being processed."},
			{ID: "already_closed", Text: "The resource is closed and takes no more changes (for example an incident already resolved)."},
		},
		Fix: "Remove or move what still depends on the resource first (the detail names it), then retry. For an Idempotency-Key still in progress, wait the seconds in `Retry-After` and send the same request again: once the first one finished, its response is replayed. A closed resource stays as it is: create a new one (a new incident) instead.",
	},
	{
		Key: "incompatible_state", Status: 409, CamaraCode: "INCOMPATIBLE_STATE", Group: GroupAPI,
		Title:       "Incompatible State",
		Description: "A resource is in a state that does not allow the requested operation.",
		Causes: []Cause{
			{ID: "wrong_state", Text: "The target resource is not in a state that allows this operation (for example a revoked secret cannot be rotated)."},
			{ID: "referenced_state", Text: "A resource the request refers to is in a state that prevents the operation (for example a plan that is no longer offered).",
				Planned: "issue 12"},
			{ID: "last_owner", Text: "The change would leave an organisation without an owner: its last owner can be neither removed nor given another role, and cannot leave."},
		},
		Fix: "Read the resource to see its current state; the detail names the resource and the state the operation needs. Bring it into that state first, or choose another resource. An organisation keeps at least one owner: make another member an owner on the portal's Organisation page first.",
	},
	{
		Key: "service_not_applicable", Status: 422, CamaraCode: "SERVICE_NOT_APPLICABLE", Group: GroupAPI,
		Title:       "Service Not Applicable",
		Description: "The service is not available for the identifier provided.",
		Causes: []Cause{
			{ID: "identifier_not_eligible", Text: "The service cannot be provided for this phone number or device (for example it is not a mobile line of this network).",
				Upstream: true},
		},
		Fix: "The request is correct but the service does not apply to this line: handle it as a business outcome in your app rather than retrying. If you think the line should be eligible, contact support with the `x-correlator` response header.",
	},
	{
		Key: "missing_identifier", Status: 422, CamaraCode: "MISSING_IDENTIFIER", Group: GroupAPI,
		Title:       "Missing Identifier",
		Description: "The device cannot be identified: the request names none and the access token does not either.",
		Causes: []Cause{
			{ID: "identifier_missing", Text: "The request names no phone number or device, and the access token was not issued for a user's line."},
		},
		Fix: "With a client_credentials (two-legged) token, put the identifier in the body, for example `phoneNumber`. Or get a token for the user's line (authorization code or CIBA) and leave it out.",
	},
	{
		Key: "unsupported_identifier", Status: 422, CamaraCode: "UNSUPPORTED_IDENTIFIER", Group: GroupAPI,
		Title:       "Unsupported Identifier",
		Description: "None of the identifiers provided is supported by this implementation of the API.",
		Causes: []Cause{
			{ID: "identifier_type_unsupported", Text: "The request identifies the device only by identifier types this implementation does not support.",
				Upstream: true},
		},
		Fix: "Identify the device with a supported identifier (the detail lists them; `phoneNumber` is always supported) instead of, or in addition to, the one you sent.",
	},
	{
		Key: "unnecessary_identifier", Status: 422, CamaraCode: "UNNECESSARY_IDENTIFIER", Group: GroupAPI,
		Title:       "Unnecessary Identifier",
		Description: "The device is already identified by the access token, so the request must not name one.",
		Causes: []Cause{
			{ID: "identifier_in_token", Text: "The request names a phone number or device although the access token was issued for a user's line."},
		},
		Fix: "With a token obtained for a user (authorization code or CIBA), remove `phoneNumber` or `device` from the body: the API uses the line the user authenticated with.",
	},
	{
		Key: "quota_exceeded", Status: 429, CamaraCode: "QUOTA_EXCEEDED", Group: GroupAPI,
		Title:       "Quota Exceeded",
		Description: "The app has used up the call quota its plan gives it for this API.",
		Causes: []Cause{
			{ID: "day_quota", Text: "The app's daily call quota for this API is used up."},
			{ID: "month_quota", Text: "The app's monthly call quota for this API is used up."},
		},
		Fix: "Upgrade the app's plan for this API on the API's page in the developer portal to get a larger quota, or wait until the quota resets: `Retry-After` gives the seconds until then. The `RateLimit` headers of every answer show how much is left. Retrying sooner does not help.",
	},
}
