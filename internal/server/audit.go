package server

import (
	"context"
	"gatehouse/internal/logthin"
	"log/slog"
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
			Target: r.URL.Path, Address: AddressOf(r), Status: sw.Status(), Correlator: problem.Correlator(r.Context())})
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

// auditQueue bounds the entries waiting to be written.
const auditQueue = 4096

// auditWriter writes audit entries off the request path: an answer never
// waits for its entry (a slow or frozen database would otherwise hold
// every admin call and form past the store's time limit), and a store that
// refuses them costs log lines, not actions. Entries past the queue's bound
// are dropped and counted in the log.
type auditWriter struct {
	st   store.AuditLog
	log  *slog.Logger
	ch   chan store.AuditEntry
	thin *logthin.Thinner
}

// startAudit starts the writer; it drains its queue when ctx ends.
func startAudit(ctx context.Context, st store.AuditLog, log *slog.Logger) *auditWriter {
	a := &auditWriter{st: st, log: log, ch: make(chan store.AuditEntry, auditQueue), thin: logthin.New(time.Minute)}
	go a.loop(ctx)
	return a
}

// record queues an entry (audited and the portal's Audit).
func (a *auditWriter) record(_ context.Context, e store.AuditEntry) {
	select {
	case a.ch <- e:
	default:
		if n, write := a.thin.Tick(time.Now(), "dropped"); write {
			a.log.Warn("audit log: entries dropped: the database is not keeping up", "dropped", n, "action", e.Action)
		}
	}
}

func (a *auditWriter) loop(ctx context.Context) {
	write := func(e store.AuditEntry) {
		if err := a.st.AddAudit(context.WithoutCancel(ctx), &e); err != nil {
			if n, w := a.thin.Tick(time.Now(), "failed"); w {
				a.log.Warn("audit log: entries could not be written", "failed", n, "action", e.Action, "err", err)
			}
		}
	}
	for {
		select {
		case e := <-a.ch:
			write(e)
		case <-ctx.Done():
			for {
				select {
				case e := <-a.ch:
					write(e)
				default:
					return
				}
			}
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
