package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// The latency histogram is log-linear (HDR-like): values are nanoseconds;
// values below 2^histSubBits get one bucket each, above that every power of
// two is split into histHalf equal buckets. A bucket's width is therefore at
// most 1/histHalf (0.78%) of its lower bound, and reporting the bucket
// midpoint keeps the relative error under 0.4%.
const (
	histSubBits = 8
	histSub     = 1 << histSubBits // 256 exact buckets for 0..255ns
	histHalf    = histSub / 2      // 128 sub-buckets per power of two
	histMaxBits = 40               // values are clamped below 2^40ns (~18 minutes)
	histBuckets = (histMaxBits-histSubBits)*histHalf + histSub
	histMaxVal  = 1<<histMaxBits - 1
)

// histogram is a fixed-size latency histogram. Recording never allocates.
// It is not safe for concurrent use: each worker owns one and they are merged
// at the end.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64 // nanoseconds
	min    uint64
	max    uint64
}

func bucketOf(v uint64) int {
	if v > histMaxVal {
		v = histMaxVal
	}
	b := bits.Len64(v)
	if b <= histSubBits {
		return int(v)
	}
	shift := b - histSubBits
	return shift*histHalf + int(v>>uint(shift))
}

// bucketRange returns the smallest and largest value mapped to bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	shift := i/histHalf - 1
	m := uint64(i - shift*histHalf)
	return m << uint(shift), (m+1)<<uint(shift) - 1
}

func (h *histogram) record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the value at quantile q (0 < q <= 1): the midpoint of the
// bucket holding the ceil(q*n)-th smallest value, clamped to [min, max].
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			v = max(v, h.min)
			v = min(v, h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}
