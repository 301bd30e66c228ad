// Package status runs the public status page's data (issue 13 §4): the
// operator's incidents, checked and stored, and each API's status, the
// worse of what the gateway sees (gateway.Gateway.Health) and what the
// open incidents say.
package status

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/internal/gateway"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// Manager keeps the incidents; the admin API uses it.
type Manager struct {
	Store store.Incidents
	// APIExists reports whether an API of that name exists (an incident
	// names one, or none for the whole platform).
	APIExists func(ctx context.Context, name string) (bool, error)
	// Health is the gateway's view of each API; nil leaves it out.
	Health func() []gateway.APIHealth
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

// History is how long resolved incidents stay on the page.
const History = 14 * 24 * time.Hour

// Limits on what an operator writes.
const (
	maxTitle   = 200
	maxMessage = 4000
)

var (
	impacts  = []string{store.ImpactDegraded, store.ImpactOutage, store.ImpactMaintenance}
	statuses = []string{store.IncidentInvestigating, store.IncidentIdentified, store.IncidentMonitoring, store.IncidentResolved}
)

// NewIncident opens an incident.
type NewIncident struct {
	API     string `json:"api,omitempty"`
	Title   string `json:"title"`
	Impact  string `json:"impact"`
	Status  string `json:"status,omitempty"` // default investigating
	Message string `json:"message"`
}

// IncidentUpdate adds a message to an incident, possibly changing its
// status (resolved closes it) and impact.
type IncidentUpdate struct {
	Status  string `json:"status,omitempty"`
	Impact  string `json:"impact,omitempty"`
	Message string `json:"message"`
}

// Incident is an incident as the admin API and the page show it.
type Incident struct {
	ID         string                 `json:"id"`
	API        string                 `json:"api,omitempty"`
	Title      string                 `json:"title"`
	Impact     string                 `json:"impact"`
	Status     string                 `json:"status"`
	Updates    []store.IncidentUpdate `json:"updates"`
	CreatedAt  time.Time              `json:"created_at"`
	UpdatedAt  time.Time              `json:"updated_at"`
	ResolvedAt *time.Time             `json:"resolved_at,omitempty"`
}

func view(in *store.Incident) *Incident {
	v := &Incident{ID: in.ID, API: in.APIName, Title: in.Title, Impact: in.Impact, Status: in.Status,
		Updates: in.Updates, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt}
	if v.Updates == nil {
		v.Updates = []store.IncidentUpdate{}
	}
	if !in.ResolvedAt.IsZero() {
		t := in.ResolvedAt
		v.ResolvedAt = &t
	}
	return v
}

func invalid(field, why string) *problem.Error {
	return problem.Newf(problem.BadRequestInvalidParameter, "%s: %s", field, why).With("field", field)
}

func checkText(field, v string, maxLen int) (string, *problem.Error) {
	v = strings.TrimSpace(v)
	if v == "" || utf8.RuneCountInString(v) > maxLen || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return "", invalid(field, fmt.Sprintf("give 1 to %d characters.", maxLen))
	}
	return v, nil
}

func checkOne(field, v string, allowed []string) *problem.Error {
	if !slices.Contains(allowed, v) {
		return invalid(field, fmt.Sprintf("%q is not one of %s.", v, strings.Join(allowed, ", ")))
	}
	return nil
}

// Open stores a new incident.
func (m *Manager) Open(ctx context.Context, n NewIncident) (*Incident, error) {
	title, pe := checkText("title", n.Title, maxTitle)
	if pe != nil {
		return nil, pe
	}
	msg, pe := checkText("message", n.Message, maxMessage)
	if pe != nil {
		return nil, pe
	}
	if pe := checkOne("impact", n.Impact, impacts); pe != nil {
		return nil, pe
	}
	if n.Status == "" {
		n.Status = store.IncidentInvestigating
	}
	if pe := checkOne("status", n.Status, statuses[:3]); pe != nil {
		return nil, pe.With("hint", "an incident opens unresolved")
	}
	if n.API != "" {
		ok, err := m.APIExists(ctx, n.API)
		if err != nil {
			return nil, problem.FromStore(err, "API", n.API)
		}
		if !ok {
			return nil, invalid("api", fmt.Sprintf("there is no API named %q; leave it out for the whole platform.", n.API))
		}
	}
	now := m.now()
	in := &store.Incident{ID: newID(), APIName: n.API, Title: title, Impact: n.Impact, Status: n.Status,
		Updates: []store.IncidentUpdate{{At: now, Status: n.Status, Message: msg}}, CreatedAt: now, UpdatedAt: now}
	if err := m.Store.CreateIncident(ctx, in); err != nil {
		return nil, problem.FromStore(err, "incident", in.ID)
	}
	return view(in), nil
}

