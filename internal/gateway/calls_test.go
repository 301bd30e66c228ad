package gateway_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"gatehouse/internal/gateway"
	"gatehouse/internal/requestlog"
	"gatehouse/internal/store"
	"gatehouse/internal/testhttp"
)

// TestCallsRecordTheDecidingStage: every call leaves a request log record
// naming the stage that decided it, the operation once routed, the
// caller once its token is verified, the plan once known, the registry
// error of a refusal, and the upstream's part for a call that reached it.
func TestCallsRecordTheDecidingStage(t *testing.T) {
	var calls *requestlog.Recorder
	h := newHarness(t, func(c *gateway.Config) {
		// The store is opened by the harness; the recorder is handed it
		// below, before any call.
		c.Calls = recorderFunc(func(r store.RequestLog) { calls.Record(r) })
	})
	calls = requestlog.New(requestlog.Config{Store: h.Store, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { _ = calls.Close(context.Background()) })
	c := h.createClient("stages", "sim-swap:check", "sim-swap:retrieve-date")
	check, other := h.token(c, "sim-swap:check"), h.token(c, "sim-swap:retrieve-date")
	const good = `{"phoneNumber":"+34600000001","maxAge":240}`
	for _, r := range []testhttp.Request{
		{Correlator: "path", Path: "/sim-swap/v2/check%2F", Token: check, Body: good},
		{Correlator: "route", Path: "/sim-swap/v2/nope", Token: check, Body: good},
		{Correlator: "content", Path: "/sim-swap/v2/check", Token: check, Body: good, Header: map[string]string{"Accept": "text/html"}},
		{Correlator: "token", Path: "/sim-swap/v2/check", Body: good},
		{Correlator: "scope", Path: "/sim-swap/v2/check", Token: other, Body: good},
		{Correlator: "validation", Path: "/sim-swap/v2/check", Token: check, Body: `{"phoneNumber":"0034"}`},
		{Correlator: "upstream", Path: "/sim-swap/v2/check", Token: check, Body: good},
		{Correlator: "upstream-404", Path: "/sim-swap/v2/check", Token: check, Body: `{"phoneNumber":"+34600000004"}`},
	} {
		h.send(t, r)
	}
	if err := calls.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	recs, err := h.Store.ListRequestLogs(t.Context(), store.RequestLogFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	byCorrelator := map[string]store.RequestLog{}
	for _, r := range recs {
		byCorrelator[r.Correlator] = r
	}
	for _, w := range []struct {
		correlator, stage, err, op, client, plan string
		upstream                                 bool
	}{
		{"path", store.StagePath, "bad_request/path_encoded_delimiter", "", "", "", false},
		{"route", store.StageRoute, "not_found/unknown_path", "", "", "", false},
		{"content", store.StageContent, "not_acceptable/accept_unsatisfiable", "checkSimSwap", "", "", false},
		{"token", store.StageToken, "unauthenticated/missing_token", "checkSimSwap", "", "", false},
		{"scope", store.StageScope, "insufficient_scope/scope_missing", "checkSimSwap", c.ID, "", false},
		{"validation", store.StageValidation, "bad_request/schema_violation", "checkSimSwap", c.ID, "sandbox", false},
		{"upstream", store.StageUpstream, "/", "checkSimSwap", c.ID, "sandbox", true},
		{"upstream-404", store.StageUpstream, "/", "checkSimSwap", c.ID, "sandbox", true},
	} {
		r, ok := byCorrelator[w.correlator]
		if !ok {
			t.Errorf("%s: no record", w.correlator)
			continue
		}
		if r.Stage != w.stage || r.ErrorKey+"/"+r.Cause != w.err || r.OperationID != w.op || r.ClientID != w.client ||
			r.Plan != w.plan || r.APIName != "sim-swap" || r.Method != "POST" || r.Latency <= 0 ||
			(r.UpstreamLatency > 0) != w.upstream || r.Time.IsZero() || time.Since(r.Time) > time.Hour {
			t.Errorf("%s: record %+v; want stage %s, error %s, operation %q, client %q, plan %q, upstream timed %v",
				w.correlator, r, w.stage, w.err, w.op, w.client, w.plan, w.upstream)
		}
	}
}

// recorderFunc adapts a function to gateway.CallRecorder.
type recorderFunc func(store.RequestLog)

func (f recorderFunc) Record(r store.RequestLog) { f(r) }
