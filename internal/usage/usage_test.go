package usage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/testclock"
	"gatehouse/internal/testproc"
	"gatehouse/internal/usage"
)

// openStore opens a real SQLite store on a file of the test's own and
// closes it when the test ends.
func openStore(t *testing.T) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "usage.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// never is a flush interval long enough that the background loop never
// runs during a test: the tests flush explicitly.
const never = time.Hour

// newRecorder starts a recorder on w and closes it when the test ends
// (a second Close by the test itself must not happen, so tests that close
// it pass closeAtEnd false).
func newRecorder(t *testing.T, w usage.Writer, now func() time.Time, interval time.Duration, closeAtEnd bool) *usage.Recorder {
	t.Helper()
	// The failures the tests provoke are expected: keep them out of the
	// test output.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := usage.New(usage.Config{Store: w, Interval: interval, Now: now, Logger: quiet})
	if closeAtEnd {
		t.Cleanup(func() { _ = r.Close(context.Background()) })
	}
	return r
}

// bucket names one usage row for comparisons.
type bucket struct {
	client, api string
	hour        time.Time
	status      int
	err         string
}

func (b bucket) String() string {
	return fmt.Sprintf("{client %q, api %q, hour %s, status %d, error %q}", b.client, b.api, b.hour.Format(time.RFC3339), b.status, b.err)
}

// row is what a bucket holds.
type row struct{ count, latencySum, latencyMax int64 }

// stored returns every usage row of db by bucket.
func stored(t *testing.T, db *sqlstore.DB) map[bucket]row {
	t.Helper()
	recs, err := db.ListUsage(context.Background(), store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[bucket]row{}
	for _, r := range recs {
		k := bucket{r.ClientID, r.APIName, r.Hour.UTC(), r.Status, r.Error}
		if _, dup := out[k]; dup {
			t.Errorf("ListUsage returned bucket %+v twice", k)
		}
		out[k] = row{r.Count, r.LatencySum, r.LatencyMax}
	}
	return out
}

func checkStored(t *testing.T, what string, db *sqlstore.DB, want map[bucket]row) {
	t.Helper()
	got := stored(t, db)
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: bucket %+v missing; want %+v", what, k, w)
		} else if g != w {
			t.Errorf("%s: bucket %+v = %+v; want %+v", what, k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected bucket %+v = %+v", what, k, g)
		}
	}
}

