// Package usage counts every gateway call per app, API, hour, status and
// error, for the portal's analytics and for billing, and writes the counts
// to the store in batches. A graceful shutdown flushes what is pending; a
// crash loses at most one flush interval.
package usage

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// Writer is the storage the recorder flushes to.
type Writer interface {
	AddUsage(ctx context.Context, records []store.UsageRecord) error
}

// Recorder aggregates calls in memory and flushes them every Interval.
// Create it with New; Record is safe for concurrent use.
type Recorder struct {
	store    Writer
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	pending map[bucketKey]*store.UsageRecord

	flushMu   sync.Mutex // one flush at a time
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type bucketKey struct {
	client, api, err string
	hour             int64
	status           int
}

// Config configures a Recorder.
type Config struct {
	Store Writer
	// Interval between flushes. Zero means 1 s.
	Interval time.Duration
	// Logger receives flush failures. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// New starts a recorder; Close flushes and stops it.
func New(cfg Config) *Recorder {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Recorder{
		store: cfg.Store, interval: cfg.Interval, log: cfg.Logger, now: cfg.Now,
		pending: map[bucketKey]*store.UsageRecord{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
	go r.loop()
	return r
}

// Record counts one call that ended at the recorder's now with the given
// status, error ("key/cause" or "") and latency.
func (r *Recorder) Record(clientID, api string, status int, errKey string, latency time.Duration) {
	hour := r.now().UTC().Truncate(time.Hour)
	k := bucketKey{client: clientID, api: api, err: errKey, hour: hour.Unix(), status: status}
	us := latency.Microseconds()
	r.mu.Lock()
	rec, ok := r.pending[k]
	if !ok {
		rec = &store.UsageRecord{ClientID: clientID, APIName: api, Hour: hour, Status: status, Error: errKey}
		r.pending[k] = rec
	}
	rec.Count++
	rec.LatencySum += us
	if us > rec.LatencyMax {
		rec.LatencyMax = us
	}
	r.mu.Unlock()
}

func (r *Recorder) loop() {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if err := r.Flush(context.Background()); err != nil {
				r.log.Warn("writing usage failed; will retry with the next batch", "err", err)
			}
		}
	}
}

// Flush writes everything recorded so far. On failure the batch is merged
// back into what is pending, so a store outage delays counts but loses none
// (while the process lives), and no bucket appears twice in a batch.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := make([]store.UsageRecord, 0, len(r.pending))
	for _, rec := range r.pending {
		batch = append(batch, *rec)
	}
	clear(r.pending)
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := r.store.AddUsage(ctx, batch); err != nil {
		r.mu.Lock()
		for _, rec := range batch {
			k := bucketKey{client: rec.ClientID, api: rec.APIName, err: rec.Error, hour: rec.Hour.Unix(), status: rec.Status}
			if p, ok := r.pending[k]; ok {
				p.Count += rec.Count
				p.LatencySum += rec.LatencySum
				p.LatencyMax = max(p.LatencyMax, rec.LatencyMax)
			} else {
				rec := rec
				r.pending[k] = &rec
			}
		}
		r.mu.Unlock()
		return err
	}
	return nil
}

// Close stops the periodic flush and writes what is pending. Calling it
// again only flushes.
func (r *Recorder) Close(ctx context.Context) error {
	r.closeOnce.Do(func() { close(r.stop) })
	<-r.done
	return r.Flush(ctx)
}
