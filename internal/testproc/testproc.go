// Package testproc runs the real processes that fault tests, benchmarks and
// the fault suite (bench/faults) need: the gatehouse binary, a private
// PostgreSQL cluster and a private Redis, each on its own free loopback
// port. Every fault is done to these private instances (stopped, frozen
// with SIGSTOP, filled), never to the machine's shared services.
//
// Every child is started with a parent-death signal, so none outlives the
// process that started it, even after kill -9.
package testproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrNotInstalled is returned when a program a fault needs is not on the
// machine (or the privilege it needs is missing): tests skip on it.
var ErrNotInstalled = errors.New("not installed on this machine")

// FreeAddr returns a loopback address whose port was free at the time of
// the call.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// freePort is FreeAddr's port.
func freePort() (int, error) {
	addr, err := FreeAddr()
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(addr)
	return strconv.Atoi(port)
}

// portAttempts bounds the ports a server start tries when the one reserved
// was taken meanwhile.
const portAttempts = 5

// portTaken reports whether a server failed to start because its port was
// taken (its output, which start errors carry, says so).
func portTaken(err error) bool {
	return strings.Contains(err.Error(), "Address already in use")
}

// Build compiles ./cmd/gatehouse of the module rooted at moduleDir into
// dir and returns the binary's path.
func Build(moduleDir, dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gatehouse: %v\n%s", err, out)
	}
	return bin, nil
}

// Buffer is a bytes.Buffer safe for a child's output and a concurrent
// reader.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// child is one running process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
}

// startChild starts cmd in a process group of its own (so a signal can
// reach every process it forks) with a parent-death signal.
func startChild(cmd *exec.Cmd) (*child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) running() bool {
	if c == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// signalGroup sends sig to the child's whole process group.
func (c *child) signalGroup(sig syscall.Signal) error {
	return syscall.Kill(-c.cmd.Process.Pid, sig)
}

// wait waits for the child to exit, up to within, and kills its group
// after that.
func (c *child) wait(within time.Duration) error {
	select {
	case <-c.done:
		return nil
	case <-time.After(within):
		_ = c.signalGroup(syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("%s did not exit within %v; killed", filepath.Base(c.cmd.Path), within)
	}
}

// waitFor polls ready until it returns nil, the child exits, or ctx ends.
func waitFor(ctx context.Context, c *child, what string, out *Buffer, ready func() error) error {
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if !c.running() {
			return fmt.Errorf("%s exited (%v) before it was ready:\n%s", what, c.cmd.ProcessState, out.String())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)\n%s", what, ctx.Err(), err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Gatehouse is `gatehouse serve` as a child process, on its own loopback
// ports and data directory. Start may be called again after Kill or Term:
// the same addresses, data and environment are used.
type Gatehouse struct {
	Bin    string
	Public string // http://host:port of the public listener
	Admin  string // http://host:port of the admin listener
	// Env is the process's GATEHOUSE_* environment; change it between
	// starts to restart with another configuration.
	Env map[string]string

	out *Buffer
	c   *child
}

// NewGatehouse prepares (does not start) a server with the data directory
// dataDir, free ports, warn-level logs and the abuse limits off, plus env.
func NewGatehouse(bin, dataDir string, env map[string]string) (*Gatehouse, error) {
	public, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	g := &Gatehouse{Bin: bin, Public: "http://" + public, Admin: "http://" + admin, out: &Buffer{}, Env: map[string]string{
		"GATEHOUSE_DATA_DIR":               dataDir,
		"GATEHOUSE_PUBLIC_ADDR":            public,
		"GATEHOUSE_ADMIN_ADDR":             admin,
		"GATEHOUSE_ISSUER":                 "http://" + public,
		"GATEHOUSE_LOG_LEVEL":              "warn",
		"GATEHOUSE_TOKEN_RATE_PER_CLIENT":  "0",
		"GATEHOUSE_TOKEN_RATE_PER_ADDRESS": "0",
	}}
	for k, v := range env {
		g.Env[k] = v
	}
	return g, nil
}

// environ is this process's environment without GATEHOUSE_* variables,
// plus g.Env.
func (g *Gatehouse) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	for k, v := range g.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// Start runs `gatehouse serve` and waits until /healthz answers 200.
func (g *Gatehouse) Start(ctx context.Context) error {
	if g.c.running() {
		return errors.New("gatehouse is already running")
	}
	cmd := exec.Command(g.Bin, "serve")
	cmd.Env = g.environ()
	cmd.Stdout, cmd.Stderr = g.out, g.out
	c, err := startChild(cmd)
	if err != nil {
		return err
	}
	g.c = c
	return waitFor(ctx, c, "gatehouse serve", g.out, func() error {
		resp, err := http.Get(g.Admin + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz answered %d", resp.StatusCode)
		}
		return nil
	})
}

// Pid is the running server's process id.
func (g *Gatehouse) Pid() int { return g.c.cmd.Process.Pid }

// Running reports whether the server process is alive.
func (g *Gatehouse) Running() bool { return g.c.running() }

// Output is everything the server wrote to stdout and stderr so far, over
// all its starts.
func (g *Gatehouse) Output() string { return g.out.String() }

// Kill sends SIGKILL (no shutdown code runs) and waits for the exit.
func (g *Gatehouse) Kill() error {
	if !g.c.running() {
		return nil
	}
	_ = g.c.signalGroup(syscall.SIGKILL)
	return g.c.wait(30 * time.Second)
}

// Term sends SIGTERM and waits up to within for the exit; it returns the
// exit code (-1 when killed by a signal).
func (g *Gatehouse) Term(within time.Duration) (int, error) {
	if !g.c.running() {
		return g.c.cmd.ProcessState.ExitCode(), nil
	}
	if err := g.c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	if err := g.c.wait(within); err != nil {
		return -1, err
	}
	return g.c.cmd.ProcessState.ExitCode(), nil
}

// CLI runs one operator command with the server's environment and returns
// its standard output; the error includes standard error.
func (g *Gatehouse) CLI(args ...string) (string, error) {
	cmd := exec.Command(g.Bin, args...)
	cmd.Env = g.environ()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("gatehouse %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Close kills the server if it still runs.
func (g *Gatehouse) Close() { _ = g.Kill() }

// Unavailable skips a test whose outside tool (node, a browser, an npm
// package) is missing, with a message saying how to get it; under CI=true
// it fails instead, since .ci/run installs every such tool.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true: this test must run; .ci/run installs it)", args...)
	}
	t.Skipf(format, args...)
}
