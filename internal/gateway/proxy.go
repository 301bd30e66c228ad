package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"gatehouse/internal/problem"
)

// SandboxUpstream is the upstream URL of APIs answered by the built-in
// sandbox.
const SandboxUpstream = "sandbox:"

// upstream forwards a validated request and writes the response, or
// returns the failure to render.
type upstream interface {
	// forward sends the request; rel is its decoded path relative to the
	// API's base path, as routed and validated. allowUnderscores is the
	// API's header policy (see forwardHeaders).
	forward(w http.ResponseWriter, r *http.Request, rel string, body []byte, grant *Grant, allowUnderscores bool) *problem.Error
}

// subjectHeader is the end user a 3-legged token acts for, as the upstream
// sees it: the line's phone number ("+34…"); a "tel:" subject is taken as
// the line when the token carries none.
func subjectHeader(grant *Grant) string {
	if !grant.ThreeLegged() {
		return ""
	}
	if grant.Line != "" {
		return grant.Line
	}
	if line, ok := strings.CutPrefix(grant.Subject, "tel:"); ok {
		return line
	}
	return ""
}

// upstreamFor returns the upstream for an API's upstream URL; serverPath is
// the path the API's document declares, where the sandbox serves it.
func (g *Gateway) upstreamFor(raw, serverPath string) (upstream, error) {
	if raw == SandboxUpstream {
		if g.cfg.Sandbox == nil {
			return nil, errors.New("the sandbox upstream is not available in this process")
		}
		return &sandboxUpstream{h: g.cfg.Sandbox, serverPath: serverPath}, nil
	}
	if u, ok := g.upstreams[raw]; ok {
		return u, nil
	}
	u, err := g.newHTTPUpstream(raw)
	if err != nil {
		return nil, err
	}
	g.upstreams[raw] = u
	return u, nil
}

// sandboxUpstream calls the built-in sandbox in-process: no network hop,
// same headers as a real upstream gets.
type sandboxUpstream struct {
	h          http.Handler
	serverPath string
}

func (s *sandboxUpstream) forward(w http.ResponseWriter, r *http.Request, rel string, body []byte, grant *Grant, allowUnderscores bool) *problem.Error {
	// The sandbox serves the paths its documents declare, whatever base
	// path the API is mounted at.
	r.URL.Path = s.serverPath + rel
	r.URL.RawPath = ""
	h := make(http.Header, len(r.Header)+8)
	forwardHeaders(r, grant, allowUnderscores, h.Add)
	r.Header = h
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	pattern := r.Pattern // the sandbox's own ServeMux overwrites it
	s.h.ServeHTTP(w, r)
	r.Pattern = pattern
	return nil
}

// httpUpstream forwards over HTTP/1.1 with fasthttp's client: requests are
// written and responses read on the calling goroutine, with pooled buffers,
// which measured far cheaper than net/http's Transport on the gateway's
// path (see BENCHMARKS.md).
type httpUpstream struct {
	client  *fasthttp.HostClient
	scheme  string
	host    string
	prefix  string // path prefix of the upstream URL, no trailing slash
	timeout time.Duration
	breaker breaker
}

func (g *Gateway) newHTTPUpstream(raw string) (*httpUpstream, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream %q must be an http(s) URL or %q", raw, SandboxUpstream)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	return &httpUpstream{
		client: &fasthttp.HostClient{
			Addr:                          addr,
			IsTLS:                         u.Scheme == "https",
			MaxConns:                      1024,
			MaxIdleConnDuration:           90 * time.Second,
			ReadTimeout:                   g.cfg.UpstreamTimeout,
			WriteTimeout:                  g.cfg.UpstreamTimeout,
			MaxResponseBodySize:           16 << 20,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			// A request is sent once: an upstream's POST is not
			// idempotent, and a retry would double-charge a quota.
			MaxIdemponentCallAttempts: 1,
		},
		scheme:  u.Scheme,
		host:    u.Host,
		prefix:  strings.TrimSuffix(u.EscapedPath(), "/"),
		timeout: g.cfg.UpstreamTimeout,
		breaker: breaker{threshold: g.cfg.BreakerFailures, openFor: g.cfg.BreakerOpenFor, now: g.cfg.Now},
	}, nil
}

func (u *httpUpstream) forward(w http.ResponseWriter, r *http.Request, rel string, body []byte, grant *Grant, allowUnderscores bool) *problem.Error {
	if wait, open := u.breaker.allow(); !open {
		return problem.New("unavailable", "circuit_open",
			"The upstream failed repeatedly; requests are paused so it can recover.").WithRetryAfter(wait)
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	uri := u.prefix + upstreamPath(rel)
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	req.SetRequestURI(uri)
	req.Header.SetMethod(r.Method)
	req.Header.SetHost(u.host)
	forwardHeaders(r, grant, allowUnderscores, req.Header.Add)
	req.SetBodyRaw(body)

	err := u.client.DoTimeout(req, resp, u.timeout)
	if err != nil {
		u.breaker.record(false)
		return upstreamError(err)
	}
	status := resp.StatusCode()
	u.breaker.record(status < 502 || status > 504)

	h := w.Header()
	var connection []string
	for k, v := range resp.Header.All() {
		if strings.EqualFold(string(k), "Connection") {
			connection = append(connection, string(v))
		}
	}
	for k, v := range resp.Header.All() {
		key := http.CanonicalHeaderKey(string(k))
		if !responseHeaderForwarded(key, connection) || key == "Content-Length" || key == "X-Correlator" || key == "Date" || key == "Server" {
			continue
		}
		h.Add(key, string(v))
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body())))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body())
	}
	return nil
}

// upstreamError maps a transport failure to the registry.
func upstreamError(err error) *problem.Error {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout), isTimeout(err):
		return problem.New("timeout", "upstream_timeout", "The upstream did not answer in time.").Wrap(err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return problem.New("bad_gateway", "connection_refused", "The upstream refused the connection.").Wrap(err)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return problem.New("bad_gateway", "upstream_error", "The upstream's response is larger than the gateway forwards.").Wrap(err)
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return problem.New("unavailable", "overloaded", "Every connection to the upstream is busy.").Wrap(err).WithRetryAfter(time.Second)
	}
	return problem.New("bad_gateway", "upstream_unreachable", "The upstream could not be reached or broke the connection.").Wrap(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// breaker is a consecutive-failure circuit breaker: after threshold
// failures in a row it opens for openFor, then lets one trial request
// through (half-open); its success closes the circuit.
type breaker struct {
	threshold int
	openFor   time.Duration
	now       func() time.Time

	mu        sync.Mutex
	failures  int
	openUntil time.Time
	trial     bool
}

// allow reports whether a request may go upstream, and if not, how long
// until it may.
func (b *breaker) allow() (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < b.threshold {
		return 0, true
	}
	now := b.now()
	if now.Before(b.openUntil) {
		return b.openUntil.Sub(now), false
	}
	if b.trial {
		return time.Second, false // one trial at a time
	}
	b.trial = true
	return 0, true
}

func (b *breaker) record(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trial = false
	if ok {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.threshold {
		b.openUntil = b.now().Add(b.openFor)
	}
}
