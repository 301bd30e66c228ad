// Package sandbox is gatehouse's built-in upstream for the sample network
// APIs, so that developers can try SIM Swap, Number Verification and Location
// Verification with no operator backend behind the gateway.
//
// [Definitions] returns the project's own OpenAPI 3.0.3 documents for the
// three APIs. They are wire-compatible with CAMARA SIM Swap v2, Number
// Verification v2 and Location Verification v3 (same paths, methods, scopes,
// JSON shapes and error codes) and carry the sandbox rules under
// x-gatehouse-sandbox-rules. [Handler] answers those operations at their full
// paths, deterministically, from the phone number's last digit.
//
// The gateway checks the token, the scope and the request schema before it
// forwards a request here, and adds the header X-Gatehouse-Subject with the
// end user's phone number ("+…") when the token is three-legged. The handler
// still checks everything it reads and answers 400 INVALID_ARGUMENT for a body
// it cannot use; it never trusts the gateway not to forward one. Every answer
// is JSON, an error is a CAMARA ErrorInfo {status, code, message} that the
// operation documents, and an x-correlator request header is echoed when it
// matches the pattern the definitions give it (the gateway owns the
// correlator; the sandbox never fails a request over one).
//
// The sandbox clock reads 2026-01-15T10:00:00Z. The rules (also in RULES.md):
//
// SIM Swap, POST /sim-swap/v2/check and POST /sim-swap/v2/retrieve-date. The
// line is the body's phoneNumber, or the three-legged subject; neither is 422
// MISSING_IDENTIFIER, both is 422 UNNECESSARY_IDENTIFIER. maxAge (check only,
// hours, default 240) outside 1..2400 is 400 OUT_OF_RANGE; it does not change
// the answer, as every swap the sandbox reports happened 30 minutes ago.
//
//	last digit  check               retrieve-date
//	1 5 7 9     {"swapped":true}    {"latestSimChange":"2026-01-15T09:30:00Z"}
//	2 0         {"swapped":false}   {"latestSimChange":null,"monitoredPeriod":120}
//	6           {"swapped":false}   {"latestSimChange":null}
//	8           {"swapped":false}   {"latestSimChange":"2024-03-01T08:30:00Z"} (activation, never swapped)
//	3           422 SERVICE_NOT_APPLICABLE
//	4           404 IDENTIFIER_NOT_FOUND
//
// Number Verification, POST /number-verification/v2/verify and
// GET /number-verification/v2/device-phone-number. Both need the three-legged
// subject (the line that signed in); without it they answer 403
// NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK. verify takes
// exactly one of phoneNumber and hashedPhoneNumber (hex SHA-256 of the
// "+"-prefixed number, either case) and answers devicePhoneNumberVerified true
// when it is the subject's number. device-phone-number answers
// {"devicePhoneNumber": subject}.
//
// Location Verification, POST /location-verification/v3/verify. The device is
// the body's device.phoneNumber, or the three-legged subject; neither is 422
// MISSING_IDENTIFIER, both is 422 UNNECESSARY_IDENTIFIER, and a device with no
// phoneNumber (IP address or network access identifier only) is 422
// UNSUPPORTED_IDENTIFIER. Every location the sandbox knows was fixed at
// 2026-01-15T09:59:00Z (lastLocationTime), so maxAge under 60 seconds is 422
// LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE for digits 1 to 3, and a
// negative maxAge is 400 OUT_OF_RANGE. A request that named a device gets it
// back as {"device":{"phoneNumber":…}}.
//
//	last digit  answer
//	1           200 verificationResult TRUE
//	2           200 verificationResult FALSE
//	3           200 verificationResult PARTIAL, matchRate 50
//	4           404 IDENTIFIER_NOT_FOUND
//	5           422 LOCATION_VERIFICATION.AREA_NOT_COVERED
//	6 7 8 9 0   422 LOCATION_VERIFICATION.UNABLE_TO_LOCATE
//
// Other paths answer 404 NOT_FOUND and other methods 405 METHOD_NOT_ALLOWED
// with Allow; the gateway normally answers those itself.
package sandbox
