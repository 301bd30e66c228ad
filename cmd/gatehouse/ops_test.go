package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/testhttp"
)

// buildBinary builds the real gatehouse binary into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procServer is `gatehouse serve` running as a child process.
type procServer struct {
	t      *testing.T
	bin    string
	env    []string
	http   *testServer // for the HTTP helpers (post, token, introspect)
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// processEnv is the test process's environment without GATEHOUSE_*
// variables, plus vars.
func processEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

func newProcServer(t *testing.T, bin string, vars map[string]string) *procServer {
	p := &procServer{
		t: t, bin: bin, env: processEnv(vars),
		http: &testServer{t: t, env: vars, Issuer: vars["GATEHOUSE_ISSUER"], Admin: "http://" + vars["GATEHOUSE_ADMIN_ADDR"]},
	}
	t.Cleanup(func() {
		if p.running() {
			p.kill()
		}
	})
	return p
}

func (p *procServer) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// start runs `gatehouse serve` and waits for /healthz.
func (p *procServer) start() {
	p.t.Helper()
	p.out = &syncBuffer{}
	p.cmd = exec.Command(p.bin, "serve")
	p.cmd.Env = p.env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	testhttp.Eventually(p.t, 30*time.Second, "gatehouse serve (process) to answer /healthz", func() bool {
		if !p.running() {
			p.t.Fatalf("gatehouse serve exited: %v\n%s", p.cmd.ProcessState, p.out.String())
		}
		resp, err := http.Get(p.http.Admin + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill sends SIGKILL: no shutdown code runs.
func (p *procServer) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.t.Fatal("gatehouse did not exit after SIGKILL")
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Errorf("gatehouse ended with %v; want killed by SIGKILL", p.cmd.ProcessState)
	}
}

// cli runs an operator command of the binary with the same environment.
func (p *procServer) cli(args ...string) string {
	p.t.Helper()
	cmd := exec.Command(p.bin, args...)
	cmd.Env = p.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// jwksKids returns the key ids the public JWKS serves.
func jwksKids(t *testing.T, issuer string) []string {
	t.Helper()
	resp, err := http.Get(issuer + "/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	testhttp.DecodeJSON(t, resp, &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestDataSurvivesKill9: clients, signing keys and issued tokens survive
// SIGKILL of the real binary (SQLite, default configuration).
func TestDataSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it as a process; skipped in -short mode")
	}
	bin := buildBinary(t)
	p := newProcServer(t, bin, testEnv(t))
	p.start()

	var c client
	out := p.cli("clients", "create", "--name", "x", "--scopes", "a b", "--allow-unknown-scopes", "--json")
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" || c.Secret == "" {
		t.Fatalf("clients create printed %q: %v", out, err)
	}
	tok1 := p.http.token(c, "")
	kid1 := testhttp.KeyIDOf(t, tok1)

	// Kill and restart: same client, same signing key, token still valid.
	p.kill()
	p.start()
	tok2 := p.http.token(c, "")
	if got := testhttp.KeyIDOf(t, tok2); got != kid1 {
		t.Errorf("after kill -9, tokens are signed with %q; want the key from before, %q", got, kid1)
	}
	if in := p.http.introspect(c, tok1); in["active"] != true || in["scope"] != "a b" {
		t.Errorf("token from before kill -9 introspects %v; want active with scope \"a b\"", in)
	}
	var list struct {
		Clients []struct {
			ID     string   `json:"client_id"`
			Name   string   `json:"name"`
			Scopes []string `json:"scopes"`
		} `json:"clients"`
	}
	out = p.cli("clients", "list", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("clients list --json printed %q: %v", out, err)
	}
	if len(list.Clients) != 1 || list.Clients[0].ID != c.ID || list.Clients[0].Name != "x" || strings.Join(list.Clients[0].Scopes, " ") != "a b" {
		t.Errorf("clients list after kill -9 = %+v; want the client %s", list.Clients, c.ID)
	}

	// Rotate through the CLI while the server runs, wait until the server
	// signs with the new key, and kill it again: both keys stay published.
	var rotated map[string]string
	if err := json.Unmarshal([]byte(p.cli("keys", "rotate", "--json")), &rotated); err != nil || rotated["kid"] == "" || rotated["kid"] == kid1 {
		t.Fatalf("keys rotate: %v %v", rotated, err)
	}
	kid2 := rotated["kid"]
	testhttp.Eventually(t, 15*time.Second, "the running server to sign with the rotated key", func() bool {
		return testhttp.KeyIDOf(t, p.http.token(c, "")) == kid2
	})
	tok3 := p.http.token(c, "")
	p.kill()
	p.start()
	kids := jwksKids(t, p.http.Issuer)
	if !slices.Contains(kids, kid1) || !slices.Contains(kids, kid2) {
		t.Errorf("JWKS after kill -9 serves %v; want both %s (retired) and %s (current)", kids, kid1, kid2)
	}
	if got := testhttp.KeyIDOf(t, p.http.token(c, "")); got != kid2 {
		t.Errorf("after the second kill -9, tokens are signed with %q; want the rotated key %q", got, kid2)
	}
	for name, tok := range map[string]string{"first": tok1, "rotated-key": tok3} {
		if in := p.http.introspect(c, tok); in["active"] != true {
			t.Errorf("%s token introspects %v after kill -9; want active", name, in)
		}
	}
	p.kill()
}

// TestGracefulShutdown: a request in flight when shutdown starts completes
// with a full response; new connections are refused; run returns nil.
func TestGracefulShutdown(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.createClient("shutdown", "--scopes", "sim-swap:check")
	addr := ts.env["GATEHOUSE_PUBLIC_ADDR"]

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(conn)
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"sim-swap:check"}}.Encode()
	half := len(body) / 2
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ID) + ":" + url.QueryEscape(c.Secret)))
	// Expect: 100-continue makes the server say when the handler has
	// started reading the body: from then on the request is in flight
	// (a connection still waiting in the listen queue is not, and is reset
	// when the listener closes).
	head := fmt.Sprintf("POST /oauth2/token HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, basic, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	interim, err := http.ReadResponse(br, nil)
	if err != nil || interim.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue once the handler reads the body; got %v, %v", interim, err)
	}
	if _, err := io.WriteString(conn, body[:half]); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	// Shutdown has begun once the listener refuses connections.
	testhttp.Eventually(t, 10*time.Second, "the public listener to close", func() bool {
		probe, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		probe.Close()
		return false
	})
	select {
	case err := <-stopped:
		t.Fatalf("run returned (%v) while a request was still in flight", err)
	default:
	}

	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatalf("sending the rest of the body after shutdown began: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no complete response to the in-flight request: %v", err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the in-flight response body: %v", err)
	}
	var tok map[string]any
	if err := json.Unmarshal(raw, &tok); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("in-flight request: %d %q; want 200 with a token", resp.StatusCode, raw)
	}
	if s, _ := tok["access_token"].(string); s == "" || tok["scope"] != "sim-swap:check" {
		t.Errorf("in-flight response = %v; want an access_token", tok)
	}

	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("run returned %v after a graceful shutdown; want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after the in-flight request completed")
	}
	for _, a := range []string{addr, ts.env["GATEHOUSE_ADMIN_ADDR"]} {
		if probe, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			probe.Close()
			t.Errorf("%s accepts connections after shutdown", a)
		}
	}
	if strings.Contains(ts.stderr.String(), "shutdown did not finish cleanly") {
		t.Errorf("shutdown was not clean:\n%s", ts.stderr.String())
	}
}