// Update adds a message to an incident.
func (m *Manager) Update(ctx context.Context, id string, u IncidentUpdate) (*Incident, error) {
	msg, pe := checkText("message", u.Message, maxMessage)
	if pe != nil {
		return nil, pe
	}
	if u.Status != "" {
		if pe := checkOne("status", u.Status, statuses); pe != nil {
			return nil, pe
		}
	}
	if u.Impact != "" {
		if pe := checkOne("impact", u.Impact, impacts); pe != nil {
			return nil, pe
		}
	}
	now := m.now()
	in, err := m.Store.UpdateIncident(ctx, id, func(in *store.Incident) error {
		if !in.ResolvedAt.IsZero() {
			return problem.Newf(problem.ConflictAlreadyClosed, "Incident %s was resolved at %s; open a new one.", id, in.ResolvedAt.Format(time.RFC3339))
		}
		if u.Status != "" {
			in.Status = u.Status
		}
		if u.Impact != "" {
			in.Impact = u.Impact
		}
		if in.Status == store.IncidentResolved {
			in.ResolvedAt = now
		}
		in.Updates = append(in.Updates, store.IncidentUpdate{At: now, Status: in.Status, Message: msg})
		in.UpdatedAt = now
		return nil
	})
	if err != nil {
		if p := problem.From(err); p.Entry.Status != 500 {
			return nil, p
		}
		return nil, problem.FromStore(err, "incident", id)
	}
	return view(in), nil
}

// List returns the open incidents and those resolved within History,
// newest first.
func (m *Manager) List(ctx context.Context) ([]*Incident, error) {
	list, err := m.Store.ListIncidents(ctx, m.now().Add(-History))
	if err != nil {
		return nil, problem.FromStore(err, "incident", "")
	}
	out := make([]*Incident, 0, len(list))
	for _, in := range list {
		out = append(out, view(in))
	}
	return out, nil
}

// Page is the status page: each API's status and the incidents.
type Page struct {
	// Overall is the worst API status (gateway.Health…).
	Overall   string
	APIs      []APIStatus
	Open      []*Incident
	Resolved  []*Incident
	UpdatedAt time.Time
}

// APIStatus is one API's line on the page.
type APIStatus struct {
	gateway.APIHealth
	// Seen is the status the gateway's own counts give; Status (in
	// APIHealth) is the worse of it and the open incidents'.
	Seen string
}

// severity orders statuses, the worst last.
var severity = []string{gateway.HealthOperational, gateway.HealthMaintenance, gateway.HealthDegraded, gateway.HealthOutage}

func worse(a, b string) string {
	if slices.Index(severity, b) > slices.Index(severity, a) {
		return b
	}
	return a
}

// Status assembles the page.
func (m *Manager) Status(ctx context.Context) (*Page, error) {
	incidents, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	p := &Page{Overall: gateway.HealthOperational, UpdatedAt: m.now()}
	for _, in := range incidents {
		if in.ResolvedAt == nil {
			p.Open = append(p.Open, in)
		} else {
			p.Resolved = append(p.Resolved, in)
		}
	}
	if m.Health != nil {
		for _, h := range m.Health() {
			s := APIStatus{APIHealth: h, Seen: h.Status}
			for _, in := range p.Open {
				if in.API == "" || in.API == h.Name {
					s.Status = worse(s.Status, in.Impact)
				}
			}
			p.Overall = worse(p.Overall, s.Status)
			p.APIs = append(p.APIs, s)
		}
	}
	for _, in := range p.Open {
		p.Overall = worse(p.Overall, in.Impact)
	}
	return p, nil
}

func newID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("status: " + err.Error())
	}
	return "inc_" + base64.RawURLEncoding.EncodeToString(b)
}
