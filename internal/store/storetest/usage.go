package storetest

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// hour returns the start of a UTC hour, h hours after a fixed instant.
func hour(h int) time.Time {
	return time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
}

func mustAddUsage(t *testing.T, s store.Store, rs []store.UsageRecord) {
	t.Helper()
	if err := s.AddUsage(t.Context(), rs); err != nil {
		t.Fatalf("AddUsage(%d records): %v", len(rs), err)
	}
}

func mustListUsage(t *testing.T, s store.Store, f store.UsageFilter) []store.UsageRecord {
	t.Helper()
	rs, err := s.ListUsage(t.Context(), f)
	if err != nil {
		t.Fatalf("ListUsage(%+v): %v", f, err)
	}
	return rs
}

// usageString formats a bucket for failure messages.
func usageString(r store.UsageRecord) string {
	return fmt.Sprintf("{%q %q %s %d %q n=%d sum=%d max=%d}", r.ClientID, r.APIName,
		r.Hour.Format(time.RFC3339Nano), r.Status, r.Error, r.Count, r.LatencySum, r.LatencyMax)
}

// checkUsage requires got to be want, bucket for bucket in order, with
// hours in UTC.
func checkUsage(t *testing.T, got, want []store.UsageRecord) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.ClientID == w.ClientID && g.APIName == w.APIName && g.Hour.Equal(w.Hour) &&
			g.Status == w.Status && g.Error == w.Error && g.Count == w.Count &&
			g.LatencySum == w.LatencySum && g.LatencyMax == w.LatencyMax
	}
	if !ok {
		var gs, ws []string
		for _, r := range got {
			gs = append(gs, usageString(r))
		}
		for _, r := range want {
			ws = append(ws, usageString(r))
		}
		t.Fatalf("usage buckets:\n got  %q\n want %q", gs, ws)
	}
	for _, r := range got {
		if r.Hour.Location() != time.UTC {
			t.Errorf("bucket %s: Hour location = %v; want UTC", usageString(r), r.Hour.Location())
		}
	}
}

func testUsageRoundTrip(t *testing.T, s store.Store) {
	if rs := mustListUsage(t, s, store.UsageFilter{}); len(rs) != 0 {
		t.Fatalf("ListUsage on an empty store: got %d buckets; want 0", len(rs))
	}
	// Given in contract order (hour, client, API, status, error), to be
	// sent in another.
	want := []store.UsageRecord{
		{ClientID: "b", APIName: "x", Hour: hour(0), Status: 200, Count: 10, LatencySum: 12_345, LatencyMax: 4_000},
		{ClientID: "b", APIName: "x", Hour: hour(0), Status: 429, Error: "rate/limited", Count: 2, LatencySum: 20, LatencyMax: 11},
		{ClientID: "b", APIName: "y", Hour: hour(0), Status: 0, Error: "upstream/unreachable — 日本", Count: 1},
		{ClientID: "a", APIName: "x", Hour: hour(1), Status: 200, Count: 1, LatencySum: 1, LatencyMax: 1},
		{ClientID: "a", APIName: "x", Hour: hour(1), Status: 403, Error: "auth/forbidden", Count: 3, LatencySum: 300, LatencyMax: 120},
		{ClientID: "a", APIName: "x", Hour: hour(1), Status: 403, Error: "auth/no_subscription", Count: 4, LatencySum: 400, LatencyMax: 130},
		{ClientID: "A", APIName: "x", Hour: hour(2), Status: 500, Error: "internal", Count: math.MaxInt64 / 2, LatencySum: math.MaxInt64 / 2, LatencyMax: math.MaxInt64},
	}
	sent := slices.Clone(want)
	slices.Reverse(sent)
	sent[0].Hour = sent[0].Hour.In(cet) // zones do not matter
	sent[3].Hour = sent[3].Hour.In(cet)
	kept := slices.Clone(sent)
	mustAddUsage(t, s, sent)
	if !slices.EqualFunc(sent, kept, func(a, b store.UsageRecord) bool {
		return a.Hour == b.Hour && a.ClientID == b.ClientID && a.Count == b.Count
	}) {
		t.Errorf("AddUsage modified its argument")
	}
	checkUsage(t, mustListUsage(t, s, store.UsageFilter{}), want)
}

