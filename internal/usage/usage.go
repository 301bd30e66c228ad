// Package usage counts every gateway call per app, API, hour, status and
// error, for the portal's analytics and for billing, and writes the counts
// to the store in batches.
//
// The promise: a call counted is written exactly once, or reported lost.
// While the store refuses writes (a full disk, a read-only or unreachable
// database) the counts stay in memory and are written when it accepts them
// again; memory is bounded by the number of distinct buckets, not calls,
// and a hard bound (MaxBuckets) caps it. Calls past the bound, and counts
// still unwritten when Close gives up, are lost: the drops are logged as
// they happen, and Close returns a *LostError with the numbers, so that
// the process can log them and exit non-zero. A crash (kill -9) loses at most one flush interval.
package usage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// Writer is the storage the recorder flushes to. AddUsage must write a
// batch whole or not at all (store.Usage promises one transaction): a
// failed batch is sent again, whole, with later calls added.
type Writer interface {
	AddUsage(ctx context.Context, records []store.UsageRecord) error
}

// ClientUseWriter is the optional part of a Writer that keeps each
// client's last-used time (the portal shows it per credential).
type ClientUseWriter interface {
	RecordClientUse(ctx context.Context, clientIDs []string, at time.Time) error
}

// lastUsePrecision is how precisely last-used times are kept: a flush
// writes one statement per distinct minute, not one per client.
const lastUsePrecision = time.Minute

// DefaultMaxBuckets is the default bound on distinct buckets held in
// memory: about 40 MB at most. One bucket is one app, API, hour, status and
// error; a day-long outage with 1,000 apps on 2 APIs with 2 outcomes each
// needs about 100,000.
const DefaultMaxBuckets = 100_000

// Recorder aggregates calls in memory and flushes them every Interval.
// Create it with New; Record is safe for concurrent use.
type Recorder struct {
	store      Writer
	interval   time.Duration
	maxBackoff time.Duration
	maxBuckets int
	log        *slog.Logger
	now        func() time.Time

	mu      sync.Mutex
	pending map[bucketKey]*store.UsageRecord
	calls   int64 // the calls pending holds
	dropped int64 // calls refused at the bound, over the recorder's life
	// used holds each client's latest call since the last flush.
	used map[string]time.Time

	flushMu    sync.Mutex // one flush at a time
	stop       chan struct{}
	done       chan struct{}
	cancelLoop context.CancelFunc // cuts a periodic flush short at Close's deadline
	loopCtx    context.Context
	closeOnce  sync.Once
}

type bucketKey struct {
	client, api, err string
	hour             int64
	status           int
}

func keyOf(r *store.UsageRecord) bucketKey {
	return bucketKey{client: r.ClientID, api: r.APIName, err: r.Error, hour: r.Hour.Unix(), status: r.Status}
}

