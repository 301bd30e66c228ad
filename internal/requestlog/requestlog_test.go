package requestlog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/requestlog"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
)

// openStore opens a real SQLite store on a file of the test's own and
// closes it when the test ends.
func openStore(t *testing.T) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// quietInterval is the longest flush interval (longer ones are cut to
// it): the tests flush explicitly, and a periodic flush in between
// changes none of their outcomes.
const quietInterval = time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// seedApp makes an organisation with an app and its sandbox client.
func seedApp(t *testing.T, db *sqlstore.DB, org, app, client string) {
	t.Helper()
	ctx := t.Context()
	dev := &store.Developer{ID: "dev-" + org, Email: org + "@example.com", PasswordHash: "x", Status: "active"}
	if err := db.CreateDeveloper(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateOrganization(ctx, &store.Organization{ID: org, Name: org}, dev.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateApp(ctx, &store.App{ID: app, OrganizationID: org, Name: app}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, &store.Client{ID: client, Name: client, Status: store.ClientActive, AppID: app, Environment: store.EnvironmentSandbox}); err != nil {
		t.Fatal(err)
	}
}

func list(t *testing.T, db *sqlstore.DB, f store.RequestLogFilter) []store.RequestLog {
	t.Helper()
	rs, err := db.ListRequestLogs(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestRecorderNamesOrganisations: a flush writes the records with their
// client's app and organisation; a client without an app, an unknown
// client and no client at all are written with none.
func TestRecorderNamesOrganisations(t *testing.T) {
	db := openStore(t)
	seedApp(t, db, "org-1", "app-1", "client-1")
	if err := db.CreateClient(t.Context(), &store.Client{ID: "operator", Name: "operator", Status: store.ClientActive}); err != nil {
		t.Fatal(err)
	}
	r := requestlog.New(requestlog.Config{Store: db, Interval: quietInterval, Logger: quiet})
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	now := time.Now()
	for _, c := range []string{"client-1", "operator", "gone", ""} {
		r.Record(store.RequestLog{Time: now, Correlator: "k-" + c, ClientID: c, APIName: "sim-swap", Status: 200, Stage: store.StageUpstream})
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := r.Pending(); n != 0 {
		t.Errorf("Pending after Flush = %d; want 0", n)
	}
	got := list(t, db, store.RequestLogFilter{OrganizationID: "org-1"})
	if len(got) != 1 || got[0].AppID != "app-1" || got[0].Correlator != "k-client-1" {
		t.Fatalf("org-1's calls: %+v; want the one of client-1, with app-1", got)
	}
	if all := list(t, db, store.RequestLogFilter{}); len(all) != 4 {
		t.Errorf("all calls: %d; want 4 (those without an organisation too)", len(all))
	}
}

// TestRecorderFlushesPeriodically: records reach the store within two
// seconds without an explicit flush (the portal's promise), polled with a
// generous deadline for loaded machines.
func TestRecorderFlushesPeriodically(t *testing.T) {
	db := openStore(t)
	r := requestlog.New(requestlog.Config{Store: db, Interval: 20 * time.Millisecond, Logger: quiet})
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	r.Record(store.RequestLog{Time: time.Now(), Correlator: "periodic", Status: 200})
	deadline := time.Now().Add(30 * time.Second)
	for len(list(t, db, store.RequestLogFilter{})) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the record was not written by the periodic flush")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRecorderBound: past MaxPending, calls are dropped and counted.
func TestRecorderBound(t *testing.T) {
	db := openStore(t)
	r := requestlog.New(requestlog.Config{Store: db, Interval: quietInterval, MaxPending: 3, Logger: quiet})
	r.Record(store.RequestLog{Time: time.Now(), Status: 200})
	// A periodic flush may run in between; hold the bound full in one go.
	for range 5 {
		r.Record(store.RequestLog{Time: time.Now(), Status: 200})
	}
	if p, d := r.Pending(), r.Dropped(); p+int(d) < 6 || p > 3 {
		t.Errorf("Pending %d, Dropped %d; want at most 3 pending and the rest dropped", p, d)
	}
	err := r.Close(t.Context())
	var lost *requestlog.LostError
	if r.Dropped() > 0 && (!errors.As(err, &lost) || lost.Dropped != r.Dropped()) {
		t.Errorf("Close: %v; want a *LostError with the %d dropped", err, r.Dropped())
	}
}

// failingStore answers AddRequestLogs from a closed store (a real
// refusal) while failing is set.
type failingStore struct {
	*sqlstore.DB
	closed  *sqlstore.DB
	failing atomic.Bool
}

func (f *failingStore) AddRequestLogs(ctx context.Context, rs []store.RequestLog) error {
	if f.failing.Load() {
		return f.closed.AddRequestLogs(ctx, rs)
	}
	return f.DB.AddRequestLogs(ctx, rs)
}

// TestRecorderKeepsRecordsWhileTheStoreFails: a refused batch is written,
// once, with later records, when the store accepts again.
func TestRecorderKeepsRecordsWhileTheStoreFails(t *testing.T) {
	db := openStore(t)
	closed := openStore(t)
	closed.Close()
	fs := &failingStore{DB: db, closed: closed}
	fs.failing.Store(true)
	r := requestlog.New(requestlog.Config{Store: fs, Interval: quietInterval, Logger: quiet})
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	r.Record(store.RequestLog{Time: time.Now(), Correlator: "a", Status: 200})
	if err := r.Flush(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Flush on a closed store: %v; want store.ErrUnavailable", err)
	}
	r.Record(store.RequestLog{Time: time.Now(), Correlator: "b", Status: 200})
	fs.failing.Store(false)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := list(t, db, store.RequestLogFilter{}); len(got) != 2 {
		t.Errorf("written: %d records; want 2, each once", len(got))
	}
}

// TestRecorderConcurrent: records from many goroutines, flushed while
// they are made, are all written exactly once.
func TestRecorderConcurrent(t *testing.T) {
	db := openStore(t)
	r := requestlog.New(requestlog.Config{Store: db, Interval: 10 * time.Millisecond, Logger: quiet})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				r.Record(store.RequestLog{Time: time.Now(), Correlator: "c", Status: 200 + g, UpstreamStatus: i})
			}
		}()
	}
	wg.Wait()
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := 0
	f := store.RequestLogFilter{Limit: store.MaxRequestLogLimit}
	for {
		page := list(t, db, f)
		n += len(page)
		if len(page) < f.Limit {
			break
		}
		f.After = &page[len(page)-1]
	}
	if n != 2000 {
		t.Errorf("written: %d records; want 2000", n)
	}
}

// TestRecorderPrunes: Prune deletes, in bounded batches, exactly the
// records older than the retention.
func TestRecorderPrunes(t *testing.T) {
	db := openStore(t)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var old []store.RequestLog
	for i := range 25 {
		old = append(old, store.RequestLog{Time: now.Add(-31*24*time.Hour - time.Duration(i)*time.Minute), Correlator: "old", Status: 200})
	}
	recent := store.RequestLog{Time: now.Add(-29 * 24 * time.Hour), Correlator: "recent", Status: 200}
	if err := db.AddRequestLogs(t.Context(), append(old, recent)); err != nil {
		t.Fatal(err)
	}
	r := requestlog.New(requestlog.Config{Store: db, Interval: quietInterval, PruneEvery: time.Hour, PruneBatch: 10,
		Now: func() time.Time { return now }, Logger: quiet})
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	n, err := r.Prune(t.Context())
	if err != nil || n != 25 {
		t.Fatalf("Prune: %d, %v; want 25, nil", n, err)
	}
	if got := list(t, db, store.RequestLogFilter{}); len(got) != 1 || got[0].Correlator != "recent" {
		t.Errorf("left: %+v; want only the recent record", got)
	}
}
