package sqlstore

import (
	"context"

	"gatehouse/internal/store"
)

// maxAuditLimit bounds one page of the audit log.
const maxAuditLimit = 1000

func (db *DB) AddAudit(ctx context.Context, e *store.AuditEntry) error {
	return db.write(ctx, "add audit entry", `INSERT INTO audit_log (at, actor_kind, actor_id, action, target, address, status, correlator)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, db.at(e.At), e.ActorKind, e.ActorID, e.Action, e.Target, e.Address, e.Status, e.Correlator)
}

func (db *DB) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	var w where
	w.add(f.ActorKind != "", "actor_kind = ?", f.ActorKind)
	w.add(f.ActorID != "", "actor_id = ?", f.ActorID)
	w.add(f.Before > 0, "id < ?", f.Before)
	limit := f.Limit
	if limit <= 0 || limit > maxAuditLimit {
		limit = maxAuditLimit
	}
	return list(db, ctx, "list audit entries", func(row scanner) (*store.AuditEntry, error) {
		e := new(store.AuditEntry)
		return e, row.Scan(&e.ID, (*tm)(&e.At), &e.ActorKind, &e.ActorID, &e.Action, &e.Target, &e.Address, &e.Status, &e.Correlator)
	}, `SELECT id, at, actor_kind, actor_id, action, target, address, status, correlator FROM audit_log`+w.String()+
		` ORDER BY id DESC LIMIT ?`, append(w.args, limit)...)
}
