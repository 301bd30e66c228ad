package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"gatehouse/internal/problem"
)

// limitsDegraded answers /readyz while the shared limiter (Redis) does not
// answer, and reports whether it did; exact limits leave the answer to the
// caller.
//
// Fail-open, the node stays ready: 200 with status "degraded" and what it
// enforces meanwhile. A load balancer that pulled nodes whose limits are
// degraded would, when Redis is down for every node, pull them all and
// serve nothing, where each node can still serve its share of every rate
// and count every call against the quotas. The body and the
// gatehouse_limiter_degraded metric are what alerting watches.
//
// Fail-closed, the node is not ready: 503 limiter_unavailable, since it
// refuses every call a plan limits. A load balancer then sends traffic to
// the nodes that still reach Redis (one node cut off from it), and when
// none does, its own 503 says what every node would have said.
func (s *Server) limitsDegraded(w http.ResponseWriter, r *http.Request) bool {
	if s.deps.Gateway == nil {
		return false
	}
	st := s.deps.Gateway.LimiterStatus()
	if !st.Degraded {
		return false
	}
	if st.FailClosed {
		s.deps.Render.Admin(w, r, problem.Newf(problem.UnavailableLimiterUnavailable,
			"Redis, which holds the rate limits, has not answered since %s; calls under a plan are refused (limiter_fail_closed).",
			st.Since.Format(time.RFC3339)).WithRetryAfter(time.Second))
		return true
	}
	body, _ := json.Marshal(struct {
		Status string    `json:"status"`
		Limits string    `json:"limits"`
		Since  time.Time `json:"since"`
		Nodes  int       `json:"nodes"`
	}{
		Status: "degraded",
		Limits: fmt.Sprintf("local share: Redis, which holds the rate limits, does not answer; each rate is enforced as this node's share (rate ÷ %d, the nodes sharing it), and calls are counted to be added to the quotas when it answers again", st.Nodes),
		Since:  st.Since,
		Nodes:  st.Nodes,
	})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
	return true
}
