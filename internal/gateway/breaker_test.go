package gateway

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/testclock"
)

// breakerDriver runs a breaker with an injected clock and checks each step.
type breakerDriver struct {
	t     *testing.T
	clock *testclock.Clock
	b     *breaker
}

func newBreakerDriver(t *testing.T, threshold int, base, maxPause time.Duration) *breakerDriver {
	clock := testclock.New(time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC))
	return &breakerDriver{t: t, clock: clock, b: newBreaker(threshold, base, maxPause, clock.Now)}
}

// pass asks allow and wants the call admitted; it returns the ticket.
func (d *breakerDriver) pass(what string) uint64 {
	d.t.Helper()
	ticket, wait, ok := d.b.allow()
	if !ok {
		d.t.Fatalf("%s: refused with Retry-After %v; want the call through", what, wait)
	}
	return ticket
}

// refused wants the call refused with exactly wait as Retry-After.
func (d *breakerDriver) refused(what string, wait time.Duration) {
	d.t.Helper()
	_, got, ok := d.b.allow()
	if ok || got != wait {
		d.t.Fatalf("%s: allow() = %v, %v; want refused with Retry-After %v", what, got, ok, wait)
	}
}

// fail admits one call and records it failed.
func (d *breakerDriver) fail(what string) { d.b.record(d.pass(what), false) }

func TestBreakerOpensAfterThreshold(t *testing.T) {
	d := newBreakerDriver(t, 3, time.Second, 30*time.Second)
	d.fail("failure 1")
	d.fail("failure 2")
	d.b.record(d.pass("below the threshold"), true) // a success resets the count
	d.fail("failure 1 again")
	d.fail("failure 2 again")
	d.pass("closed: the count restarted")
	d.fail("failure 3 opens")
	d.refused("open: the whole first pause", time.Second)
	d.clock.Advance(300 * time.Millisecond)
	d.refused("open: exactly the time left", 700*time.Millisecond)
	d.clock.Advance(700*time.Millisecond - time.Nanosecond)
	d.refused("open until the last instant", time.Nanosecond)
	d.clock.Advance(time.Nanosecond)
	d.pass("half-open after the pause")
}

func TestBreakerProbeSuccessCloses(t *testing.T) {
	d := newBreakerDriver(t, 2, time.Second, 30*time.Second)
	d.fail("failure 1")
	d.fail("failure 2")
	d.clock.Advance(time.Second)
	probe := d.pass("probe")
	d.b.record(probe, true)
	for i := range 10 {
		d.pass("closed: every call passes " + string(rune('0'+i)))
	}
	d.fail("one failure after closing")
	d.pass("does not reopen below the threshold")
	d.fail("second failure reopens")
	d.refused("reopened with the first pause, not a doubled one", time.Second)
}

func TestBreakerProbeFailureDoublesUpToCap(t *testing.T) {
	d := newBreakerDriver(t, 1, time.Second, 5*time.Second)
	d.fail("opens")
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		d.refused("open", d.b.openUntil.Sub(d.clock.Now()))
		d.clock.Advance(d.b.pause)
		d.b.record(d.pass("probe"), false)
		d.refused("reopened, pause doubled and capped", want)
	}
	d.clock.Advance(5 * time.Second)
	d.b.record(d.pass("probe"), true)
	d.fail("fails again once closed")
	d.refused("the backoff starts over from the first pause", time.Second)
}

func TestBreakerCapNeverBelowFirstPause(t *testing.T) {
	d := newBreakerDriver(t, 1, 10*time.Second, time.Second)
	d.fail("opens")
	d.refused("first pause", 10*time.Second)
	d.clock.Advance(10 * time.Second)
	d.b.record(d.pass("probe"), false)
	d.refused("capped at the first pause", 10*time.Second)
}

func TestBreakerProbeConcurrency(t *testing.T) {
	d := newBreakerDriver(t, 1, time.Second, 30*time.Second)
	d.fail("opens")
	d.clock.Advance(time.Second)
	p1, p2, p3 := d.pass("probe 1"), d.pass("probe 2"), d.pass("probe 3")
	d.refused("every probe slot taken", time.Second)
	d.clock.Advance(time.Minute)
	d.refused("still taken however long they take", time.Second)
	// A call admitted while closed that ends now says nothing.
	d.b.record(closedTicket, true)
	d.refused("a stale success does not close it", time.Second)
	d.b.record(p1, false)
	d.refused("the first failed probe reopens, doubled", 2*time.Second)
	d.b.record(p2, true)
	d.refused("a sibling probe's later success is ignored", 2*time.Second)
	d.b.record(p3, false)
	d.refused("and so is its failure", 2*time.Second)
	d.clock.Advance(2 * time.Second)
	q1 := d.pass("new probe 1")
	d.b.record(p2, true)
	if d.b.state != breakerHalfOpen {
		t.Fatalf("an old probe's success changed the state to %d; want it ignored (half-open)", d.b.state)
	}
	_ = d.pass("new probe 2")
	_ = d.pass("new probe 3")
	d.refused("three new probes in flight", time.Second)
	d.b.record(q1, true)
	d.pass("closed by the first successful probe")
}