func testAddUsageTruncatesHours(t *testing.T, s store.Store) {
	in := func(h int, d time.Duration) time.Time { return hour(h).Add(d).In(cet) }
	mustAddUsage(t, s, []store.UsageRecord{
		{ClientID: "app", APIName: "api", Hour: in(5, 59*time.Minute+59*time.Second+999*time.Millisecond), Status: 200, Count: 1, LatencySum: 10, LatencyMax: 10},
		{ClientID: "app", APIName: "api", Hour: in(5, time.Nanosecond), Status: 200, Count: 1, LatencySum: 20, LatencyMax: 20},
		{ClientID: "app", APIName: "api", Hour: in(6, 0), Status: 200, Count: 1, LatencySum: 5, LatencyMax: 5},
		{ClientID: "app", APIName: "api", Hour: in(5, 30*time.Minute), Status: 200, Count: 1, LatencySum: 7, LatencyMax: 7},
	})
	checkUsage(t, mustListUsage(t, s, store.UsageFilter{}), []store.UsageRecord{
		{ClientID: "app", APIName: "api", Hour: hour(5), Status: 200, Count: 3, LatencySum: 37, LatencyMax: 20},
		{ClientID: "app", APIName: "api", Hour: hour(6), Status: 200, Count: 1, LatencySum: 5, LatencyMax: 5},
	})
}

func testAddUsageSums(t *testing.T, s store.Store) {
	r := func(client string, status int, n, sum, mx int64) store.UsageRecord {
		return store.UsageRecord{ClientID: client, APIName: "api", Hour: hour(0), Status: status, Count: n, LatencySum: sum, LatencyMax: mx}
	}
	mustAddUsage(t, s, []store.UsageRecord{r("a", 200, 1, 100, 100), r("b", 200, 2, 50, 30)})
	mustAddUsage(t, s, []store.UsageRecord{
		r("a", 200, 3, 90, 40),   // a smaller max keeps the stored one
		r("b", 200, 1, 500, 500), // a larger max replaces it
		r("c", 200, 1, 1, 1),     // a new bucket
		r("a", 500, 1, 2, 2),     // another status is another bucket
		r("c", 200, 2, 8, 7),     // one bucket twice in a batch sums too
	})
	checkUsage(t, mustListUsage(t, s, store.UsageFilter{}), []store.UsageRecord{
		r("a", 200, 4, 190, 100),
		r("a", 500, 1, 2, 2),
		r("b", 200, 3, 550, 500),
		r("c", 200, 3, 9, 7),
	})
	// Zero counts are added like any others.
	mustAddUsage(t, s, []store.UsageRecord{r("a", 200, 0, 0, 0), r("d", 204, 0, 0, 0)})
	checkUsage(t, mustListUsage(t, s, store.UsageFilter{ClientID: "a"}), []store.UsageRecord{
		r("a", 200, 4, 190, 100),
		r("a", 500, 1, 2, 2),
	})
	checkUsage(t, mustListUsage(t, s, store.UsageFilter{ClientID: "d"}), []store.UsageRecord{r("d", 204, 0, 0, 0)})
}

func testAddUsageEmpty(t *testing.T, s store.Store) {
	for _, rs := range [][]store.UsageRecord{nil, {}} {
		if err := s.AddUsage(t.Context(), rs); err != nil {
			t.Errorf("AddUsage(%#v): %v; want no error", rs, err)
		}
	}
	if rs := mustListUsage(t, s, store.UsageFilter{}); len(rs) != 0 {
		t.Errorf("ListUsage after empty batches: got %d buckets; want 0", len(rs))
	}
}

