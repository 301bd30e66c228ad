package gateway

import (
	"net/http"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// CallRecorder keeps each call's record for the request log (package
// requestlog). Record must not block: it is called on the request path,
// after the answer is written. The record's OrganizationID and AppID are
// left for the recorder to fill from the ClientID.
type CallRecorder interface {
	Record(rec store.RequestLog)
}

// callInfo is what the pipeline learns about a call on its way, for the
// request log: it costs a few stores per stage, and nothing is allocated.
type callInfo struct {
	// stage is the last stage the call entered (store.Stage…; "" for the
	// path checks): the one that refused it, or the upstream's.
	stage  string
	op     *operation
	caller Caller
	plan   string
	// upstreamStart is when the upstream exchange began; zero when none
	// was made.
	upstreamStart time.Time
}

// recordCall hands the call's record to the CallRecorder: status is what
// the client got, p the failure the gateway answered (nil when the
// upstream answered).
func (g *Gateway) recordCall(r *http.Request, api *compiledAPI, call *callInfo, start time.Time, status int, p *problem.Error) {
	end := time.Now()
	rec := store.RequestLog{
		Time: end, Correlator: problem.Correlator(r.Context()),
		ClientID: call.caller.ClientID, Environment: call.caller.Environment,
		APIName: api.rec.Name, Method: r.Method, Status: status,
		Stage: call.stage, Plan: call.plan, Latency: end.Sub(start),
	}
	if rec.Stage == "" {
		rec.Stage = store.StagePath
	}
	if call.op != nil {
		rec.Template, rec.OperationID = call.op.template, call.op.id
	}
	if !call.upstreamStart.IsZero() {
		rec.UpstreamLatency = end.Sub(call.upstreamStart)
	}
	if p != nil {
		rec.ErrorKey, rec.Cause = p.Entry.Key, p.CauseID
		if rec.Stage == store.StageRate && p.Entry.Key == "quota_exceeded" {
			rec.Stage = store.StageQuota
		}
	} else if !call.upstreamStart.IsZero() {
		// The upstream answered, and the client got its status.
		rec.UpstreamStatus = status
	}
	g.cfg.Calls.Record(rec)
}
