package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store/storetest"
	"gatehouse/internal/testhttp"
)

// forwarder is a TCP proxy that can be cut (listener and every live
// connection closed) and restored on the same port.
type forwarder struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func startForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{t: t, target: target, addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	go f.serve(ln)
	t.Cleanup(f.cut)
	return f
}

func (f *forwarder) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go f.pipe(ln, c)
	}
}

// track registers live connections; it refuses them once the listener
// they came from was cut.
func (f *forwarder) track(ln net.Listener, cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != ln {
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		delete(f.conns, c)
	}
}

func (f *forwarder) pipe(ln net.Listener, down net.Conn) {
	up, err := net.DialTimeout("tcp", f.target, 10*time.Second)
	if err != nil {
		down.Close()
		return
	}
	if !f.track(ln, down, up) {
		down.Close()
		up.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, down)
		up.Close()
		down.Close()
		close(done)
	}()
	_, _ = io.Copy(down, up)
	down.Close()
	up.Close()
	<-done
	f.untrack(down, up)
}

// cut closes the listener and every live connection: the database is gone.
func (f *forwarder) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		c.Close()
	}
	clear(f.conns)
}

// restore listens again on the same address.
func (f *forwarder) restore() {
	f.t.Helper()
	var ln net.Listener
	testhttp.Eventually(f.t, 10*time.Second, "the forwarder's port to be free again", func() bool {
		var err error
		ln, err = net.Listen("tcp", f.addr)
		return err == nil
	})
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	go f.serve(ln)
}

// startPGServer starts an in-process gatehouse on PostgreSQL at dbURL.
func startPGServer(t *testing.T, dbURL string, tweak func(env map[string]string)) *testServer {
	t.Helper()
	return startServer(t, func(env map[string]string) {
		env["GATEHOUSE_DATABASE_URL"] = dbURL
		if tweak != nil {
			tweak(env)
		}
	})
}

