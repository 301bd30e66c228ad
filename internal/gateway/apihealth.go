package gateway

import (
	"slices"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// Each API's health (issue 13 §4), as the public status page shows it:
// what its upstream answered this node over the last few minutes, and
// whether its circuit is open. The operator's incidents are added by the
// status page; this is what the gateway itself sees.

// healthSlots one-minute slots make the window.
const healthSlots = 5

// Health thresholds: at least healthMinCalls calls in the window, of
// which a share of failures (the upstream's 5xx, or no answer) at least
// degradedShare makes the API degraded, at least outageShare down.
const (
	healthMinCalls = 10
	degradedShare  = 0.05
	outageShare    = 0.5
)

// API statuses on the status page, from the best.
const (
	HealthOperational = "operational"
	HealthDegraded    = "degraded"
	HealthOutage      = "outage"
	HealthMaintenance = "maintenance"
)

// healthWindow counts an API's upstream exchanges per minute.
type healthWindow struct {
	mu    sync.Mutex
	slots [healthSlots]struct {
		minute          int64
		calls, failures int64
	}
}

func (h *healthWindow) record(now time.Time, failed bool) {
	m := now.Unix() / 60
	h.mu.Lock()
	s := &h.slots[m%healthSlots]
	if s.minute != m {
		s.minute, s.calls, s.failures = m, 0, 0
	}
	s.calls++
	if failed {
		s.failures++
	}
	h.mu.Unlock()
}

// counts returns the calls and failures of the window ending at now.
func (h *healthWindow) counts(now time.Time) (calls, failures int64) {
	m := now.Unix() / 60
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.slots {
		if s.minute > m-healthSlots && s.minute <= m {
			calls += s.calls
			failures += s.failures
		}
	}
	return calls, failures
}

// healthOf returns the API's window, kept across reloads by name.
func (g *Gateway) healthOf(name string) *healthWindow {
	g.healthMu.Lock()
	defer g.healthMu.Unlock()
	if g.healthWindows == nil {
		g.healthWindows = map[string]*healthWindow{}
	}
	h := g.healthWindows[name]
	if h == nil {
		h = new(healthWindow)
		g.healthWindows[name] = h
	}
	return h
}

// APIHealth is one API's health as this node sees it.
type APIHealth struct {
	Name, Title, Version string
	// Status is HealthOperational, HealthDegraded, HealthOutage or
	// HealthMaintenance.
	Status string
	// Calls and Failures are the upstream exchanges of the window (the
	// last Window), and CircuitOpen whether calls are refused now without
	// reaching the upstream.
	Calls, Failures int64
	CircuitOpen     bool
	Window          time.Duration
	// Deprecation is the API's lifecycle, for the page's words.
	Lifecycle store.APILifecycle
}

// Health returns the health of every API served, by name.
func (g *Gateway) Health() []APIHealth {
	now := g.cfg.Now()
	var out []APIHealth
	for _, a := range g.table.Load().apis {
		h := APIHealth{Name: a.rec.Name, Title: a.rec.Title, Version: a.rec.Version, Window: healthSlots * time.Minute,
			Lifecycle: a.rec.Lifecycle}
		h.Calls, h.Failures = a.health.counts(now)
		if u, ok := a.upstream.(*httpUpstream); ok && u.breaker != nil {
			h.CircuitOpen = u.breaker.isOpen()
		}
		share := 0.0
		if h.Calls > 0 {
			share = float64(h.Failures) / float64(h.Calls)
		}
		switch {
		case a.rec.Status == store.APIMaintenance:
			h.Status = HealthMaintenance
		case h.CircuitOpen, h.Calls >= healthMinCalls && share >= outageShare:
			h.Status = HealthOutage
		case h.Calls >= healthMinCalls && share >= degradedShare:
			h.Status = HealthDegraded
		default:
			h.Status = HealthOperational
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b APIHealth) int { return strings.Compare(a.Name, b.Name) })
	return out
}