// Config configures a Recorder.
type Config struct {
	Store Writer
	// Interval between flushes. Zero means 1 s.
	Interval time.Duration
	// MaxBackoff caps the pause between flushes while the store refuses
	// them (the pause doubles from Interval after each failure). Zero
	// means 10 s, or Interval if that is longer.
	MaxBackoff time.Duration
	// MaxBuckets bounds the distinct buckets held in memory; a call for a
	// new bucket past it is dropped, counted and logged. Zero means
	// DefaultMaxBuckets.
	MaxBuckets int
	// Logger receives flush failures and drops. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// New starts a recorder; Close flushes and stops it.
func New(cfg Config) *Recorder {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = max(10*time.Second, cfg.Interval)
	}
	if cfg.MaxBuckets <= 0 {
		cfg.MaxBuckets = DefaultMaxBuckets
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Recorder{
		store: cfg.Store, interval: cfg.Interval, maxBackoff: max(cfg.MaxBackoff, cfg.Interval),
		maxBuckets: cfg.MaxBuckets, log: cfg.Logger, now: cfg.Now,
		pending: map[bucketKey]*store.UsageRecord{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
	// The regular flush has no time limit, not even the store's own: a
	// batch cut short by a deadline might be committed with its answer
	// lost, and then be sent again. A hung database holds the flush, not
	// the counts; Close cancels it.
	r.loopCtx, r.cancelLoop = context.WithCancel(store.WithTimeout(context.Background(), 0))
	go r.loop()
	return r
}

// Record counts one call that ended at the recorder's now with the given
// status, error ("key/cause" or "") and latency.
func (r *Recorder) Record(clientID, api string, status int, errKey string, latency time.Duration) {
	now := r.now().UTC()
	hour := now.Truncate(time.Hour)
	k := bucketKey{client: clientID, api: api, err: errKey, hour: hour.Unix(), status: status}
	us := latency.Microseconds()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.pending[k]
	if !ok {
		if len(r.pending) >= r.maxBuckets {
			r.dropped++
			return
		}
		rec = &store.UsageRecord{ClientID: clientID, APIName: api, Hour: hour, Status: status, Error: errKey}
		r.pending[k] = rec
	}
	if clientID != "" {
		if r.used == nil {
			r.used = map[string]time.Time{}
		}
		r.used[clientID] = now
	}
	rec.Count++
	rec.Latency.Add(latency)
	rec.LatencySum += us
	if us > rec.LatencyMax {
		rec.LatencyMax = us
	}
	r.calls++
}

// Pending returns the calls recorded and not yet written, and the buckets
// holding them.
func (r *Recorder) Pending() (calls int64, buckets int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, len(r.pending)
}

// Dropped returns the calls dropped at the MaxBuckets bound so far.
func (r *Recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// loop flushes every interval; while the store refuses the counts, the
// pause doubles up to maxBackoff, with one log line per failed attempt.
func (r *Recorder) loop() {
	defer close(r.done)
	wait := r.interval
	failures := 0
	var droppedLogged int64
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		err := r.Flush(r.loopCtx)
		calls, buckets := r.Pending()
		switch {
		case err != nil && r.loopCtx.Err() != nil:
			return // Close gave up waiting for this flush
		case err != nil:
			failures++
			wait = min(r.interval<<min(failures, 20), r.maxBackoff)
			r.log.Warn("writing usage counts failed; they are kept in memory and retried",
				"err", err, "pending_calls", calls, "pending_buckets", buckets, "attempts", failures, "retry_in", wait.String())
		default:
			if failures > 0 {
				r.log.Info("usage counts written again after failed attempts", "attempts", failures)
			}
			failures, wait = 0, r.interval
		}
		if d := r.Dropped(); d > droppedLogged {
			r.log.Error("usage counts dropped: too many distinct buckets waiting to be written",
				"dropped_calls", d-droppedLogged, "dropped_calls_total", d, "max_buckets", r.maxBuckets)
			droppedLogged = d
		}
		t.Reset(wait)
	}
}

// Flush writes everything recorded so far. The batch is a copy: calls
// recorded while it is written add to the same buckets in memory, and only
// once the store has taken the batch are its counts subtracted (a bucket
// left with no calls is forgotten). On failure nothing is subtracted, so
// the next flush sends the failed counts again with whatever came since,
// each bucket once: a store outage delays counts but loses none while the
// process lives, and memory grows with the distinct buckets, not calls.
//
// Counts are written exactly once because a failed AddUsage wrote nothing
// (one transaction). The one exception is an answer lost after the store
// committed (a connection cut or a deadline passing during COMMIT): the
// batch is then sent again. The periodic flush therefore runs without a
// deadline; only Close cuts it short, when it gives up anyway.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := make([]store.UsageRecord, 0, len(r.pending))
	for _, rec := range r.pending {
		batch = append(batch, *rec)
	}
	used := r.used
	r.used = nil
	r.mu.Unlock()
	r.writeClientUse(ctx, used)
	if len(batch) == 0 {
		return nil
	}
	if err := r.store.AddUsage(ctx, batch); err != nil {
		return err
	}
	r.mu.Lock()
	for i := range batch {
		sent := &batch[i]
		k := keyOf(sent)
		p := r.pending[k] // present: only a flush removes buckets
		p.Count -= sent.Count
		p.LatencySum -= sent.LatencySum
		// LatencyMax stays: writing a maximum again changes nothing.
		r.calls -= sent.Count
		if p.Count == 0 {
			delete(r.pending, k)
		}
	}
	r.mu.Unlock()
	return nil
}

// writeClientUse records the clients' last-used times, grouped by minute.
// It is best effort: a failure is logged and the times are dropped, since
// a later call writes a later time anyway.
func (r *Recorder) writeClientUse(ctx context.Context, used map[string]time.Time) {
	w, ok := r.store.(ClientUseWriter)
	if !ok || len(used) == 0 {
		return
	}
	byMinute := map[time.Time][]string{}
	for id, t := range used {
		m := t.Truncate(lastUsePrecision)
		byMinute[m] = append(byMinute[m], id)
	}
	for at, ids := range byMinute {
		if err := w.RecordClientUse(ctx, ids, at); err != nil {
			r.log.Warn("recording the clients' last use failed; later calls record it again", "clients", len(ids), "err", err)
			return
		}
	}
}

// LostError is Close's report of counted calls that never reached the
// store: Calls were still unwritten when Close gave up (in Buckets), and
// Dropped were refused earlier at the MaxBuckets bound.
type LostError struct {
	Calls   int64
	Buckets int
	Dropped int64
	Err     error // the last write error, if any
}

func (e *LostError) Error() string {
	msg := fmt.Sprintf("%d counted calls were not written to the database", e.Calls+e.Dropped)
	if e.Dropped > 0 {
		msg += fmt.Sprintf(" (%d dropped past the bound of pending buckets)", e.Dropped)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *LostError) Unwrap() error { return e.Err }

// Close stops the periodic flush and writes what is pending, trying again
// (after 50 ms, doubling up to a second) until it succeeds or ctx is done;
// a periodic flush still running is waited for until ctx is done, then cut
// short. It returns nil when every call recorded was written, and a
// *LostError with the numbers otherwise (the caller logs it). With a ctx that is
// never done and a store that never accepts, it never returns. Call it once
// nothing records any more: calls recorded after it returns are not
// written. Calling it again only flushes.
func (r *Recorder) Close(ctx context.Context) error {
	r.closeOnce.Do(func() { close(r.stop) })
	select {
	case <-r.done:
	case <-ctx.Done():
		r.cancelLoop()
		<-r.done
	}
	r.cancelLoop()
	err := store.RetryUntilDone(ctx, r.Flush)
	r.mu.Lock()
	lost := &LostError{Calls: r.calls, Buckets: len(r.pending), Dropped: r.dropped, Err: err}
	r.mu.Unlock()
	if lost.Calls == 0 && lost.Dropped == 0 {
		return nil
	}
	return lost
}
