// Package webhooks notifies organisations of events (issue 13 §3): each
// organisation registers HTTPS endpoints, and every event is delivered to
// those that take its type, signed, retried for more than a day, and
// logged.
//
// Signatures follow the Standard Webhooks specification
// (https://www.standardwebhooks.com), which Svix and others implement, so
// receivers can use its libraries: every attempt carries webhook-id (the
// event's id: the same in every attempt, to deduplicate on),
// webhook-timestamp (Unix seconds of the attempt: receivers refuse one
// too far from their clock, which makes a replay useless) and
// webhook-signature, "v1," and the base64 HMAC-SHA256 of
// "{id}.{timestamp}.{body}" under the endpoint's secret ("whsec_" and the
// base64 key).
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gatehouse/internal/logthin"
	"gatehouse/internal/problem"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
)

// Event types.
const (
	EventTest                 = "test"
	EventSubscriptionApproved = "subscription.approved"
	EventSubscriptionRefused  = "subscription.refused"
	EventSecretRotated        = "credential.secret_rotated"
	EventQuotaWarning         = "quota.warning"
	EventQuotaExhausted       = "quota.exhausted"
	EventAPIDeprecated        = "api.deprecated"
	EventAppSuspended         = "app.suspended"
)

// EventTypes are the types an endpoint may choose from.
var EventTypes = []string{EventSubscriptionApproved, EventSubscriptionRefused, EventSecretRotated,
	EventQuotaWarning, EventQuotaExhausted, EventAPIDeprecated, EventAppSuspended, EventTest}

// Schedule is the pause before each attempt after the first (Standard
// Webhooks' recommendation): the last attempt comes 27 h 35 min after the
// event, so a receiver down for a day still gets it.
var Schedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// attemptTimeout bounds one attempt; a claimed batch is this node's for
// lease, long enough to try each of its deliveries in turn.
const (
	attemptTimeout = 10 * time.Second
	claimBatch     = 32
	lease          = claimBatch*attemptTimeout + time.Minute
	maxEndpoints   = 10
)

// sealPurpose is the seal label of endpoint secrets.
const sealPurpose = "gatehouse webhook secret v1"

// Manager keeps the endpoints and delivers the events.
type Manager struct {
	Store store.Webhooks
	// Secret is the system secret, which seals the endpoints' secrets.
	Secret string
	// AllowPrivate lets endpoints and deliveries reach loopback and
	// private addresses (development and tests); by default they are
	// refused, so that a webhook cannot probe the operator's network.
	AllowPrivate bool
	// Client sends the deliveries; nil means one that refuses private
	// addresses (unless AllowPrivate) and does not follow redirects.
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
	// Poll is the dispatcher's pause between looks for due deliveries;
	// zero means a second.
	Poll time.Duration
	// kick wakes the dispatcher when an event is emitted.
	kick chan struct{}
	// thin keeps a store outage to one log line per minute and kind.
	thin *logthin.Thinner
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Manager) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

func (m *Manager) box() seal.Box { return seal.Box{Secret: m.Secret, Purpose: sealPurpose} }

// Endpoint is a webhook as its organisation sees it.
type Endpoint struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
}

func endpointOf(w *store.Webhook) *Endpoint {
	ev := w.Events
	if len(ev) == 0 {
		ev = slices.Clone(EventTypes)
	}
	return &Endpoint{ID: w.ID, URL: w.URL, Events: ev, CreatedAt: w.CreatedAt}
}

func invalid(field, format string, args ...any) *problem.Error {
	return problem.Newf(problem.BadRequestInvalidParameter, format, args...).With("field", field)
}

// Create registers an endpoint and returns it with its secret, which is
// shown this once.
func (m *Manager) Create(ctx context.Context, organizationID, rawURL string, events []string) (*Endpoint, string, error) {
	u, pe := m.checkURL(ctx, rawURL)
	if pe != nil {
		return nil, "", pe
	}
	for _, e := range events {
		if !slices.Contains(EventTypes, e) {
			return nil, "", invalid("events", "%q is not an event type; choose among %s.", e, strings.Join(EventTypes, ", "))
		}
	}
	existing, err := m.Store.ListWebhooks(ctx, organizationID)
	if err != nil {
		return nil, "", problem.FromStore(err, "webhook", "")
	}
	if len(existing) >= maxEndpoints {
		return nil, "", invalid("url", "An organisation has at most %d webhooks; delete one first.", maxEndpoints)
	}
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		return nil, "", problem.Internal(err)
	}
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	id := newID("wh_")
	sealed, err := m.box().Seal(id, []byte(secret))
	if err != nil {
		return nil, "", problem.Internal(err)
	}
	now := m.now()
	w := &store.Webhook{ID: id, OrganizationID: organizationID, URL: u.String(), SecretSealed: sealed,
		Events: slices.Compact(slices.Sorted(slices.Values(events))), CreatedAt: now, UpdatedAt: now}
	if err := m.Store.CreateWebhook(ctx, w); err != nil {
		return nil, "", problem.FromStore(err, "organization", organizationID)
	}
	return endpointOf(w), secret, nil
}