// TestUsageRecorderAggregates: calls are summed per client, API, UTC hour,
// status and error, with latency sums and maxima in microseconds; the hour
// is the recorder's Now truncated in UTC, whatever the clock's zone.
func TestUsageRecorderAggregates(t *testing.T) {
	db := openStore(t)
	// A zone 2h30 east of UTC: a local truncation to the hour would land
	// on :30 UTC.
	zone := time.FixedZone("UTC+2:30", 2*3600+30*60)
	h10 := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
	h11 := h10.Add(time.Hour)
	c := testclock.New(h10.Add(59*time.Minute + 59*time.Second).In(zone))
	r := newRecorder(t, db, c.Now, never, true)

	r.Record("app1", "live", 200, "", 1500*time.Microsecond)
	r.Record("app1", "live", 200, "", 2500*time.Microsecond)
	r.Record("app1", "live", 200, "", 999*time.Nanosecond) // rounds down to 0 µs
	r.Record("app1", "live", 429, "quota_exceeded/day_quota", 100*time.Microsecond)
	r.Record("app2", "live", 200, "", 7*time.Millisecond)
	r.Record("app1", "other", 200, "", time.Millisecond)
	r.Record("", "live", 401, "unauthenticated/missing_token", 30*time.Microsecond)
	c.Set(h11.In(zone)) // the next UTC hour starts: new buckets
	r.Record("app1", "live", 200, "", 4*time.Millisecond)
	r.Record("app1", "live", 429, "quota_exceeded/day_quota", 200*time.Microsecond)

	if got := stored(t, db); len(got) != 0 {
		t.Fatalf("the store holds %v before any flush; want nothing", got)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[bucket]row{
		{"app1", "live", h10, 200, ""}:                          {3, 4000, 2500},
		{"app1", "live", h10, 429, "quota_exceeded/day_quota"}:  {1, 100, 100},
		{"app2", "live", h10, 200, ""}:                          {1, 7000, 7000},
		{"app1", "other", h10, 200, ""}:                         {1, 1000, 1000},
		{"", "live", h10, 401, "unauthenticated/missing_token"}: {1, 30, 30},
		{"app1", "live", h11, 200, ""}:                          {1, 4000, 4000},
		{"app1", "live", h11, 429, "quota_exceeded/day_quota"}:  {1, 200, 200},
	}
	checkStored(t, "after the first flush", db, want)

	// Flush clears what it wrote: flushing again adds nothing.
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkStored(t, "after a second flush with nothing recorded", db, want)

	// New calls in an existing bucket add to it in the store (sums add,
	// the maximum is the larger).
	r.Record("app1", "live", 200, "", 9*time.Millisecond)
	r.Record("app1", "live", 200, "", time.Millisecond)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want[bucket{"app1", "live", h11, 200, ""}] = row{3, 14000, 9000}
	checkStored(t, "after calls added to a flushed bucket", db, want)
}

// TestUsageRecorderCloseFlushes: Close writes what is pending and stops the
// background loop.
func TestUsageRecorderCloseFlushes(t *testing.T) {
	db := openStore(t)
	hour := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
	c := testclock.New(hour.Add(time.Minute))
	r := newRecorder(t, db, c.Now, never, false)
	for range 5 {
		r.Record("app", "live", 200, "", 10*time.Microsecond)
	}
	r.Record("app", "live", 503, "unavailable/limiter_unavailable", 20*time.Microsecond)
	done := make(chan error, 1)
	go func() { done <- r.Close(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return")
	}
	checkStored(t, "after Close", db, map[bucket]row{
		{"app", "live", hour, 200, ""}:                                {5, 50, 10},
		{"app", "live", hour, 503, "unavailable/limiter_unavailable"}: {1, 20, 20},
	})
}

// TestUsageRecorderFlushesPeriodically: without an explicit Flush, the
// background loop writes within its interval (polled, not timed).
func TestUsageRecorderFlushesPeriodically(t *testing.T) {
	db := openStore(t)
	hour := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
	c := testclock.New(hour)
	r := newRecorder(t, db, c.Now, 20*time.Millisecond, true)
	r.Record("app", "live", 200, "", 0)
	r.Record("app", "live", 200, "", 0)
	want := map[bucket]row{{"app", "live", hour, 200, ""}: {2, 0, 0}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := stored(t, db)
		if got[bucket{"app", "live", hour, 200, ""}].count == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background flush did not write the calls: store holds %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkStored(t, "after the background flush", db, want)
}

// flakyWriter fails the first failures batches (returning err, or what the
// closed store answers when fail is a store), then delegates to ok. It
// records every batch it is handed and checks that no bucket appears twice
// in one.
type flakyWriter struct {
	t        *testing.T
	mu       sync.Mutex
	fail     usage.Writer // answers the failing calls when set
	failures int
	ok       usage.Writer
	batches  [][]store.UsageRecord
}

var errInjected = errors.New("injected store failure")

func (f *flakyWriter) AddUsage(ctx context.Context, records []store.UsageRecord) error {
	f.mu.Lock()
	f.batches = append(f.batches, append([]store.UsageRecord(nil), records...))
	seen := map[bucket]bool{}
	for _, r := range records {
		k := bucket{r.ClientID, r.APIName, r.Hour.UTC(), r.Status, r.Error}
		if seen[k] {
			f.t.Errorf("bucket %+v appears twice in one batch", k)
		}
		seen[k] = true
	}
	failing := f.failures > 0
	if failing {
		f.failures--
	}
	f.mu.Unlock()
	if failing {
		if f.fail != nil {
			err := f.fail.AddUsage(ctx, records)
			if err == nil {
				f.t.Error("the failing store accepted a batch")
				return errInjected
			}
			return err
		}
		return errInjected
	}
	return f.ok.AddUsage(ctx, records)
}

func (f *flakyWriter) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.batches)
}

// TestUsageRecorderKeepsCountsWhileTheStoreFails: a failed flush keeps the batch
// (merged with what was recorded meanwhile, no bucket twice), and the next
// flush that succeeds writes every count exactly once.
func TestUsageRecorderKeepsCountsWhileTheStoreFails(t *testing.T) {
	hour := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)

	t.Run("closed store", func(t *testing.T) {
		// The real error of an unreachable store: a closed one.
		closed := openStore(t)
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		db := openStore(t)
		w := &flakyWriter{t: t, fail: closed, failures: 1, ok: db}
		c := testclock.New(hour.Add(time.Minute))
		r := newRecorder(t, w, c.Now, never, true)
		r.Record("app", "live", 200, "", 100*time.Microsecond)
		r.Record("app", "live", 200, "", 300*time.Microsecond)
		err := r.Flush(context.Background())
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Flush to a closed store: %v; want an error wrapping store.ErrUnavailable", err)
		}
		if got := stored(t, db); len(got) != 0 {
			t.Fatalf("a failed flush wrote %v", got)
		}
		r.Record("app", "live", 200, "", 200*time.Microsecond)
		if err := r.Flush(context.Background()); err != nil {
			t.Fatalf("Flush once the store works: %v", err)
		}
		want := map[bucket]row{{"app", "live", hour, 200, ""}: {3, 600, 300}}
		checkStored(t, "after the store came back", db, want)
		if err := r.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkStored(t, "after one more flush", db, want)
	})

	t.Run("fails three times", func(t *testing.T) {
		db := openStore(t)
		w := &flakyWriter{t: t, failures: 3, ok: db}
		c := testclock.New(hour.Add(time.Minute))
		r := newRecorder(t, w, c.Now, never, false)
		want := map[bucket]row{}
		add := func(k bucket, latency time.Duration) {
			r.Record(k.client, k.api, k.status, k.err, latency)
			us := latency.Microseconds()
			prev := want[k]
			want[k] = row{prev.count + 1, prev.latencySum + us, max(prev.latencyMax, us)}
		}
		ok := bucket{"app", "live", hour, 200, ""}
		quota := bucket{"app", "live", hour, 429, "quota_exceeded/day_quota"}
		next := bucket{"app", "live", hour.Add(time.Hour), 200, ""}
		add(ok, 5*time.Millisecond)
		add(quota, time.Millisecond)
		for i := range 3 {
			if err := r.Flush(context.Background()); !errors.Is(err, errInjected) {
				t.Fatalf("failing flush %d: %v; want the injected error", i+1, err)
			}
			// Calls keep coming while the store fails: in the kept
			// buckets (a smaller and a larger latency) and in new ones.
			add(ok, time.Duration(i+1)*time.Millisecond)
			add(ok, time.Duration(6+i)*time.Millisecond)
			if i == 1 {
				c.Set(hour.Add(time.Hour + time.Minute))
				add(next, 2*time.Millisecond)
				c.Set(hour.Add(2 * time.Minute))
			}
		}
		if got := stored(t, db); len(got) != 0 {
			t.Fatalf("failed flushes wrote %v", got)
		}
		if err := r.Flush(context.Background()); err != nil {
			t.Fatalf("Flush once the store works: %v", err)
		}
		checkStored(t, "after the store came back", db, want)
		// The failed batches were not written a second time later.
		for range 2 {
			if err := r.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkStored(t, "after later flushes and Close", db, want)
		if n := w.calls(); n != 4 {
			t.Errorf("the store was handed %d batches; want 4 (3 failed, 1 written; empty flushes write nothing)", n)
		}
	})
}

