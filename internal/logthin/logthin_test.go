package logthin

import (
	"testing"
	"time"
)

func TestTick(t *testing.T) {
	th := New(10 * time.Second)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at        time.Duration
		kind      string
		wantCount int64
		wantWrite bool
	}{
		{0, "timeout", 1, true}, // the first of a kind is written
		{time.Second, "timeout", 1, false},
		{2 * time.Second, "timeout", 2, false},
		{2 * time.Second, "refused", 1, true},  // kinds are counted apart
		{10 * time.Second, "timeout", 3, true}, // the line stands for all three since
		{11 * time.Second, "timeout", 1, false},
	}
	for _, s := range steps {
		n, w := th.Tick(t0.Add(s.at), s.kind)
		if n != s.wantCount || w != s.wantWrite {
			t.Errorf("Tick(+%v, %q) = %d, %v; want %d, %v", s.at, s.kind, n, w, s.wantCount, s.wantWrite)
		}
	}
}
