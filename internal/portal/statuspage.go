package portal

import (
	"encoding/json"
	"net/http"

	"gatehouse/internal/gateway"
	"gatehouse/internal/problem"
	"gatehouse/internal/status"
	"gatehouse/internal/webpage"
)

// The public status page (issue 13 §4): each API's status, the worse of
// what the gateway sees (its upstream's answers over the last minutes,
// its circuit) and the operator's open incidents, and the incidents of
// the last two weeks. /status.json is the same for machines.

// statusWords says an overall status in a sentence.
var statusWords = map[string]string{
	gateway.HealthOperational: "All APIs are operational",
	gateway.HealthMaintenance: "Some APIs are in maintenance",
	gateway.HealthDegraded:    "Some APIs are degraded",
	gateway.HealthOutage:      "Some APIs are down",
}

type statusView struct {
	*status.Page
	Headline string
}

func (p *Portal) statusPage(w http.ResponseWriter, r *http.Request) {
	pg, err := p.cfg.Status(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	// A status page must never be stale in a cache.
	w.Header().Set("Cache-Control", "no-cache")
	p.render(w, r, http.StatusOK, "status", page{Title: "Status", Nav: "status", Data: statusView{Page: pg, Headline: statusWords[pg.Overall]}})
}

// statusDocument is /status.json.
type statusDocument struct {
	Status    string             `json:"status"`
	Headline  string             `json:"headline"`
	UpdatedAt string             `json:"updated_at"`
	APIs      []statusAPI        `json:"apis"`
	Incidents []*status.Incident `json:"incidents"`
}

type statusAPI struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Status      string `json:"status"`
	Seen        string `json:"seen_by_gateway"`
	Calls       int64  `json:"calls"`
	Failures    int64  `json:"failures"`
	WindowSecs  int64  `json:"window_seconds"`
	CircuitOpen bool   `json:"circuit_open"`
}

func (p *Portal) statusJSON(w http.ResponseWriter, r *http.Request) {
	pg, err := p.cfg.Status(r.Context())
	if err != nil {
		p.cfg.Render.API(w, r, problem.From(err))
		return
	}
	doc := statusDocument{Status: pg.Overall, Headline: statusWords[pg.Overall], UpdatedAt: pg.UpdatedAt.Format("2006-01-02T15:04:05Z07:00"),
		APIs: []statusAPI{}, Incidents: append(append([]*status.Incident{}, pg.Open...), pg.Resolved...)}
	for _, a := range pg.APIs {
		doc.APIs = append(doc.APIs, statusAPI{Name: a.Name, Title: a.Title, Status: a.Status, Seen: a.Seen, Calls: a.Calls,
			Failures: a.Failures, WindowSecs: int64(a.Window.Seconds()), CircuitOpen: a.CircuitOpen})
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		p.cfg.Render.API(w, r, problem.Internal(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	webpage.Write(w, r, http.StatusOK, append(body, '\n'))
}