// TestUsageRecorderConcurrent: many goroutines record while flushes run (the
// background loop, explicit Flushes, and a store that fails now and then);
// after Close the store holds exactly every call. Run with -race.
func TestUsageRecorderConcurrent(t *testing.T) {
	db := openStore(t)
	hour := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
	c := testclock.New(hour.Add(time.Minute))
	w := &flakyWriter{t: t, failures: 0, ok: db}
	r := newRecorder(t, w, c.Now, 5*time.Millisecond, false)

	const goroutines, perGoroutine = 32, 2000
	statuses := []int{200, 201, 429, 503}
	stopFlushing := make(chan struct{})
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		for i := 0; ; i++ {
			select {
			case <-stopFlushing:
				return
			default:
			}
			if i%4 == 0 { // now and then, the store fails once
				w.mu.Lock()
				w.failures++
				w.mu.Unlock()
			}
			_ = r.Flush(context.Background())
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perGoroutine {
				r.Record(fmt.Sprintf("app%d", g%4), "live", statuses[i%len(statuses)], "", time.Duration(g+1)*time.Microsecond)
			}
		}()
	}
	wg.Wait()
	close(stopFlushing)
	<-flusherDone
	w.mu.Lock()
	w.failures = 0
	w.mu.Unlock()
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Per app: goroutines g with g%4 == app, each recording perGoroutine
	// calls spread evenly over the statuses, latency g+1 µs.
	want := map[bucket]row{}
	for g := range goroutines {
		for _, st := range statuses {
			k := bucket{fmt.Sprintf("app%d", g%4), "live", hour, st, ""}
			n := int64(perGoroutine / len(statuses))
			prev := want[k]
			want[k] = row{prev.count + n, prev.latencySum + n*int64(g+1), max(prev.latencyMax, int64(g+1))}
		}
	}
	checkStored(t, "after concurrent recording and Close", db, want)
	var total int64
	for _, r := range stored(t, db) {
		total += r.count
	}
	if total != goroutines*perGoroutine {
		t.Errorf("the store counts %d calls; want %d", total, goroutines*perGoroutine)
	}
	t.Logf("%d batches handed to the store during the run", w.calls())
}

