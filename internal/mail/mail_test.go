package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/mail"
	netsmtp "net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/testmail"
)

// testFrom is the sender address of these tests.
const testFrom = "gatehouse <noreply@portal.example>"

// bound is how long a test waits for what should take milliseconds before
// it fails: a bound, not a timing assertion.
const bound = 30 * time.Second

// newSender returns an SMTP sender for url with opts, failing t on error.
func newSender(t *testing.T, url string, opts Options) *SMTP {
	t.Helper()
	s, err := NewSMTP(url, testFrom, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send sends m through s within the test's bound.
func send(t *testing.T, s Sender, m Message) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	return s.Send(ctx, m)
}

var verification = Message{
	To:      "Ada Lovelace <ada@example.com>",
	Subject: "Verify your e-mail address",
	Text:    "Welcome!\n\nOpen this link to verify your address:\nhttp://localhost:8080/portal/verify?token=abc=def&x=1\n",
	HTML:    "<p>Welcome!</p>\n<p><a href=\"http://localhost:8080/portal/verify?token=abc=def&amp;x=1\">Verify your address</a></p>\n",
}

// checkWire checks what every message must be on the wire: CRLF line
// endings only, 7-bit, lines within RFC 5322's 78 characters.
func checkWire(t *testing.T, raw []byte) {
	t.Helper()
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			t.Errorf("bare LF at byte %d of %q", i, raw)
			return
		}
		if c == '\r' && (i+1 == len(raw) || raw[i+1] != '\n') {
			t.Errorf("bare CR at byte %d of %q", i, raw)
			return
		}
		if c >= 0x80 {
			t.Errorf("8-bit byte at %d of %q", i, raw)
			return
		}
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
	}
}

func TestSendPlain(t *testing.T) {
	srv := testmail.Start(t)
	date := time.Date(2026, 11, 3, 14, 5, 6, 0, time.FixedZone("", 3600))
	s := newSender(t, srv.URL(), Options{Now: func() time.Time { return date }})
	if err := send(t, s, verification); err != nil {
		t.Fatal(err)
	}
	got := srv.Next(t)
	if got.EnvelopeFrom != "noreply@portal.example" || len(got.EnvelopeTo) != 1 || got.EnvelopeTo[0] != "ada@example.com" {
		t.Errorf("envelope %q → %q; want noreply@portal.example → [ada@example.com]", got.EnvelopeFrom, got.EnvelopeTo)
	}
	if got.From != "noreply@portal.example" || got.FromName != "gatehouse" {
		t.Errorf("From = %q <%s>; want gatehouse <noreply@portal.example>", got.FromName, got.From)
	}
	if len(got.To) != 1 || got.To[0] != "ada@example.com" {
		t.Errorf("To = %q; want [ada@example.com]", got.To)
	}
	if got.Subject != verification.Subject {
		t.Errorf("Subject = %q; want %q", got.Subject, verification.Subject)
	}
	if got.Text != verification.Text {
		t.Errorf("Text = %q; want %q", got.Text, verification.Text)
	}
	if got.HTML != verification.HTML {
		t.Errorf("HTML = %q; want %q", got.HTML, verification.HTML)
	}
	if got.TLS || got.AuthUser != "" {
		t.Errorf("TLS %v, AuthUser %q; want a plain, unauthenticated exchange", got.TLS, got.AuthUser)
	}
	if d, err := got.Header.Date(); err != nil || !d.Equal(date) {
		t.Errorf("Date = %v (%v); want %v", d, err, date)
	}
	if id := got.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@portal.example>") {
		t.Errorf("Message-ID = %q; want <unique@portal.example>", id)
	}
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative; boundary=") {
		t.Errorf("Content-Type = %q; want multipart/alternative", ct)
	}
	checkWire(t, got.Raw)

	// Text alone is one text/plain part; each message has its own ID.
	if err := send(t, s, Message{To: "ada@example.com", Subject: "Reset your password", Text: "Open http://localhost:8080/reset?t=1"}); err != nil {
		t.Fatal(err)
	}
	second := srv.Next(t)
	// A body is sent ending with a line break.
	if second.Text != "Open http://localhost:8080/reset?t=1\n" || second.HTML != "" {
		t.Errorf("text-only message: Text %q, HTML %q", second.Text, second.HTML)
	}
	if ct := second.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q; want text/plain; charset=utf-8", ct)
	}
	if second.Header.Get("Message-ID") == got.Header.Get("Message-ID") {
		t.Errorf("two messages share the Message-ID %s", got.Header.Get("Message-ID"))
	}
	checkWire(t, second.Raw)
}

