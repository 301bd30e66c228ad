package store

import (
	"testing"
	"time"
)

func TestLatencyHistogram(t *testing.T) {
	var h LatencyHistogram
	if got := h.Quantile(0.5, 0); got != 0 {
		t.Errorf("Quantile of an empty histogram = %s; want 0", got)
	}
	// 100 calls spread evenly over the 1 ms – 2.5 ms bucket.
	for i := range 100 {
		h.Add(time.Millisecond + time.Duration(i+1)*15*time.Microsecond)
	}
	if h[3] != 100 || h.Count() != 100 {
		t.Fatalf("histogram = %v; want 100 calls in bucket 3", h)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 1750 * time.Microsecond}, {0.99, 2485 * time.Microsecond}} {
		if got := h.Quantile(tc.q, 2500*time.Microsecond); got != tc.want {
			t.Errorf("Quantile(%g) = %s; want %s", tc.q, got, tc.want)
		}
	}
	// The largest latency bounds the estimate.
	if got := h.Quantile(0.99, 2*time.Millisecond); got != 2*time.Millisecond {
		t.Errorf("Quantile(0.99) with highest 2ms = %s; want 2ms", got)
	}
	// A bound itself falls in the bucket it closes; past the last bound is
	// the open bucket, bounded by the largest latency.
	var o LatencyHistogram
	o.Add(250 * time.Microsecond)
	o.Add(time.Minute)
	if o[0] != 1 || o[LatencyBuckets-1] != 1 {
		t.Fatalf("histogram = %v; want one call in the first and one in the last bucket", o)
	}
	if got := o.Quantile(1, time.Minute); got != time.Minute {
		t.Errorf("Quantile(1) = %s; want the largest latency, 1m", got)
	}
	o.Merge(&h)
	if o.Count() != 102 {
		t.Errorf("merged Count = %d; want 102", o.Count())
	}
}