// TestUsageRecorderBoundsBuckets: past MaxBuckets a call for a new bucket
// is dropped and counted (calls in buckets already held still count);
// Close writes what it holds and reports the drops.
func TestUsageRecorderBoundsBuckets(t *testing.T) {
	db := openStore(t)
	hour := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
	c := testclock.New(hour)
	r := usage.New(usage.Config{Store: db, Interval: never, MaxBuckets: 2, Now: c.Now})
	r.Record("a", "live", 200, "", 0)
	r.Record("b", "live", 200, "", 0)
	r.Record("c", "live", 200, "", 0) // a third bucket: dropped
	r.Record("a", "live", 200, "", 0) // a bucket held: counted
	r.Record("c", "live", 429, "x/y", 0)
	if got := r.Dropped(); got != 2 {
		t.Errorf("Dropped() = %d; want 2", got)
	}
	if calls, buckets := r.Pending(); calls != 3 || buckets != 2 {
		t.Errorf("Pending() = %d calls in %d buckets; want 3 in 2", calls, buckets)
	}
	// A flush frees the buckets: new ones fit again.
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Record("c", "live", 200, "", 0)
	err := r.Close(context.Background())
	var lost *usage.LostError
	if !errors.As(err, &lost) || lost.Dropped != 2 || lost.Calls != 0 {
		t.Fatalf("Close = %v; want a LostError with 2 dropped and 0 unwritten calls", err)
	}
	checkStored(t, "after Close", db, map[bucket]row{
		{"a", "live", hour, 200, ""}: {2, 0, 0},
		{"b", "live", hour, 200, ""}: {1, 0, 0},
		{"c", "live", hour, 200, ""}: {1, 0, 0},
	})
	if got, want := err.Error(), "2 counted calls were not written to the database (2 dropped past the bound of pending buckets)"; got != want {
		t.Errorf("Close = %q; want %q", got, want)
	}
}

// refusingWriter refuses every batch until accept is called, then passes
// batches to ok.
type refusingWriter struct {
	mu       sync.Mutex
	ok       usage.Writer
	accepts  bool
	attempts int
}

func (w *refusingWriter) AddUsage(ctx context.Context, records []store.UsageRecord) error {
	w.mu.Lock()
	w.attempts++
	accepts := w.accepts
	w.mu.Unlock()
	if !accepts {
		return errInjected
	}
	return w.ok.AddUsage(ctx, records)
}

