package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// callRecord is a realistic request log record: a UUID correlator, an
// app's names, one failure in ten.
func callRecord(i int, at time.Time) store.RequestLog {
	r := store.RequestLog{
		Time: at, Correlator: problem.NewCorrelator(), OrganizationID: fmt.Sprintf("org_%022d", i%50),
		AppID: fmt.Sprintf("app_%022d", i%200), ClientID: fmt.Sprintf("gth_sbx_%024d", i%200), Environment: store.EnvironmentSandbox,
		APIName: "sim-swap", Method: "POST", Template: "/check", OperationID: "checkSimSwap", Status: 200,
		Stage: store.StageUpstream, Plan: "sandbox", Latency: 850 * time.Microsecond, UpstreamLatency: 420 * time.Microsecond, UpstreamStatus: 200,
	}
	if i%10 == 0 {
		r.Status, r.ErrorKey, r.Cause, r.Stage, r.UpstreamStatus, r.UpstreamLatency = 403, "insufficient_scope", "scope_missing", store.StageScope, 0, 0
	}
	return r
}

// BenchmarkAddRequestLogs writes the request log as the recorder does:
// batches of 1,000 records (one second of a busy gateway), in one
// transaction each. ns/op is per batch.
func BenchmarkAddRequestLogs(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	batch := make([]store.RequestLog, 1000)
	start := time.Now()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			batch[i] = callRecord(n, start.Add(time.Duration(n)*time.Millisecond))
			n++
		}
		if err := s.AddRequestLogs(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRequestLogDiskBytes measures what the request log takes on disk in
// SQLite: GATEHOUSE_MEASURE_REQUEST_LOG=1000000 writes that many records
// (in batches of 1,000, as the recorder does) and reports the bytes of the
// database file and its WAL, per million records. Skipped unless set: it
// takes a minute or more.
func TestRequestLogDiskBytes(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("GATEHOUSE_MEASURE_REQUEST_LOG"))
	if n <= 0 {
		t.Skip("set GATEHOUSE_MEASURE_REQUEST_LOG to the number of records to write")
	}
	path := filepath.Join(t.TempDir(), "log.db")
	size := func() int64 {
		var total int64
		for _, f := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(f); err == nil {
				total += fi.Size()
			}
		}
		return total
	}
	s := mustOpen(t, path)
	s.Close()
	empty := size()
	s = mustOpen(t, path)
	ctx := context.Background()
	start := time.Now().Add(-24 * time.Hour)
	batch := make([]store.RequestLog, 0, 1000)
	began := time.Now()
	for i := range n {
		batch = append(batch, callRecord(i, start.Add(time.Duration(i)*time.Millisecond)))
		if len(batch) == cap(batch) || i == n-1 {
			if err := s.AddRequestLogs(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	took := time.Since(began)
	s.Close() // checkpoints the WAL into the file
	used := size() - empty
	t.Logf("%d records: %d bytes on disk (%.0f bytes per record, %.1f MB per million), written in %s (%.0f records/s)",
		n, used, float64(used)/float64(n), float64(used)/float64(n)*1e6/1e6, took.Round(time.Millisecond), float64(n)/took.Seconds())
}