// TestSendSTARTTLS: a server that offers STARTTLS gets TLS, verified
// against the configured roots; an unverifiable certificate fails the
// send instead of falling back to clear text.
func TestSendSTARTTLS(t *testing.T) {
	srv := testmail.StartTLS(t)
	if err := send(t, newSender(t, srv.URL(), Options{RootCAs: srv.RootCAs()}), verification); err != nil {
		t.Fatal(err)
	}
	if got := srv.Next(t); !got.TLS || got.Text != verification.Text {
		t.Errorf("TLS %v, Text %q; want the message over TLS", got.TLS, got.Text)
	}

	err := send(t, newSender(t, srv.URL(), Options{}), verification)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: err = %v; want the STARTTLS step to fail on the certificate", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages received; want only the first (no fallback to clear text)", n)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	srv := testmail.StartWith(t, testmail.Config{ImplicitTLS: true})
	if !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatalf("URL %s; want smtps://", srv.URL())
	}
	if err := send(t, newSender(t, srv.URL(), Options{RootCAs: srv.RootCAs()}), verification); err != nil {
		t.Fatal(err)
	}
	if got := srv.Next(t); !got.TLS {
		t.Error("message not received over TLS")
	}
	if err := send(t, newSender(t, srv.URL(), Options{}), verification); err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Errorf("untrusted certificate: err = %v; want the TLS handshake to fail", err)
	}
}

