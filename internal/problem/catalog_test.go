package problem

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var (
	snakeCase  = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	camaraCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)?$`)
)

// seedStatuses are the HTTP status rows of the seed troubleshooting page.
var seedStatuses = []int{400, 401, 403, 404, 405, 406, 413, 414, 422, 429, 431, 500, 503}

// seedOAuthCodes are the OAuth, OpenID Connect and token rows of the seed
// troubleshooting page.
var seedOAuthCodes = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "access_denied", "server_error",
	"temporarily_unavailable", "invalid_token", "insufficient_scope",
}

// flowOAuthCodes are the errors of the flows gatehouse implements beyond the
// seed page: authorization code with PKCE and OIDC prompt=none (OIDC Core
// 3.1.2.6), CIBA poll mode (CIBA Core sections 11 and 13) and revocation
// (RFC 7009 section 2.2.1).
var flowOAuthCodes = []string{
	"unsupported_response_type", "login_required", "consent_required",
	"interaction_required", "authorization_pending", "slow_down", "expired_token",
	"unknown_user_id", "invalid_binding_message", "unsupported_token_type",
}

// camaraStatus maps every standard CAMARA ErrorInfo code (CAMARA API Design
// Guide section 3.2.1) to its HTTP status.
var camaraStatus = map[string]int{
	"INVALID_ARGUMENT":       400,
	"OUT_OF_RANGE":           400,
	"UNAUTHENTICATED":        401,
	"PERMISSION_DENIED":      403,
	"INVALID_TOKEN_CONTEXT":  403,
	"NOT_FOUND":              404,
	"IDENTIFIER_NOT_FOUND":   404,
	"METHOD_NOT_ALLOWED":     405,
	"NOT_ACCEPTABLE":         406,
	"ABORTED":                409,
	"ALREADY_EXISTS":         409,
	"CONFLICT":               409,
	"INCOMPATIBLE_STATE":     409,
	"GONE":                   410,
	"FAILED_PRECONDITION":    412,
	"UNSUPPORTED_MEDIA_TYPE": 415,
	"SERVICE_NOT_APPLICABLE": 422,
	"MISSING_IDENTIFIER":     422,
	"UNSUPPORTED_IDENTIFIER": 422,
	"UNNECESSARY_IDENTIFIER": 422,
	"QUOTA_EXCEEDED":         429,
	"TOO_MANY_REQUESTS":      429,
	"INTERNAL":               500,
	"NOT_IMPLEMENTED":        501,
	"BAD_GATEWAY":            502,
	"UNAVAILABLE":            503,
	"TIMEOUT":                504,
}

// contract lists key/cause pairs other packages rely on: every pair that
// existed when the registry was first published, plus the ones the OAuth,
// CIBA and gateway flows were designed around. A pair may never disappear.
var contract = map[string][]string{
	"bad_request":             {"malformed_body", "schema_violation", "invalid_parameter", "malformed_request"},
	"unauthenticated":         {"missing_token", "missing_admin_token", "invalid_admin_token"},
	"permission_denied":       {"not_subscribed", "client_not_allowed"},
	"not_found":               {"unknown_path", "resource_not_found"},
	"method_not_allowed":      {"method_not_supported"},
	"not_acceptable":          {"accept_unsatisfiable"},
	"unsupported_media_type":  {"content_type_unsupported"},
	"payload_too_large":       {"declared_too_large", "body_too_large"},
	"uri_too_long":            {"uri_too_long"},
	"unprocessable_entity":    {"validation_rule"},
	"too_many_requests":       {"rate_limited", "token_endpoint_rate_limited"},
	"header_fields_too_large": {"headers_too_large"},
	"internal":                {"unexpected", "panic"},
	"unavailable":             {"store_unavailable", "maintenance", "shutting_down", "circuit_open"},
	"invalid_request": {"missing_parameter", "repeated_parameter", "invalid_parameter", "wrong_content_type",
		"malformed_body", "multiple_client_auth", "multiple_credentials"},
	"invalid_client": {"missing_credentials", "unknown_client", "wrong_secret", "client_suspended",
		"auth_method_mismatch", "invalid_assertion", "assertion_expired", "assertion_audience", "assertion_replayed"},
	"invalid_grant": {"code_already_used", "code_expired", "code_not_found", "redirect_uri_mismatch",
		"client_mismatch", "pkce_verifier_mismatch", "pkce_verifier_missing", "refresh_token_reused",
		"refresh_token_expired", "refresh_token_revoked", "refresh_token_unknown", "invalid_assertion",
		"assertion_expired", "unknown_subject", "auth_req_id_unknown"},
	"unauthorized_client":     {"grant_not_allowed"},
	"unsupported_grant_type":  {"unknown_grant_type"},
	"invalid_scope":           {"unknown_scope", "scope_not_allowed", "malformed_scope"},
	"access_denied":           {"user_declined", "consent_denied", "policy_denied", "ciba_denied"},
	"invalid_redirect_uri":    {"redirect_uri_missing", "redirect_uri_not_registered", "redirect_uri_malformed"},
	"server_error":            {"unexpected"},
	"temporarily_unavailable": {"store_unavailable", "maintenance"},
	"invalid_token":           {"malformed", "expired", "not_yet_valid", "revoked", "wrong_issuer", "wrong_audience", "bad_signature"},
	"insufficient_scope":      {"scope_missing"},
	"already_exists":          {"duplicate"},
	"bad_gateway":             {"connection_refused", "upstream_error"},
	"timeout":                 {"upstream_timeout"},
	"quota_exceeded":          {"day_quota", "month_quota"},
	"not_implemented":         {"operation_not_implemented"},
	"conflict":                {"resource_in_use"},
	"gone":                    {"api_retired"},
}

func TestCatalogCoversSeedStatuses(t *testing.T) {
	for _, status := range seedStatuses {
		found := false
		for _, e := range Catalog() {
			if e.Status == status && e.Group == GroupHTTP {
				found = true
			}
		}
		if !found {
			t.Errorf("no %q entry answers with status %d", GroupHTTP, status)
		}
	}
}

func TestCatalogCoversOAuthCodes(t *testing.T) {
	codes := append(append([]string{}, seedOAuthCodes...), flowOAuthCodes...)
	for _, code := range codes {
		found := false
		for _, e := range Catalog() {
			if e.OAuthCode == code {
				found = true
			}
		}
		if !found {
			t.Errorf("no entry has OAuth code %q", code)
		}
	}
}

// TestOAuthCodesHaveCanonicalEntry checks that every OAuth code in use has an
// entry keyed by the code itself, so the OAuth side can always name one.
func TestOAuthCodesHaveCanonicalEntry(t *testing.T) {
	for _, e := range Catalog() {
		if e.OAuthCode == "" {
			continue
		}
		c, ok := Lookup(e.OAuthCode)
		if !ok {
			t.Errorf("%s: OAuth code %q has no entry keyed %q", e.Key, e.OAuthCode, e.OAuthCode)
			continue
		}
		if c.OAuthCode != e.OAuthCode {
			t.Errorf("entry %s has OAuth code %q, want its own key", c.Key, c.OAuthCode)
		}
	}
}

// TestOAuthCodeSlowDownIsCIBAOnly guards against slow_down reappearing on the
// rate-limit entry: a CIBA client that gets it must add 5 s to its interval,
// which is wrong advice for a plain 429.
func TestOAuthCodeSlowDownIsCIBAOnly(t *testing.T) {
	for _, e := range Catalog() {
		if e.OAuthCode == "slow_down" && e.Key != "slow_down" {
			t.Errorf("%s uses OAuth code slow_down", e.Key)
		}
	}
}

func TestCatalogCoversCamaraCodes(t *testing.T) {
	for code, status := range camaraStatus {
		found := false
		for _, e := range Catalog() {
			if e.CamaraCode == code && e.Status == status {
				found = true
			}
		}
		if !found {
			t.Errorf("no entry has CAMARA code %s with status %d", code, status)
		}
	}
}

func TestCatalogContract(t *testing.T) {
	for key, causes := range contract {
		e, ok := Lookup(key)
		if !ok {
			t.Errorf("entry %s is missing", key)
			continue
		}
		for _, id := range causes {
			if _, ok := e.Cause(id); !ok {
				t.Errorf("%s: cause %s is missing", key, id)
			}
		}
	}
}

func TestCatalogEntries(t *testing.T) {
	groups := map[string]bool{GroupHTTP: true, GroupOAuth: true, GroupToken: true, GroupAPI: true}
	keys := map[string]bool{}
	for _, e := range Catalog() {
		t.Run(e.Key, func(t *testing.T) {
			if !snakeCase.MatchString(e.Key) {
				t.Errorf("key %q is not snake_case", e.Key)
			}
			if keys[e.Key] {
				t.Errorf("key %q is not unique", e.Key)
			}
			keys[e.Key] = true
			if e.Status < 400 || e.Status > 599 || http.StatusText(e.Status) == "" {
				t.Errorf("status %d is not an HTTP error status", e.Status)
			}
			if !groups[e.Group] {
				t.Errorf("group %q is not one of the four groups", e.Group)
			}
			if e.OAuthCode != "" && !snakeCase.MatchString(e.OAuthCode) {
				t.Errorf("OAuth code %q is not snake_case", e.OAuthCode)
			}
			if !camaraCode.MatchString(e.CamaraCode) {
				t.Errorf("CAMARA code %q is not SCREAMING_SNAKE_CASE", e.CamaraCode)
			}
			if want, ok := camaraStatus[e.CamaraCode]; ok && e.Status != want {
				t.Errorf("status %d, but CAMARA code %s goes with %d", e.Status, e.CamaraCode, want)
			}
			for field, text := range map[string]string{"title": e.Title, "description": e.Description, "fix": e.Fix} {
				if strings.TrimSpace(text) == "" {
					t.Errorf("%s is empty", field)
				}
			}
			for field, text := range map[string]string{"description": e.Description, "fix": e.Fix} {
				if !strings.HasSuffix(text, ".") {
					t.Errorf("%s %q is not a sentence ending with a period", field, text)
				}
			}
			// The description is the error_description of a concealed
			// OAuth error; cause texts are the default one.
			checkErrorDescription(t, "description", e.Description)
			if len(e.Causes) == 0 {
				t.Error("no causes")
			}
			ids := map[string]bool{}
			for _, c := range e.Causes {
				if !snakeCase.MatchString(c.ID) {
					t.Errorf("cause id %q is not snake_case", c.ID)
				}
				if ids[c.ID] {
					t.Errorf("cause id %q is not unique", c.ID)
				}
				ids[c.ID] = true
				if !strings.HasSuffix(c.Text, ".") {
					t.Errorf("cause %s: text %q is not a sentence ending with a period", c.ID, c.Text)
				}
				checkErrorDescription(t, "cause "+c.ID, c.Text)
				if got, ok := e.Cause(c.ID); !ok || got != c {
					t.Errorf("Cause(%q) = %v, %v", c.ID, got, ok)
				}
			}
			if got, ok := Lookup(e.Key); !ok || got != e {
				t.Errorf("Lookup(%q) does not return the catalog entry", e.Key)
			}
		})
	}
	if got, want := len(Catalog()), len(catalog); got != want {
		t.Errorf("Catalog() has %d entries, want %d", got, want)
	}
}

// checkErrorDescription reports text that may not appear in an RFC 6749
// section 5.2 error_description: only %x20-21 / %x23-5B / %x5D-7E.
func checkErrorDescription(t *testing.T, what, text string) {
	t.Helper()
	if text == "" {
		t.Errorf("%s is empty", what)
	}
	for _, r := range text {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			t.Errorf("%s: %q is not allowed in an OAuth error_description: %q", what, r, text)
			return
		}
	}
}

func TestCatalogOrder(t *testing.T) {
	order := []string{GroupHTTP, GroupOAuth, GroupToken, GroupAPI}
	rank := map[string]int{}
	for i, g := range order {
		rank[g] = i
	}
	entries := Catalog()
	for i := 1; i < len(entries); i++ {
		prev, cur := entries[i-1], entries[i]
		if rank[prev.Group] > rank[cur.Group] {
			t.Errorf("%s (%s) comes after %s (%s)", cur.Key, cur.Group, prev.Key, prev.Group)
		}
		// OAuth entries follow the specifications' order instead.
		sorted := cur.Group == GroupHTTP || cur.Group == GroupAPI
		if sorted && prev.Group == cur.Group && prev.Status > cur.Status {
			t.Errorf("%s (%d) comes after %s (%d) in %s", cur.Key, cur.Status, prev.Key, prev.Status, cur.Group)
		}
	}
	for _, g := range order {
		n := 0
		for _, e := range entries {
			if e.Group == g {
				n++
			}
		}
		if n == 0 {
			t.Errorf("group %q has no entries", g)
		}
	}
}
