package testhttp

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// GatewayError is the body of a gateway error: CAMARA ErrorInfo and RFC
// 9457 problem details at once.
type GatewayError struct {
	Status     int    `json:"status"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Detail     string `json:"detail"`
	Instance   string `json:"instance"`
	Correlator string `json:"correlator"`
	Fix        string `json:"fix"`
	Cause      *struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	} `json:"cause"`
}

// OAuthError is an RFC 6749 §5.2 error body, with gatehouse's cause and
// correlator.
type OAuthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	URI         string `json:"error_uri"`
	Cause       string `json:"cause"`
	Correlator  string `json:"correlator"`
}

// CheckProblem checks an RFC 9457 admin error: status, content type, every
// member gatehouse promises, the registry key (code) and, when not "", the
// cause. It returns the decoded body (nil when it is not JSON).
func CheckProblem(tb testing.TB, what string, resp *http.Response, body []byte, status int, code, cause string) map[string]any {
	tb.Helper()
	if resp.StatusCode != status {
		tb.Errorf("%s: status %d; want %d (body %s)", what, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Errorf("%s: Content-Type %q; want application/problem+json", what, ct)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Errorf("%s: body is not JSON: %q", what, body)
		return nil
	}
	for _, k := range []string{"type", "title", "detail", "instance", "code", "fix", "correlator"} {
		if s, _ := p[k].(string); s == "" {
			tb.Errorf("%s: member %q missing or empty in %s", what, k, body)
		}
	}
	if st, _ := p["status"].(float64); int(st) != resp.StatusCode {
		tb.Errorf("%s: status member %v; want %d", what, p["status"], resp.StatusCode)
	}
	c, _ := p["cause"].(map[string]any)
	if id, _ := c["id"].(string); id == "" {
		tb.Errorf("%s: cause.id missing in %s", what, body)
	} else if cause != "" && id != cause {
		tb.Errorf("%s: cause.id %q; want %q", what, id, cause)
	}
	if text, _ := c["text"].(string); text == "" {
		tb.Errorf("%s: cause.text missing in %s", what, body)
	}
	if p["code"] != code {
		tb.Errorf("%s: code %v; want %q", what, p["code"], code)
	}
	if typ, _ := p["type"].(string); !strings.Contains(typ, "/docs/errors#"+code) {
		tb.Errorf("%s: type %q; want the troubleshooting anchor of %s", what, typ, code)
	}
	if corr := resp.Header.Get("X-Correlator"); corr == "" || corr != p["correlator"] {
		tb.Errorf("%s: X-Correlator %q vs body correlator %v", what, corr, p["correlator"])
	}
	return p
}

// CheckWWWAuthenticate compares the challenges with want: exact, except
// that an invalid_token challenge may carry an error_description (RFC 6750
// §3). want "" wants none.
func CheckWWWAuthenticate(tb testing.TB, got []string, want string) {
	tb.Helper()
	if want == "" {
		if len(got) != 0 {
			tb.Errorf("WWW-Authenticate = %q; want none", got)
		}
		return
	}
	if len(got) != 1 {
		tb.Errorf("WWW-Authenticate = %q; want one challenge %q", got, want)
		return
	}
	if !strings.HasSuffix(want, `error="invalid_token"`) {
		if got[0] != want {
			tb.Errorf("WWW-Authenticate = %q; want %q", got[0], want)
		}
		return
	}
	rest, ok := strings.CutPrefix(got[0], want)
	if !ok {
		tb.Errorf("WWW-Authenticate = %q; want %q", got[0], want)
		return
	}
	if rest == "" {
		return
	}
	desc, ok := strings.CutPrefix(rest, `, error_description="`)
	desc, ok2 := strings.CutSuffix(desc, `"`)
	if !ok || !ok2 || strings.ContainsAny(desc, "\"\\") {
		tb.Errorf("WWW-Authenticate = %q; want %q with at most an RFC 6750 error_description", got[0], want)
	}
	for _, c := range desc {
		if c < 0x20 || c > 0x7e {
			tb.Errorf("error_description has %q, outside RFC 6750 §3's alphabet", c)
		}
	}
}

// CheckCAMARAError checks the CAMARA ErrorInfo members of a gateway error
// answer (status checked by the caller): a JSON Content-Type, the code,
// the body's status and a message. It returns the decoded body, and fails
// tb at once when it is not JSON.
func CheckCAMARAError(tb testing.TB, resp *http.Response, b []byte, status int, code string) GatewayError {
	tb.Helper()
	if got, want := resp.Header.Get("Content-Type"), "application/json"; !strings.HasPrefix(got, want) {
		tb.Errorf("Content-Type = %q; want %s", got, want)
	}
	var e GatewayError
	if err := json.Unmarshal(b, &e); err != nil {
		tb.Fatalf("body is not JSON: %v: %q", err, b)
	}
	if got, want := e.Code, code; got != want {
		tb.Errorf("code = %q; want %q (body %s)", got, want, b)
	}
	if got, want := e.Status, status; got != want {
		tb.Errorf("body status = %d; want %d", got, want)
	}
	if e.Message == "" {
		tb.Errorf("no message: %s", b)
	}
	return e
}

// CheckRegistryMembers checks what gatehouse's registry adds to the
// CAMARA members of e, decoded from b: the cause, the correlator of the
// x-correlator header, and the problem details, whose instance is the
// request's path without its query.
func CheckRegistryMembers(tb testing.TB, e GatewayError, b []byte, cause, correlator, path string) {
	tb.Helper()
	if e.Cause == nil || e.Cause.ID != cause {
		tb.Errorf("cause = %+v; want %q (body %s)", e.Cause, cause, b)
	}
	if e.Correlator != correlator {
		tb.Errorf("body correlator %q differs from x-correlator %q", e.Correlator, correlator)
	}
	if e.Type == "" || e.Title == "" || e.Detail == "" || e.Fix == "" || e.Instance != strings.SplitN(path, "?", 2)[0] {
		tb.Errorf("problem details incomplete (type, title, detail, fix, instance): %s", b)
	}
}
