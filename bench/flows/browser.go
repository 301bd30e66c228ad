package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// browser is one worker: an end user's browser (cookies kept, redirects
// not followed) that is also the app exchanging the codes, over one
// keep-alive transport.
type browser struct {
	hc       *http.Client
	issuer   string
	clientID string
}

func newBrowser(issuer, clientID string) *browser {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{ // no proxy, loopback only
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, Control: loopbackOnly}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     time.Minute,
	}
	return &browser{issuer: issuer, clientID: clientID, hc: &http.Client{
		Transport: tr, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// loopbackOnly refuses to connect anywhere but a loopback address.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("refusing to dial %q: loopback only", address)
	}
	return nil
}

// authRequest is one authorization request's secrets.
type authRequest struct {
	url, state, verifier string
}

// newAuthRequest builds an authorization request with a fresh PKCE
// verifier (S256), state and nonce.
func (b *browser) newAuthRequest() authRequest {
	var buf [48]byte
	_, _ = rand.Read(buf[:])
	verifier := base64.RawURLEncoding.EncodeToString(buf[:32])
	state, nonce := hex.EncodeToString(buf[32:40]), hex.EncodeToString(buf[40:])
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {b.clientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {scope},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	return authRequest{url: b.issuer + "/oauth2/authorize?" + q.Encode(), state: state, verifier: verifier}
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
)

// do sends req and returns the response with its body read.
func (b *browser) do(req *http.Request) (*http.Response, []byte, error) {
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}

func (b *browser) get(ctx context.Context, u string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	return b.do(req)
}

func (b *browser) post(ctx context.Context, u string, form url.Values) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// submit posts the page's first form with the page's hidden fields plus
// fields.
func (b *browser) submit(ctx context.Context, page []byte, fields url.Values) (*http.Response, []byte, error) {
	m := formAction.FindSubmatch(page)
	if m == nil {
		return nil, nil, fmt.Errorf("no form on the page:\n%s", page)
	}
	form := url.Values{}
	for _, h := range hiddenInput.FindAllSubmatch(page, -1) {
		form.Set(string(h[1]), html.UnescapeString(string(h[2])))
	}
	for k, vs := range fields {
		form[k] = vs
	}
	target := html.UnescapeString(string(m[1]))
	if strings.HasPrefix(target, "/") {
		target = b.issuer + target
	}
	return b.post(ctx, target, form)
}

// signIn runs the browser part of a first authorization: the sign-in form
// (password), the consent form (allow), and returns the code and its
// verifier. The session cookie it leaves remembers the consent.
func (b *browser) signIn(ctx context.Context, username, password string) (code, verifier string, err error) {
	ar := b.newAuthRequest()
	resp, page, err := b.get(ctx, ar.url)
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `name="password"`) {
		return "", "", fmt.Errorf("authorize: %d, want the sign-in page", resp.StatusCode)
	}
	resp, page, err = b.submit(ctx, page, url.Values{"action": {"password"}, "username": {username}, "password": {password}})
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `value="allow"`) {
		return "", "", fmt.Errorf("sign-in: %d, want the consent page", resp.StatusCode)
	}
	if resp, _, err = b.submit(ctx, page, url.Values{"action": {"allow"}}); err != nil {
		return "", "", err
	}
	code, err = codeFrom(resp, ar.state)
	return code, ar.verifier, err
}

// authorize sends an authorization request in the signed-in session, which
// must be answered at once with a redirect carrying a code.
func (b *browser) authorize(ctx context.Context) (code, verifier string, err error) {
	ar := b.newAuthRequest()
	resp, _, err := b.get(ctx, ar.url)
	if err != nil {
		return "", "", err
	}
	code, err = codeFrom(resp, ar.state)
	return code, ar.verifier, err
}

// codeFrom reads the code from a redirect to the app.
func codeFrom(resp *http.Response, state string) (string, error) {
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("authorize: %d, want a redirect with a code", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, redirectURI+"?") {
		return "", fmt.Errorf("authorize: redirect to %q, not the app", loc)
	}
	q, err := url.ParseQuery(loc[len(redirectURI)+1:])
	if err != nil {
		return "", err
	}
	switch {
	case q.Get("error") != "":
		return "", fmt.Errorf("authorize: error=%s", q.Get("error"))
	case q.Get("state") != state:
		return "", fmt.Errorf("authorize: state %q, want %q", q.Get("state"), state)
	case q.Get("code") == "":
		return "", fmt.Errorf("authorize: no code")
	}
	return q.Get("code"), nil
}

// tokenResponse is what the token endpoint answers.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// tokenError is an error answer of the token endpoint.
type tokenError struct {
	Status int
	Code   string `json:"error"`
	Cause  string `json:"cause"`
}

func (e *tokenError) Error() string {
	return fmt.Sprintf("token: %d %s (%s)", e.Status, e.Code, e.Cause)
}

func (b *browser) exchange(ctx context.Context, code, verifier string) (*tokenResponse, error) {
	return b.token(ctx, url.Values{"grant_type": {"authorization_code"}, "client_id": {b.clientID},
		"code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
}

func (b *browser) refresh(ctx context.Context, refreshToken string) (*tokenResponse, error) {
	return b.token(ctx, url.Values{"grant_type": {"refresh_token"}, "client_id": {b.clientID},
		"refresh_token": {refreshToken}})
}

func (b *browser) token(ctx context.Context, form url.Values) (*tokenResponse, error) {
	resp, body, err := b.post(ctx, b.issuer+"/oauth2/token", form)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		te := &tokenError{Status: resp.StatusCode}
		_ = json.Unmarshal(body, te)
		return nil, te
	}
	var tok tokenResponse
	if err := json.Unmarshal(body, &tok); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if tok.AccessToken == "" {
		return nil, fmt.Errorf("token: 200 without an access token")
	}
	return &tok, nil
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}
