package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// The request log's rules, besides those written in package store:
//   - AddRequestLogs gives every record an ID, distinct within the store;
//     it does not modify its argument, and an empty batch is a no-op.
//   - Records come back with Time in UTC at millisecond precision (or
//     finer) and latencies to the microsecond; every other field exactly.
//   - ListRequestLogs pages with After through every matching record once,
//     newest first, ties of Time in descending ID, whatever the page size.
//   - RequestLogsByCorrelator finds only the organisation's records.
//   - DeleteRequestLogsBefore deletes the oldest records first, never one
//     at or after t, and at most limit per call.

// logAt returns a call record of org at minutes after a fixed instant
// (millisecond precision, a non-UTC zone), with every field set.
func logAt(org, app, correlator string, minutes int, status int) store.RequestLog {
	r := store.RequestLog{
		Time: at(minutes), Correlator: correlator, OrganizationID: org, AppID: app, ClientID: "c-" + app,
		Environment: store.EnvironmentSandbox, APIName: "sim-swap", Method: "POST", Template: "/check",
		OperationID: "checkSimSwap", Status: status, Stage: store.StageUpstream, Plan: "sandbox",
		Latency: 1234 * time.Microsecond, UpstreamLatency: 987 * time.Microsecond, UpstreamStatus: status,
	}
	if status >= 400 {
		r.ErrorKey, r.Cause, r.Stage, r.UpstreamStatus, r.UpstreamLatency = "insufficient_scope", "scope_missing — 日本", store.StageScope, 0, 0
	}
	return r
}

func mustAddRequestLogs(t *testing.T, s store.Store, rs []store.RequestLog) {
	t.Helper()
	if err := s.AddRequestLogs(t.Context(), rs); err != nil {
		t.Fatalf("AddRequestLogs(%d records): %v", len(rs), err)
	}
}

func mustListRequestLogs(t *testing.T, s store.Store, f store.RequestLogFilter) []store.RequestLog {
	t.Helper()
	rs, err := s.ListRequestLogs(t.Context(), f)
	if err != nil {
		t.Fatalf("ListRequestLogs(%+v): %v", f, err)
	}
	return rs
}

// sameCall reports whether got is want as stored (ID aside).
func sameCall(got, want store.RequestLog) bool {
	g, w := got, want
	g.ID, w.ID = 0, 0
	if !g.Time.Equal(w.Time) || g.Time.Location() != time.UTC {
		return false
	}
	g.Time, w.Time = time.Time{}, time.Time{}
	return g == w
}

// correlators lists the correlators of rs, for failure messages.
func correlators(rs []store.RequestLog) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Correlator
	}
	return out
}

func testRequestLogRoundTrip(t *testing.T, s store.Store) {
	if rs := mustListRequestLogs(t, s, store.RequestLogFilter{}); len(rs) != 0 {
		t.Fatalf("ListRequestLogs on an empty store: %d records; want 0", len(rs))
	}
	mustAddRequestLogs(t, s, nil)
	in := []store.RequestLog{logAt("o1", "a1", "first", 0, 200), logAt("o1", "a2", "second", 1, 403), logAt("o2", "a3", "other", 2, 200)}
	in[1].Correlator = "x:y;z./<>{}_-" + fmt.Sprint(len(in))
	orig := slices.Clone(in)
	mustAddRequestLogs(t, s, in)
	if !slices.Equal(in, orig) {
		t.Errorf("AddRequestLogs modified its argument")
	}
	got := mustListRequestLogs(t, s, store.RequestLogFilter{OrganizationID: "o1"})
	if len(got) != 2 || !sameCall(got[0], in[1]) || !sameCall(got[1], in[0]) {
		t.Fatalf("ListRequestLogs(o1):\n got  %+v\n want %+v, %+v", got, in[1], in[0])
	}
	all := mustListRequestLogs(t, s, store.RequestLogFilter{})
	ids := map[int64]bool{}
	for _, r := range all {
		if r.ID == 0 || ids[r.ID] {
			t.Errorf("record %q has ID %d: want a distinct non-zero ID", r.Correlator, r.ID)
		}
		ids[r.ID] = true
	}
	if len(all) != 3 {
		t.Errorf("ListRequestLogs(all): %d records; want 3", len(all))
	}
	// Zero values round-trip too.
	bare := store.RequestLog{Time: at(10), Status: 404, ErrorKey: "not_found", Cause: "unknown_path", Stage: store.StageRoute}
	mustAddRequestLogs(t, s, []store.RequestLog{bare})
	got = mustListRequestLogs(t, s, store.RequestLogFilter{Limit: 1})
	if len(got) != 1 || !sameCall(got[0], bare) {
		t.Errorf("a record with empty names: got %+v; want %+v", got, bare)
	}
}

