package testhttp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The authorization server's endpoints, as gatehouse serves them below its
// issuer URL (oauth.PathToken and oauth.PathIntrospect, which the oauth
// package's own tests cannot import from here).
const (
	tokenPath      = "/oauth2/token"
	introspectPath = "/oauth2/introspect"
)

// PostForm sends form to target as an OAuth client does: with HTTP Basic
// credentials (form-encoded first, RFC 6749 §2.3.1) unless id is "", and
// the header pairs given. The caller closes the body.
func PostForm(tb testing.TB, target string, form url.Values, id, secret string, headers ...string) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.Header.Set("Authorization", BasicAuth(id, secret))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp
}

// BasicAuth returns the Authorization value of HTTP Basic credentials as
// an OAuth client sends them: id and secret form-encoded first (RFC 6749
// §2.3.1).
func BasicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// TokenForm posts a token request to the issuer's token endpoint with the
// client's Basic credentials and returns the status and decoded answer.
func TokenForm(tb testing.TB, issuer, id, secret string, form url.Values) (int, map[string]any) {
	tb.Helper()
	resp := PostForm(tb, issuer+tokenPath, form, id, secret)
	var body map[string]any
	DecodeJSON(tb, resp, &body)
	return resp.StatusCode, body
}

// Token gets a client_credentials access token for scope ("" asks for none)
// and fails tb unless one is issued.
func Token(tb testing.TB, issuer, id, secret, scope string) string {
	tb.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	status, body := TokenForm(tb, issuer, id, secret, form)
	if status != http.StatusOK {
		tb.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// TokenStatus requests a client_credentials token and returns the status,
// the decoded body and the headers.
func TokenStatus(tb testing.TB, issuer, id, secret string) (int, map[string]any, http.Header) {
	tb.Helper()
	resp := PostForm(tb, issuer+tokenPath, url.Values{"grant_type": {"client_credentials"}}, id, secret)
	var body map[string]any
	DecodeJSON(tb, resp, &body)
	return resp.StatusCode, body, resp.Header
}

// Introspect returns the introspection response for tok, asked by the
// client id, and fails tb unless it is 200.
func Introspect(tb testing.TB, issuer, id, secret, tok string) map[string]any {
	tb.Helper()
	resp := PostForm(tb, issuer+introspectPath, url.Values{"token": {tok}}, id, secret)
	var body map[string]any
	DecodeJSON(tb, resp, &body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("introspect: %d %v", resp.StatusCode, body)
	}
	return body
}

// KeyIDOf returns the key ID in the header of a token signed with ES256.
func KeyIDOf(tb testing.TB, tok string) string {
	tb.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		tb.Fatal(err)
	}
	return parsed.Headers[0].KeyID
}

// AssertionKey is a private_key_jwt client's key pair (RFC 7523).
type AssertionKey struct {
	Key   *ecdsa.PrivateKey
	KeyID string
	// Now is the time assertions are issued at; nil is time.Now.
	Now func() time.Time
}

// NewAssertionKey makes a P-256 key pair with a key ID of its own; now, when
// not nil, is the clock its assertions are issued by.
func NewAssertionKey(tb testing.TB, now func() time.Time) AssertionKey {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return AssertionKey{Key: priv, KeyID: "k-" + base64.RawURLEncoding.EncodeToString(priv.X.Bytes()[:6]), Now: now}
}

// JWKS returns the public JWK Set to register.
func (k AssertionKey) JWKS(tb testing.TB) string {
	tb.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.Key.PublicKey, KeyID: k.KeyID, Algorithm: "ES256", Use: "sig"}}}
	return MustJSON(tb, set)
}

// Assertion signs a client assertion of clientID for the audience aud,
// valid for a minute with a fresh jti; mutate, when not nil, may change the
// claims first.
func (k AssertionKey) Assertion(tb testing.TB, clientID, aud string, mutate func(c *jwt.Claims)) string {
	tb.Helper()
	return k.Sign(tb, "JWT", k.claims(clientID, clientID, aud, mutate))
}

// GrantAssertion signs a JWT bearer grant assertion (RFC 7523 §2.1) as the
// CAMARA profile has it: iss clientID, sub the subscriber ("tel:+…"),
// scope the scopes requested, otherwise as Assertion.
func (k AssertionKey) GrantAssertion(tb testing.TB, clientID, aud, sub, scope string, mutate func(c *jwt.Claims)) string {
	tb.Helper()
	return k.Sign(tb, "JWT", k.claims(clientID, sub, aud, mutate), map[string]any{"scope": scope})
}

func (k AssertionKey) claims(iss, sub, aud string, mutate func(c *jwt.Claims)) jwt.Claims {
	now := time.Now()
	if k.Now != nil {
		now = k.Now()
	}
	jti := make([]byte, 12)
	_, _ = rand.Read(jti)
	c := jwt.Claims{
		Issuer: iss, Subject: sub, Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
		ID: base64.RawURLEncoding.EncodeToString(jti),
	}
	if mutate != nil {
		mutate(&c)
	}
	return c
}

// Sign signs the claims (each a struct or map, merged in order) with the
// key: ES256, its kid and the typ header given ("" for none).
func (k AssertionKey) Sign(tb testing.TB, typ string, claims ...any) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.KeyID)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.Key}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	b := jwt.Signed(signer)
	for _, c := range claims {
		b = b.Claims(c)
	}
	s, err := b.Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