// TestAuth: AUTH PLAIN with the URL's credentials, over TLS or in clear to
// a loopback host.
func TestAuth(t *testing.T) {
	users := map[string]string{"portal": "s3cret pass"}
	t.Run("loopback in clear", func(t *testing.T) {
		srv := testmail.StartWith(t, testmail.Config{Users: users})
		if err := send(t, newSender(t, srv.URLWithUser("portal", "s3cret pass"), Options{}), verification); err != nil {
			t.Fatal(err)
		}
		if got := srv.Next(t); got.AuthUser != "portal" {
			t.Errorf("AuthUser = %q; want portal", got.AuthUser)
		}
		err := send(t, newSender(t, srv.URLWithUser("portal", "wrong"), Options{}), verification)
		if err == nil || !strings.Contains(err.Error(), "AUTH PLAIN") || !strings.Contains(err.Error(), "535") {
			t.Errorf("wrong password: err = %v; want AUTH PLAIN refused with 535", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("err = %v repeats the password", err)
		}
	})
	t.Run("remote host over STARTTLS", func(t *testing.T) {
		srv := testmail.StartWith(t, testmail.Config{STARTTLS: true, Users: users})
		url := strings.Replace(srv.URLWithUser("portal", "s3cret pass"), "127.0.0.1", "backend.test", 1)
		s := newSender(t, url, Options{RootCAs: srv.RootCAs(), DialContext: dialTo(srv.URL())})
		if err := send(t, s, verification); err != nil {
			t.Fatal(err)
		}
		if got := srv.Next(t); got.AuthUser != "portal" || !got.TLS {
			t.Errorf("AuthUser %q, TLS %v; want portal over TLS", got.AuthUser, got.TLS)
		}
	})
	t.Run("server without AUTH", func(t *testing.T) {
		srv := testmail.Start(t)
		err := send(t, newSender(t, srv.URLWithUser("portal", "pw"), Options{}), verification)
		if err == nil || !strings.Contains(err.Error(), "no AUTH") {
			t.Errorf("err = %v; want one saying the server offers no AUTH", err)
		}
	})
}

// TestCredentialsNeverInClear: credentials for a remote host go only over
// TLS. The server here offers AUTH in clear and no STARTTLS, and is
// reached under the name mail.example.com: the send fails before AUTH, and
// nothing of the credentials is written.
func TestCredentialsNeverInClear(t *testing.T) {
	srv := testmail.StartWith(t, testmail.Config{Users: map[string]string{"portal": "hunter2"}})
	var wire recorder
	dial := dialTo(srv.URL())
	s := newSender(t, "smtp://portal:hunter2@mail.example.com:25", Options{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			return wire.wrap(c), err
		},
	})
	err := send(t, s, verification)
	if err == nil || !strings.Contains(err.Error(), "offers no STARTTLS") {
		t.Errorf("err = %v; want a refusal to send credentials in clear", err)
	}
	if w := wire.String(); strings.Contains(w, "AUTH") || strings.Contains(w, "MAIL FROM") || !strings.Contains(w, "EHLO") {
		t.Errorf("client wrote %q; want EHLO and then nothing (no AUTH, no mail)", w)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages received; want none", n)
	}

	// The rule itself.
	for _, tc := range []struct {
		host      string
		encrypted bool
		ok        bool
	}{
		{"mail.example.com", true, true},
		{"mail.example.com", false, false},
		{"10.0.0.5", false, false},
		{"localhost.example.com", false, false},
		{"localhost", false, true},
		{"LOCALHOST", false, true},
		{"127.0.0.1", false, true},
		{"127.0.0.2", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
	} {
		if err := credentialsMayCross(tc.host, tc.encrypted); (err == nil) != tc.ok {
			t.Errorf("credentialsMayCross(%q, encrypted %v) = %v; want allowed %v", tc.host, tc.encrypted, err, tc.ok)
		}
	}
	if _, _, err := (&plainAuth{"portal", "hunter2"}).Start(&netsmtp.ServerInfo{Name: "mail.example.com"}); err == nil {
		t.Error("plainAuth.Start sent credentials over a clear connection to a remote host")
	}
}

func TestRecipientRefused(t *testing.T) {
	srv := testmail.StartWith(t, testmail.Config{RefuseRecipients: []string{"nobody@example.com"}})
	s := newSender(t, srv.URL(), Options{})
	err := send(t, s, Message{To: "nobody@example.com", Subject: "Hello", Text: "hi"})
	if !errors.Is(err, ErrRecipientRefused) || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "nobody@example.com") {
		t.Errorf("err = %v; want ErrRecipientRefused with the server's 550 and the address", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages received; want none", n)
	}
	// The server still takes mail for others.
	if err := send(t, s, Message{To: "ada@example.com", Subject: "Hello", Text: "hi"}); err != nil {
		t.Errorf("another recipient: %v", err)
	}
}

// TestStalledServer: a server that never answers ends the send at the
// context's deadline (or DefaultTimeout's stand-in when it has none), or
// when the context is cancelled. The deadlines are bounds: the test
// asserts what the error is, not when it came.
func TestStalledServer(t *testing.T) {
	silent := testmail.StartSilent(t)
	stalled := testmail.StartWith(t, testmail.Config{StallAtData: true})
	for _, url := range []string{silent, stalled.URL()} {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		err := newSender(t, url, Options{}).Send(ctx, verification)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v; want context.DeadlineExceeded", url, err)
		}
	}
	if n := len(stalled.Messages()); n != 0 {
		t.Errorf("stalled server holds %d messages; want none", n)
	}

	// No deadline in ctx: Options.Timeout (DefaultTimeout in production).
	err := newSender(t, silent, Options{Timeout: 100 * time.Millisecond}).Send(t.Context(), verification)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx without deadline: err = %v; want the sender's own deadline", err)
	}

	// Cancelled once connected: the blocked read of the greeting ends.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dial := dialTo(silent)
	s := newSender(t, silent, Options{Timeout: bound, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		cancel()
		return c, err
	}})
	if err := s.Send(ctx, verification); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v; want context.Canceled", err)
	}
}

