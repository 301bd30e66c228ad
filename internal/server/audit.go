package server

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// audited records an operator's action on the admin API once it is
// answered (issue 13 §5's audit log): the route, the path, the client's
// address, the status and the correlator. Only authenticated calls reach
// it (requireAdmin runs first).
func audited(pattern string, audit func(context.Context, store.AuditEntry), next http.Handler) http.Handler {
	if audit == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		audit(r.Context(), store.AuditEntry{At: time.Now(), ActorKind: store.ActorOperator, Action: pattern,
			Target: r.URL.Path, Address: AddressOf(r), Status: sw.status, Correlator: problem.Correlator(r.Context())})
	})
}

// AddressOf is the client's address without its port (r.RemoteAddr,
// which trustProxies set to the client's behind trusted proxies).
func AddressOf(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// recordAudit writes an entry, logging a failure: the action is done, and
// an audit log that cannot be written must not undo it or fail it.
func recordAudit(st store.AuditLog, log interface {
	Warn(msg string, args ...any)
}) func(context.Context, store.AuditEntry) {
	return func(ctx context.Context, e store.AuditEntry) {
		if err := st.AddAudit(context.WithoutCancel(ctx), &e); err != nil {
			log.Warn("audit log: an entry could not be written", "action", e.Action, "actor", e.ActorID, "err", err)
		}
	}
}

func (a *adminAPI) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AuditFilter{ActorKind: q.Get("actor_kind"), ActorID: q.Get("actor_id"), Limit: 100}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			a.fail(w, r, problem.Newf(problem.BadRequestInvalidParameter, "before=%q is not an entry id; follow next_before.", v).With("field", "before"))
			return
		}
		f.Before = n
	}
	list, err := a.s.deps.AuditLog.ListAudit(r.Context(), f)
	if err != nil {
		a.fail(w, r, problem.FromStore(err, "audit log", ""))
		return
	}
	type entry struct {
		ID         int64     `json:"id"`
		At         time.Time `json:"at"`
		ActorKind  string    `json:"actor_kind"`
		ActorID    string    `json:"actor_id,omitempty"`
		Action     string    `json:"action"`
		Target     string    `json:"target"`
		Address    string    `json:"address"`
		Status     int       `json:"status"`
		Correlator string    `json:"correlator,omitempty"`
	}
	out := map[string]any{"entries": []entry{}}
	entries := make([]entry, 0, len(list))
	for _, e := range list {
		entries = append(entries, entry{e.ID, e.At, e.ActorKind, e.ActorID, e.Action, e.Target, e.Address, e.Status, e.Correlator})
	}
	out["entries"] = entries
	if len(list) == f.Limit {
		out["next_before"] = list[len(list)-1].ID
	}
	writeAdminJSON(w, http.StatusOK, out)
}
