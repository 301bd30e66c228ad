package server

import (
	"bytes"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"gatehouse/internal/problem"
)

// cannedListener wraps a listener so the few responses Go's HTTP server
// writes by itself, before any handler runs (431 for a header block past
// MaxHeaderBytes, 400 for a malformed request, 501 for an unknown
// transfer-encoding), leave as registry JSON bodies instead of plain text.
// Those responses are written straight to the connection as one write of
// the status line, exactly goServerErrorHeaders, and a text body; a response
// from a handler always carries a Date header, so it can never match.
type cannedListener struct {
	net.Listener
	render *problem.Renderer
}

// goServerErrorHeaders is what net/http's server writes after the status
// line of its own error responses (see errorHeaders in net/http/server.go).
const goServerErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (l cannedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &cannedConn{Conn: c, render: l.render}, nil
}

type cannedConn struct {
	net.Conn
	render  *problem.Renderer
	framing framingScanner

	// mu orders each read's accounting against CloseUnread: a read that
	// returned bytes either counted them before the close (so the close
	// does not happen) or finds the connection shut and hands the server
	// nothing.
	mu   sync.Mutex
	read int64 // bytes read, for Drain
	shut bool  // closed by CloseUnread
}

// BytesRead returns how many bytes the server has read from c (for Drain:
// a connection whose request is being read is not idle).
func (c *cannedConn) BytesRead() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read
}

// CloseUnread closes c if the server has read exactly read bytes from it,
// and reports whether it did. From then on no read hands the server a
// byte, even one the socket delivered concurrently: a request is either
// read before the close, and then c is left open to answer it, or never
// seen by the server at all.
func (c *cannedConn) CloseUnread(read int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.read != read || c.shut {
		return false
	}
	c.shut = true
	c.Conn.Close()
	return true
}

// NetConn returns the connection c wraps (for Drain).
func (c *cannedConn) NetConn() net.Conn { return c.Conn }

// Read passes the bytes received through the framing scan (see
// framingScanner).
func (c *cannedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if c.shut {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.read += int64(n)
	c.mu.Unlock()
	c.framing.scan(p[:n])
	return n, err
}

func (c *cannedConn) Write(p []byte) (int, error) {
	if len(p) < 16 || !bytes.HasPrefix(p, []byte("HTTP/1.")) || p[9] < '4' {
		return c.Conn.Write(p)
	}
	i := bytes.Index(p, []byte(goServerErrorHeaders))
	if i < 0 || bytes.IndexByte(p[:i], '\n') >= 0 {
		return c.Conn.Write(p)
	}
	status, err := strconv.Atoi(string(p[9:12]))
	if err != nil {
		return c.Conn.Write(p)
	}
	text := string(p[i+len(goServerErrorHeaders):])
	if _, err := c.Conn.Write(c.rewrite(status, text)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rewrite builds the JSON response for one of Go's canned errors.
func (c *cannedConn) rewrite(status int, text string) []byte {
	var p *problem.Error
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		p = problem.New(problem.HeaderFieldsTooLargeHeadersTooLarge,
			"The request line and headers are larger than the server accepts.")
	case http.StatusNotImplemented:
		p = problem.New(problem.NotImplementedTransferCoding, "The request uses a transfer coding this server does not implement (RFC 9112 §6.1).")
	default:
		detail := text
		if _, after, ok := strings.Cut(text, ": "); ok {
			detail = after
		}
		p = problem.Newf(problem.BadRequestMalformedRequest, "The HTTP request is malformed: %s.", strings.TrimSuffix(detail, "."))
	}
	id := problem.NewCorrelator()
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Header: http.Header{}}
	r = r.WithContext(problem.WithCorrelator(r.Context(), id))
	rec := &bufferWriter{header: http.Header{}}
	c.render.API(rec, r, p)
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(rec.status) + " " + http.StatusText(rec.status) + "\r\n")
	rec.header.Set("Connection", "close")
	rec.header.Set("X-Correlator", id)
	rec.header.Set("Content-Length", strconv.Itoa(rec.body.Len()))
	_ = rec.header.Write(&b)
	b.WriteString("\r\n")
	b.Write(rec.body.Bytes())
	return b.Bytes()
}

// bufferWriter is a minimal in-memory ResponseWriter.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }
func (w *bufferWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *bufferWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// Listener wraps l so Go's own error responses are registry JSON (see
// cannedListener). Serve every listener through it.
func Listener(l net.Listener, render *problem.Renderer) net.Listener {
	return cannedListener{Listener: l, render: render}
}
