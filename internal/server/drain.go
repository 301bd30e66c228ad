package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Drain shuts HTTP/1.1 servers down without cutting off a request a client
// has sent or is about to send on a keep-alive connection.
//
// http.Server.Shutdown closes the listeners and then every connection it
// finds idle, at once and again every few milliseconds. Two requests die
// that way (8 of them in 2 of 5 runs of a SIGTERM under load, reset or
// EOF after sending): one whose bytes had arrived while the connection's
// goroutine had not yet run to mark it active (on a busy machine that
// takes milliseconds), and one a client sends on a connection it just got
// back, idle, with a response that did not say Connection: close (Go's
// server admits it: "such is life with HTTP/1.1"). Clients may retry the
// first kind only for idempotent requests (RFC 9110 §9.2.2); a gateway
// call is often a POST.
//
// Drain instead: (1) stops accepting once the listen queue is empty, so
// that a client whose connection the kernel accepted is served (closing a
// listener resets the connections in its queue); (2) then answers every
// request with Connection: close; (3) leaves an idle or new connection open
// for Grace after it went idle, for one more request, and closes it after
// that only when no request has begun on it: nothing read by the server
// since it went idle (Go's server marks a connection active only once it
// has parsed the headers) and nothing waiting in its socket; (4) returns
// once every connection is closed.
// A connection whose client sends a request within Grace of its previous
// response is therefore always answered; one idle for longer is closed as
// it would be by Shutdown, and the race that remains (a client sending
// after Grace of silence, at the very moment of the close) is HTTP/1.1's
// own (RFC 9112 §9.3.1).
//
// Use one Drain for the servers of a process: wrap each listener with
// Listener, each handler with Handler, and set each server's ConnState to
// Drain.ConnState; call Shutdown, then the servers' own Shutdown (which
// then finds nothing left).
type Drain struct {
	// Grace is how long an idle connection stays open for one more
	// request once the drain began. Zero closes idle connections at once
	// (still never one with a request waiting).
	Grace time.Duration

	mu        sync.Mutex
	conns     map[net.Conn]*drainConn
	accepting int // Accept calls under way: they may return a connection
	accepted  int // connections accepted that Serve has not reported yet (StateNew)
	listeners []*drainListener

	stopping atomic.Bool // listeners are closing
	draining atomic.Bool // responses say Connection: close
}

type drainConn struct {
	state http.ConnState
	since time.Time // of the last change to idle or new
	read  int64     // bytes the server had read then (see bytesRead)
}

// bytesRead returns how many bytes the server has read from c, or -1 when
// c does not count them (cannedConn does).
func bytesRead(c net.Conn) int64 {
	if rc, ok := c.(interface{ BytesRead() int64 }); ok {
		return rc.BytesRead()
	}
	return -1
}

// Listener wraps l so that Shutdown can stop it (see Drain). Wrap the
// listener before Listener(l, render) wraps it again.
func (d *Drain) Listener(l net.Listener) net.Listener {
	dl := &drainListener{Listener: l, d: d}
	d.mu.Lock()
	d.listeners = append(d.listeners, dl)
	d.mu.Unlock()
	return dl
}

// Handler adds Connection: close to every response once the drain began,
// so that clients stop reusing connections (Go's server closes the
// connection after such a response).
func (d *Drain) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// ConnState is the http.Server ConnState hook that lets Drain see every
// connection.
func (d *Drain) ConnState(c net.Conn, s http.ConnState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conns == nil {
		d.conns = map[net.Conn]*drainConn{}
	}
	if s == http.StateNew {
		d.accepted--
	}
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(d.conns, c)
		return
	}
	// Every request changes the state twice (active, idle): the entry is
	// updated in place, not allocated again.
	st := d.conns[c]
	if st == nil {
		st = &drainConn{}
		d.conns[c] = st
	}
	st.state = s
	if s == http.StateActive {
		return // since and read matter only while idle or new (closeIdle)
	}
	st.since, st.read = time.Now(), bytesRead(c)
}

