// Package requestlog keeps every gateway call for the portal's request log
// (/portal/logs) and its diagnosis by correlator: the gateway hands each
// call's record to a Recorder, which writes them to the store in batches,
// off the request path, and removes records past their retention in
// bounded steps.
//
// The promise: a call recorded is written within about one flush interval
// (1 s by default), or counted and logged as dropped. Memory is bounded
// (MaxPending records, about 400 bytes each); past it calls are dropped,
// counted (Dropped, a metric) and logged. While the store refuses writes
// the records wait, within the same bound. Unlike usage counts, the log is
// a diagnosis aid, not a bill: Close writes what it can by its deadline and
// reports the rest, and a crash loses at most one interval of records.
package requestlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// Store is what the recorder needs of the store: writing and pruning the
// log, and reading clients and apps to name each call's app and
// organisation.
type Store interface {
	AddRequestLogs(ctx context.Context, records []store.RequestLog) error
	DeleteRequestLogsBefore(ctx context.Context, t time.Time, limit int) (int64, error)
	GetClient(ctx context.Context, id string) (*store.Client, error)
	GetApp(ctx context.Context, id string) (*store.App, error)
}

// Defaults of Config.
const (
	DefaultInterval   = time.Second
	DefaultMaxPending = 100_000
	DefaultRetention  = 30 * 24 * time.Hour
	DefaultPruneEvery = time.Minute
	DefaultPruneBatch = 5_000
)

// Config configures a Recorder. Zero values take the defaults above.
type Config struct {
	Store Store
	// Interval between flushes; more than a second is cut to a second,
	// so that a call shows in the portal within two.
	Interval time.Duration
	// MaxPending bounds the records held in memory; a call past it is
	// dropped, counted and logged.
	MaxPending int
	// Retention is how long records are kept; negative keeps them for
	// ever (no pruning).
	Retention time.Duration
	// PruneEvery is the pause between prunings; PruneBatch the most
	// records one delete removes (a pruning repeats it until fewer go).
	PruneEvery time.Duration
	PruneBatch int
	// Logger receives failures and drops. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Recorder batches call records and writes them. Create it with New;
// Record is safe for concurrent use.
type Recorder struct {
	cfg Config

	mu      sync.Mutex
	pending []store.RequestLog
	spare   []store.RequestLog // the last batch's array, reused
	dropped int64

	flushMu sync.Mutex // one flush at a time
	owners  owners     // used under flushMu

	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
}

// New starts a recorder (its flushes and, unless Retention is negative,
// its pruning); Close stops it.
func New(cfg Config) *Recorder {
	if cfg.Interval <= 0 || cfg.Interval > time.Second {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = DefaultPruneEvery
	}
	if cfg.PruneBatch <= 0 {
		cfg.PruneBatch = DefaultPruneBatch
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Recorder{cfg: cfg, stop: make(chan struct{}), owners: owners{m: map[string]owner{}}}
	r.done.Add(1)
	go r.flushLoop()
	if cfg.Retention > 0 {
		r.done.Add(1)
		go r.pruneLoop()
	}
	return r
}

// Record keeps one call's record for the next flush. The record's
// OrganizationID and AppID, when empty, are filled at the flush from its
// ClientID.
func (r *Recorder) Record(rec store.RequestLog) {
	r.mu.Lock()
	if len(r.pending) >= r.cfg.MaxPending {
		r.dropped++
	} else {
		r.pending = append(r.pending, rec)
	}
	r.mu.Unlock()
}

// Pending returns the records not yet written.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Dropped returns the records dropped at the MaxPending bound so far.
func (r *Recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Flush writes every record recorded so far, in one batch. On failure
// the batch is kept, ahead of later records, for the next flush (past
// MaxPending the newest are dropped and counted).
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.pending
	r.pending = r.spare[:0]
	r.spare = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		r.mu.Lock()
		r.spare = batch
		r.mu.Unlock()
		return nil
	}
	err := r.owners.fill(ctx, r.cfg.Store, batch, r.cfg.Now())
	if err == nil {
		err = r.cfg.Store.AddRequestLogs(ctx, batch)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		keep := append(batch, r.pending...)
		if over := len(keep) - r.cfg.MaxPending; over > 0 {
			r.dropped += int64(over)
			keep = keep[:r.cfg.MaxPending]
		}
		r.pending = keep
		return err
	}
	clear(batch) // let the strings go
	r.spare = batch[:0]
	return nil
}

func (r *Recorder) flushLoop() {
	defer r.done.Done()
	ctx := store.WithTimeout(context.Background(), 30*time.Second)
	wait := r.cfg.Interval
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
		if err := r.Flush(ctx); err != nil {
			failures++
			wait = min(r.cfg.Interval<<min(failures, 20), 10*time.Second)
			r.cfg.Logger.Warn("writing the request log failed; its records are kept in memory and retried",
				"err", err, "pending", r.Pending(), "attempts", failures, "retry_in", wait.String())
		} else {
			if failures > 0 {
				r.cfg.Logger.Info("request log written again after failed attempts", "attempts", failures)
			}
			failures, wait = 0, r.cfg.Interval
		}
		if d := r.Dropped(); d > droppedLogged {
			r.cfg.Logger.Error("request log records dropped: too many waiting to be written",
				"dropped", d-droppedLogged, "dropped_total", d, "max_pending", r.cfg.MaxPending)
			droppedLogged = d
		}
		t.Reset(wait)
	}
}

