package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testhttp"
	"gatehouse/internal/testproc"
)

// testServer is a gatehouse started through run, as `gatehouse serve` is,
// on free loopback ports with its own data directory.
type testServer struct {
	t      testing.TB
	env    map[string]string
	Issuer string // also the public base URL
	Admin  string // admin base URL
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// syncBuffer is a bytes.Buffer safe for a child process and the test to
// share.
type syncBuffer = testproc.Buffer

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testEnv returns the environment of a fresh platform: its own data
// directory and free ports. tweak may change it before start.
func testEnv(t testing.TB) map[string]string {
	public, admin := freeAddr(t), freeAddr(t)
	return map[string]string{
		"GATEHOUSE_DATA_DIR":    t.TempDir(),
		"GATEHOUSE_PUBLIC_ADDR": public,
		"GATEHOUSE_ADMIN_ADDR":  admin,
		"GATEHOUSE_ISSUER":      "http://" + public,
		"GATEHOUSE_LOG_LEVEL":   "warn",
		// The tests' own clients keep idle keep-alive connections (token
		// requests, /healthz polls), which the default grace would keep
		// open for a second at every stop; a test of the grace sets it.
		"GATEHOUSE_SHUTDOWN_IDLE_GRACE": "0s",
	}
}

// startServer runs `gatehouse serve` in-process and waits until /healthz
// answers. The server is stopped (gracefully) at the end of the test.
func startServer(t testing.TB, tweak func(env map[string]string)) *testServer {
	t.Helper()
	env := testEnv(t)
	if tweak != nil {
		tweak(env)
	}
	return startWithEnv(t, env)
}

func startWithEnv(t testing.TB, env map[string]string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{
		t: t, env: env, Issuer: env["GATEHOUSE_ISSUER"], Admin: "http://" + env["GATEHOUSE_ADMIN_ADDR"],
		stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1),
	}
	go func() { ts.done <- run(ctx, []string{"serve"}, ts.getenv, io.Discard, ts.stderr) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ts.Admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-ts.done:
			t.Fatalf("gatehouse serve exited: %v\n%s", err, ts.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse serve did not become healthy: %v\n%s", err, ts.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { ts.stop() })
	return ts
}

// startBenchServer starts a server for a benchmark, logging errors only.
func startBenchServer(b *testing.B) *testServer {
	b.Helper()
	return startServer(b, func(env map[string]string) {
		env["GATEHOUSE_LOG_LEVEL"] = "error"
		// One client drives all the load: the abuse limits would measure
		// themselves.
		env["GATEHOUSE_TOKEN_RATE_PER_CLIENT"] = "0"
		env["GATEHOUSE_TOKEN_RATE_PER_ADDRESS"] = "0"
	})
}

func (ts *testServer) getenv(k string) string { return ts.env[k] }

// stop shuts the server down gracefully and returns run's error.
func (ts *testServer) stop() error {
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err // let a second stop see it too
		return err
	case <-time.After(30 * time.Second):
		ts.t.Errorf("gatehouse serve did not stop within 30s")
		return nil
	}
}

// cli runs an operator command with the server's configuration and returns
// its output; it fails the test on error.
func (ts *testServer) cli(args ...string) string {
	ts.t.Helper()
	out, err := ts.tryCLI(args...)
	if err != nil {
		ts.t.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (ts *testServer) tryCLI(args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), args, ts.getenv, &out, io.Discard)
	return out.String(), err
}

// client is a registered client's credentials.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient registers a client through the CLI (--json) with the given
// extra flags.
func (ts *testServer) createClient(name string, flags ...string) client {
	ts.t.Helper()
	out := ts.cli(append([]string{"clients", "create", "--name", name, "--json"}, flags...)...)
	var c client
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		ts.t.Fatalf("clients create printed %q: %v", out, err)
	}
	return c
}

// post sends a form to a public path (testhttp.PostForm).
func (ts *testServer) post(path string, form url.Values, id, secret string, headers ...string) *http.Response {
	ts.t.Helper()
	return testhttp.PostForm(ts.t, ts.Issuer+path, form, id, secret, headers...)
}

// token gets a client_credentials access token (testhttp.Token).
func (ts *testServer) token(c client, scope string) string {
	ts.t.Helper()
	return testhttp.Token(ts.t, ts.Issuer, c.ID, c.Secret, scope)
}

// introspect returns the introspection response for tok, asked by c
// (testhttp.Introspect).
func (ts *testServer) introspect(c client, tok string) map[string]any {
	ts.t.Helper()
	return testhttp.Introspect(ts.t, ts.Issuer, c.ID, c.Secret, tok)
}

func netListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// mustDo fails the test at once on err.
func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
