package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a leaf certificate for 127.0.0.1 and backend.test, valid
// from notBefore to notAfter, for a server or (client) a TLS client; it
// returns the pair and its PEM certificate and key.
func (ca *testCA) issue(t *testing.T, notBefore, notAfter time.Time, client bool) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
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
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

// seen is what a TLS test upstream answers: what reached it.
type seen struct {
	Path       string `json:"path"`
	Host       string `json:"host"`
	ServerName string `json:"server_name"`
	ClientCert string `json:"client_cert"`
}

func tlsEcho(w http.ResponseWriter, r *http.Request) {
	s := seen{Path: r.URL.Path, Host: r.Host}
	if r.TLS != nil {
		s.ServerName = r.TLS.ServerName
		if len(r.TLS.PeerCertificates) > 0 {
			s.ClientCert = r.TLS.PeerCertificates[0].Subject.CommonName
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s)
}

// writeFile writes b to a new file in a test directory and returns its path.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// resettingAddr returns the address of a listener that accepts each
// connection and resets it at once (SO_LINGER 0), before any answer.
func resettingAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			buf := make([]byte, 1)
			_, _ = c.Read(buf) // the request has started: reset mid-exchange
			c.Close()
		}
	}()
	return l.Addr().String()
}

// TestUpstreamTLS calls, through the real server, APIs whose upstreams are
// https (trusted through the per-API CA, untrusted, wrong name, expired,
// requiring a client certificate) or fail in each way the 502 causes tell
// apart, and checks that redirects reach the caller unfollowed.
func TestUpstreamTLS(t *testing.T) {
	trusted := httptest.NewTLSServer(http.HandlerFunc(tlsEcho))
	t.Cleanup(trusted.Close)
	trustedCA := writeFile(t, "trusted-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: trusted.Certificate().Raw}))

	ca := newTestCA(t)
	caFile := writeFile(t, "ca.pem", ca.pem)
	expiredPair, _, _ := ca.issue(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), false)
	expired := httptest.NewUnstartedServer(http.HandlerFunc(tlsEcho))
	expired.TLS = &tls.Config{Certificates: []tls.Certificate{expiredPair}}
	expired.StartTLS()
	t.Cleanup(expired.Close)

	_, clientCert, clientKey := ca.issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(ca.cert)
	// A client certificate from a CA the upstream does not trust.
	_, otherCert, otherKey := newTestCA(t).issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	mutual := httptest.NewUnstartedServer(http.HandlerFunc(tlsEcho))
	mutual.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	mutual.StartTLS()
	t.Cleanup(mutual.Close)
	mutualCA := writeFile(t, "mutual-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mutual.Certificate().Raw}))

	var followed atomic.Int32
	redirecting := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved/there" {
			followed.Add(1)
			tlsEcho(w, r)
			return
		}
		w.Header().Set("Location", "/moved/there")
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(redirecting.Close)
	redirectCA := writeFile(t, "redirect-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: redirecting.Certificate().Raw}))

	ts := startServer(t, nil)
	imports := []struct {
		name string
		args []string
	}{
		{"tls", []string{"--upstream", trusted.URL + "/my-api/v1", "--upstream-ca", trustedCA}},
		{"sni", []string{"--upstream", trusted.URL + "/sni", "--upstream-ca", trustedCA, "--upstream-server-name", "example.com"}},
		{"untrusted", []string{"--upstream", trusted.URL}},
		{"wrongname", []string{"--upstream", trusted.URL, "--upstream-ca", trustedCA, "--upstream-server-name", "wrong.example"}},
		{"expired", []string{"--upstream", expired.URL, "--upstream-ca", caFile}},
		{"nocert", []string{"--upstream", mutual.URL, "--upstream-ca", mutualCA}},
		{"mtls", []string{"--upstream", mutual.URL + "/m", "--upstream-ca", mutualCA,
			"--upstream-client-cert", writeFile(t, "client.pem", clientCert), "--upstream-client-key", writeFile(t, "client.key", clientKey)}},
		{"wrongclient", []string{"--upstream", mutual.URL, "--upstream-ca", mutualCA,
			"--upstream-client-cert", writeFile(t, "other.pem", otherCert), "--upstream-client-key", writeFile(t, "other.key", otherKey)}},
		{"refused", []string{"--upstream", "https://" + closedAddr(t)}},
		{"nxdomain", []string{"--upstream", "https://upstream.invalid/v1"}},
		{"reset", []string{"--upstream", "http://" + resettingAddr(t)}},
		{"redirect", []string{"--upstream", redirecting.URL, "--upstream-ca", redirectCA}},
	}
	app := ts.createClient("tls app", "--scopes", "echo:call", "--allow-unknown-scopes") // the APIs are imported below
	ts.cli("plans", "create", "--name", "unmetered", "--rate", "0")
	for _, im := range imports {
		ts.importAPI(t, echoAPI, append([]string{"--name", im.name, "--base-path", "/" + im.name + "/v1"}, im.args...)...)
		ts.cli("subscriptions", "create", "--client", app.ID, "--api", im.name, "--plan", "unmetered")
	}
	tok := ts.token(app, "echo:call")
	for _, im := range imports {
		eventually(t, 10*time.Second, im.name+" served", func() bool {
			resp, _ := ts.send(t, gwRequest{path: "/" + im.name + "/v1/call", token: tok, body: `{}`})
			return resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden
		})
	}

	call := func(t *testing.T, api string) (*http.Response, []byte) {
		t.Helper()
		return ts.send(t, gwRequest{path: "/" + api + "/v1/call", token: tok, body: `{}`})
	}
	ok := func(t *testing.T, api string) seen {
		t.Helper()
		resp, b := call(t, api)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", api, resp.StatusCode, b)
		}
		var s seen
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v: %s", api, err, b)
		}
		return s
	}

	t.Run("TrustedThroughPerAPICA", func(t *testing.T) {
		s := ok(t, "tls")
		if got, want := s.Path, "/my-api/v1/call"; got != want {
			t.Errorf("upstream path = %q; want %q (the URL's prefix, then the path)", got, want)
		}
		if got, want := s.Host, strings.TrimPrefix(trusted.URL, "https://"); got != want {
			t.Errorf("upstream Host = %q; want %q", got, want)
		}
	})
	t.Run("ServerNameOption", func(t *testing.T) {
		s := ok(t, "sni")
		if got, want := s.ServerName, "example.com"; got != want {
			t.Errorf("SNI = %q; want %q", got, want)
		}
		if got, want := s.Path, "/sni/call"; got != want {
			t.Errorf("upstream path = %q; want %q", got, want)
		}
	})
	t.Run("MutualTLS", func(t *testing.T) {
		s := ok(t, "mtls")
		if got, want := s.ClientCert, "backend.test"; got != want {
			t.Errorf("client certificate seen by the upstream = %q; want %q", got, want)
		}
	})

	for _, c := range []struct{ api, cause, mention string }{
		{"untrusted", "tls_unknown_authority", "--upstream-ca"},
		{"wrongname", "tls_name_mismatch", "--upstream-server-name"},
		{"expired", "tls_certificate_expired", "expired"},
		{"nocert", "tls_handshake_failed", "requires a client certificate"},
		{"wrongclient", "tls_handshake_failed", "TLS handshake"},
		{"refused", "connection_refused", "refused"},
		{"nxdomain", "dns_failure", "upstream.invalid"},
		{"reset", "connection_reset", "reset"},
	} {
		t.Run(c.cause, func(t *testing.T) {
			resp, b := call(t, c.api)
			var e gatewayError
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("%d %s: %v", resp.StatusCode, b, err)
			}
			if resp.StatusCode != http.StatusBadGateway || e.Code != "BAD_GATEWAY" || e.Cause == nil || e.Cause.ID != c.cause {
				t.Fatalf("got %d %s; want 502 BAD_GATEWAY with cause %s", resp.StatusCode, b, c.cause)
			}
			if !strings.Contains(e.Detail, c.mention) {
				t.Errorf("detail %q does not mention %q", e.Detail, c.mention)
			}
			if strings.Contains(string(b), "PRIVATE KEY") {
				t.Errorf("the answer shows key material: %s", b)
			}
		})
	}

	t.Run("RedirectPassedThrough", func(t *testing.T) {
		resp, b := call(t, "redirect")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status = %d %s; want 302 as the upstream answered", resp.StatusCode, b)
		}
		if got, want := resp.Header.Get("Location"), "/moved/there"; got != want {
			t.Errorf("Location = %q; want %q", got, want)
		}
		if n := followed.Load(); n != 0 {
			t.Errorf("the gateway followed the redirect %d time(s)", n)
		}
	})

	t.Run("ShowNeverEchoesTheKey", func(t *testing.T) {
		out := ts.cli("apis", "show", "mtls", "--json")
		if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "sealed") {
			t.Errorf("apis show prints key material: %s", out)
		}
		var v struct {
			KeySet bool   `json:"upstream_client_key_set"`
			Cert   string `json:"upstream_client_cert_pem"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || !v.KeySet || v.Cert == "" {
			t.Errorf("apis show = %s (%v); want the certificate and upstream_client_key_set true", out, err)
		}
	})

	t.Run("OptionsChangeRebuildsTheClient", func(t *testing.T) {
		// Removing the CA makes the same URL untrusted at once.
		ts.cli("apis", "update", "tls", "--upstream-ca", "")
		eventually(t, 10*time.Second, "the update to reach the gateway", func() bool {
			resp, b := call(t, "tls")
			return resp.StatusCode == http.StatusBadGateway && strings.Contains(string(b), "tls_unknown_authority")
		})
		ts.cli("apis", "update", "tls", "--upstream-ca", trustedCA)
		eventually(t, 10*time.Second, "the CA to be trusted again", func() bool {
			resp, _ := call(t, "tls")
			return resp.StatusCode == http.StatusOK
		})
	})
}

// TestUpstreamTLSOptionsRefused checks that the CLI and the admin API refuse
// bad upstream TLS options with an error naming the flag or field, and
// that the admin API never echoes a client key.
func TestUpstreamTLSOptionsRefused(t *testing.T) {
	ts := startServer(t, nil)
	ca := newTestCA(t)
	_, cert, key := ca.issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	_, otherCert, _ := ca.issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	doc := writeFile(t, "api.yaml", []byte(echoAPI))
	notPEM := writeFile(t, "ca.pem", []byte("not a certificate\n"))
	certFile, keyFile := writeFile(t, "c.pem", cert), writeFile(t, "c.key", key)

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"CA not PEM", []string{"--upstream", "https://backend.test", "--upstream-ca", notPEM}, "--upstream-ca " + notPEM + ": not a PEM bundle"},
		{"CA missing", []string{"--upstream", "https://backend.test", "--upstream-ca", "/nonexistent/ca.pem"}, "--upstream-ca: open /nonexistent/ca.pem"},
		{"key is a certificate", []string{"--upstream", "https://backend.test", "--upstream-client-cert", certFile, "--upstream-client-key", certFile}, "--upstream-client-key " + certFile + ": not a PEM private key"},
		{"key of another certificate", []string{"--upstream", "https://backend.test", "--upstream-client-cert", writeFile(t, "o.pem", otherCert), "--upstream-client-key", keyFile}, "do not form a pair"},
		{"cert without key", []string{"--upstream", "https://backend.test", "--upstream-client-cert", certFile}, "--upstream-client-key"},
		{"TLS option on http", []string{"--upstream", "http://backend.test", "--upstream-server-name", "backend.test"}, "--upstream-server-name: applies to https upstreams only"},
		{"bad server name", []string{"--upstream", "https://backend.test", "--upstream-server-name", "https://x"}, "--upstream-server-name: \"https://x\" must be a DNS host name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ts.tryCLI(append([]string{"apis", "import", doc, "--name", "refused", "--base-path", "/refused/v1"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v; want it to contain %q", err, c.want)
			}
			if keyBody := strings.Split(string(key), "\n")[1]; strings.Contains(err.Error(), keyBody) {
				t.Errorf("the error shows key material: %v", err)
			}
		})
	}

	admin := adminTokenOf(t, ts)
	body, _ := json.Marshal(map[string]any{
		"name": "adm", "base_path": "/adm/v1", "upstream_url": "https://backend.test", "document": echoAPI,
		"upstream_client_cert_pem": string(cert), "upstream_client_key_pem": string(key), "upstream_server_name": "backend.test",
		"allow_underscore_headers": true,
	})
	resp, b := ts.adminCall(http.MethodPost, "/admin/apis", admin, "application/json", string(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin import: %d %s", resp.StatusCode, b)
	}
	if strings.Contains(string(b), "PRIVATE KEY") {
		t.Errorf("admin import echoes the key: %s", b)
	}
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	if v["upstream_client_key_set"] != true || v["upstream_server_name"] != "backend.test" || v["allow_underscore_headers"] != true {
		t.Errorf("admin import answered %s; want the key set, the server name and allow_underscore_headers", b)
	}
	resp, b = ts.adminCall(http.MethodPatch, "/admin/apis/adm", admin, "application/json", `{"upstream_ca_pem": "junk"}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "upstream_ca_pem") {
		t.Errorf("admin update with a bad CA: %d %s; want 400 naming upstream_ca_pem", resp.StatusCode, b)
	}
}