// checkURL accepts an https URL without credentials or fragment whose
// host resolves to public addresses only (unless AllowPrivate, which also
// accepts http).
func (m *Manager) checkURL(ctx context.Context, raw string) (*url.URL, *problem.Error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > 2000:
		return nil, invalid("url", "%q is not an absolute https URL without user, password or fragment.", raw)
	case u.Scheme != "https" && !(m.AllowPrivate && u.Scheme == "http"):
		return nil, invalid("url", "Webhooks are sent over https only; %q is %s.", raw, u.Scheme)
	}
	if m.AllowPrivate {
		return u, nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, u.Hostname())
	if err != nil || len(ips) == 0 {
		return nil, invalid("url", "The host %s does not resolve; check the name.", u.Hostname())
	}
	for _, ip := range ips {
		if !public(ip.IP) {
			return nil, invalid("url", "The host %s resolves to %s, a private address the platform does not send to.", u.Hostname(), ip.IP)
		}
	}
	return u, nil
}

// public reports whether ip is a global unicast address.
func public(ip net.IP) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast()
}

// List returns the organisation's endpoints.
func (m *Manager) List(ctx context.Context, organizationID string) ([]*Endpoint, error) {
	ws, err := m.Store.ListWebhooks(ctx, organizationID)
	if err != nil {
		return nil, problem.FromStore(err, "webhook", "")
	}
	out := make([]*Endpoint, 0, len(ws))
	for _, w := range ws {
		out = append(out, endpointOf(w))
	}
	return out, nil
}

// owned returns the organisation's webhook id, or the registry's 404.
func (m *Manager) owned(ctx context.Context, organizationID, id string) (*store.Webhook, error) {
	w, err := m.Store.GetWebhook(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && w.OrganizationID != organizationID) {
		return nil, problem.Newf(problem.NotFoundResourceNotFound, "The organisation has no webhook %q.", id)
	}
	if err != nil {
		return nil, problem.FromStore(err, "webhook", id)
	}
	return w, nil
}

// Delete removes an endpoint with its deliveries.
func (m *Manager) Delete(ctx context.Context, organizationID, id string) error {
	if _, err := m.owned(ctx, organizationID, id); err != nil {
		return err
	}
	if err := m.Store.DeleteWebhook(ctx, id); err != nil {
		return problem.FromStore(err, "webhook", id)
	}
	return nil
}

// Event is what a delivery's body holds.
type Event struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	CreatedAt      time.Time `json:"created_at"`
	OrganizationID string    `json:"organization_id"`
	Data           any       `json:"data"`
}

// Emit queues the event for every endpoint of the organisation that takes
// its type; the dispatcher sends them. An organisation without endpoints
// queues nothing.
func (m *Manager) Emit(ctx context.Context, organizationID, eventType string, data any) error {
	return m.emit(ctx, organizationID, eventType, data, "")
}

// SendTest queues a test event for one endpoint.
func (m *Manager) SendTest(ctx context.Context, organizationID, id string) error {
	if _, err := m.owned(ctx, organizationID, id); err != nil {
		return err
	}
	return m.emit(ctx, organizationID, EventTest, map[string]string{"message": "This is a test event from the developer portal."}, id)
}

func (m *Manager) emit(ctx context.Context, organizationID, eventType string, data any, only string) error {
	ws, err := m.Store.ListWebhooks(ctx, organizationID)
	if err != nil {
		return problem.FromStore(err, "webhook", "")
	}
	now := m.now()
	ev := Event{ID: newID("evt_"), Type: eventType, CreatedAt: now, OrganizationID: organizationID, Data: data}
	payload, err := json.Marshal(ev)
	if err != nil {
		return problem.Internal(err)
	}
	var ds []*store.WebhookDelivery
	for _, w := range ws {
		if (only != "" && w.ID != only) || (only == "" && len(w.Events) > 0 && !slices.Contains(w.Events, eventType)) {
			continue
		}
		ds = append(ds, &store.WebhookDelivery{ID: newID("dlv_"), WebhookID: w.ID, OrganizationID: organizationID,
			EventID: ev.ID, EventType: eventType, Payload: payload, Status: store.DeliveryPending, NextAttemptAt: now,
			CreatedAt: now, UpdatedAt: now})
	}
	if len(ds) == 0 {
		return nil
	}
	if err := m.Store.AddDeliveries(ctx, ds); err != nil {
		return problem.FromStore(err, "webhook", "")
	}
	m.wake()
	return nil
}

