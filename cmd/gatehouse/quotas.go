package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
)

// quotaKeeper keeps a single node's day and month quotas across restarts:
// it saves the in-process limiter's quota counts to the store every usage
// flush interval and at shutdown, and restores them at start (the rate
// restarts empty: a burst after a restart is harmless, a quota used up
// again is not). A crash (kill -9) loses the counts admitted since the
// last save, so a quota can be over-admitted by at most the calls
// admitted in one flush interval (and one save's time) before the crash.
//
// Counts only grow within a period and the store keeps the larger of a
// stored and a saved count, so a save repeated after a failure, or a stale
// one, never lowers what is stored.
type quotaKeeper struct {
	mem    *ratelimit.Memory
	store  store.QuotaCounts
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex // one save at a time
	unsaved map[quotaRow]int64
	pruned  time.Time // the day start of the last pruning
}

type quotaRow struct {
	key    string
	period string
	start  int64 // unix ms
}

// restore loads the counts of the current day and month into the limiter
// and deletes those of past periods. Call it before the limiter decides.
func (k *quotaKeeper) restore(ctx context.Context) error {
	now := k.now()
	day, month := ratelimit.DayStart(now), ratelimit.MonthStart(now)
	cs, err := k.store.ListQuotaCounts(ctx, day, month)
	if err != nil {
		return fmt.Errorf("restoring quota counts: %w", err)
	}
	rs := make([]ratelimit.QuotaCount, len(cs))
	for i, c := range cs {
		rs[i] = ratelimit.QuotaCount{Key: c.Key, Month: c.Period == store.QuotaMonth, Start: c.Start, Count: c.Count}
	}
	k.mem.RestoreQuotas(rs, now)
	k.prune(ctx, now)
	return nil
}

// prune deletes the counts of past periods once per UTC day.
func (k *quotaKeeper) prune(ctx context.Context, now time.Time) {
	day := ratelimit.DayStart(now)
	if !k.pruned.Before(day) {
		return
	}
	if err := k.store.DeleteQuotaCountsBefore(ctx, day, ratelimit.MonthStart(now)); err != nil {
		k.logger.Warn("deleting the quota counts of past periods failed; will retry", "err", err)
		return
	}
	k.pruned = day
}

// run saves every interval until ctx is done.
func (k *quotaKeeper) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.save(ctx); err != nil && ctx.Err() == nil {
				k.logger.Warn("saving quota counts failed; will retry with the next", "err", err)
			}
		}
	}
}

// save writes the counts that changed since the last save, with those a
// failed save left.
func (k *quotaKeeper) save(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range k.mem.QuotaChanges() {
		period := store.QuotaDay
		if c.Month {
			period = store.QuotaMonth
		}
		if k.unsaved == nil {
			k.unsaved = map[quotaRow]int64{}
		}
		r := quotaRow{c.Key, period, c.Start.UnixMilli()}
		k.unsaved[r] = max(k.unsaved[r], c.Count)
	}
	if len(k.unsaved) > 0 {
		cs := make([]store.QuotaCount, 0, len(k.unsaved))
		for r, n := range k.unsaved {
			cs = append(cs, store.QuotaCount{Key: r.key, Period: r.period, Start: time.UnixMilli(r.start).UTC(), Count: n})
		}
		if err := k.store.SaveQuotaCounts(ctx, cs); err != nil {
			return err
		}
		clear(k.unsaved)
	}
	k.prune(ctx, k.now())
	return nil
}