// TestUsageRecorderBacksOff: while the store refuses, the pause between
// attempts doubles from the interval up to MaxBackoff (read from the log
// line of each failed attempt, not timed), and one success resets it.
func TestUsageRecorderBacksOff(t *testing.T) {
	db := openStore(t)
	w := &refusingWriter{ok: db}
	var logs syncBuffer
	r := usage.New(usage.Config{Store: w, Interval: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	r.Record("app", "live", 200, "", 0)
	retries := func() []string {
		var out []string
		for _, line := range strings.Split(logs.String(), "\n") {
			var e struct {
				Msg     string `json:"msg"`
				RetryIn string `json:"retry_in"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.RetryIn != "" {
				out = append(out, e.RetryIn)
			}
		}
		return out
	}
	waitFor(t, "five failed attempts", func() bool { return len(retries()) >= 5 })
	w.mu.Lock()
	w.accepts = true
	w.mu.Unlock()
	waitFor(t, "the counts to be written", func() bool { calls, _ := r.Pending(); return calls == 0 })
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(retries()[:5], " "), "10ms 20ms 40ms 40ms 40ms"; got != want {
		t.Errorf("pauses after failed attempts: %s; want %s", got, want)
	}
	if !strings.Contains(logs.String(), "usage counts written again") {
		t.Errorf("no line says the counts were written again:\n%s", logs.String())
	}
	checkStored(t, "after the store accepted", db, map[bucket]row{{"app", "live", time.Now().UTC().Truncate(time.Hour), 200, ""}: {1, 0, 0}})
}

// blockingWriter blocks every batch until its context is done.
type blockingWriter struct{ started chan struct{} }

func (w *blockingWriter) AddUsage(ctx context.Context, records []store.UsageRecord) error {
	select {
	case w.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestUsageRecorderCloseGivesUp: a store that refuses or hangs does not
// hold Close past its context; what was not written is reported with its
// number.
func TestUsageRecorderCloseGivesUp(t *testing.T) {
	t.Run("refusing", func(t *testing.T) {
		w := &refusingWriter{}
		r := newRecorder(t, w, nil, never, false)
		for range 7 {
			r.Record("app", "live", 200, "", 0)
		}
		r.Record("app", "live", 503, "x/y", 0)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := r.Close(ctx)
		var lost *usage.LostError
		if !errors.As(err, &lost) || lost.Calls != 8 || lost.Buckets != 2 || lost.Dropped != 0 || !errors.Is(err, errInjected) {
			t.Fatalf("Close = %#v; want a LostError of 8 calls in 2 buckets wrapping the store's error", err)
		}
		if w.attempts < 2 {
			t.Errorf("Close tried %d times in 300 ms; want it to try again", w.attempts)
		}
	})
	t.Run("hung periodic flush", func(t *testing.T) {
		w := &blockingWriter{started: make(chan struct{}, 1)}
		r := newRecorder(t, w, nil, time.Millisecond, false)
		r.Record("app", "live", 200, "", 0)
		<-w.started // the periodic flush hangs in the store
		r.Record("app", "live", 200, "", 0)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := r.Close(ctx)
		var lost *usage.LostError
		if !errors.As(err, &lost) || lost.Calls != 2 {
			t.Fatalf("Close = %v; want a LostError of 2 calls", err)
		}
	})
}

// waitFor polls cond until it holds (30 s at most: a busy machine is slow,
// never wrong).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer = testproc.Buffer

// TestUsageRecorderFullDisk: with a real SQLite database on a disk that
// fills up, the counts made while writes fail are written once space is
// back, each exactly once; counts still unwritten when Close gives up are
// reported with their number.
func TestUsageRecorderFullDisk(t *testing.T) {
	disk := testproc.MountDiskT(t, "4m")
	db, err := sqlstore.Open(context.Background(), filepath.Join(disk.Dir, "usage.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hour := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
	c := testclock.New(hour.Add(time.Minute))
	r := newRecorder(t, db, c.Now, never, false)
	record := func(client string, n int) {
		for range n {
			r.Record(client, "live", 200, "", 10*time.Microsecond)
		}
	}
	record("app", 5)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	if err := disk.Fill(); err != nil {
		t.Fatal(err)
	}
	record("app", 10)  // a bucket the database has
	record("app2", 3)  // a new one
	for i := range 3 { // each attempt fails and keeps the counts
		if err := r.Flush(context.Background()); err == nil {
			t.Fatalf("flush %d on a full disk succeeded; the test's disk is not full", i+1)
		} else if i == 0 {
			t.Logf("flush on a full disk: %v", err)
		}
		record("app", 1)
	}
	checkStored(t, "while the disk is full", db, map[bucket]row{{"app", "live", hour, 200, ""}: {5, 50, 10}})
	if calls, buckets := r.Pending(); calls != 16 || buckets != 2 {
		t.Errorf("Pending() on a full disk = %d calls in %d buckets; want 16 in 2", calls, buckets)
	}

	if err := disk.Free(); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatalf("flush once space is back: %v", err)
	}
	want := map[bucket]row{
		{"app", "live", hour, 200, ""}:  {18, 180, 10},
		{"app2", "live", hour, 200, ""}: {3, 30, 10},
	}
	checkStored(t, "once space is back", db, want)

	if err := disk.Fill(); err != nil {
		t.Fatal(err)
	}
	record("app2", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = r.Close(ctx)
	var lost *usage.LostError
	if !errors.As(err, &lost) || lost.Calls != 4 || lost.Buckets != 1 {
		t.Fatalf("Close on a full disk = %v; want a LostError of 4 calls in 1 bucket", err)
	}
	checkStored(t, "after Close on a full disk", db, want)
}

// TestUsageRecorderLogsDrops: the background loop logs the calls dropped at
// the bound since its last line, with their number; Close reports them
// with the calls it could not write.
func TestUsageRecorderLogsDrops(t *testing.T) {
	var logs syncBuffer
	r := usage.New(usage.Config{Store: &refusingWriter{}, Interval: 5 * time.Millisecond, MaxBuckets: 1,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	r.Record("a", "live", 200, "", 0)
	r.Record("b", "live", 200, "", 0) // dropped: the store refuses, "a" stays
	r.Record("c", "live", 200, "", 0) // dropped
	waitFor(t, "the drops to be logged", func() bool {
		return strings.Contains(logs.String(), `"dropped_calls":2,"dropped_calls_total":2,"max_buckets":1`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := r.Close(ctx)
	var lost *usage.LostError
	if !errors.As(err, &lost) || lost.Dropped != 2 || lost.Calls != 1 {
		t.Errorf("Close = %v; want a LostError with 1 unwritten and 2 dropped", err)
	}
}

// TestUsageRecorderLastUse: a flush records each client's last call, to
// the minute, in the store's clients (what the portal shows per
// credential); it never moves a time back, and unknown clients are
// ignored.
func TestUsageRecorderLastUse(t *testing.T) {
	db := openStore(t)
	ctx := context.Background()
	now := time.Date(2031, 3, 4, 10, 17, 42, 0, time.UTC)
	for _, id := range []string{"app1", "app2"} {
		if err := db.CreateClient(ctx, &store.Client{ID: id, Name: id, Status: store.ClientActive, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	c := testclock.New(now)
	r := newRecorder(t, db, c.Now, never, true)
	r.Record("app1", "live", 200, "", time.Millisecond)
	c.Set(now.Add(2 * time.Minute))
	r.Record("app1", "live", 200, "", time.Millisecond)
	r.Record("ghost", "live", 401, "invalid_token/malformed", time.Millisecond)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	lastUsed := func(id string) time.Time {
		t.Helper()
		cl, err := db.GetClient(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return cl.LastUsedAt
	}
	if got, want := lastUsed("app1"), now.Add(2*time.Minute).Truncate(time.Minute); !got.Equal(want) {
		t.Errorf("app1 last used %v, want %v (its latest call, to the minute)", got, want)
	}
	if got := lastUsed("app2"); !got.IsZero() {
		t.Errorf("app2, which made no call, last used %v", got)
	}
}