// testAddUsageLarge adds batches larger than any backend is likely to
// write in one statement.
func testAddUsageLarge(t *testing.T, s store.Store) {
	const n = 2500
	batch := make([]store.UsageRecord, n)
	for i := range batch {
		batch[i] = store.UsageRecord{
			ClientID: fmt.Sprintf("app-%02d", i%50), APIName: fmt.Sprintf("api-%d", i%5),
			Hour: hour(i / 250), Status: 200 + i%10, Error: fmt.Sprintf("e%04d", i),
			Count: 1, LatencySum: int64(i), LatencyMax: int64(i),
		}
	}
	mustAddUsage(t, s, batch)
	mustAddUsage(t, s, batch)
	rs := mustListUsage(t, s, store.UsageFilter{})
	if len(rs) != n {
		t.Fatalf("ListUsage: got %d buckets; want %d", len(rs), n)
	}
	var total int64
	for _, r := range rs {
		total += r.Count
		if r.Count != 2 || r.LatencySum != 2*r.LatencyMax {
			t.Fatalf("bucket %s; want each record's counts twice", usageString(r))
		}
	}
	if total != 2*n {
		t.Errorf("total count = %d; want %d", total, 2*n)
	}
}

// testAddUsageConcurrent adds batches to the same buckets from several
// goroutines at once, each batch listing them in its own order: no count
// may be lost and no batch may fail (PostgreSQL must not deadlock).
func testAddUsageConcurrent(t *testing.T, s store.Store) {
	const (
		workers = 8
		batches = 50
		buckets = 40
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				batch := make([]store.UsageRecord, buckets)
				for i := range batch {
					// A permutation per worker and batch: 7 is prime to 40.
					k := (i*7 + w*3 + b) % buckets
					batch[i] = store.UsageRecord{
						ClientID: fmt.Sprintf("app-%d", k%4), APIName: "api",
						Hour: hour(k / 20), Status: 200, Error: fmt.Sprintf("e%d", k%5),
						Count: 1, LatencySum: int64(w + 1), LatencyMax: int64(w*batches + b),
					}
				}
				if err := s.AddUsage(t.Context(), batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AddUsage: %v", err)
	}
	rs := mustListUsage(t, s, store.UsageFilter{})
	if len(rs) != buckets {
		t.Fatalf("ListUsage: got %d buckets; want %d", len(rs), buckets)
	}
	// Every worker adds 1..workers to each bucket's sum once per batch.
	wantSum := int64(batches * workers * (workers + 1) / 2)
	for _, r := range rs {
		if r.Count != workers*batches || r.LatencySum != wantSum || r.LatencyMax != workers*batches-1 {
			t.Errorf("bucket %s; want n=%d sum=%d max=%d (lost updates)", usageString(r), workers*batches, wantSum, workers*batches-1)
		}
	}
}

// testUsageOutlivesReferences checks that usage needs no client or API
// and stays when they are deleted.
func testUsageOutlivesReferences(t *testing.T, s store.Store) {
	mustCreateClient(t, s, fullClient("app"))
	mustCreateAPI(t, s, fullAPI("api"))
	want := []store.UsageRecord{
		{ClientID: "app", APIName: "api", Hour: hour(0), Status: 200, Count: 1},
		{ClientID: "ghost", APIName: "nowhere", Hour: hour(0), Status: 404, Error: "route/not_found", Count: 1},
	}
	mustAddUsage(t, s, want)
	if err := s.DeleteClient(t.Context(), "app"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAPI(t.Context(), "api"); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, mustListUsage(t, s, store.UsageFilter{}), want)
	checkAccessGeneration(t, s, 0, "AddUsage and deleting a client and an API without subscriptions")
}

func testListUsage(t *testing.T, s store.Store) {
	var all []store.UsageRecord // in contract order
	for h := range 4 {
		for _, c := range []string{"a", "b"} {
			for _, a := range []string{"x", "y"} {
				all = append(all, store.UsageRecord{ClientID: c, APIName: a, Hour: hour(h), Status: 200, Count: int64(h + 1)})
			}
		}
	}
	mustAddUsage(t, s, all)
	match := func(f store.UsageFilter) []store.UsageRecord {
		var out []store.UsageRecord
		for _, r := range all {
			if (f.ClientID == "" || r.ClientID == f.ClientID) && (f.APIName == "" || r.APIName == f.APIName) &&
				(f.From.IsZero() || !r.Hour.Before(f.From)) && (f.To.IsZero() || r.Hour.Before(f.To)) {
				out = append(out, r)
			}
		}
		return out
	}
	tests := []struct {
		name string
		f    store.UsageFilter
		n    int // how many buckets match, as a check on match
	}{
		{"all", store.UsageFilter{}, 16},
		{"client", store.UsageFilter{ClientID: "a"}, 8},
		{"API", store.UsageFilter{APIName: "y"}, 8},
		{"client and API", store.UsageFilter{ClientID: "b", APIName: "x"}, 4},
		{"unknown client", store.UsageFilter{ClientID: "A"}, 0},
		{"from", store.UsageFilter{From: hour(2)}, 8},
		{"to", store.UsageFilter{To: hour(2)}, 8},
		{"from and to", store.UsageFilter{From: hour(1), To: hour(3)}, 8},
		{"one hour", store.UsageFilter{From: hour(1), To: hour(2)}, 4},
		{"empty range", store.UsageFilter{From: hour(2), To: hour(2)}, 0},
		{"reversed range", store.UsageFilter{From: hour(3), To: hour(1)}, 0},
		{"from inside an hour", store.UsageFilter{From: hour(1).Add(time.Nanosecond)}, 8},
		{"to inside an hour", store.UsageFilter{To: hour(1).Add(time.Nanosecond)}, 8},
		{"to just before an hour", store.UsageFilter{To: hour(2).Add(-time.Nanosecond)}, 8},
		{"other zone", store.UsageFilter{From: hour(1).In(cet), To: hour(2).In(cet)}, 4},
		{"everything", store.UsageFilter{ClientID: "a", APIName: "x", From: hour(1), To: hour(3)}, 2},
		{"before everything", store.UsageFilter{To: hour(0)}, 0},
		{"after everything", store.UsageFilter{From: hour(4)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := match(tt.f)
			if len(want) != tt.n {
				t.Fatalf("test expects %d buckets; the filter's rule gives %d", tt.n, len(want))
			}
			checkUsage(t, mustListUsage(t, s, tt.f), want)
		})
	}
}

// testAddUsageLatency checks the latency histograms: summed per client,
// API and hour across statuses, errors and batches; filtered like usage.
func testAddUsageLatency(t *testing.T, s store.Store) {
	hist := func(ds ...time.Duration) (h store.LatencyHistogram) {
		for _, d := range ds {
			h.Add(d)
		}
		return h
	}
	r := func(client string, h int, status int, lat store.LatencyHistogram) store.UsageRecord {
		return store.UsageRecord{ClientID: client, APIName: "api", Hour: hour(h), Status: status, Count: lat.Count(), Latency: lat}
	}
	mustAddUsage(t, s, []store.UsageRecord{
		r("a", 0, 200, hist(100*time.Microsecond, 3*time.Millisecond)),
		r("a", 0, 503, hist(40*time.Second)),
		r("b", 0, 200, hist(time.Millisecond)),
		r("a", 1, 200, hist(time.Millisecond)),
	})
	mustAddUsage(t, s, []store.UsageRecord{r("a", 0, 200, hist(3*time.Millisecond))})
	got, err := s.ListUsageLatency(t.Context(), store.UsageFilter{ClientID: "a", From: hour(0), To: hour(1)})
	if err != nil {
		t.Fatalf("ListUsageLatency: %v", err)
	}
	want := hist(100*time.Microsecond, 3*time.Millisecond, 3*time.Millisecond, 40*time.Second)
	if len(got) != 1 || got[0].ClientID != "a" || got[0].APIName != "api" || !got[0].Hour.Equal(hour(0)) || got[0].Latency != want {
		t.Fatalf("ListUsageLatency(a, hour 0) = %+v; want one histogram %v", got, want)
	}
	all, err := s.ListUsageLatency(t.Context(), store.UsageFilter{})
	if err != nil {
		t.Fatalf("ListUsageLatency: %v", err)
	}
	if len(all) != 3 || all[0].ClientID != "a" || all[1].ClientID != "b" || !all[2].Hour.Equal(hour(1)) {
		t.Fatalf("ListUsageLatency() = %+v; want a and b in hour 0, then a in hour 1", all)
	}
}
