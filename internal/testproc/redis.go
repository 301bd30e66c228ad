package testproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Redis is a private redis-server on its own loopback port, keeping
// nothing on disk. Freeze, Kill and Start act on it alone; Start after
// Kill reuses the port, as a restarted server would.
type Redis struct {
	port int
	out  *Buffer
	c    *child
}

// NewRedis reserves a free loopback port for a redis-server that Start
// starts (a node can thus be given its URL before Redis is up).
func NewRedis() (*Redis, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("redis-server: %w", ErrNotInstalled)
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	r := &Redis{out: &Buffer{}}
	r.port, _ = strconv.Atoi(port)
	return r, nil
}

// StartRedis starts redis-server on a free loopback port and waits until
// it answers PING.
func StartRedis(ctx context.Context) (*Redis, error) {
	r, err := NewRedis()
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ { // see StartPostgres
		err = r.Start(ctx)
		if err == nil {
			return r, nil
		}
		if attempt == portAttempts || !portTaken(err) {
			return nil, err
		}
		if r.port, err = freePort(); err != nil {
			return nil, err
		}
	}
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// URL is the redis:// URL of the server's database db.
func (r *Redis) URL(db int) string { return fmt.Sprintf("redis://%s/%d", r.Addr(), db) }

// Start runs redis-server (again, after Kill) and waits until it answers.
func (r *Redis) Start(ctx context.Context) error {
	if r.c.running() {
		return errors.New("redis is already running")
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	cmd.Stdout, cmd.Stderr = r.out, r.out
	c, err := startChild(cmd)
	if err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	r.c = c
	return waitFor(ctx, c, "redis-server", r.out, r.ping)
}

// ping sends one inline PING and expects +PONG.
func (r *Redis) ping() error {
	conn, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf[:n])
	}
	return nil
}

// Freeze stops the server with SIGSTOP: connections stay open and nothing
// answers.
func (r *Redis) Freeze() error { return r.c.signalGroup(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (r *Redis) Thaw() error { return r.c.signalGroup(syscall.SIGCONT) }

// Kill ends the server with SIGKILL (a frozen one too): its data is gone.
func (r *Redis) Kill() error {
	if !r.c.running() {
		return nil
	}
	_ = r.c.signalGroup(syscall.SIGKILL)
	return r.c.wait(30 * time.Second)
}

// Close kills the server.
func (r *Redis) Close() { _ = r.Kill() }
