package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/gateway"
	"gatehouse/internal/testhttp"
)

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

// certPEM is the PEM of a test server's certificate, to trust it.
func certPEM(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
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

// TestUpstreamTLS calls APIs whose upstreams are https (trusted through the
// per-API CA, untrusted, wrong name, expired, requiring a client
// certificate) or fail in each way the 502 causes tell apart, and checks
// that redirects reach the caller unfollowed. That `apis show` never
// prints the client key is checked in cmd/gatehouse
// (TestUpstreamTLSOptionsRefused).
func TestUpstreamTLS(t *testing.T) {
	t.Parallel()
	trusted := httptest.NewTLSServer(http.HandlerFunc(tlsEcho))
	t.Cleanup(trusted.Close)
	trustedCA := certPEM(trusted)

	ca := testhttp.NewCA(t)
	expiredPair, _, _ := ca.Issue(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), false)
	expired := httptest.NewUnstartedServer(http.HandlerFunc(tlsEcho))
	expired.TLS = &tls.Config{Certificates: []tls.Certificate{expiredPair}}
	expired.StartTLS()
	t.Cleanup(expired.Close)

	_, clientCert, clientKey := ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(ca.Cert)
	// A client certificate from a CA the upstream does not trust.
	_, otherCert, otherKey := testhttp.NewCA(t).Issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	mutual := httptest.NewUnstartedServer(http.HandlerFunc(tlsEcho))
	mutual.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	mutual.StartTLS()
	t.Cleanup(mutual.Close)
	mutualCA := certPEM(mutual)

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

	h := newHarness(t, nil)
	imports := []gateway.ImportOptions{
		{Name: "tls", Upstream: trusted.URL + "/my-api/v1", UpstreamCAPEM: trustedCA},
		{Name: "sni", Upstream: trusted.URL + "/sni", UpstreamCAPEM: trustedCA, UpstreamServerName: "example.com"},
		{Name: "untrusted", Upstream: trusted.URL},
		{Name: "wrongname", Upstream: trusted.URL, UpstreamCAPEM: trustedCA, UpstreamServerName: "wrong.example"},
		{Name: "expired", Upstream: expired.URL, UpstreamCAPEM: string(ca.PEM)},
		{Name: "nocert", Upstream: mutual.URL, UpstreamCAPEM: mutualCA},
		{Name: "mtls", Upstream: mutual.URL + "/m", UpstreamCAPEM: mutualCA,
			UpstreamClientCertPEM: string(clientCert), UpstreamClientKeyPEM: string(clientKey)},
		{Name: "wrongclient", Upstream: mutual.URL, UpstreamCAPEM: mutualCA,
			UpstreamClientCertPEM: string(otherCert), UpstreamClientKeyPEM: string(otherKey)},
		{Name: "refused", Upstream: "https://" + closedAddr(t)},
		{Name: "nxdomain", Upstream: "https://upstream.invalid/v1"},
		{Name: "reset", Upstream: "http://" + resettingAddr(t)},
		{Name: "redirect", Upstream: redirecting.URL, UpstreamCAPEM: certPEM(redirecting)},
	}
	app := h.createClient("tls app", "echo:call")
	for _, o := range imports {
		o.BasePath = "/" + o.Name + "/v1"
		h.importAPI(testhttp.EchoAPI, o)
		h.subscribeUnmetered(app, o.Name)
	}
	tok := h.token(app, "echo:call")

	call := func(t *testing.T, api string) (*http.Response, []byte) {
		t.Helper()
		return h.send(t, testhttp.Request{Path: "/" + api + "/v1/call", Token: tok, Body: `{}`})
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
			var e testhttp.GatewayError
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

	t.Run("OptionsChangeRebuildsTheClient", func(t *testing.T) {
		// Removing the CA makes the same URL untrusted at once.
		none := ""
		h.updateAPI(t, "tls", gateway.APIUpdate{UpstreamCAPEM: &none})
		testhttp.Eventually(t, 10*time.Second, "the update to reach the gateway", func() bool {
			resp, b := call(t, "tls")
			return resp.StatusCode == http.StatusBadGateway && strings.Contains(string(b), "tls_unknown_authority")
		})
		h.updateAPI(t, "tls", gateway.APIUpdate{UpstreamCAPEM: &trustedCA})
		testhttp.Eventually(t, 10*time.Second, "the CA to be trusted again", func() bool {
			resp, _ := call(t, "tls")
			return resp.StatusCode == http.StatusOK
		})
	})
}
