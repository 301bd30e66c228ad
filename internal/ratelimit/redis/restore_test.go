package redislimit_test

import (
	"context"
	"testing"
	"time"

	"gatehouse/internal/ratelimit"
)

// TestRedisRestore: the epoch stays while Redis keeps its counts and
// changes when they are lost; raising counts seen before is idempotent,
// the largest of several raises wins, and calls counted meanwhile stay.
func TestRedisRestore(t *testing.T) {
	l, client, prefix := open(t)
	ctx := context.Background()
	e1, err := l.Epoch(ctx)
	if err != nil || e1 == "" {
		t.Fatalf("Epoch = %q, %v", e1, err)
	}
	if e, err := l.Epoch(ctx); err != nil || e != e1 {
		t.Errorf("Epoch again = %q, %v; want %q (nothing was lost)", e, err, e1)
	}
	if err := client.Del(ctx, prefix+"epoch").Err(); err != nil { // what a restart does
		t.Fatal(err)
	}
	if e, err := l.Epoch(ctx); err != nil || e == e1 || e == "" {
		t.Errorf("Epoch after the loss = %q, %v; want a new one", e, err)
	}

	now := time.Now()
	p := ratelimit.Policy{QuotaDay: 100, QuotaMonth: 1000}
	// Two calls admitted after the loss (owed ones added back, say).
	if err := l.Add(ctx, "k", p, now, 2); err != nil {
		t.Fatal(err)
	}
	// Node A saw 30 and 300 before the loss, node B 40 and 250; A raises
	// twice.
	for _, r := range []struct{ day, month int64 }{{30, 300}, {40, 250}, {30, 300}} {
		if err := l.Raise(ctx, "k", now, r.day, r.month); err != nil {
			t.Fatal(err)
		}
	}
	d, err := l.Allow(ctx, "k", p, now)
	if err != nil || !d.Allowed() {
		t.Fatalf("Allow = %+v, %v", d, err)
	}
	if got, want := d.DayRemaining, int64(100-40-2-1); got != want {
		t.Errorf("day remaining %d; want %d (the largest raised, 40, the 2 added and this call)", got, want)
	}
	if got, want := d.MonthRemaining, int64(1000-300-2-1); got != want {
		t.Errorf("month remaining %d; want %d", got, want)
	}
	if err := l.Raise(ctx, "k", now, 0, 0); err != nil {
		t.Errorf("Raise of nothing: %v", err)
	}
}
