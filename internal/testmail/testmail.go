// Package testmail is a real SMTP server for tests (go-smtp's, on
// 127.0.0.1) that keeps what it receives, parsed the way a mail client
// would read it: the portal's tests read the verification link out of
// Next(t).Text, internal/mail's tests check what reached the wire.
//
// Waiting for a message is channel-based (Wait, Next): no test sleeps or
// polls for mail. Variants offer STARTTLS or implicit TLS with a
// certificate from a test CA (RootCAs trusts it), AUTH PLAIN, refused
// recipients, a server stalled at DATA, and one that never answers at all
// (StartSilent), for timeouts.
//
// It is imported only from _test.go files.
package testmail

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"gatehouse/internal/testhttp"
)

// Config chooses what the server offers; the zero value is plain SMTP on
// 127.0.0.1 with no TLS and no AUTH, accepting every recipient.
type Config struct {
	// STARTTLS offers STARTTLS with a certificate for 127.0.0.1 and
	// backend.test from a test CA (Server.RootCAs trusts it).
	STARTTLS bool
	// ImplicitTLS serves TLS from the first byte (smtps://), with the same
	// certificate.
	ImplicitTLS bool
	// Users are the AUTH PLAIN accounts (user name to password); none
	// means AUTH is not offered. AUTH is offered over plain text too
	// (go-smtp's AllowInsecureAuth), so a test can see a client that
	// sends credentials in clear.
	Users map[string]string
	// RefuseRecipients are answered 550 5.1.1 at RCPT TO.
	RefuseRecipients []string
	// StallAtData takes the message's data and then never answers it,
	// until the test ends: for a client's deadline mid-exchange.
	StallAtData bool
}

// Received is one message the server accepted.
type Received struct {
	// EnvelopeFrom and EnvelopeTo are MAIL FROM and RCPT TO.
	EnvelopeFrom string
	EnvelopeTo   []string
	// From and To are the addresses of the From and To headers, FromName
	// the From display name, Subject the decoded subject (RFC 2047).
	From     string
	FromName string
	To       []string
	Subject  string
	// Text and HTML are the decoded text/plain and text/html bodies (of a
	// single-part message or the parts of a multipart one), with LF line
	// endings.
	Text string
	HTML string
	// Header is the message's header; Raw the message as received.
	Header mail.Header
	Raw    []byte
	// TLS says the message came over TLS; AuthUser is the user that
	// authenticated, "" for none.
	TLS      bool
	AuthUser string
}

// Server is a running test SMTP server. It stops when the test ends.
type Server struct {
	cfg     Config
	url     string
	rootCAs *x509.CertPool
	release chan struct{} // closed at the end of the test: stalled sessions return

	mu      sync.Mutex
	msgs    []Received
	arrived chan struct{} // closed and replaced at each message
	next    int           // the index of the message Next returns next
}

// Start starts a plain SMTP server.
func Start(t testing.TB) *Server { return StartWith(t, Config{}) }

// StartTLS starts a server that offers STARTTLS; trust s.RootCAs().
func StartTLS(t testing.TB) *Server { return StartWith(t, Config{STARTTLS: true}) }

// StartWith starts a server configured by cfg.
func StartWith(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := &Server{cfg: cfg, release: make(chan struct{}), arrived: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "testmail.local"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0) // logging after the test ended would panic
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "smtp"
	if cfg.STARTTLS || cfg.ImplicitTLS {
		ca := testhttp.NewCA(t)
		pair, _, _ := ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), false)
		s.rootCAs = x509.NewCertPool()
		s.rootCAs.AddCert(ca.Cert)
		tlsConfig := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		if cfg.ImplicitTLS {
			ln = tls.NewListener(ln, tlsConfig)
			scheme = "smtps"
		} else {
			srv.TLSConfig = tlsConfig
		}
	}
	s.url = scheme + "://" + ln.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		close(s.release)
		_ = srv.Close()
		// Close closes the listeners Serve has registered: not this one
		// when the test ended before Serve's goroutine ran.
		_ = ln.Close()
		<-served
	})
	return s
}

// URL is the server's smtp:// (smtps:// with ImplicitTLS) URL, with no
// credentials.
func (s *Server) URL() string { return s.url }

// URLWithUser is URL with user and password in it.
func (s *Server) URLWithUser(user, password string) string {
	u, _ := url.Parse(s.url)
	u.User = url.UserPassword(user, password)
	return u.String()
}