// Prune deletes the records older than the retention, PruneBatch at a
// time, and returns how many it deleted.
func (r *Recorder) Prune(ctx context.Context) (int64, error) {
	before := r.cfg.Now().Add(-r.cfg.Retention)
	var total int64
	for {
		n, err := r.cfg.Store.DeleteRequestLogsBefore(ctx, before, r.cfg.PruneBatch)
		total += n
		if err != nil || n < int64(r.cfg.PruneBatch) {
			return total, err
		}
		select {
		case <-r.stop:
			return total, nil
		case <-ctx.Done():
			return total, ctx.Err()
		default:
		}
	}
}

func (r *Recorder) pruneLoop() {
	defer r.done.Done()
	// Each batch is bounded, so the store's own limit would do; a loaded
	// database gets more time, as other maintenance does.
	ctx, cancel := context.WithCancel(store.WithTimeout(context.Background(), time.Minute))
	defer cancel()
	go func() {
		<-r.stop
		cancel()
	}()
	t := time.NewTimer(r.cfg.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if n, err := r.Prune(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Warn("pruning the request log failed; it is tried again later", "err", err, "deleted", n)
		} else if n > 0 {
			r.cfg.Logger.Debug("request log pruned", "deleted", n)
		}
		t.Reset(r.cfg.PruneEvery)
	}
}

// LostError is Close's report of records that never reached the store.
type LostError struct {
	Unwritten int
	Dropped   int64
	Err       error // the last write error, if any
}

func (e *LostError) Error() string {
	msg := fmt.Sprintf("%d request log records were not written", int64(e.Unwritten)+e.Dropped)
	if e.Dropped > 0 {
		msg += fmt.Sprintf(" (%d dropped past the bound of pending records)", e.Dropped)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *LostError) Unwrap() error { return e.Err }

// Close stops the background work and writes what is pending, trying
// again (after 50 ms, doubling up to a second) until it succeeds or ctx is
// done. It returns nil when every record was written, else a *LostError.
// Call it once nothing records any more.
func (r *Recorder) Close(ctx context.Context) error {
	r.closeOnce.Do(func() { close(r.stop) })
	r.done.Wait()
	err := store.RetryUntilDone(ctx, r.Flush)
	r.mu.Lock()
	lost := &LostError{Unwritten: len(r.pending), Dropped: r.dropped, Err: err}
	r.mu.Unlock()
	if lost.Unwritten == 0 && lost.Dropped == 0 {
		return nil
	}
	return lost
}

// owner is the app and organisation of a client, as last read.
type owner struct {
	app, org string
	until    time.Time
}

// owners caches each client's app and organisation for ownerTTL: a
// client's app and an app's organisation never change, but a client
// without an app may join one. It is used by one flush at a time.
type owners struct {
	m map[string]owner
}

const (
	ownerTTL       = 5 * time.Minute
	maxOwnersCache = 100_000
)

// fill sets the app and organisation of the records that name a client
// and no app, reading the clients and apps it has not cached. A failure
// to read (other than a client or app gone) fails the flush: the batch
// is tried again, rather than written without its organisation, which
// would hide the calls from their developers.
func (o *owners) fill(ctx context.Context, st Store, batch []store.RequestLog, now time.Time) error {
	for i := range batch {
		rec := &batch[i]
		if rec.ClientID == "" || rec.AppID != "" {
			continue
		}
		w, ok := o.m[rec.ClientID]
		if !ok || now.After(w.until) {
			var err error
			if w, err = lookup(ctx, st, rec.ClientID); err != nil {
				return err
			}
			if len(o.m) >= maxOwnersCache {
				clear(o.m)
			}
			w.until = now.Add(ownerTTL)
			o.m[rec.ClientID] = w
		}
		rec.AppID, rec.OrganizationID = w.app, w.org
	}
	return nil
}

func lookup(ctx context.Context, st Store, clientID string) (owner, error) {
	c, err := st.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return owner{}, nil
	}
	if err != nil || c.AppID == "" {
		return owner{}, err
	}
	a, err := st.GetApp(ctx, c.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return owner{}, nil
	}
	if err != nil {
		return owner{}, err
	}
	return owner{app: a.ID, org: a.OrganizationID}, nil
}
