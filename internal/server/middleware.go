package server

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"gatehouse/internal/problem"
	"gatehouse/internal/webpage"
)

// errorWriter renders an error in the channel a request belongs to.
type errorWriter func(w http.ResponseWriter, r *http.Request, err error)

// statusWriter remembers whether and with what status a response started,
// for the panic handler and for metrics (one type with the portal's).
type statusWriter = webpage.StatusWriter

// validCorrelator matches CAMARA's x-correlator pattern
// ^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$ (where "\/" is an escaped slash, so a
// backslash is not allowed) and is not empty.
func validCorrelator(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_:;./<>{}", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// limits is the front of every listener: it assigns the correlator (echoed
// when the client sent a valid one), turns panics into a 500 with the
// correlator, and enforces the URI (414) and header-block (431) limits before
// any routing. Go's own server never says 414 and writes 431 as plain text,
// so both are ours (see cannedListener for what Go still writes itself).
func limits(next http.Handler, maxURI, maxHeader int, channel func(*http.Request) errorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Correlator")
		if !validCorrelator(id) {
			id = problem.NewCorrelator()
		}
		w.Header().Set("X-Correlator", id)
		r = r.WithContext(problem.WithCorrelator(r.Context(), id))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as Go's server does
				panic(v)
			}
			err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			if sw.Status() != 0 {
				// The response has started: the only honest signal
				// left is to break the connection.
				channel(r)(discard{}, r, problem.New(problem.InternalPanic, "").Wrap(err))
				panic(http.ErrAbortHandler)
			}
			channel(r)(sw, r, problem.New(problem.InternalPanic,
				"The server hit a bug while handling this request; it was logged with the correlator "+id+".").Wrap(err))
		}()
		if refuseAmbiguous(sw, r, channel) {
			return
		}
		if len(r.RequestURI) > maxURI {
			channel(r)(sw, r, problem.Newf(problem.URITooLongURITooLong,
				"The request URI is %d bytes; at most %d are accepted.", len(r.RequestURI), maxURI))
			return
		}
		if n := headerBytes(r); n > maxHeader {
			channel(r)(sw, r, problem.Newf(problem.HeaderFieldsTooLargeHeadersTooLarge,
				"The request headers total %d bytes; at most %d are accepted.", n, maxHeader))
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// headerBytes approximates the header block's size on the wire.
func headerBytes(r *http.Request) int {
	n := len(r.Host) + 8
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// discard is a ResponseWriter that writes nowhere, for logging an error
// whose response can no longer be sent.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
