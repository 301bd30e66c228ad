package testproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Postgres is a private PostgreSQL cluster: its own data directory and
// port, trust authentication, run as the operating system user postgres
// (PostgreSQL refuses to run as root). Freeze, Stop and Start act on it
// alone.
type Postgres struct {
	dir  string // owned by postgres: data/ and the socket
	port int
	bin  string // the directory of initdb and postgres
	cred *syscall.Credential
	out  *Buffer
	c    *child
}

// pgBinDir finds PostgreSQL's server programs (Debian installs them under
// /usr/lib/postgresql/VERSION/bin, outside PATH).
func pgBinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("PostgreSQL's initdb (looked in /usr/lib/postgresql/*/bin and PATH): %w", ErrNotInstalled)
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// StartPostgres creates a cluster in a new temporary directory, starts it
// on a free loopback port and waits until it accepts connections.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	p := &Postgres{bin: bin, out: &Buffer{}}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs the user postgres: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not under a test's TempDir: its parents are private to root.
	p.dir, err = os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		return nil, err
	}
	if p.cred != nil {
		if err := os.Chown(p.dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", p.dataDir(), "--auth=trust", "--username=postgres", "--no-sync", "-E", "UTF8")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(p.dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A free port is free only when FreeAddr looked: another process may
	// bind it before the postmaster does. That one failure is met with
	// another port; any other is the caller's.
	for attempt := 1; ; attempt++ {
		if p.port, err = freePort(); err != nil {
			os.RemoveAll(p.dir)
			return nil, err
		}
		err = p.Start(ctx)
		if err == nil {
			return p, nil
		}
		if attempt == portAttempts || !portTaken(err) {
			os.RemoveAll(p.dir)
			return nil, err
		}
	}
}

// StartPostgresT is StartPostgres for a test: it skips t when PostgreSQL's
// server programs are not installed, gives the cluster two minutes to
// start, and removes it when t ends (register it before the servers that
// use it, so that it runs after they stopped).
func StartPostgresT(t testing.TB) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := StartPostgres(ctx)
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func (p *Postgres) dataDir() string { return filepath.Join(p.dir, "data") }

// URL is the connection URL of the cluster's database postgres.
func (p *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Addr is the cluster's host:port.
func (p *Postgres) Addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

// Start starts the postmaster (again, after Stop) and waits until it
// accepts TCP connections.
func (p *Postgres) Start(ctx context.Context) error {
	if p.c.running() {
		return errors.New("postgres is already running")
	}
	cmd := exec.Command(filepath.Join(p.bin, "postgres"), "-D", p.dataDir(),
		"-p", strconv.Itoa(p.port), "-k", p.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "max_connections=200")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	c, err := startChild(cmd)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	p.c = c
	return waitFor(ctx, c, "postgres", p.out, func() error {
		conn, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			return err
		}
		conn.Close()
		// The port opens before recovery ends; pg_isready asks the server.
		return exec.Command(filepath.Join(p.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port)).Run()
	})
}

// Freeze stops every process of the cluster with SIGSTOP: connections stay
// open and nothing answers, as with a hung host. The postmaster is stopped
// first, so it forks no backend the signal would miss.
func (p *Postgres) Freeze() error { return p.signalAll(syscall.SIGSTOP) }

// Thaw resumes a frozen cluster.
func (p *Postgres) Thaw() error { return p.signalAll(syscall.SIGCONT) }

// signalAll sends sig to the postmaster and then to each of its children.
// A group signal would miss them: every backend calls setsid() at start.
func (p *Postgres) signalAll(sig syscall.Signal) error {
	pid := p.c.cmd.Process.Pid
	if err := syscall.Kill(pid, sig); err != nil {
		return err
	}
	for _, child := range childPids(pid) {
		_ = syscall.Kill(child, sig) // it may have exited meanwhile
	}
	return nil
}

// childPids lists the processes whose parent is pid, from /proc.
func childPids(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if child, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			pids = append(pids, child)
		}
	}
	return pids
}

// Stop shuts the cluster down at once (immediate mode: connections are
// dropped, as in a crash) and waits for it to exit.
func (p *Postgres) Stop() error {
	if !p.c.running() {
		return nil
	}
	_ = p.Thaw() // a frozen postmaster cannot stop
	if err := p.c.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		return err
	}
	return p.c.wait(30 * time.Second)
}

// Close stops the cluster and removes its files.
func (p *Postgres) Close() {
	_ = p.Stop()
	os.RemoveAll(p.dir)
}
