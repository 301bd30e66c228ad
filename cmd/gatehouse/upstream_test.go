package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testhttp"
)

// writeFile writes b to a new file in a test directory and returns its path.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUpstreamTLSOptionsRefused checks that the CLI and the admin API refuse
// bad upstream TLS options with an error naming the flag or field, and
// that neither the admin API nor `apis show` ever echoes a client key. The
// calls through TLS upstreams are internal/gateway's TestUpstreamTLS.
func TestUpstreamTLSOptionsRefused(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	ca := testhttp.NewCA(t)
	_, cert, key := ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	_, otherCert, _ := ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	doc := writeFile(t, "api.yaml", []byte(testhttp.EchoAPI))
	notPEM := writeFile(t, "ca.PEM", []byte("not a certificate\n"))
	certFile, keyFile := writeFile(t, "c.pem", cert), writeFile(t, "c.key", key)

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"CA not PEM", []string{"--upstream", "https://backend.test", "--upstream-ca", notPEM}, "--upstream-ca " + notPEM + ": not a PEM bundle"},
		{"CA missing", []string{"--upstream", "https://backend.test", "--upstream-ca", "/nonexistent/ca.PEM"}, "--upstream-ca: open /nonexistent/ca.PEM"},
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
		"name": "adm", "base_path": "/adm/v1", "upstream_url": "https://backend.test", "document": testhttp.EchoAPI,
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

	t.Run("ShowNeverEchoesTheKey", func(t *testing.T) {
		out := ts.cli("apis", "show", "adm", "--json")
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
}