// RootCAs trusts the server's certificate (nil without TLS).
func (s *Server) RootCAs() *x509.CertPool { return s.rootCAs }

// Messages returns the messages received so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Wait returns the first n messages once n have arrived, or ctx's error.
func (s *Server) Wait(ctx context.Context, n int) ([]Received, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			defer s.mu.Unlock()
			return slices.Clone(s.msgs[:n]), nil
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, fmt.Errorf("testmail: %d of %d messages received: %w", len(s.Messages()), n, ctx.Err())
		}
	}
}

// nextWithin bounds Next: a failure bound, not a timing assertion.
const nextWithin = 30 * time.Second

// Next waits for the message after the one it returned last (the first
// message at the first call) and fails t if none arrives within 30 s. It
// keeps one cursor: call it from one goroutine.
func (s *Server) Next(t testing.TB) Received {
	t.Helper()
	s.mu.Lock()
	n := s.next + 1
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), nextWithin)
	defer cancel()
	msgs, err := s.Wait(ctx, n)
	if err != nil {
		t.Fatalf("waiting for message %d: %v", n, err)
	}
	s.mu.Lock()
	s.next = n
	s.mu.Unlock()
	return msgs[n-1]
}

func (s *Server) add(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, r)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// session is one SMTP connection's transaction state.
type session struct {
	s        *Server
	conn     *smtp.Conn
	from     string
	to       []string
	authUser string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c}, nil
}

// AuthMechanisms offers PLAIN when the server has users (go-smtp then
// advertises AUTH); none otherwise.
func (ss *session) AuthMechanisms() []string {
	if len(ss.s.cfg.Users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || len(ss.s.cfg.Users) == 0 {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if want, ok := ss.s.cfg.Users[user]; !ok || want != pass || identity != "" && identity != user {
			return smtp.ErrAuthFailed
		}
		ss.authUser = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(ss.s.cfg.Users) > 0 && ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if slices.Contains(ss.s.cfg.RefuseRecipients, to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user: " + to}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.s.cfg.StallAtData {
		<-ss.s.release
		return errors.New("testmail: the test ended")
	}
	got, err := parse(raw)
	if err != nil {
		// The sender under test sees why its message is malformed.
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "testmail: " + err.Error()}
	}
	_, got.TLS = ss.conn.TLSConnectionState()
	got.EnvelopeFrom, got.EnvelopeTo, got.AuthUser = ss.from, slices.Clone(ss.to), ss.authUser
	ss.s.add(got)
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// parse reads a message as a mail client would.
func parse(raw []byte) (Received, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, err
	}
	got := Received{Header: msg.Header, Raw: raw}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 {
		return got, fmt.Errorf("the From header %q: want one address (%v)", msg.Header.Get("From"), err)
	}
	got.From, got.FromName = from[0].Address, from[0].Name
	to, err := msg.Header.AddressList("To")
	if err != nil {
		return got, fmt.Errorf("the To header %q: %v", msg.Header.Get("To"), err)
	}
	for _, a := range to {
		got.To = append(got.To, a.Address)
	}
	if got.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return got, fmt.Errorf("the Subject header: %v", err)
	}
	for _, h := range []string{"Date", "Message-ID", "MIME-Version"} {
		if msg.Header.Get(h) == "" {
			return got, fmt.Errorf("no %s header", h)
		}
	}
	if _, err := msg.Header.Date(); err != nil {
		return got, fmt.Errorf("the Date header: %v", err)
	}
	err = readBody(&got, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return got, err
}

// readBody stores the text/plain and text/html bodies of a part, walking
// into multipart ones.
func readBody(got *Received, contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	typ, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("the Content-Type %q: %v", contentType, err)
	}
	if strings.HasPrefix(typ, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextPart decodes quoted-printable itself and drops the
			// header; base64 is left to readBody.
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %v", typ, err)
			}
			if err := readBody(got, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "", "7bit", "8bit":
	default:
		return fmt.Errorf("the Content-Transfer-Encoding %q is not one a mail client reads", encoding)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("%s body: %v", typ, err)
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch typ {
	case "text/plain":
		got.Text = text
	case "text/html":
		got.HTML = text
	}
	return nil
}

// StartSilent starts a listener that accepts connections and never
// answers (not even the greeting), for a client's deadline; it returns its
// smtp:// URL. Its connections are closed when the test ends.
func StartSilent(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "smtp://" + ln.Addr().String()
}
