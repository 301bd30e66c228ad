package testmail

import (
	"context"
	"errors"
	"net/smtp"
	"strings"
	"testing"
)

// sendRaw sends msg as it is through net/smtp's client.
func sendRaw(t *testing.T, s *Server, msg string) error {
	t.Helper()
	return smtp.SendMail(strings.TrimPrefix(s.URL(), "smtp://"), nil, "app@example.com", []string{"dev@example.com"},
		[]byte(strings.ReplaceAll(msg, "\n", "\r\n")))
}

// TestParse: base64 bodies and B-encoded subjects, which internal/mail
// does not send, are read as a mail client reads them; a message a client
// would not read is refused with the reason.
func TestParse(t *testing.T) {
	s := Start(t)
	err := sendRaw(t, s, `Date: Tue, 03 Nov 2026 14:05:06 +0000
Message-ID: <1@example.com>
From: App <app@example.com>
To: dev@example.com, ops@example.com
Subject: =?utf-8?b?VsOpcmlmaWV6?=
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

R3LDvMOfZSEKbGluawo=
`)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Next(t)
	if got.Subject != "Vérifiez" || got.Text != "Grüße!\nlink\n" || got.FromName != "App" || strings.Join(got.To, " ") != "dev@example.com ops@example.com" {
		t.Errorf("got Subject %q, Text %q, From name %q, To %q", got.Subject, got.Text, got.FromName, got.To)
	}
	if got.EnvelopeFrom != "app@example.com" || strings.Join(got.EnvelopeTo, " ") != "dev@example.com" {
		t.Errorf("envelope %q → %q", got.EnvelopeFrom, got.EnvelopeTo)
	}

	err = sendRaw(t, s, "From: app@example.com\nTo: dev@example.com\nSubject: no date\n\nhi\n")
	if err == nil || !strings.Contains(err.Error(), "554") || !strings.Contains(err.Error(), "Date") {
		t.Errorf("message without Date: err = %v; want 554 naming the Date header", err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages kept; want 1", n)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context: err = %v; want context.Canceled", err)
	}
	if msgs, err := s.Wait(ctx, 0); err != nil || len(msgs) != 0 {
		t.Errorf("Wait for 0 messages: %v, %v; want none at once", msgs, err)
	}
}