// TestStoreUnreachable: while PostgreSQL cannot be reached, every request
// that needs it answers 503 with Retry-After in its channel's format, never
// 500; /readyz says not ready; and the server recovers by itself once the
// database is back.
func TestStoreUnreachable(t *testing.T) {
	t.Parallel()
	pg, err := url.Parse(storetest.PostgresSchema(t, storetest.PostgresURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	target := pg.Host
	if pg.Port() == "" {
		target = net.JoinHostPort(pg.Hostname(), "5432")
	}
	fwd := startForwarder(t, target)
	pg.Host = fwd.addr // the server reaches PostgreSQL through the forwarder
	ts := startPGServer(t, pg.String(), nil)
	admin := adminTokenOf(t, ts)

	c := ts.createClient("outage", "--scopes", "sim-swap:check")
	tok := ts.token(c, "")
	if in := ts.introspect(c, tok); in["active"] != true {
		t.Fatalf("introspection before the outage: %v", in)
	}

	fwd.cut()

	// oauthUnavailable checks an OAuth endpoint's answer during the outage.
	oauthUnavailable := func(what string, resp *http.Response) bool {
		t.Helper()
		var e testhttp.OAuthError
		testhttp.DecodeJSON(t, resp, &e)
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s during the outage: %d %+v; want 503, never a 5xx other than 503", what, resp.StatusCode, e)
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			return false
		}
		if e.Error != "temporarily_unavailable" || e.Cause != "store_unavailable" {
			t.Errorf("%s during the outage: %+v; want temporarily_unavailable / store_unavailable", what, e)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s during the outage: 503 without Retry-After", what)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s during the outage: Content-Type %q", what, ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s during the outage: Cache-Control %q; want no-store", what, cc)
		}
		return true
	}

	// An unknown client is not in the cache: the store is asked at once.
	resp := ts.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "gh_unknown_client", "whatever")
	if !oauthUnavailable("token request of an unknown client", resp) {
		t.Errorf("token request of an unknown client during the outage: %d; want 503", resp.StatusCode)
	}
	// A known client is served from the cache for up to a second, then the
	// store is asked.
	testhttp.Eventually(t, 10*time.Second, "a known client's token request to answer 503 once its cache entry expired", func() bool {
		return oauthUnavailable("token request of a known client", ts.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret))
	})
	testhttp.Eventually(t, 10*time.Second, "introspection to answer 503", func() bool {
		return oauthUnavailable("introspection", ts.post("/oauth2/introspect", url.Values{"token": {tok}}, c.ID, c.Secret))
	})
	testhttp.Eventually(t, 10*time.Second, "revocation to answer 503", func() bool {
		return oauthUnavailable("revocation", ts.post("/oauth2/revoke", url.Values{"token": {tok}}, c.ID, c.Secret))
	})

	// Readiness and the admin API say 503 in problem+json.
	resp2, body := ts.adminCall("GET", "/readyz", "", "", "")
	testhttp.CheckProblem(t, "/readyz during the outage", resp2, body, http.StatusServiceUnavailable, "unavailable", "store_unavailable")
	if resp2.Header.Get("Retry-After") == "" {
		t.Error("/readyz during the outage: no Retry-After")
	}
	if resp2, _ := ts.adminCall("GET", "/healthz", "", "", ""); resp2.StatusCode != http.StatusOK {
		t.Errorf("/healthz during the outage: %d; want 200 (the process is alive)", resp2.StatusCode)
	}
	// Every admin route answers 503 unavailable / store_unavailable.
	for _, call := range []struct{ method, path, body string }{
		{"GET", "/admin/clients", ""},
		{"POST", "/admin/clients", `{"name":"during outage"}`},
		{"GET", "/admin/clients/" + c.ID, ""},
		{"PATCH", "/admin/clients/" + c.ID, `{"name":"renamed"}`},
		{"POST", "/admin/clients/" + c.ID + "/rotate-secret", ""},
		{"DELETE", "/admin/clients/" + c.ID, ""},
		{"GET", "/admin/keys", ""},
		{"POST", "/admin/keys/rotate", ""},
	} {
		ct := ""
		if call.body != "" {
			ct = "application/json"
		}
		resp, body := ts.adminCall(call.method, call.path, admin, ct, call.body)
		p := testhttp.CheckProblem(t, call.method+" "+call.path+" during the outage", resp, body, http.StatusServiceUnavailable, "unavailable", "store_unavailable")
		if p != nil && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s during the outage: no Retry-After", call.method, call.path)
		}
	}
	// Public endpoints that need no database keep working.
	for _, path := range []string{"/oauth2/jwks", "/.well-known/openid-configuration"} {
		r, err := http.Get(ts.Issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("%s during the outage: %d; want 200 (served from memory)", path, r.StatusCode)
		}
	}
	// The CLI reports the outage as an error.
	if _, err := ts.tryCLI("clients", "list"); err == nil {
		t.Error("clients list during the outage succeeded")
	}

	// Back on the same port: the server recovers by itself.
	fwd.restore()
	testhttp.Eventually(t, 30*time.Second, "a token to be issued again after the database came back", func() bool {
		resp := ts.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
		var body map[string]any
		testhttp.DecodeJSON(t, resp, &body)
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("token request during recovery: %d %v", resp.StatusCode, body)
		}
		return resp.StatusCode == http.StatusOK
	})
	testhttp.Eventually(t, 10*time.Second, "/readyz to answer 200 again", func() bool {
		resp, _ := ts.adminCall("GET", "/readyz", "", "", "")
		return resp.StatusCode == http.StatusOK
	})
	if in := ts.introspect(c, tok); in["active"] != true {
		t.Errorf("the token from before the outage introspects %v after recovery; want active", in)
	}
	fresh := ts.createClient("after outage")
	ts.token(fresh, "")
	if strings.Contains(ts.stderr.String(), "panic") {
		t.Errorf("the server logged a panic:\n%s", ts.stderr.String())
	}
}

// TestPostgresQuickStart: the platform on PostgreSQL, one node and then two
// nodes sharing the database.
func TestPostgresQuickStart(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresSchema(t, storetest.PostgresURL(t))
	secretBytes := make([]byte, 32)
	_, _ = rand.Read(secretBytes)
	shared := func(env map[string]string) { env["GATEHOUSE_SECRET"] = hex.EncodeToString(secretBytes) }

	a := startPGServer(t, dbURL, shared)
	c := a.createClient("pg app", "--scopes", "sim-swap:check")
	tok := a.token(c, "sim-swap:check")
	if in := a.introspect(c, tok); in["active"] != true || in["client_id"] != c.ID || in["scope"] != "sim-swap:check" {
		t.Fatalf("introspection on PostgreSQL: %v", in)
	}
	resp := a.post("/oauth2/revoke", url.Values{"token": {tok}}, c.ID, c.Secret)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if in := a.introspect(c, tok); testhttp.MustJSON(t, in) != `{"active":false}` {
		t.Errorf("revoked token introspects %v; want inactive", in)
	}
	// The schema holds the data: the CLI sees it.
	var list struct {
		Clients []struct {
			ID string `json:"client_id"`
		} `json:"clients"`
	}
	if err := json.Unmarshal([]byte(a.cli("clients", "list", "--json")), &list); err != nil || len(list.Clients) != 1 || list.Clients[0].ID != c.ID {
		t.Errorf("clients list on PostgreSQL = %+v, %v", list, err)
	}

	// A second node on the same database and secret, behind the same
	// issuer as a load balancer would put it; the helpers reach it on its
	// own public address.
	envB := testEnv(t)
	envB["GATEHOUSE_DATABASE_URL"] = dbURL
	shared(envB)
	envB["GATEHOUSE_ISSUER"] = a.Issuer
	b := startWithEnv(t, envB)
	b.Issuer = "http://" + envB["GATEHOUSE_PUBLIC_ADDR"]
	tokA := a.token(c, "")
	if in := b.introspect(c, tokA); in["active"] != true || in["client_id"] != c.ID {
		t.Errorf("node A's token introspects %v on node B; want active", in)
	}
	tokB := b.token(c, "")
	if testhttp.KeyIDOf(t, tokA) != testhttp.KeyIDOf(t, tokB) {
		t.Errorf("nodes sign with different keys: %s vs %s", testhttp.KeyIDOf(t, tokA), testhttp.KeyIDOf(t, tokB))
	}
	if in := a.introspect(c, tokB); in["active"] != true {
		t.Errorf("node B's token introspects %v on node A; want active", in)
	}
	// Revocation on A reaches B.
	resp = a.post("/oauth2/revoke", url.Values{"token": {tokA}}, c.ID, c.Secret)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke on node A: %d", resp.StatusCode)
	}
	testhttp.Eventually(t, 5*time.Second, "node A's revocation to reach node B", func() bool {
		return b.introspect(c, tokA)["active"] == false
	})
	if in := b.introspect(c, tokB); in["active"] != true {
		t.Errorf("revoking one token deactivated another on node B: %v", in)
	}

	// A client created through node A's admin API works on node B.
	r, body := a.adminCall("POST", "/admin/clients", adminTokenOf(t, a), "application/json", `{"name":"via admin A","scopes":["sim-swap:check"]}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create on node A: %d %s", r.StatusCode, body)
	}
	var viaA client
	testhttp.Unmarshal(t, "create on node A", body, &viaA)
	tokViaB := b.token(viaA, "sim-swap:check")
	if in := a.introspect(viaA, tokViaB); in["active"] != true {
		t.Errorf("token issued on node B for a client made on node A introspects %v on node A", in)
	}

	// Suspension through node A reaches node B (client cache: 1 s).
	r, body = a.adminCall("PATCH", "/admin/clients/"+viaA.ID, adminTokenOf(t, a), "application/json", `{"status":"suspended"}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("suspend on node A: %d %s", r.StatusCode, body)
	}
	testhttp.Eventually(t, 5*time.Second, "node A's suspension to reach node B", func() bool {
		st, _, _ := b.tokenStatus(viaA.ID, viaA.Secret)
		return st == http.StatusUnauthorized
	})

	// Key rotation on A reaches B.
	r, body = a.adminCall("POST", "/admin/keys/rotate", adminTokenOf(t, a), "", "")
	var rk map[string]string
	testhttp.Unmarshal(t, "keys rotate on node A", body, &rk)
	if r.StatusCode != http.StatusOK || rk["kid"] == "" {
		t.Fatalf("keys rotate on node A: %d %s", r.StatusCode, body)
	}
	testhttp.Eventually(t, 5*time.Second, "node B to sign with node A's rotated key", func() bool {
		return testhttp.KeyIDOf(t, b.token(c, "")) == rk["kid"]
	})
	if in := b.introspect(c, tokB); in["active"] != true {
		t.Errorf("token signed before the rotation introspects %v on node B", in)
	}

	for name, n := range map[string]*testServer{"A": a, "B": b} {
		if err := n.stop(); err != nil {
			t.Errorf("node %s stopped with %v", name, err)
		}
	}
}
