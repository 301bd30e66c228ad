package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"gatehouse/internal/problem"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
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
	forward(w http.ResponseWriter, r *http.Request, rel string, body []byte, caller *Caller, allowUnderscores bool) *problem.Error
}

// subjectHeader is the end user a 3-legged token acts for, as the upstream
// sees it: the line's phone number ("+34…"); a "tel:" subject is taken as
// the line when the token carries none.
func subjectHeader(caller *Caller) string {
	if !caller.ThreeLegged() {
		return ""
	}
	if caller.Line != "" {
		return caller.Line
	}
	if line, ok := strings.CutPrefix(caller.Subject, "tel:"); ok {
		return line
	}
	return ""
}

// upstreamFor returns the upstream of an API record; serverPath is the
// path the API's document declares, where the sandbox serves it. An HTTP
// upstream is reused from the previous route table while its URL and
// options are unchanged, so its connections survive reloads; next collects
// the ones the new table uses.
func (g *Gateway) upstreamFor(rec *store.API, serverPath string, next map[string]*httpUpstream) (upstream, error) {
	if rec.UpstreamURL == SandboxUpstream {
		if g.cfg.Sandbox == nil {
			return nil, errors.New("the sandbox upstream is not available in this process")
		}
		return &sandboxUpstream{h: g.cfg.Sandbox, serverPath: serverPath}, nil
	}
	key := upstreamKey(rec)
	if u, ok := next[key]; ok {
		return u, nil
	}
	u, ok := g.upstreams[key]
	if !ok {
		var err error
		if u, err = g.newHTTPUpstream(rec.UpstreamURL, rec.Upstream, rec.Name); err != nil {
			return nil, err
		}
	}
	next[key] = u
	return u, nil
}

// upstreamKey identifies an HTTP upstream by everything it is built from:
// the URL and the options. APIs with the same ones share connections and
// circuit breaker; a sealed client key is unique to its API (random nonce,
// bound to the API's name), so mutual TLS is never shared across APIs.
func upstreamKey(rec *store.API) string {
	opts := rec.Upstream
	opts.TryLive = false       // the portal's switch, not the connection's
	o, _ := json.Marshal(opts) // plain strings, bytes and bools: never fails
	return rec.UpstreamURL + "\n" + string(o)
}

// sandboxUpstream calls the built-in sandbox in-process: no network hop,
// same headers as a real upstream gets.
type sandboxUpstream struct {
	h          http.Handler
	serverPath string
}