// TestHeaderInjection: no recipient or subject can add a header line or a
// recipient; such messages are refused before anything is sent, by both
// senders.
func TestHeaderInjection(t *testing.T) {
	srv := testmail.Start(t)
	var logged bytes.Buffer
	senders := map[string]Sender{
		"smtp": newSender(t, srv.URL(), Options{}),
		"log":  NewLog(slog.New(slog.NewJSONHandler(&logged, nil))),
	}
	for _, m := range []Message{
		{To: "ada@example.com\r\nBcc: victim@example.com", Subject: "Hi", Text: "x"},
		{To: "ada@example.com\nBcc: victim@example.com", Subject: "Hi", Text: "x"},
		{To: "Ada\r\n <ada@example.com>", Subject: "Hi", Text: "x"},
		{To: "ada@example.com, victim@example.com", Subject: "Hi", Text: "x"},
		{To: "", Subject: "Hi", Text: "x"},
		{To: "not an address", Subject: "Hi", Text: "x"},
		{To: "adä@example.com", Subject: "Hi", Text: "x"},
		{To: "ada@example.com", Subject: "Hi\r\nBcc: victim@example.com", Text: "x"},
		{To: "ada@example.com", Subject: "Hi\nBcc: victim@example.com", Text: "x"},
		{To: "ada@example.com", Subject: "Hi\rBcc: victim@example.com", Text: "x"},
		{To: "ada@example.com", Subject: "Hi\x00there", Text: "x"},
		{To: "ada@example.com", Subject: strings.Repeat("long ", 200), Text: "x"},
		{To: "ada@example.com", Subject: "Hi", Text: ""},
		{To: "ada@example.com", Subject: "Hi", Text: "x", HTML: "\xff"},
	} {
		for name, s := range senders {
			if err := send(t, s, m); !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%s sender, %+v: err = %v; want ErrInvalidMessage", name, m, err)
			}
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages received; want none", n)
	}
	if logged.Len() != 0 {
		t.Errorf("log sender logged refused messages: %s", logged.String())
	}
}

