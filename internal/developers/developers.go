// Package developers holds the rules of developer accounts: sign-up with
// e-mail verification, sign-in with an optional second factor (totp.go),
// password reset, signing out everywhere, organisations with their members
// and invitations (members.go), and their apps with sandbox and production
// credentials.
// The portal renders its pages from here; the store keeps the records.
//
// Developers are not subscribers: a developer builds apps and signs in to
// the portal; a subscriber (store.User) is the end user of the three-legged
// flows. They share the sign-in mechanics (internal/signin: argon2id
// passwords, throttling, signed cookies) but never a record or a session.
//
// Links sent by e-mail carry a signed token instead of a stored one:
//
//   - verification: the developer id and address, valid for VerifyTTL, and
//     only while the address is unverified (so a verified link cannot be
//     replayed to sign in);
//   - password reset: the developer id and a MAC of the current password
//     hash, valid for ResetTTL, so it works once: the reset changes the
//     hash and voids every earlier link;
//   - invitation: the invitation id and a MAC of it and the invited
//     address (members.go).
package developers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/internal/oauth"
	"gatehouse/internal/plans"
	"gatehouse/internal/problem"
	"gatehouse/internal/signin"
	"gatehouse/internal/store"
)

const (
	// VerifyTTL is how long an e-mail verification link works.
	VerifyTTL = 48 * time.Hour
	// ResetTTL is how long a password reset link works.
	ResetTTL = time.Hour
	// maxNameLen bounds names of developers, organisations and apps.
	maxNameLen = 100
)

// Store is what the accounts need from the store.
type Store interface {
	store.APIs
	store.Developers
	store.Organizations
	store.Apps
	store.Clients
}

// Mailer sends one plain-text message; the server adapts the configured
// SMTP sender (or the log) to it.
type Mailer func(ctx context.Context, to, subject, text string) error

// Manager applies the rules of developer accounts.
type Manager struct {
	Store Store
	// Notify, when set, tells an organisation of an event (its webhooks):
	// webhooks.EventSecretRotated.
	Notify func(ctx context.Context, organizationID, event string, data any)
	// Clients creates the apps' credentials with every client rule applied.
	Clients *oauth.ClientManager
	// Mail sends verification, reset and invitation messages. Nil means
	// no mail can be sent: sign-ups are verified at once (a sandbox
	// without SMTP), and password reset is unavailable.
	Mail Mailer
	// BaseURL is the public base URL the links in messages start with.
	BaseURL string
	// Key signs the links in messages (derived from the platform secret).
	Key []byte
	// Secret is the system secret: second factors' secrets are sealed
	// under it at rest (internal/seal), like the signing keys.
	Secret string
	// ApproveSignups makes new accounts wait for an operator.
	ApproveSignups bool
	// Params are the argon2id costs of new passwords; zero means
	// signin.DefaultArgon2Params.
	Params signin.Argon2Params
	// SandboxScopes returns the scopes a new sandbox credential gets.
	SandboxScopes func(ctx context.Context) ([]string, error)
	// Plans places the orders of subscriptions.
	Plans *plans.Manager
	// APIScopes returns the scopes an API's operations need (what a
	// production credential gets with a subscription to it).
	APIScopes func(ctx context.Context, api string) ([]string, error)
	Now       func() time.Time
	Logger    *slog.Logger
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Manager) params() signin.Argon2Params {
	if m.Params == (signin.Argon2Params{}) {
		return signin.DefaultArgon2Params
	}
	return m.Params
}

// MailConfigured reports whether verification and reset e-mails are sent.
func (m *Manager) MailConfigured() bool { return m.Mail != nil }

// FieldError is a form field's problem, shown beside it.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, msg string) error { return &FieldError{Field: field, Message: msg} }

// ErrInvalidCredentials is a failed sign-in: unknown address or wrong
// password (one message for both).
var ErrInvalidCredentials = errors.New("unknown e-mail address or wrong password")

// NormalizeEmail returns the address lower-cased, or a field error.
func NormalizeEmail(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Address != raw || len(raw) > 254 || !strings.Contains(raw[strings.LastIndexByte(raw, '@')+1:], ".") {
		return "", fieldErr("email", "Enter an e-mail address such as ana@example.com.")
	}
	return strings.ToLower(raw), nil
}

func checkName(field, what, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" || utf8.RuneCountInString(v) > maxNameLen || !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\r\n") {
		return "", fieldErr(field, fmt.Sprintf("Enter %s of 1 to %d characters.", what, maxNameLen))
	}
	return v, nil
}