// Draining reports whether Shutdown began: a listener's Serve then
// returns an error that is not a failure.
func (d *Drain) Draining() bool { return d.stopping.Load() }

// drainPoll is how often Shutdown looks at the connections.
const drainPoll = 5 * time.Millisecond

// Shutdown drains (see Drain) and returns nil once every connection is
// closed, or ctx's error when ctx is done first (the connections left are
// then the caller's to close).
func (d *Drain) Shutdown(ctx context.Context) error {
	d.stopping.Store(true)
	d.mu.Lock()
	listeners := d.listeners
	d.mu.Unlock()
	for _, l := range listeners {
		l.stop(ctx)
	}
	// Only now: a response that says Connection: close sends its client
	// to a listener that refuses the connection before anything is sent.
	d.draining.Store(true)
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		if d.closeIdle() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// closeIdle closes the connections idle (or new) for Grace with no request
// begun: nothing read by the server since they went idle (Go's server
// marks a connection active only once it parsed the request's headers) and
// nothing waiting in the socket. It returns how many connections are left.
func (d *Drain) closeIdle() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	for c, st := range d.conns {
		if st.state != http.StateIdle && st.state != http.StateNew {
			continue
		}
		if now.Sub(st.since) < d.Grace || bytesRead(c) != st.read || requestWaiting(c) {
			continue
		}
		// A request can arrive between the checks above and the close:
		// the close happens only if the server has still read nothing,
		// atomically with the reads' accounting (closeUnread), so a
		// request is either left to finish (its answer says Connection:
		// close) or never read, counted nor answered.
		if !closeUnread(c, st.read) {
			continue
		}
		delete(d.conns, c)
	}
	return len(d.conns) + d.accepted + d.accepting
}

// closeUnread closes c unless the server read from it since it had read
// read bytes; it reports whether it closed c. Connections that do not count
// their bytes (bytesRead -1) are simply closed.
func closeUnread(c net.Conn, read int64) bool {
	if cu, ok := c.(interface{ CloseUnread(int64) bool }); ok {
		return cu.CloseUnread(read)
	}
	c.Close()
	return true
}

// requestWaiting reports whether bytes the server has not read yet wait on
// c (a request that arrived while the connection looked idle). It looks
// through wrappers that have a NetConn method to a connection with a file
// descriptor; when it cannot tell, it says no.
func requestWaiting(c net.Conn) bool {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	waiting := false
	_ = rc.Control(func(fd uintptr) { waiting = readable(fd) })
	return waiting
}

// drainListener stops accepting when its Drain shuts down: it lets Serve
// accept what the kernel has queued already (connections whose clients may
// have sent a request, which closing the listener would reset) and closes
// once the queue is empty.
type drainListener struct {
	net.Listener
	d       *Drain
	closing sync.Once
}

// stop closes the listener once its accept queue is empty, or when ctx is
// done. Where the queue cannot be seen, it closes at once.
func (l *drainListener) stop(ctx context.Context) {
	defer l.close()
	sc, ok := l.Listener.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	for {
		queued := false
		if rc.Control(func(fd uintptr) { queued = acceptable(fd) }) != nil || !queued {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Millisecond): // Serve is accepting them
		}
	}
}

func (l *drainListener) close() {
	l.closing.Do(func() { l.Listener.Close() })
}

// Accept counts the call while it runs, and the connection it returns
// until Serve reports it (StateNew), so that Shutdown cannot finish in
// between and leave a connection behind.
func (l *drainListener) Accept() (net.Conn, error) {
	l.d.mu.Lock()
	l.d.accepting++
	l.d.mu.Unlock()
	c, err := l.Listener.Accept()
	l.d.mu.Lock()
	l.d.accepting--
	if err == nil {
		l.d.accepted++
	}
	l.d.mu.Unlock()
	if err != nil && l.d.stopping.Load() && errors.Is(err, net.ErrClosed) {
		return nil, net.ErrClosed
	}
	return c, err
}

func (l *drainListener) Close() error {
	l.close()
	return nil
}
