package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one send whose context has no deadline: dialling,
// TLS and the whole SMTP exchange.
const DefaultTimeout = 10 * time.Second

// Options are the SMTP sender's settings that do not come from the URL.
// The zero value is what production uses.
type Options struct {
	// RootCAs verifies the server's certificate; nil means the system's
	// roots. Tests set it to their test CA.
	RootCAs *x509.CertPool
	// DialContext opens the TCP connection to the server's host:port; nil
	// means a net.Dialer's. Tests use it to reach a local server under
	// the name of a remote one.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// HelloName is the name the sender gives in EHLO; "" means this
	// machine's host name (os.Hostname), or localhost when it has none.
	HelloName string
	// Timeout bounds a send whose context has no deadline; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Now is the clock of the Date header; nil means time.Now.
	Now func() time.Time
}

// SMTP sends each message over a new connection to one SMTP server
// (portal mail is a handful of messages an hour, not worth a pool).
type SMTP struct {
	shown       string // the URL with its password hidden, for messages
	host        string // as in the URL: the TLS server name and the AUTH rule's subject
	addr        string // host:port
	implicitTLS bool
	auth        *plainAuth // nil: no AUTH
	from        *mail.Address
	tls         *tls.Config
	opts        Options
}

var _ Sender = (*SMTP)(nil)

// URLForms describes the accepted smtp_url forms, for messages and docs.
const URLForms = "smtp://[USER:PASSWORD@]HOST:PORT (STARTTLS when the server offers it, required with credentials " +
	"unless HOST is loopback) or smtps://[USER:PASSWORD@]HOST[:PORT] (implicit TLS, port 465 by default), " +
	"optionally with ?from=ADDRESS"

// NewSMTP returns a sender for rawURL, one of the forms in URLForms:
//
//   - smtp://HOST:PORT: plain SMTP upgraded with STARTTLS whenever the
//     server offers it (a failed upgrade fails the send: no fallback to
//     clear text). The port is required, since 25 (relay) and 587
//     (submission) are both common and a wrong guess would show only at
//     the first send.
//   - smtps://HOST[:PORT]: TLS from the first byte (RFC 8314), port 465 by
//     default.
//   - USER:PASSWORD@ (percent-encoded) authenticates with AUTH PLAIN,
//     which is sent only over TLS, or in clear to a loopback host
//     (localhost, 127.0.0.0/8, ::1), where nothing crosses the network.
//   - ?from=ADDRESS is the sender address. It wins over from, which is the
//     configured smtp_from: the relay account that the URL's credentials
//     open is usually allowed to send as one address only, so the two
//     belong together.
//
// The server's certificate is always verified. Errors name what is wrong
// and never repeat the password.
func NewSMTP(rawURL, from string, opts Options) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue quotes the URL, password and all
		}
		if strings.Contains(rawURL, "@") {
			// Even ue.Err (invalid URL escape "%zz") may quote a piece
			// of the password.
			err = errors.New("details hidden: they may quote the password")
		}
		return nil, fmt.Errorf("mail: smtp_url is not a URL (%v); want %s", err, URLForms)
	}
	s := &SMTP{shown: u.Redacted(), opts: opts}
	bad := func(problem string) error {
		return fmt.Errorf("mail: smtp_url %s %s; want %s", s.shown, problem, URLForms)
	}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
	case "smtps":
		s.implicitTLS = true
	default:
		return nil, bad(fmt.Sprintf("has the scheme %q", u.Scheme))
	}
	port := u.Port()
	s.host = u.Hostname()
	switch {
	case u.Opaque != "":
		return nil, bad("lacks the // before the host")
	case s.host == "":
		return nil, bad("names no host")
	case port == "" && !s.implicitTLS:
		return nil, bad("names no port (25 for a relay, 587 for submission)")
	case u.Path != "" && u.Path != "/":
		return nil, bad(fmt.Sprintf("has a path (%q)", u.Path))
	case u.Fragment != "":
		return nil, bad("has a fragment")
	}
	if port == "" {
		port = "465"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, bad(fmt.Sprintf("has the port %q", port))
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		pass, ok := u.User.Password()
		if u.User.Username() == "" || !ok {
			return nil, bad("has credentials without both a user name and a password")
		}
		s.auth = &plainAuth{user: u.User.Username(), pass: pass}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("has a malformed query")
	}
	for k, v := range q {
		if k != "from" || len(v) != 1 {
			return nil, bad(fmt.Sprintf("has the parameter %q (only one from= is taken)", k))
		}
		from = v[0]
	}
	if from == "" {
		return nil, errors.New("mail: no sender address: set smtp_from (GATEHOUSE_SMTP_FROM) or ?from= in smtp_url")
	}
	var problem string
	if s.from, problem = parseAddress(from); problem != "" {
		return nil, fmt.Errorf("mail: the sender address %q %s", from, problem)
	}
	if s.opts.HelloName == "" {
		s.opts.HelloName, _ = os.Hostname()
		if s.opts.HelloName == "" || hasLineBreak(s.opts.HelloName) {
			s.opts.HelloName = "localhost"
		}
	}
	if s.opts.Timeout <= 0 {
		s.opts.Timeout = DefaultTimeout
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	if s.opts.DialContext == nil {
		s.opts.DialContext = (&net.Dialer{}).DialContext
	}
	s.tls = &tls.Config{ServerName: s.host, RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
	return s, nil
}

// String returns the server's URL with its password hidden, for logs.
func (s *SMTP) String() string { return s.shown }

// Send delivers m over a new connection. Everything it does (dialling,
// TLS, each command) ends by ctx's deadline, or DefaultTimeout (see
// Options.Timeout) when ctx has none: an error past it wraps
// context.DeadlineExceeded. A recipient the server refuses for good wraps
// ErrRecipientRefused; a message refused before sending wraps
// ErrInvalidMessage.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := m.check()
	if err != nil {
		return err
	}
	msg := m.render(s.from, to, s.opts.Now())
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.Timeout)
		defer cancel()
	}
	if err := s.deliver(ctx, to.Address, msg); err != nil {
		// The connection's deadline and ctx's timer are two clocks: name
		// the context's error even when the I/O noticed first.
		ctxErr := ctx.Err()
		if dl, _ := ctx.Deadline(); ctxErr == nil && !time.Now().Before(dl) {
			ctxErr = context.DeadlineExceeded
		}
		if ctxErr != nil {
			return fmt.Errorf("mail: sending through %s: %w (%w)", s.addr, ctxErr, err)
		}
		return fmt.Errorf("mail: sending through %s: %w", s.addr, err)
	}
	return nil
}