func randomID(prefix string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("developers: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// SignUp is what the sign-up form asks for.
type SignUp struct {
	Name, Email, Password string
	// Organization names the developer's first organisation; "" means
	// "<Name>'s team".
	Organization string
	// Next is the portal page the developer was going to (a path), kept
	// through the verification link.
	Next string
}

// Outcome is where a sign-up or verification leaves the developer.
type Outcome struct {
	Developer *store.Developer
	// CheckEmail: a verification message was sent (or, for an address
	// already registered, a notice to its owner); nothing else happened.
	CheckEmail bool
	// Ready is set when the account is usable now: signed in, with its
	// organisation and default sandbox app (Setup).
	Ready *Setup
	// Next is the page the sign-up was going to (from the verification
	// link; the caller checks it is local).
	Next string
}

// Setup is a new developer's organisation with its default sandbox app.
type Setup struct {
	Organization *store.Organization
	App          *store.App
	// Credential is the sandbox client, with its secret (shown once).
	Credential *oauth.ClientView
}

// SignUp creates an account. With mail configured it sends the
// verification link and answers CheckEmail; without, the address counts as
// verified at once and the account is set up (Ready). An address already
// registered gets a notice by mail (or the log) and the same CheckEmail
// answer, so the form does not tell who has an account.
func (m *Manager) SignUp(ctx context.Context, f SignUp) (*Outcome, error) {
	name, err := checkName("name", "your name", f.Name)
	if err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(f.Email)
	if err != nil {
		return nil, err
	}
	if !signin.ValidPassword(f.Password) {
		return nil, passwordFieldErr()
	}
	org := strings.TrimSpace(f.Organization)
	if org == "" {
		org = name + "'s team"
	}
	if org, err = checkName("organization", "an organisation name", org); err != nil {
		return nil, err
	}
	hash, err := signin.Hash(ctx, f.Password, m.params())
	if err != nil {
		return nil, err
	}
	now := m.now()
	d := &store.Developer{ID: randomID("dev_"), Email: email, Name: name, PasswordHash: hash,
		Status: store.DeveloperActive, CreatedAt: now, UpdatedAt: now}
	if m.ApproveSignups {
		d.Status = store.DeveloperPending
	}
	if m.Mail == nil {
		d.EmailVerifiedAt = now
	}
	err = m.Store.CreateDeveloper(ctx, d)
	if errors.Is(err, store.ErrConflict) {
		return &Outcome{CheckEmail: true}, m.send(ctx, email, "Someone tried to sign up with your address",
			"Someone (perhaps you) tried to create a developer account with this address, which already has one.\n\n"+
				"Sign in: "+m.BaseURL+"/portal/signin\nForgot your password? "+m.BaseURL+"/portal/reset\n\n"+
				"If it was not you, you can ignore this message.")
	}
	if err != nil {
		return nil, problem.FromStore(err, "developer", email)
	}
	if m.Mail != nil {
		return &Outcome{Developer: d, CheckEmail: true}, m.sendVerification(ctx, d, org, f.Next)
	}
	if d.Status != store.DeveloperActive {
		return &Outcome{Developer: d}, nil
	}
	s, err := m.setUp(ctx, d, org)
	if err != nil {
		return nil, err
	}
	return &Outcome{Developer: d, Ready: s}, nil
}

// send mails a message, or logs it when no mail is configured.
func (m *Manager) send(ctx context.Context, to, subject, text string) error {
	if m.Mail == nil {
		if m.Logger != nil {
			m.Logger.InfoContext(ctx, "portal e-mail (no smtp_url configured)", "to", to, "subject", subject, "text", text)
		}
		return nil
	}
	if err := m.Mail(ctx, to, subject, text); err != nil {
		return problem.Newf(problem.UnavailableMailUnavailable,
			"The message to %s could not be sent; try again in a few minutes.", to).WithErr(err)
	}
	return nil
}

// The views the portal renders, named here so that the portal depends on
// this package alone (not on oauth or plans).
type (
	// Credential is an app's OAuth client; ClientSecret is set only in
	// the answer that created or rotated it.
	Credential = oauth.ClientView
	// Subscription is an app's subscription to a live API.
	Subscription = plans.SubscriptionView
	// Order is one subscribe, plan change or cancellation.
	Order = plans.OrderView
)
