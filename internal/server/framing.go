package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"gatehouse/internal/problem"
)

// framingScanner watches the bytes a connection receives for a header block
// that carries both Content-Length and Transfer-Encoding. Go's server
// accepts such a request, drops Content-Length and reads the body as
// chunked, so a front proxy that trusted Content-Length would see another
// request boundary than gatehouse: request smuggling. RFC 9112 §6.1 lets a
// server treat it as an error and requires closing the connection after
// responding; the handler cannot tell (the header is gone by then), so the
// connection marks itself and every request on it is refused
// (refuseAmbiguous). The scan reads only line starts: a block is a run of
// lines up to an empty one, so a body line could at worst condemn its own
// connection, never another.
type framingScanner struct {
	prefix    [len("transfer-encoding:")]byte
	n         int  // bytes of the current line's prefix collected
	skip      bool // the prefix is complete: skip to the end of the line
	cl, te    bool // the current block has Content-Length, Transfer-Encoding
	ambiguous atomic.Bool
}

func (s *framingScanner) scan(p []byte) {
	for len(p) > 0 {
		if s.skip {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return
			}
			p = p[i:]
			s.skip = false
		}
		c := p[0]
		p = p[1:]
		if c != '\n' {
			if s.n < len(s.prefix) {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				s.prefix[s.n] = c
				s.n++
			}
			if s.n == len(s.prefix) {
				s.line()
				s.skip = true
			}
			continue
		}
		if s.n == 0 || (s.n == 1 && s.prefix[0] == '\r') {
			s.cl, s.te = false, false // an empty line ends the block
		} else if !s.skip {
			s.line()
		}
		s.n = 0
	}
}

// line classifies the current line by its prefix.
func (s *framingScanner) line() {
	got := s.prefix[:s.n]
	switch {
	case bytes.HasPrefix(got, []byte("content-length:")):
		s.cl = true
	case bytes.HasPrefix(got, []byte("transfer-encoding:")):
		s.te = true
	}
	if s.cl && s.te {
		s.ambiguous.Store(true)
	}
}

type connKey struct{}

// ConnContext is the http.Server ConnContext of every listener served
// through Listener: it lets handlers reach the connection's framing scan.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*cannedConn); ok {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

// refuseAmbiguous answers 400 with Connection: close when the request's
// connection carried a header block with both Content-Length and
// Transfer-Encoding; Go's server then closes the connection, so a request
// pipelined behind it is never served.
func refuseAmbiguous(w http.ResponseWriter, r *http.Request, channel func(*http.Request) errorWriter) bool {
	cc, ok := r.Context().Value(connKey{}).(*cannedConn)
	if !ok || !cc.framing.ambiguous.Load() {
		return false
	}
	channel(r)(w, r, problem.New(problem.BadRequestAmbiguousFraming,
		"The request has both Content-Length and Transfer-Encoding (RFC 9112 section 6.1); send only one of them.").
		WithHeader("Connection", "close"))
	return true
}

// bodyDeadline bounds the time a request body may take to arrive: a client
// that stalls mid-body is cut off after d and answered 408 by whichever
// handler was reading (problem.BodyTimeout). The deadline is set only for
// requests with a body and cleared once it is read, so it never reaches
// into the handler's own work (Go's server would otherwise cancel the
// request's context when its background read hits it).
func bodyDeadline(next http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(d)); err == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, w: w}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody clears the connection's read deadline at the end of the body.
// It keeps the ResponseWriter, not a ResponseController: the controller is
// made where it is used, on the stack, instead of once more on the heap per
// request.
type deadlineBody struct {
	io.ReadCloser
	w    http.ResponseWriter
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = http.NewResponseController(b.w).SetReadDeadline(time.Time{})
	}
	return n, err
}