func testListRequestLogsFilters(t *testing.T, s store.Store) {
	a := logAt("o", "a1", "a", 0, 200)
	b := logAt("o", "a2", "b", 1, 403)
	c := logAt("o", "a1", "c", 2, 429)
	c.ErrorKey, c.Cause, c.Stage = "quota_exceeded", "daily_quota", store.StageQuota
	d := logAt("o", "a1", "d", 3, 502)
	d.APIName, d.ErrorKey, d.Cause = "number-verification", "bad_gateway", "upstream_unreachable"
	e := logAt("other", "a1", "e", 4, 200)
	mustAddRequestLogs(t, s, []store.RequestLog{a, b, c, d, e})
	for _, tt := range []struct {
		name string
		f    store.RequestLogFilter
		want []string
	}{
		{"organisation", store.RequestLogFilter{OrganizationID: "o"}, []string{"d", "c", "b", "a"}},
		{"app", store.RequestLogFilter{OrganizationID: "o", AppID: "a1"}, []string{"d", "c", "a"}},
		{"API", store.RequestLogFilter{OrganizationID: "o", APIName: "number-verification"}, []string{"d"}},
		{"status", store.RequestLogFilter{OrganizationID: "o", Status: 403}, []string{"b"}},
		{"class 4xx", store.RequestLogFilter{OrganizationID: "o", StatusClass: 4}, []string{"c", "b"}},
		{"class 2xx", store.RequestLogFilter{StatusClass: 2}, []string{"e", "a"}},
		{"error", store.RequestLogFilter{OrganizationID: "o", ErrorKey: "quota_exceeded"}, []string{"c"}},
		{"from", store.RequestLogFilter{OrganizationID: "o", From: at(2)}, []string{"d", "c"}},
		{"to", store.RequestLogFilter{OrganizationID: "o", To: at(2)}, []string{"b", "a"}},
		{"range", store.RequestLogFilter{OrganizationID: "o", From: at(1), To: at(3)}, []string{"c", "b"}},
		{"limit", store.RequestLogFilter{OrganizationID: "o", Limit: 2}, []string{"d", "c"}},
		{"none", store.RequestLogFilter{OrganizationID: "missing"}, []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := correlators(mustListRequestLogs(t, s, tt.f)); !slices.Equal(got, tt.want) {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
}

func testListRequestLogsPages(t *testing.T, s store.Store) {
	// Ties of Time, across and within batches.
	var in []store.RequestLog
	for i := range 23 {
		in = append(in, logAt("o", "a", fmt.Sprintf("c%02d", i), i/3, 200))
	}
	mustAddRequestLogs(t, s, in[:10])
	mustAddRequestLogs(t, s, in[10:])
	want := correlators(mustListRequestLogs(t, s, store.RequestLogFilter{OrganizationID: "o", Limit: 100}))
	if len(want) != 23 {
		t.Fatalf("one page: %d records; want 23", len(want))
	}
	for _, size := range []int{1, 2, 3, 5, 22, 23} {
		var got []string
		f := store.RequestLogFilter{OrganizationID: "o", Limit: size}
		for range 30 {
			page := mustListRequestLogs(t, s, f)
			got = append(got, correlators(page)...)
			if len(page) < size {
				break
			}
			last := page[len(page)-1]
			f.After = &last
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: got %q; want %q", size, got, want)
		}
	}
	// Newest first: the correlators name the minutes in order.
	if want[0] != "c22" || want[22] != "c00" {
		t.Errorf("one page: %q; want c22 … c00 by minute", want)
	}
	many := make([]store.RequestLog, store.MaxRequestLogLimit+5)
	for i := range many {
		many[i] = logAt("big", "a", "m", 0, 200)
	}
	mustAddRequestLogs(t, s, many)
	if got := mustListRequestLogs(t, s, store.RequestLogFilter{OrganizationID: "big", Limit: 10_000}); len(got) != store.MaxRequestLogLimit {
		t.Errorf("Limit 10000: %d records; want MaxRequestLogLimit (%d)", len(got), store.MaxRequestLogLimit)
	}
	if got := mustListRequestLogs(t, s, store.RequestLogFilter{OrganizationID: "big"}); len(got) != 50 {
		t.Errorf("no Limit: %d records; want 50", len(got))
	}
}

func testRequestLogsByCorrelator(t *testing.T, s store.Store) {
	mustAddRequestLogs(t, s, []store.RequestLog{
		logAt("o", "a", "same", 0, 200), logAt("o", "a", "same", 2, 403), logAt("o", "a", "same", 1, 200),
		logAt("other", "b", "same", 3, 200), logAt("o", "a", "different", 4, 200),
	})
	rs, err := s.RequestLogsByCorrelator(t.Context(), "o", "same", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || !rs[0].Time.Equal(at(2)) || !rs[1].Time.Equal(at(1)) || rs[0].OrganizationID != "o" {
		t.Errorf("RequestLogsByCorrelator(o, same, 2): got %+v; want the calls at minutes 2 and 1", rs)
	}
	rs, err = s.RequestLogsByCorrelator(t.Context(), "other", "same", 10)
	if err != nil || len(rs) != 1 || rs[0].OrganizationID != "other" {
		t.Errorf("RequestLogsByCorrelator(other, same): %+v, %v; want the one call of other", rs, err)
	}
	rs, err = s.RequestLogsByCorrelator(t.Context(), "third", "same", 10)
	if err != nil || len(rs) != 0 {
		t.Errorf("RequestLogsByCorrelator(third, same): %+v, %v; want none", rs, err)
	}
}

func testDeleteRequestLogsBefore(t *testing.T, s store.Store) {
	var in []store.RequestLog
	for i := range 10 {
		in = append(in, logAt("o", "a", fmt.Sprint(i), i, 200))
	}
	mustAddRequestLogs(t, s, in)
	ctx := t.Context()
	if n, err := s.DeleteRequestLogsBefore(ctx, at(7), 3); err != nil || n != 3 {
		t.Fatalf("DeleteRequestLogsBefore(minute 7, 3): %d, %v; want 3, nil", n, err)
	}
	if got := correlators(mustListRequestLogs(t, s, store.RequestLogFilter{})); !slices.Equal(got, []string{"9", "8", "7", "6", "5", "4", "3"}) {
		t.Errorf("after deleting 3: %q; want the three oldest gone", got)
	}
	if n, err := s.DeleteRequestLogsBefore(ctx, at(7), 100); err != nil || n != 4 {
		t.Fatalf("DeleteRequestLogsBefore(minute 7, 100): %d, %v; want 4, nil", n, err)
	}
	if n, err := s.DeleteRequestLogsBefore(ctx, at(7), 100); err != nil || n != 0 {
		t.Fatalf("DeleteRequestLogsBefore again: %d, %v; want 0, nil", n, err)
	}
	if got := correlators(mustListRequestLogs(t, s, store.RequestLogFilter{})); !slices.Equal(got, []string{"9", "8", "7"}) {
		t.Errorf("after deleting before minute 7: %q; want 9, 8, 7", got)
	}
	// A time between two stored ones, below the database's precision.
	if n, err := s.DeleteRequestLogsBefore(ctx, at(7).Add(time.Microsecond), 100); err != nil || n != 1 {
		t.Errorf("DeleteRequestLogsBefore(minute 7 + 1µs): %d, %v; want 1, nil", n, err)
	}
}
