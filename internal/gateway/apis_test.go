package gateway_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/gateway"
	"gatehouse/internal/problem"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/testhttp"
)

// TestAPIManagerRefusesUpstreamOptions checks that import and update refuse
// bad upstream TLS and circuit breaker options with 400 invalid_parameter
// naming the field, and never show the client key. The CLI's flag names
// and the admin API over these are tested in cmd/gatehouse
// (TestUpstreamTLSOptionsRefused, TestBreakerOptions).
func TestAPIManagerRefusesUpstreamOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	am := &gateway.APIManager{Store: st, Secret: "a system secret for the test's sealed keys"}

	ca := testhttp.NewCA(t)
	_, cert, key := ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	_, otherCert, _ := ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), true)
	if _, err := am.Import(ctx, []byte(testhttp.EchoAPI), gateway.ImportOptions{Name: "ok", BasePath: "/ok/v1", Upstream: "https://backend.test",
		UpstreamCAPEM: string(ca.PEM), UpstreamClientCertPEM: string(cert), UpstreamClientKeyPEM: string(key),
		BreakerFailures: 2, BreakerPauseMS: 500, BreakerMaxPauseMS: 2000}); err != nil {
		t.Fatalf("a valid import: %v", err)
	}
	i64 := func(n int64) *int64 { return &n }
	str := func(s string) *string { return &s }

	for _, c := range []struct {
		name   string
		imp    *gateway.ImportOptions // else update "ok"
		update gateway.APIUpdate
		field  string
		want   string // in the detail
	}{
		{name: "CA not PEM", imp: &gateway.ImportOptions{Upstream: "https://backend.test", UpstreamCAPEM: "not a certificate\n"},
			field: "upstream_ca_pem", want: "not a PEM bundle"},
		{name: "key is a certificate", imp: &gateway.ImportOptions{Upstream: "https://backend.test", UpstreamClientCertPEM: string(cert), UpstreamClientKeyPEM: string(cert)},
			field: "upstream_client_key_pem", want: "not a PEM private key"},
		{name: "key of another certificate", imp: &gateway.ImportOptions{Upstream: "https://backend.test", UpstreamClientCertPEM: string(otherCert), UpstreamClientKeyPEM: string(key)},
			field: "upstream_client_key_pem", want: "do not form a pair"},
		{name: "cert without key", imp: &gateway.ImportOptions{Upstream: "https://backend.test", UpstreamClientCertPEM: string(cert)},
			field: "upstream_client_key_pem", want: "needs its private key"},
		{name: "TLS option on http", imp: &gateway.ImportOptions{Upstream: "http://backend.test", UpstreamServerName: "backend.test"},
			field: "upstream_server_name", want: "applies to https upstreams only"},
		{name: "bad server name", imp: &gateway.ImportOptions{Upstream: "https://backend.test", UpstreamServerName: "https://x"},
			field: "upstream_server_name", want: `"https://x" must be a DNS host name`},
		{name: "breaker failures", imp: &gateway.ImportOptions{Upstream: "https://backend.test", BreakerFailures: -1},
			field: "breaker_failures", want: "-1 must be between 1 and 1000"},
		{name: "update: CA junk", update: gateway.APIUpdate{UpstreamCAPEM: str("junk")}, field: "upstream_ca_pem", want: "not a PEM bundle"},
		{name: "update: key alone", update: gateway.APIUpdate{UpstreamClientKeyPEM: str(string(key))}, field: "upstream_client_cert_pem", want: "give the client certificate with the client key"},
		{name: "update: pause too short", update: gateway.APIUpdate{BreakerPauseMS: i64(5)}, field: "breaker_pause_ms", want: "5ms must be between 10ms"},
		{name: "update: cap below the pause", update: gateway.APIUpdate{BreakerPauseMS: i64(2000), BreakerMaxPauseMS: i64(1000)},
			field: "breaker_max_pause_ms", want: "the cap 1s is below the first pause 2s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.imp != nil {
				o := *c.imp
				o.Name, o.BasePath = "refused", "/refused/v1"
				_, err = am.Import(ctx, []byte(testhttp.EchoAPI), o)
			} else {
				_, err = am.Update(ctx, "ok", c.update)
			}
			var p *problem.Error
			if !errors.As(err, &p) || p.Reason() != problem.BadRequestInvalidParameter {
				t.Fatalf("error = %v; want 400 invalid_parameter", err)
			}
			if got := p.Extra["field"]; got != c.field {
				t.Errorf("field = %v; want %s (%s)", got, c.field, p.Detail)
			}
			if !strings.Contains(p.Detail, c.want) {
				t.Errorf("detail %q does not contain %q", p.Detail, c.want)
			}
			if keyBody := strings.Split(string(key), "\n")[1]; strings.Contains(p.Detail, keyBody) {
				t.Errorf("the detail shows key material: %s", p.Detail)
			}
		})
	}
	v, err := am.Get(ctx, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if !v.UpstreamClientKeySet || v.BreakerFailures != 2 || v.BreakerPauseMS != 500 || v.BreakerMaxPauseMS != 2000 {
		t.Errorf("after the refusals: %+v; want the key set and the breaker options as imported", v)
	}
}