// deliver runs one SMTP exchange for msg (RFC 5321 §3.3) within ctx.
func (s *SMTP) deliver(ctx context.Context, to string, msg []byte) error {
	conn, err := s.opts.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	// net/smtp sets no deadlines of its own, so this one bounds every
	// read and write; cancelling ctx moves it to now.
	dl, _ := ctx.Deadline()
	if err := conn.SetDeadline(dl); err != nil {
		return err
	}
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })()
	encrypted := s.implicitTLS
	if s.implicitTLS {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("reading the greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.opts.HelloName); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !encrypted {
		// Once offered, TLS is not optional: a failed handshake (an
		// unknown certificate, say) must not fall back to clear text.
		if err := c.StartTLS(s.tls); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
		encrypted = true
	}
	if s.auth != nil {
		if err := credentialsMayCross(s.host, encrypted); err != nil {
			return err
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp_url has credentials but the server offers no AUTH")
		}
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("AUTH PLAIN as %q: %w", s.auth.user, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM:<%s>: %w", s.from.Address, err)
	}
	if err := c.Rcpt(to); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return fmt.Errorf("RCPT TO:<%s>: %w: %w", to, ErrRecipientRefused, err)
		}
		return fmt.Errorf("RCPT TO:<%s>: %w", to, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("sending the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	// The server has taken the message; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// credentialsMayCross is the rule for AUTH: credentials go only over an
// encrypted connection, or in clear to a loopback host, where nothing
// crosses the network (local relays often offer no TLS). The host is the
// URL's, as configured.
func credentialsMayCross(host string, encrypted bool) error {
	if encrypted || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("the server %s offers no STARTTLS, and credentials are sent only over TLS "+
		"(or in clear to a loopback host): use smtps:// or a server that offers STARTTLS", host)
}

// isLoopback reports whether host names this machine: localhost or a
// loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// plainAuth is AUTH PLAIN (RFC 4616). net/smtp's PlainAuth has a rule of
// its own for clear text (only localhost, 127.0.0.1 and ::1) that would
// disagree with credentialsMayCross about 127.0.0.2; this one applies
// ours, again, right before the credentials are written.
type plainAuth struct{ user, pass string }

func (a *plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if err := credentialsMayCross(server.Name, server.TLS); err != nil {
		return "", nil, err
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected challenge after AUTH PLAIN")
	}
	return nil, nil
}
