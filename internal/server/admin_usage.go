package server

import (
	"net/http"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// usageView is one usage bucket as the admin API returns it.
type usageView struct {
	ClientID     string    `json:"client_id"`
	API          string    `json:"api"`
	Hour         time.Time `json:"hour"`
	Status       int       `json:"status"`
	Error        string    `json:"error,omitempty"`
	Count        int64     `json:"count"`
	LatencySumUs int64     `json:"latency_sum_us"`
	LatencyMaxUs int64     `json:"latency_max_us"`
}

// listUsage returns usage buckets; from and to are RFC 3339 times
// (default: the last 24 hours).
func (a *adminAPI) listUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := time.Now().UTC()
	f := store.UsageFilter{ClientID: q.Get("client_id"), APIName: q.Get("api"), From: now.Add(-24 * time.Hour).Truncate(time.Hour), To: now.Add(time.Hour)}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				a.fail(w, r, problem.Newf(problem.BadRequestInvalidParameter, "%s: %q is not an RFC 3339 time.", name, v).With("field", name))
				return
			}
			*dst = t
		}
	}
	recs, err := a.s.deps.Usage.ListUsage(r.Context(), f)
	if err != nil {
		a.fail(w, r, problem.FromStore(err, "usage", ""))
		return
	}
	out := make([]usageView, len(recs))
	for i, u := range recs {
		out[i] = usageView{ClientID: u.ClientID, API: u.APIName, Hour: u.Hour, Status: u.Status, Error: u.Error,
			Count: u.Count, LatencySumUs: u.LatencySum, LatencyMaxUs: u.LatencyMax}
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"from": f.From, "to": f.To, "usage": out})
}
