package testhttp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// ItemsAPI is the OpenAPI document of a Recorder: a path parameter, a
// bounded query parameter and a JSON body, under /items/v1 with the scope
// items:read.
const ItemsAPI = `openapi: 3.0.3
info:
  title: Items
  version: 1.0.0
servers:
  - url: /items/v1
paths:
  /items/{id}:
    parameters:
      - name: id
        in: path
        required: true
        schema:
          type: string
    get:
      operationId: getItem
      security:
        - openId:
            - items:read
      parameters:
        - name: limit
          in: query
          schema:
            type: integer
            maximum: 10
      responses:
        "200":
          description: The item
          content:
            application/json:
              schema:
                type: object
    post:
      operationId: putItem
      security:
        - openId:
            - items:read
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
      responses:
        "200":
          description: The item
          content:
            application/json:
              schema:
                type: object
components:
  securitySchemes:
    openId:
      type: openIdConnect
      openIdConnectUrl: https://example.com/.well-known/openid-configuration
`

// EchoAPI is the OpenAPI document of an EchoUpstream: one operation, POST
// /echo/v1/call with the scope echo:call, that takes a JSON object. Tests
// import it several times under other names.
const EchoAPI = `openapi: 3.0.3
info:
  title: Echo
  version: 1.0.0
servers:
  - url: /echo/v1
paths:
  /call:
    post:
      operationId: call
      security:
        - openId:
            - echo:call
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                want:
                  type: integer
                pad:
                  type: string
      responses:
        "200":
          description: What the upstream received
          content:
            application/json:
              schema:
                type: object
components:
  securitySchemes:
    openId:
      type: openIdConnect
      openIdConnectUrl: https://example.com/.well-known/openid-configuration
`

// LiveAPI is a minimal API for a test upstream: POST /live/v1/ping with
// the scope live:ping and a JSON object body.
const LiveAPI = `openapi: 3.0.3
info: {title: Live test API, version: 1.0.0}
servers: [{url: "{apiRoot}/live/v1", variables: {apiRoot: {default: "http://localhost"}}}]
components:
  securitySchemes:
    openId: {type: openIdConnect, openIdConnectUrl: "https://example.com/.well-known/openid-configuration"}
paths:
  /ping:
    post:
      operationId: ping
      security: [{openId: ["live:ping"]}]
      requestBody:
        required: true
        content: {application/json: {schema: {type: object, properties: {n: {type: integer}}}}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object}}}}
`

// Recorded is one request as a Recorder received it.
type Recorded struct {
	Method string
	Target string // the request-target, as sent on the wire
	Path   string // the decoded path
	Header http.Header
	Body   string
}

// Recorder is an upstream that records every request it receives and
// answers {} with hop-by-hop headers a gateway must not pass on
// (Connection naming X-Hop-Resp, Proxy-Authenticate, Keep-Alive) beside
// X-Kept-Resp, which it must.
type Recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Recorded
}

// NewRecorder starts a Recorder; it stops at the end of the test.
func NewRecorder(tb testing.TB) *Recorder {
	rec := &Recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, Recorded{Method: r.Method, Target: r.RequestURI, Path: r.URL.Path,
			Header: r.Header.Clone(), Body: string(body)})
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "X-Hop-Resp")
		w.Header().Set("X-Hop-Resp", "secret")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Kept-Resp", "yes")
		_, _ = io.WriteString(w, `{}`)
	}))
	tb.Cleanup(rec.Close)
	return rec
}

// Take returns the requests recorded since the last call.
func (rec *Recorder) Take() []Recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.reqs
	rec.reqs = nil
	return out
}

// Requests returns every request recorded since the last Take, as
// "METHOD path body", without taking them.
func (rec *Recorder) Requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]string, len(rec.reqs))
	for i, r := range rec.reqs {
		out[i] = r.Method + " " + r.Path + " " + r.Body
	}
	return out
}

// UpstreamError returns the well-formed CAMARA error an EchoUpstream
// answers {"want": status} with, which a gateway must pass through byte
// for byte; "" for a status it has none for (500 and 404 it has).
func UpstreamError(status int) string {
	switch status {
	case 500:
		return `{"status": 500, "code": "INTERNAL",   "message": "The upstream broke \u00e9"}` + "\n"
	case 404:
		return `{"status":404,"code":"IDENTIFIER_NOT_FOUND","message":"No line +34600000004."}`
	}
	return ""
}

// Echoed is what an EchoUpstream answers with 200: what it received.
type Echoed struct {
	Tag    string      `json:"tag"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// EchoUpstream starts an upstream that answers {"want": N} with
// UpstreamError(N) when there is one, anything else with an Echoed of what
// it received. Every answer carries X-Upstream: tag, which tells upstreams
// apart, and an X-Correlator of its own, which a gateway must not pass on.
// It stops at the end of the test.
func EchoUpstream(tb testing.TB, tag string) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct {
			Want int `json:"want"`
		}
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", tag)
		// The gateway keeps the client's correlator, not an upstream's.
		w.Header().Set("X-Correlator", "upstream-own-correlator")
		if e := UpstreamError(in.Want); e != "" {
			w.WriteHeader(in.Want)
			_, _ = io.WriteString(w, e)
			return
		}
		_ = json.NewEncoder(w).Encode(Echoed{Tag: tag, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header, Body: string(body)})
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// CA is a certificate authority made for one test, for upstreams on TLS.
type CA struct {
	Cert *x509.Certificate
	PEM  []byte // Cert, PEM-encoded
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA valid for an hour either side of now.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Issue makes a leaf certificate for 127.0.0.1 and backend.test, valid
// from notBefore to notAfter, for a server or (client) a TLS client; it
// returns the pair and its PEM certificate and key.
func (ca *CA) Issue(tb testing.TB, notBefore, notAfter time.Time, client bool) (tls.Certificate, []byte, []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "backend.test"},
		DNSNames: []string{"backend.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	return pair, certPEM, keyPEM
}