func (s *sandboxUpstream) forward(w http.ResponseWriter, r *http.Request, rel string, body []byte, caller *Caller, allowUnderscores bool) *problem.Error {
	// The sandbox serves the paths its documents declare, whatever base
	// path the API is mounted at.
	r.URL.Path = s.serverPath + rel
	r.URL.RawPath = ""
	h := make(http.Header, len(r.Header)+8)
	forwardHeaders(r, caller, allowUnderscores, h.Add)
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
// path (see BENCHMARKS.md). Redirects are never followed: HostClient.Do
// returns a 3xx as it came, and the caller gets it with its Location.
type httpUpstream struct {
	client  *fasthttp.HostClient
	scheme  string
	host    string
	prefix  string // path prefix of the upstream URL, no trailing slash
	timeout time.Duration
	breaker *breaker
	// refusal is the last TLS refusal an https upstream sent after the
	// handshake (see upstreamTLSConn), consumed by the failed request.
	refusal atomic.Pointer[tlsRefusal]
}

// ClientKeyPurpose is the sealing label of upstream client private keys
// (store.UpstreamOptions.ClientKeySealed); the API's name is the context.
const ClientKeyPurpose = "gatehouse upstream client-key encryption v1"

func (g *Gateway) newHTTPUpstream(raw string, o store.UpstreamOptions, api string) (*httpUpstream, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream %q must be an http(s) URL or %q", raw, SandboxUpstream)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	var tlsConfig *tls.Config
	if u.Scheme == "https" {
		if tlsConfig, err = upstreamTLS(u, o, seal.Box{Secret: g.cfg.Secret, Purpose: ClientKeyPurpose}, api); err != nil {
			return nil, err
		}
	}
	up := &httpUpstream{
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
		breaker: g.breakerFor(o),
	}
	if tlsConfig != nil {
		up.client.Dial = up.dialTLS(tlsConfig)
	}
	return up, nil
}

// breakerFor returns a new breaker for an upstream: the API's options,
// where set, else the gateway's.
func (g *Gateway) breakerFor(o store.UpstreamOptions) *breaker {
	threshold, base, maxPause := g.cfg.BreakerFailures, g.cfg.BreakerOpenFor, g.cfg.BreakerMaxPause
	if o.BreakerFailures > 0 {
		threshold = o.BreakerFailures
	}
	if o.BreakerPauseMS > 0 {
		base = time.Duration(o.BreakerPauseMS) * time.Millisecond
	}
	if o.BreakerMaxPauseMS > 0 {
		maxPause = time.Duration(o.BreakerMaxPauseMS) * time.Millisecond
	}
	b := newBreaker(threshold, base, maxPause, g.cfg.Now)
	b.jitter = g.jitter
	return b
}

// upstreamTLS is the client TLS configuration of an https upstream: TLS 1.2
// or later; the API's CA bundle, or the system roots when it has none; the
// server name (SNI and the name the certificate must carry) from the
// options, or the URL's host; and the client certificate for mutual TLS,
// its key opened with box.
func upstreamTLS(u *url.URL, o store.UpstreamOptions, box seal.Box, api string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12, ServerName: o.ServerName,
		// Connections the pool opens again resume their session: one
		// round trip and no certificate verification.
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	if o.CAPEM != "" {
		pool, err := ParseCABundle([]byte(o.CAPEM))
		if err != nil {
			return nil, fmt.Errorf("upstream CA bundle: %w", err)
		}
		cfg.RootCAs = pool
	}
	if o.ClientCertPEM != "" {
		keyPEM, err := box.Open(api, o.ClientKeySealed)
		if err != nil {
			return nil, fmt.Errorf("upstream client key: %w", err)
		}
		cert, err := tls.X509KeyPair([]byte(o.ClientCertPEM), keyPEM)
		if err != nil {
			return nil, fmt.Errorf("upstream client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// dialTLS returns the dialer of an https upstream: TCP through fasthttp's
// dialer (and its DNS cache), then the TLS handshake, within the upstream
// timeout; fasthttp takes a connection with a Handshake method as TLS
// already. The connection watches for a refusal after the handshake: with
// TLS 1.3 an upstream rejects a missing or untrusted client certificate
// only once the handshake is over, and fasthttp reports any failure before
// the first response byte as "connection closed".
func (u *httpUpstream) dialTLS(cfg *tls.Config) fasthttp.DialFunc {
	return func(addr string) (net.Conn, error) {
		raw, err := fasthttp.DialTimeout(addr, u.timeout)
		if err != nil {
			return nil, err
		}
		c := &upstreamTLSConn{refusal: &u.refusal}
		conf := cfg.Clone()
		certs := conf.Certificates
		conf.Certificates = nil
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if len(certs) > 0 {
				return &certs[0], nil
			}
			c.certRequested = true
			return &tls.Certificate{}, nil // none: the upstream decides
		}
		c.Conn = tls.Client(raw, conf)
		_ = raw.SetDeadline(time.Now().Add(u.timeout))
		if err := c.Handshake(); err != nil {
			raw.Close()
			if isTimeout(err) {
				return nil, fasthttp.ErrTLSHandshakeTimeout
			}
			return nil, err
		}
		_ = raw.SetDeadline(time.Time{})
		return c, nil
	}
}

// upstreamTLSConn is a TLS connection to an upstream. Until a response
// byte arrives, a read failure that is a TLS alert, or any failure after
// the upstream asked for a client certificate the gateway did not
// present, is kept in refusal for the request's error.
type upstreamTLSConn struct {
	*tls.Conn
	refusal       *atomic.Pointer[tlsRefusal]
	certRequested bool // set during the handshake, before any Read
	answered      bool
}

// tlsRefusal is a refusal upstreamTLSConn kept.
type tlsRefusal struct{ err error }

func (c *upstreamTLSConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.answered = true
	}
	if err != nil && !c.answered {
		if c.certRequested {
			err = &clientCertRequiredError{err}
		}
		if c.certRequested || isTLSError(err) {
			c.refusal.Store(&tlsRefusal{err})
		}
	}
	return n, err
}

// clientCertRequiredError is a failure on a connection whose upstream asked
// for a client certificate the gateway does not have.
type clientCertRequiredError struct{ err error }

func (e *clientCertRequiredError) Error() string {
	return "the upstream asked for a client certificate and the gateway has none for it: " + e.err.Error()
}

func (e *clientCertRequiredError) Unwrap() error { return e.err }

// ParseCABundle reads a PEM bundle of CA certificates. Every block must be
// a parsable CERTIFICATE, and there must be at least one.
func ParseCABundle(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return nil, errors.New("it holds text that is not PEM")
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("it holds a %s block; want only CERTIFICATE blocks", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("it holds no PEM certificate")
	}
	return pool, nil
}

func (u *httpUpstream) forward(w http.ResponseWriter, r *http.Request, rel string, body []byte, caller *Caller, allowUnderscores bool) *problem.Error {
	ticket, wait, allowed := u.breaker.allow()
	if !allowed {
		return problem.New(problem.UnavailableCircuitOpen,
			"The upstream failed repeatedly; requests are paused so it can recover.").WithRetryAfter(wait)
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	// The request target is built on the stack: fasthttp copies it.
	var uriBuf [256]byte
	uri := append(append(uriBuf[:0], u.prefix...), upstreamPath(rel)...)
	if r.URL.RawQuery != "" {
		uri = append(append(uri, '?'), r.URL.RawQuery...)
	}
	req.SetRequestURIBytes(uri)
	req.Header.SetHost(u.host) // before URI(), which parses the host from it
	// A bare path parses as http; the HostClient refuses a scheme other
	// than its own (it took that for a cross-protocol redirect).
	req.URI().SetScheme(u.scheme)
	req.Header.SetMethod(r.Method)
	forwardHeaders(r, caller, allowUnderscores, req.Header.Add)
	req.SetBodyRaw(body)

	err := u.client.DoTimeout(req, resp, u.timeout)
	if err != nil {
		u.breaker.record(ticket, false)
		if errors.Is(err, fasthttp.ErrConnectionClosed) {
			// What the upstream's TLS said before closing, if it did. Under
			// concurrent failures another request may consume it; each
			// still gets a true cause for this upstream.
			if ref := u.refusal.Swap(nil); ref != nil {
				err = fmt.Errorf("%w: %w", ref.err, err)
			}
		}
		return upstreamError(err, u.host)
	}
	status := resp.StatusCode()
	u.breaker.record(ticket, status < 502 || status > 504)

	copyResponseHeader(w.Header(), &resp.Header, len(resp.Body()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body())
	}
	return nil
}

// copyResponseHeader adds to h the upstream's response header fields the
// client may see (see responseHeaderForwarded), except those the gateway
// sets itself: Content-Length (bodyLen, the body as read), X-Correlator,
// Date and Server. The common names are taken from a table and the values
// share one slice, so a response costs one allocation per value instead of
// three per field.
func copyResponseHeader(h http.Header, resp *fasthttp.ResponseHeader, bodyLen int) {
	var connection []string
	fields := 0
	for k, v := range resp.All() {
		fields++
		if len(k) == len("Connection") && strings.EqualFold(string(k), "Connection") {
			connection = append(connection, string(v))
		}
	}
	values := make([]string, 0, fields+1)
	for k, v := range resp.All() {
		key := responseHeaderName(k)
		if !responseHeaderForwarded(key, connection) || key == "Content-Length" || key == "X-Correlator" || key == "Date" || key == "Server" {
			continue
		}
		if (key == "Deprecation" || key == "Sunset") && h[key] != nil {
			continue // the API's lifecycle, as the operator set it, wins
		}
		values = append(values, string(v))
		addValue(h, key, values)
	}
	values = append(values, strconv.Itoa(bodyLen))
	delete(h, "Content-Length")
	addValue(h, "Content-Length", values)
}

// addValue adds the last of values to h[key] (key canonical) as Header.Add
// would, with a field's first value sharing values' array.
func addValue(h http.Header, key string, values []string) {
	if vs := h[key]; len(vs) > 0 {
		h[key] = append(vs, values[len(values)-1])
		return
	}
	n := len(values)
	h[key] = values[n-1 : n : n]
}

// responseHeaderName is http.CanonicalHeaderKey(string(k)), without the
// allocation for the names upstreams commonly send.
func responseHeaderName(k []byte) string {
	switch string(k) {
	case "Content-Type":
		return "Content-Type"
	case "Content-Length":
		return "Content-Length"
	case "Date":
		return "Date"
	case "Server":
		return "Server"
	case "Connection":
		return "Connection"
	case "Cache-Control":
		return "Cache-Control"
	case "Etag":
		return "Etag"
	case "Last-Modified":
		return "Last-Modified"
	case "Location":
		return "Location"
	case "Vary":
		return "Vary"
	case "X-Correlator":
		return "X-Correlator"
	}
	return http.CanonicalHeaderKey(string(k))
}

// upstreamError maps a transport failure to the registry: the cause names
// what failed, and the detail what the operator of the upstream host must
// look at (it names the host, never the gateway's secrets).
func upstreamError(err error, host string) *problem.Error {
	var (
		dnsErr      *net.DNSError
		unknownCA   x509.UnknownAuthorityError
		nameErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		alert       tls.AlertError
		recordErr   tls.RecordHeaderError
		certReq     *clientCertRequiredError
	)
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, fasthttp.ErrTLSHandshakeTimeout), isTimeout(err):
		return problem.New(problem.TimeoutUpstreamTimeout, "The upstream did not answer in time.").Wrap(err)
	case errors.As(err, &dnsErr):
		return problem.Newf(problem.BadGatewayDNSFailure,
			"The upstream host %s could not be resolved; the operator must check the API's upstream URL and the gateway's DNS.", host).Wrap(err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return problem.Newf(problem.BadGatewayConnectionRefused,
			"The upstream %s refused the connection; the operator must check that the service listens there.", host).Wrap(err)
	case errors.As(err, &unknownCA):
		return problem.Newf(problem.BadGatewayTLSUnknownAuthority,
			"The certificate of the upstream %s is signed by an authority the gateway does not trust; the operator must give the API the issuing CA (--upstream-ca) or fix the upstream's certificate chain.", host).Wrap(err)
	case errors.As(err, &nameErr):
		return problem.Newf(problem.BadGatewayTLSNameMismatch,
			"The certificate of the upstream %s is not valid for the name the gateway checks; the operator must fix the upstream URL or the API's server name (--upstream-server-name).", host).Wrap(err)
	case errors.As(err, &invalidCert) && invalidCert.Reason == x509.Expired:
		return problem.Newf(problem.BadGatewayTLSCertificateExpired,
			"The certificate of the upstream %s has expired or is not yet valid; the upstream's operator must renew it.", host).Wrap(err)
	case errors.As(err, &certReq):
		return problem.Newf(problem.BadGatewayTLSHandshakeFailed,
			"The upstream %s requires a client certificate; the operator must give the API one (--upstream-client-cert and --upstream-client-key).", host).Wrap(err)
	case errors.As(err, &verifyErr), errors.As(err, &alert), errors.As(err, &recordErr), isTLSError(err):
		return problem.Newf(problem.BadGatewayTLSHandshakeFailed,
			"The TLS handshake with the upstream %s failed; the operator must check the upstream's TLS settings and whether it requires a client certificate (--upstream-client-cert).", host).Wrap(err)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return problem.Newf(problem.BadGatewayConnectionReset,
			"The upstream %s reset or closed the connection before answering; the operator must check the upstream's logs.", host).Wrap(err)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return problem.New(problem.BadGatewayUpstreamError, "The upstream's response is larger than the gateway forwards.").Wrap(err)
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return problem.New(problem.UnavailableOverloaded, "Every connection to the upstream is busy.").Wrap(err).WithRetryAfter(time.Second)
	}
	return problem.New(problem.BadGatewayUpstreamUnreachable, "The upstream could not be reached or broke the connection.").Wrap(err)
}

// isTLSError reports a handshake failure crypto/tls returns without an
// exported type: an alert the upstream sent (a *net.OpError "remote error",
// e.g. "tls: certificate required" when it wants a client certificate), or
// a local refusal such as "tls: protocol version not supported".
func isTLSError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	return strings.HasPrefix(err.Error(), "tls: ")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// breaker is a consecutive-failure circuit breaker with half-open probing
// and exponential backoff:
//
//   - closed: every call goes through. threshold failures in a row (a
//     transport error, or 502, 503 or 504 from the upstream) open it; a
//     success resets the count.
//   - open: calls are refused (503 unavailable/circuit_open) with
//     Retry-After the exact time left, for a pause drawn from [d/2, d]
//     (when jitter is set), where d is base the first time, then twice
//     the previous d after each failed probe, at most max. The jitter
//     keeps probes from landing in the same phase of an upstream that
//     fails periodically (and spreads the probes of many nodes).
//   - half-open: once the pause is over, up to probes calls go through at
//     once as probes. The first probe that succeeds closes the circuit and
//     the next opening starts again from base; the first that fails opens
//     it again with the pause doubled. While every probe slot is taken,
//     other calls are refused with Retry-After 1 s (the header's unit).
//
// Outcomes are matched to the state the call was admitted in (the ticket
// allow returns): a call admitted while closed that ends after the circuit
// opened, or a probe that ends after a sibling probe decided, says nothing
// about the upstream now and is ignored.
type breaker struct {
	threshold int
	base, max time.Duration
	probes    int
	now       func() time.Time
	// jitter returns a number in [0, 1) that places each pause in
	// [d/2, d]; nil means every pause is d.
	jitter func() float64

	mu        sync.Mutex
	state     breakerState
	failures  int           // consecutive failures while closed
	pause     time.Duration // d of the current (or last) open period
	openUntil time.Time
	inFlight  int    // probes admitted and not yet recorded
	epoch     uint64 // counts half-open periods; a probe's ticket
}

type breakerState uint8

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

// Breaker defaults; Config and the API's options override them.
const (
	DefaultBreakerFailures = 5
	// DefaultBreakerPause is the first open period: short, so that an
	// upstream back after a blip is let in within a fraction of a second
	// (a dead one still gets only a few probes: at about 0.25, 0.75, 1.75,
	// 3.75 … s, then every 30 s).
	DefaultBreakerPause = 250 * time.Millisecond
	// DefaultBreakerMaxPause caps the doubling.
	DefaultBreakerMaxPause = 30 * time.Second
	// breakerProbes is how many probes a half-open circuit lets through
	// at once.
	breakerProbes = 3
)

// newBreaker returns a closed breaker; the cap is never below the first
// pause.
func newBreaker(threshold int, base, maxPause time.Duration, now func() time.Time) *breaker {
	return &breaker{threshold: threshold, base: base, max: max(maxPause, base), probes: breakerProbes, now: now, pause: base}
}

// closedTicket is the ticket of a call admitted while closed; probes get
// their half-open period's epoch, which starts at 1.
const closedTicket = 0

// allow reports whether a call may go upstream, with the ticket to record
// its outcome with, and if not, how long until it may.
func (b *breaker) allow() (ticket uint64, wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerClosed:
		return closedTicket, 0, true
	case breakerOpen:
		now := b.now()
		if now.Before(b.openUntil) {
			return 0, b.openUntil.Sub(now), false
		}
		b.state, b.inFlight = breakerHalfOpen, 0
		b.epoch++
	}
	if b.inFlight >= b.probes {
		return 0, time.Second, false
	}
	b.inFlight++
	return b.epoch, 0, true
}

// record takes the outcome of a call allow let through.
func (b *breaker) record(ticket uint64, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ticket == closedTicket {
		if b.state != breakerClosed {
			return // admitted before the circuit opened
		}
		if ok {
			b.failures = 0
			return
		}
		b.failures++
		if b.failures >= b.threshold {
			b.open(b.base)
		}
		return
	}
	if b.state != breakerHalfOpen || ticket != b.epoch {
		return // a sibling probe decided already
	}
	if ok {
		b.state, b.failures, b.pause = breakerClosed, 0, b.base
		return
	}
	b.open(min(2*b.pause, b.max))
}

func (b *breaker) open(d time.Duration) {
	b.state, b.pause, b.inFlight = breakerOpen, d, 0
	if b.jitter != nil {
		d -= time.Duration(float64(d/2) * (1 - b.jitter()))
	}
	b.openUntil = b.now().Add(d)
}

// isOpen reports whether the circuit is not closed: open, or past its
// pause and waiting for (or running) probes. Until a probe succeeds the
// upstream has not been seen healthy again, however long ago it failed.
func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state != breakerClosed
}