// TestBreakerRace hammers one breaker from many goroutines (for -race) and
// checks it ends in a consistent state.
func TestBreakerRace(t *testing.T) {
	d := newBreakerDriver(t, 2, time.Millisecond, 4*time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if ticket, _, ok := d.b.allow(); ok {
					d.b.record(ticket, (i+g)%3 == 0)
				}
				d.clock.Advance(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if d.b.inFlight < 0 || d.b.inFlight > d.b.probes {
		t.Errorf("inFlight = %d after every call ended", d.b.inFlight)
	}
	if d.b.pause < d.b.base || d.b.pause > d.b.max {
		t.Errorf("pause = %v, outside [%v, %v]", d.b.pause, d.b.base, d.b.max)
	}
}

// TestBreakerPerAPI checks an API's options override the gateway's
// settings, each one on its own.
func TestBreakerPerAPI(t *testing.T) {
	g := New(Config{APIs: nopSource{}, Tokens: nopTokens{}, BreakerFailures: 7, BreakerOpenFor: 2 * time.Second, BreakerMaxPause: time.Minute})
	for _, tc := range []struct {
		o              store.UpstreamOptions
		threshold      int
		base, maxPause time.Duration
	}{
		{store.UpstreamOptions{}, 7, 2 * time.Second, time.Minute},
		{store.UpstreamOptions{BreakerFailures: 2}, 2, 2 * time.Second, time.Minute},
		{store.UpstreamOptions{BreakerPauseMS: 250, BreakerMaxPauseMS: 4000}, 7, 250 * time.Millisecond, 4 * time.Second},
	} {
		b := g.breakerFor(tc.o)
		if b.threshold != tc.threshold || b.base != tc.base || b.max != tc.maxPause {
			t.Errorf("breakerFor(%+v) = %d, %v, %v; want %d, %v, %v", tc.o, b.threshold, b.base, b.max, tc.threshold, tc.base, tc.maxPause)
		}
	}
	if g := New(Config{APIs: nopSource{}, Tokens: nopTokens{}}); g.cfg.BreakerFailures != 5 || g.cfg.BreakerOpenFor != 250*time.Millisecond || g.cfg.BreakerMaxPause != 30*time.Second {
		t.Errorf("defaults = %d, %v, %v; want 5, 250ms, 30s", g.cfg.BreakerFailures, g.cfg.BreakerOpenFor, g.cfg.BreakerMaxPause)
	}
}

// flapShare simulates, on the injected clock, one client calling every
// 5 ms for 10 minutes an upstream that is up the first 640 ms of every
// second, and returns the share of calls that got through.
func flapShare(b *breaker, clock *testclock.Clock) float64 {
	start := clock.Now()
	through, calls := 0, 0
	for elapsed := time.Duration(0); elapsed < 10*time.Minute; elapsed += 5 * time.Millisecond {
		clock.Set(start.Add(elapsed))
		calls++
		ticket, _, ok := b.allow()
		if !ok {
			continue
		}
		up := elapsed%time.Second < 640*time.Millisecond
		b.record(ticket, up)
		if up {
			through++
		}
	}
	return float64(through) / float64(calls)
}

// TestBreakerFlapping checks that an upstream up 64 % of the time, in a
// fixed period, gets most of its calls through with the default settings:
// the jitter keeps the probes from always landing in the down phase.
func TestBreakerFlapping(t *testing.T) {
	for _, c := range []struct {
		name   string
		base   time.Duration
		jitter bool
		min    float64
	}{
		{"default (250ms), jittered", DefaultBreakerPause, true, 0.40},
		{"100ms, jittered", 100 * time.Millisecond, true, 0.40},
		{"1s, jittered", time.Second, true, 0},
		{"1s, no jitter: every probe lands in the down phase", time.Second, false, 0},
	} {
		clock := testclock.New(time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC))
		b := newBreaker(DefaultBreakerFailures, c.base, DefaultBreakerMaxPause, clock.Now)
		if c.jitter {
			b.jitter = rand.New(rand.NewPCG(1, 2)).Float64
		}
		share := flapShare(b, clock)
		t.Logf("%s: %.1f %% of calls through (up 64 %% of the time)", c.name, 100*share)
		if share < c.min {
			t.Errorf("%s: %.1f %% through; want at least %.0f %%", c.name, 100*share, 100*c.min)
		}
	}
}

// TestBreakerJitter checks each pause is drawn from [d/2, d], Retry-After
// the exact time left of the drawn one, and the doubling applies to d.
func TestBreakerJitter(t *testing.T) {
	d := newBreakerDriver(t, 1, time.Second, 30*time.Second)
	r := 0.0
	d.b.jitter = func() float64 { return r }
	d.fail("opens")
	d.refused("r=0: half the pause", 500*time.Millisecond)
	d.clock.Advance(500 * time.Millisecond)
	r = 0.5
	d.b.record(d.pass("probe"), false)
	d.refused("r=0.5: three quarters of the doubled pause", 1500*time.Millisecond)
	d.clock.Advance(1500 * time.Millisecond)
	r = 0.999
	d.b.record(d.pass("probe"), false)
	d.refused("r→1: almost the whole pause, doubled again", 4*time.Second-time.Duration(0.001*2e9))
}
