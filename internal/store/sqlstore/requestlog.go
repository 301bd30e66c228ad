package sqlstore

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"gatehouse/internal/store"
)

// The request log (0010_request_log.sql) is only inserted into, in
// batches, and deleted from, oldest first, in bounded steps.

const (
	insertRequestLog  = `INSERT INTO request_log (` + requestLogColumns + `)`
	requestLogColumns = `at, correlator, organization_id, app_id, client_id, environment, api_name,
	method, template, operation_id, status, error_key, cause, stage, plan, latency, upstream_latency, upstream_status`
	selectRequestLog = `SELECT id, ` + requestLogColumns + ` FROM request_log`
)

// insertRequestLogChunk is the statement of a full chunk of records, as
// upsert writes it: prepared once (stmtcache.go), since SQLite would
// otherwise parse its 4,608 parameters again for every 256 records.
var insertRequestLogChunk = func() string {
	values := "(" + placeholders(18) + ")"
	return insertRequestLog + ` VALUES ` + values + strings.Repeat(", "+values, upsertChunk-1)
}()

func scanRequestLog(row scanner) (r store.RequestLog, err error) {
	var lat, up int64
	err = row.Scan(&r.ID, (*tm)(&r.Time), &r.Correlator, &r.OrganizationID, &r.AppID, &r.ClientID, &r.Environment,
		&r.APIName, &r.Method, &r.Template, &r.OperationID, &r.Status, &r.ErrorKey, &r.Cause, &r.Stage, &r.Plan,
		&lat, &up, &r.UpstreamStatus)
	r.Latency, r.UpstreamLatency = time.Duration(lat)*time.Microsecond, time.Duration(up)*time.Microsecond
	return r, err
}

func (db *DB) AddRequestLogs(ctx context.Context, records []store.RequestLog) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		if len(records) == 0 {
			return nil
		}
		for i := range records {
			if s, u := records[i].Status, records[i].UpstreamStatus; s < math.MinInt32 || s > math.MaxInt32 || u < math.MinInt32 || u > math.MaxInt32 {
				return fmt.Errorf("sqlstore: add request logs: status %d or upstream status %d out of range", s, u)
			}
		}
		// No conflict is possible (id is the database's): the upsert
		// helper with no ON CONFLICT tail is a chunked multi-row INSERT
		// in one transaction.
		return upsert(db, ctx, "add request logs", insertRequestLog, ``, records,
			func(r store.RequestLog) []any {
				return []any{db.at(r.Time), r.Correlator, r.OrganizationID, r.AppID, r.ClientID, r.Environment, r.APIName,
					r.Method, r.Template, r.OperationID, r.Status, r.ErrorKey, r.Cause, r.Stage, r.Plan,
					r.Latency.Microseconds(), r.UpstreamLatency.Microseconds(), r.UpstreamStatus}
			})
	})
}

// requestLogLimit applies the contract's default and bound.
func requestLogLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > store.MaxRequestLogLimit:
		return store.MaxRequestLogLimit
	}
	return n
}

func (db *DB) ListRequestLogs(ctx context.Context, f store.RequestLogFilter) ([]store.RequestLog, error) {
	var w where
	w.add(f.OrganizationID != "", "organization_id = ?", f.OrganizationID)
	w.add(f.AppID != "", "app_id = ?", f.AppID)
	w.add(f.APIName != "", "api_name = ?", f.APIName)
	w.add(f.Status != 0, "status = ?", f.Status)
	w.add(f.StatusClass != 0, "status >= ?", f.StatusClass*100)
	w.add(f.StatusClass != 0, "status < ?", f.StatusClass*100+100)
	w.add(f.ErrorKey != "", "error_key = ?", f.ErrorKey)
	w.add(!f.From.IsZero(), "at >= ?", db.ceil(f.From))
	w.add(!f.To.IsZero(), "at < ?", db.ceil(f.To))
	if a := f.After; a != nil {
		t := db.d.time(a.Time.UTC())
		w.conds = append(w.conds, "(at < ? OR (at = ? AND id < ?))")
		w.args = append(w.args, t, t, a.ID)
	}
	args := append(w.args, requestLogLimit(f.Limit))
	return list(db, ctx, "list request logs", scanRequestLog,
		selectRequestLog+w.String()+` ORDER BY at DESC, id DESC LIMIT ?`, args...)
}

func (db *DB) RequestLogsByCorrelator(ctx context.Context, organizationID, correlator string, limit int) ([]store.RequestLog, error) {
	return list(db, ctx, "request logs by correlator", scanRequestLog,
		selectRequestLog+` WHERE organization_id = ? AND correlator = ?`+orgTerm(organizationID)+` ORDER BY at DESC, id DESC LIMIT ?`,
		organizationID, correlator, max(1, requestLogLimit(limit)))
}

// orgTerm repeats the condition of the partial index request_log_correlator
// (0010_request_log.sql) for an organisation's ID: a database uses a
// partial index only when the query's own terms imply its condition, and
// neither SQLite nor PostgreSQL's generic plans see that in a parameter.
func orgTerm(organizationID string) string {
	if organizationID == "" {
		return ""
	}
	return ` AND organization_id <> ''`
}

func (db *DB) DeleteRequestLogsBefore(ctx context.Context, t time.Time, limit int) (int64, error) {
	return run(db, ctx, true, func(ctx context.Context) (int64, error) {
		if limit <= 0 {
			return 0, nil
		}
		n, err := db.count(ctx, nil, `DELETE FROM request_log WHERE id IN
			(SELECT id FROM request_log WHERE at < ? ORDER BY at LIMIT ?)`, db.ceil(t), limit)
		return n, db.err(ctx, "delete request logs", err)
	})
}
