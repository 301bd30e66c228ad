// Package logthin thins repeated log lines: during an outage the same
// failure can happen thousands of times a second, and a line for each
// buries everything else (a 20 s Redis outage once wrote 80,000 lines).
// A Thinner lets one line per kind through per interval and says how many
// occurrences that line stands for.
package logthin

import (
	"sync"
	"time"
)

// Thinner counts occurrences by kind. The zero value is not usable; call
// New.
type Thinner struct {
	every time.Duration

	mu   sync.Mutex
	next map[string]time.Time // by kind: when the next line may be written
	n    map[string]int64     // by kind: occurrences since the last line
}

// New returns a Thinner that lets one line per kind through per every.
func New(every time.Duration) *Thinner {
	return &Thinner{every: every, next: map[string]time.Time{}, n: map[string]int64{}}
}

// Every is the interval between two lines of one kind.
func (t *Thinner) Every() time.Duration { return t.every }

// Tick counts one occurrence of kind at now. It reports whether a line
// should be written, and how many occurrences (this one included) it
// stands for.
func (t *Thinner) Tick(now time.Time, kind string) (count int64, write bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n[kind]++
	count = t.n[kind]
	if now.Before(t.next[kind]) {
		return count, false
	}
	t.n[kind] = 0
	t.next[kind] = now.Add(t.every)
	return count, true
}
