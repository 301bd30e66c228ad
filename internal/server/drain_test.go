package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"gatehouse/internal/problem"
)

// drainServer serves a handler answering "ok" on loopback through Drain,
// wrapped as serve does, and returns the drain and the address.
func drainServer(t *testing.T, grace time.Duration) (*Drain, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &Drain{Grace: grace}
	rd := &problem.Renderer{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	hs := &http.Server{
		Handler: d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "ok")
		})),
		ConnState:   d.ConnState,
		ConnContext: ConnContext,
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(Listener(d.Listener(ln), rd)) }()
	t.Cleanup(func() {
		hs.Close()
		if err := <-served; !d.Draining() && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return d, ln.Addr().String()
}

// rawConn is a client connection that sends requests by hand.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// get sends one GET and returns the complete response.
func (r *rawConn) get() *http.Response {
	r.t.Helper()
	if _, err := io.WriteString(r.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		r.t.Fatalf("sending: %v", err)
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		r.t.Fatalf("no response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "ok" {
		r.t.Fatalf("response body %q, %v; want ok", body, err)
	}
	return resp
}

// refused waits until addr refuses connections.
func refused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections", addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDrainAnswersKeepAliveRequest: once the drain began, a request sent on
// a connection that was idle is answered in full, with Connection: close,
// and the connection closed after it; then Shutdown returns.
func TestDrainAnswersKeepAliveRequest(t *testing.T) {
	d, addr := drainServer(t, time.Minute)
	c := dialRaw(t, addr)
	if resp := c.get(); resp.Close {
		t.Fatal("the first response closes the connection; want keep-alive before the drain")
	}
	done := make(chan error, 1)
	go func() { done <- d.Shutdown(context.Background()) }()
	refused(t, addr)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a keep-alive connection inside its grace", err)
	default:
	}
	if resp := c.get(); !resp.Close {
		t.Error("the response during the drain keeps the connection; want Connection: close")
	}
	if n, err := c.br.ReadByte(); err != io.EOF {
		t.Errorf("after the Connection: close response, read %v, %v; want EOF", n, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not return once the last connection closed")
	}
}

// TestDrainClosesIdleAfterGrace: a connection left idle is closed once the
// grace has passed (here none), and Shutdown returns.
func TestDrainClosesIdleAfterGrace(t *testing.T) {
	d, addr := drainServer(t, 0)
	c := dialRaw(t, addr)
	c.get()
	idleNew := dialRaw(t, addr) // connected, never sends
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for name, rc := range map[string]*rawConn{"idle": c, "new": idleNew} {
		if n, err := rc.br.ReadByte(); err != io.EOF {
			t.Errorf("%s connection after Shutdown: read %v, %v; want EOF", name, n, err)
		}
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the listener accepts connections after Shutdown")
	}
}

// TestDrainShutdownDeadline: a request still running when ctx ends is left
// to the caller: Shutdown returns ctx's error.
func TestDrainShutdownDeadline(t *testing.T) {
	d, addr := drainServer(t, time.Minute)
	c := dialRaw(t, addr)
	c.get() // idle, inside the grace: Shutdown cannot finish
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v; want the deadline's error", err)
	}
}

// TestRequestWaiting: the check that keeps a connection with a request in
// its socket buffer open sees those bytes, through cannedConn, without
// consuming them.
func TestRequestWaiting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	server := &cannedConn{Conn: raw}
	defer server.Close()
	if requestWaiting(server) {
		t.Error("requestWaiting before anything was sent = true")
	}
	if _, err := io.WriteString(client, "GET / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !requestWaiting(server) { // loopback delivers at once; allow a slow machine
		if time.Now().After(deadline) {
			t.Fatal("requestWaiting never saw the bytes sent")
		}
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "GET" {
		t.Errorf("read after requestWaiting: %q, %v; want the bytes unconsumed", buf, err)
	}
}

// TestDrainAnswersListenQueue: a connection the kernel accepted before the
// drain began, still in the listen queue, is accepted and answered (closing
// the listener at once would reset it after its client sent a request).
func TestDrainAnswersListenQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &Drain{}
	dl := d.Listener(ln)
	hs := &http.Server{
		Handler: d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "ok")
		})),
		ConnState: d.ConnState,
	}
	defer hs.Close()
	// Nothing accepts yet: the connection waits in the queue.
	c := dialRaw(t, ln.Addr().String())
	if _, err := io.WriteString(c.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Shutdown(context.Background()) }()
	for !d.Draining() {
		time.Sleep(time.Millisecond)
	}
	go func() { _ = hs.Serve(dl) }()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("the queued connection got no response: %v", err)
	}
	if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "ok" {
		t.Errorf("response body %q, %v; want ok", body, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener accepts connections after Shutdown")
	}
}

// gatedConn holds each Read that returned bytes until the test releases
// it, to put Drain's close between a socket read and its accounting.
type gatedConn struct {
	net.Conn
	got     chan int
	release chan struct{}
}

func (g *gatedConn) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	g.got <- n
	<-g.release
	return n, err
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestCloseUnread pins the one race Drain's idle close had: a request the
// socket delivered while the connection was being closed. Both orders of
// the read's accounting and the close are forced with a gate: either the
// server counted the bytes first (no close: the request is answered), or
// the close came first (the server is handed nothing: the request is
// neither handled nor counted).
func TestCloseUnread(t *testing.T) {
	request := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")

	t.Run("read counted before the close", func(t *testing.T) {
		server, client := tcpPair(t)
		c := &cannedConn{Conn: server}
		if _, err := client.Write(request); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || n == 0 {
			t.Fatalf("Read = %d, %v", n, err)
		}
		if c.CloseUnread(0) {
			t.Fatal("CloseUnread closed a connection the server had read a request from")
		}
	})

	t.Run("close between the socket read and its accounting", func(t *testing.T) {
		server, client := tcpPair(t)
		g := &gatedConn{Conn: server, got: make(chan int, 1), release: make(chan struct{})}
		c := &cannedConn{Conn: g}
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := c.Read(make([]byte, 64))
			done <- result{n, err}
		}()
		if _, err := client.Write(request); err != nil {
			t.Fatal(err)
		}
		if n := <-g.got; n == 0 {
			t.Fatal("the socket delivered nothing")
		}
		if !c.CloseUnread(0) {
			t.Fatal("CloseUnread did not close: the bytes were counted before the read returned")
		}
		close(g.release)
		if r := <-done; r.n != 0 || !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("Read after the close = %d, %v; want 0 and net.ErrClosed (the server must never see the request)", r.n, r.err)
		}
		if got := c.BytesRead(); got != 0 {
			t.Errorf("BytesRead = %d after the close; want 0", got)
		}
	})
}