// TestNonASCII: a Unicode subject and names are RFC 2047 encoded, the
// bodies quoted-printable; all of it reads back as sent, and the message
// stays 7-bit with short lines.
func TestNonASCII(t *testing.T) {
	srv := testmail.Start(t)
	s, err := NewSMTP(srv.URL(), "Café Télécom <noreply@portal.example>", Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := "Bienvenue chez Café Télécom — vérifiez votre adresse e-mail pour activer votre compte développeur ✓ 日本語"
	for _, subject := range []string{"Vérifiez votre adresse ✓", long} {
		m := Message{To: "Zoë Ångström <zoe@example.com>", Subject: subject,
			Text: "Grüße! Klicken Sie hier: http://localhost:8080/v?t=ä=1\n" + strings.Repeat("très long ", 30) + "\n",
			HTML: "<p>Grüße — 日本語</p>\n"}
		if err := send(t, s, m); err != nil {
			t.Fatal(err)
		}
		got := srv.Next(t)
		if got.Subject != subject {
			t.Errorf("Subject = %q; want %q", got.Subject, subject)
		}
		if raw := got.Header.Get("Subject"); !strings.Contains(raw, "=?utf-8?q?") {
			t.Errorf("raw Subject %q; want RFC 2047 encoded words", raw)
		}
		if got.FromName != "Café Télécom" {
			t.Errorf("From name = %q; want Café Télécom", got.FromName)
		}
		if to, err := mail.ParseAddress(got.Header.Get("To")); err != nil || to.Name != "Zoë Ångström" {
			t.Errorf("To = %q (%v); want the name Zoë Ångström", got.Header.Get("To"), err)
		}
		if got.Text != m.Text || got.HTML != m.HTML {
			t.Errorf("bodies = %q, %q; want %q, %q", got.Text, got.HTML, m.Text, m.HTML)
		}
		checkWire(t, got.Raw)
	}

	// A long ASCII subject is folded at its spaces and unfolds to itself.
	subject := strings.TrimSpace(strings.Repeat("Your gatehouse invitation ", 12))
	if err := send(t, s, Message{To: "ada@example.com", Subject: subject, Text: "x"}); err != nil {
		t.Fatal(err)
	}
	got := srv.Next(t)
	if got.Subject != subject {
		t.Errorf("long Subject = %q; want %q", got.Subject, subject)
	}
	checkWire(t, got.Raw)
}

func TestLogSender(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	s, err := Open("", "ignored", logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*Log); !ok {
		t.Fatalf("Open(\"\") = %T; want the log sender", s)
	}
	if err := send(t, s, verification); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %d lines; want Open's notice and the message: %s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "no smtp_url") {
		t.Errorf("Open's notice = %s; want it to say no smtp_url is configured", lines[0])
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["level"] != "INFO" || rec["to"] != "ada@example.com" || rec["subject"] != verification.Subject ||
		rec["text"] != verification.Text || rec["html"] != true {
		t.Errorf("logged %s; want INFO with to, subject, the text body and html=true", lines[1])
	}
}

// TestOpenURLs: the accepted forms, and errors naming what is wrong in the
// others, never repeating the password.
func TestOpenURLs(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		url, from, want string
	}{
		{"http://portal:hunter2@mail.example.com:25", testFrom, `scheme "http"`},
		{"mail.example.com:25", testFrom, "scheme"},
		{"smtp:mail.example.com:25", testFrom, "//"},
		{"smtp://:25", testFrom, "no host"},
		{"smtp://portal:hunter2@mail.example.com", testFrom, "no port"},
		{"smtp://mail.example.com:0", testFrom, "port"},
		{"smtp://mail.example.com:99999", testFrom, "port"},
		{"smtp://mail.example.com:smtp", testFrom, "port"},
		{"smtp://portal:hunter2@mail.example.com:25/inbox", testFrom, "path"},
		{"smtp://mail.example.com:25#x", testFrom, "fragment"},
		{"smtp://portal@mail.example.com:25", testFrom, "user name and a password"},
		{"smtp://:hunter2@mail.example.com:25", testFrom, "user name and a password"},
		{"smtp://portal:hunter2@mail.example.com:25?form=a@b.c", testFrom, `"form"`},
		{"smtp://mail.example.com:25?from=a@b.c&from=d@e.f", testFrom, `"from"`},
		{"smtp://portal:hunter2@mail.example.com:25", "", "smtp_from"},
		{"smtp://mail.example.com:25", "not an address", "sender address"},
		{"smtp://mail.example.com:25?from=a@b.c%0d%0aBcc:x@y.z", testFrom, "line break"},
		{"smtp://portal:hunter2@mail.example.com:25\x7f", testFrom, "not a URL"},
		{"smtp://portal:hun%zzter2@mail.example.com:25", testFrom, "not a URL"},
	} {
		_, err := Open(tc.url, tc.from, logger)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q, %q): err = %v; want one naming %s", tc.url, tc.from, err, tc.want)
		} else if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "%zz") {
			t.Errorf("Open(%q): err = %v repeats the password", tc.url, err)
		}
	}

	for _, tc := range []struct{ url, from, addr, sender, shown string }{
		{"smtps://mail.example.com", testFrom, "mail.example.com:465", "noreply@portal.example", "smtps://mail.example.com"},
		{"SMTP://portal:hunter2@mail.example.com:587/?from=Portal%20%3Cportal@acme.example%3E", testFrom,
			"mail.example.com:587", "portal@acme.example", "smtp://portal:xxxxx@mail.example.com:587/?from=Portal%20%3Cportal@acme.example%3E"},
		{"smtp://[::1]:2525?from=a@b.example", "", "[::1]:2525", "a@b.example", "smtp://[::1]:2525?from=a@b.example"},
	} {
		s, err := Open(tc.url, tc.from, logger)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		got := s.(*SMTP)
		if got.addr != tc.addr || got.from.Address != tc.sender || got.String() != tc.shown {
			t.Errorf("Open(%q) = %s, from %s, shown %s; want %s, %s, %s", tc.url, got.addr, got.from.Address, got.String(), tc.addr, tc.sender, tc.shown)
		}
	}
}

// dialTo returns a DialContext that connects to the server at url
// whatever address it is asked for.
func dialTo(url string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	_, hostport, _ := strings.Cut(url, "://")
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, hostport)
	}
}

// recorder keeps what a client writes on its connections.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) wrap(c net.Conn) net.Conn {
	if c == nil {
		return nil
	}
	return &recordedConn{Conn: c, r: r}
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

type recordedConn struct {
	net.Conn
	r *recorder
}

func (c *recordedConn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.buf.Write(p)
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}
