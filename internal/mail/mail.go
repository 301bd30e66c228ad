// Package mail sends the portal's e-mail: sign-up verification, password
// reset and invitations. A Sender delivers one Message; Open picks the
// SMTP sender when an smtp_url is configured and otherwise the log sender,
// which writes each message (its link included) to the log, so that a
// platform started with no configuration still lets a developer finish
// signing up.
//
// Every message is checked before anything is sent: the recipient must be
// one address and no header value may hold a line break, so text typed by
// a developer cannot add headers or recipients (header injection). Such a
// refusal wraps ErrInvalidMessage.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Message is one e-mail to one recipient.
type Message struct {
	// To is the recipient: an address (dev@example.com), optionally with
	// a display name (Ada Lovelace <ada@example.com>). Exactly one.
	To string
	// Subject is the subject line, any Unicode text without line breaks.
	Subject string
	// Text is the plain-text body; it is required, since it is what every
	// mail client can show (and what the log sender logs). Line breaks
	// may be LF or CRLF; a body is sent ending with one.
	Text string
	// HTML is an optional HTML rendering of Text; when set, the message is
	// multipart/alternative with Text first (RFC 2046 §5.1.4).
	HTML string
}

// Sender delivers messages. Send returns once the message is handed over
// (to the SMTP server, which accepted it for delivery, or to the log) or
// with the reason it was not; it never waits past ctx's deadline.
// Senders are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrInvalidMessage is wrapped by the errors of messages refused before
// anything is sent: a recipient that is not one valid address, a line
// break in a header value, an empty body.
var ErrInvalidMessage = errors.New("mail: invalid message")

// ErrRecipientRefused is wrapped (with the server's *textproto.Error) when
// the SMTP server permanently refuses the recipient (a 5xx answer to RCPT
// TO): the address is wrong, and sending again will not help.
var ErrRecipientRefused = errors.New("mail: recipient refused by the mail server")

// Open returns the Sender for the configuration: the log sender when
// smtpURL is "" and the SMTP sender otherwise (see NewSMTP for the URL's
// forms and how from is chosen). A URL or from address that cannot work is
// an error naming what is wrong, so that it stops the start-up rather
// than the first sign-up.
func Open(smtpURL, from string, logger *slog.Logger) (Sender, error) {
	if smtpURL == "" {
		logger.Info("no smtp_url configured: e-mail is written to the log, not sent")
		return NewLog(logger), nil
	}
	return NewSMTP(smtpURL, from, Options{})
}

// Log is the Sender used when no SMTP server is configured: each message
// is written to the logger at INFO, its text body (which carries the
// verification or reset link) included. Those links are live credentials:
// use it for development, not where others read the logs.
type Log struct {
	logger *slog.Logger
}

var _ Sender = (*Log)(nil)

// NewLog returns a log sender writing to logger.
func NewLog(logger *slog.Logger) *Log { return &Log{logger: logger} }

// Send checks m as the SMTP sender would, then logs it.
func (l *Log) Send(ctx context.Context, m Message) error {
	to, err := m.check()
	if err != nil {
		return err
	}
	l.logger.LogAttrs(ctx, slog.LevelInfo, "mail not sent (no smtp_url): logged instead",
		slog.String("to", to.Address), slog.String("subject", m.Subject), slog.String("text", m.Text),
		slog.Bool("html", m.HTML != ""))
	return nil
}

// invalid returns an error wrapping ErrInvalidMessage.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}

// hasLineBreak reports whether s holds CR or LF, the characters that would
// end a header line and start another.
func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }
