package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// assertionKey is a private_key_jwt client's key pair.
type assertionKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newAssertionKey(t *testing.T) assertionKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return assertionKey{priv: priv, kid: "k-" + base64.RawURLEncoding.EncodeToString(priv.X.Bytes()[:6])}
}

// jwks returns the public JWK Set to register.
func (k assertionKey) jwks(t *testing.T) string {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "ES256", Use: "sig"}}}
	return mustJSON(t, set)
}

// assertion signs a client assertion; mutate may change the claims.
func (k assertionKey) assertion(t *testing.T, clientID, aud string, mutate func(c *jwt.Claims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
		ID: base64.RawURLEncoding.EncodeToString(randomBytes(12)),
	}
	if mutate != nil {
		mutate(&c)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// oauthError is an RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	URI         string `json:"error_uri"`
	Cause       string `json:"cause"`
	Correlator  string `json:"correlator"`
}

// TestTokenErrorsCarryTheCorrelator: the public front gives every token
// endpoint error an x-correlator header equal to the body's correlator,
// however the error was written. The token endpoint's errors themselves are
// internal/oauth's TestTokenEndpointErrors.
func TestTokenErrorsCarryTheCorrelator(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.createClient("correlated", "--scopes", "sim-swap:check")
	const cc = "grant_type=client_credentials"
	cases := []struct {
		name   string
		method string // default POST
		body   string
		basic  bool
		accept string
		status int
	}{
		{name: "no credentials", body: cc, status: 401},
		{name: "bad percent-encoding", body: "grant_type=%zz", basic: true, status: 400},
		{name: "unknown scope", body: cc + "&scope=sim-swap:teleport", basic: true, status: 400},
		{name: "GET", method: http.MethodGet, basic: true, status: 405},
		{name: "streamed body too large", body: "chunked:" + cc + "&pad=" + strings.Repeat("a", 70<<10), basic: true, status: 413},
		{name: "Accept excludes JSON", body: cc, basic: true, accept: "text/html", status: 406},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			var body io.Reader = strings.NewReader(tc.body)
			if rest, ok := strings.CutPrefix(tc.body, "chunked:"); ok {
				body = io.MultiReader(strings.NewReader(rest)) // unknown length: sent chunked
			}
			req, err := http.NewRequest(method, ts.Issuer+"/oauth2/token", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic {
				req.SetBasicAuth(c.ID, c.Secret)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e oauthError
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("body is not JSON: %q", raw)
			}
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Errorf("status = %d; want %d (body %s)", got, want, raw)
			}
			if resp.Header.Get("X-Correlator") == "" || resp.Header.Get("X-Correlator") != e.Correlator {
				t.Errorf("x-correlator header %q and body %q must match", resp.Header.Get("X-Correlator"), e.Correlator)
			}
		})
	}
}