func (m *Manager) wake() {
	if m.kick != nil {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}

// Deliveries returns the organisation's latest deliveries.
func (m *Manager) Deliveries(ctx context.Context, organizationID string, limit int) ([]*store.WebhookDelivery, error) {
	ds, err := m.Store.ListDeliveries(ctx, organizationID, limit)
	if err != nil {
		return nil, problem.FromStore(err, "webhook", "")
	}
	return ds, nil
}

// Start runs the dispatcher until ctx is done.
func (m *Manager) Start(ctx context.Context) {
	m.kick = make(chan struct{}, 1)
	m.thin = logthin.New(time.Minute)
	go m.run(ctx)
}

func (m *Manager) run(ctx context.Context) {
	poll := m.Poll
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
		for m.DeliverDue(ctx) == claimBatch {
		}
		t.Reset(poll)
	}
}

// DeliverDue sends the deliveries due now (one batch) and returns how
// many it took.
func (m *Manager) DeliverDue(ctx context.Context) int {
	now := m.now()
	ds, err := m.Store.ClaimDeliveries(ctx, now, now.Add(lease), claimBatch)
	if err != nil {
		m.warn(ctx, "claim", "webhooks: reading due deliveries failed; trying again shortly", "err", err)
		return 0
	}
	for _, d := range ds {
		m.attempt(ctx, d)
	}
	return len(ds)
}

// attempt sends one delivery and records the outcome: delivered on a 2xx,
// else the next attempt per Schedule, or failed after the last.
func (m *Manager) attempt(ctx context.Context, d *store.WebhookDelivery) {
	w, err := m.Store.GetWebhook(ctx, d.WebhookID)
	if err != nil {
		return // deleted meanwhile (its deliveries with it), or the store is down: the lease ends, it is claimed again
	}
	status, failure := m.send(ctx, w, d)
	_, err = m.Store.UpdateDelivery(ctx, d.ID, func(r *store.WebhookDelivery) error {
		r.Attempts++
		r.LastStatus, r.LastError = status, failure
		switch {
		case failure == "":
			r.Status = store.DeliveryDelivered
		case r.Attempts > len(Schedule):
			r.Status = store.DeliveryFailed
		default:
			r.NextAttemptAt = m.now().Add(Schedule[r.Attempts-1])
		}
		return nil
	})
	if err != nil {
		m.warn(ctx, "record", "webhooks: recording a delivery attempt failed; it will be sent again", "delivery", d.ID, "err", err)
	}
}

// warn logs a store failure, at most once a minute per kind (with the
// count since the last line) while it lasts.
func (m *Manager) warn(ctx context.Context, kind, msg string, args ...any) {
	if ctx.Err() != nil {
		return
	}
	if m.thin != nil {
		n, write := m.thin.Tick(m.now(), kind)
		if !write {
			return
		}
		args = append(args, "times", n)
	}
	m.log().Warn(msg, args...)
}

// send makes one attempt and returns the receiver's status and, for a
// failure, why in words.
func (m *Manager) send(ctx context.Context, w *store.Webhook, d *store.WebhookDelivery) (int, string) {
	secret, err := m.box().Open(w.ID, w.SecretSealed)
	if err != nil {
		return 0, "the endpoint's secret does not open: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err.Error()
	}
	ts := m.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatehouse-webhooks/1")
	req.Header.Set("webhook-id", d.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(string(secret), d.EventID, ts, d.Payload))
	resp, err := m.client().Do(req)
	if err != nil {
		return 0, describe(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Sprintf("the endpoint answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return resp.StatusCode, ""
}

// describe says why an attempt got no answer.
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errPrivate):
		return errPrivate.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s", attemptTimeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	}
	return err.Error()
}

var errPrivate = errors.New("the endpoint's host resolves to a private address, which the platform does not send to")

func (m *Manager) client() *http.Client {
	if m.Client != nil {
		return m.Client
	}
	dialer := &net.Dialer{Timeout: attemptTimeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, _ := net.SplitHostPort(address)
		if ip := net.ParseIP(host); !m.AllowPrivate && (ip == nil || !public(ip)) {
			return errPrivate // checked on the address dialled: DNS cannot be rebound past it
		}
		return nil
	}}
	tr := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: attemptTimeout, MaxIdleConnsPerHost: 2,
		IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true}
	m.Client = &http.Client{Transport: tr, Timeout: attemptTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return m.Client
}

// Sign returns the webhook-signature value of a message: "v1," and the
// base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under the secret's key.
func Sign(secret, id string, timestamp int64, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		key = []byte(secret)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Tolerance is how far a message's timestamp may be from the receiver's
// clock for Verify.
const Tolerance = 5 * time.Minute

// Verify checks a received message as a receiver must: a signature of the
// list (space-separated "v1,…") matches, and the timestamp is within
// Tolerance of now.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if id == "" || err != nil || sigs == "" {
		return errors.New("webhooks: missing webhook-id, webhook-timestamp or webhook-signature")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("webhooks: timestamp %d is %s from now: too old or too new", ts, d)
	}
	want := Sign(secret, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhooks: no signature matches")
}

func newID(prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("webhooks: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}
