package redislimit_test

import (
	"context"
	"errors"
	"fmt"
	"gatehouse/internal/testproc"
	"net"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/ratelimit"
	redislimit "gatehouse/internal/ratelimit/redis"
)

// privateRedis starts a redis-server of the test's own on a free loopback
// port (testproc.Redis: never the shared one, as this test freezes and
// stops it), or skips t when redis-server is not installed.
func privateRedis(t *testing.T) *testproc.Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := testproc.StartRedis(ctx)
	if errors.Is(err, testproc.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// TestSlowAnswerIsAnAnswer: with Open's bound, a Redis that stalls for
// 300 ms (as a busy machine makes it) still decides: the answer comes
// late, not as an error. A stall past the caller's deadline is an error
// wrapping ErrUnavailable and a timeout; a stopped server one wrapping
// ErrUnavailable and the failed connection, not a timeout.
func TestSlowAnswerIsAnAnswer(t *testing.T) {
	rd := privateRedis(t)
	l, err := redislimit.Open(rd.URL(0), "gh-slow:", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := ratelimit.Policy{Rate: 100, Burst: 100, QuotaDay: 10}
	allow := func(bound time.Duration) (ratelimit.Decision, time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		began := time.Now()
		d, err := l.Allow(ctx, "k", p, time.Now())
		return d, time.Since(began), err
	}
	signal := func(s syscall.Signal) {
		err := rd.Freeze()
		if s == syscall.SIGCONT {
			err = rd.Thaw()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := allow(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Stalled for 300 ms, within the bound: a late answer.
	signal(syscall.SIGSTOP)
	time.AfterFunc(300*time.Millisecond, func() { signal(syscall.SIGCONT) })
	d, took, err := allow(10 * time.Second)
	if err != nil || !d.Allowed() || d.DayRemaining != 8 {
		t.Errorf("Allow during a 300 ms stall: %+v, %v after %s; want the second admission, late", d, err, took)
	}
	t.Logf("the answer through a 300 ms stall took %s", took)

	// Stalled throughout the caller's deadline: a timeout.
	signal(syscall.SIGSTOP)
	_, took, err = allow(300 * time.Millisecond)
	signal(syscall.SIGCONT)
	var ne net.Error
	if !errors.Is(err, ratelimit.ErrUnavailable) || !(errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("Allow while stalled past the deadline: %v after %s; want ErrUnavailable and a timeout", err, took)
	}
	if _, _, err := allow(10 * time.Second); err != nil {
		t.Errorf("Allow after the stall: %v", err)
	}

	// Gone: the connection fails; no timeout is waited out.
	if err := rd.Kill(); err != nil {
		t.Fatal(err)
	}
	_, took, err = allow(10 * time.Second)
	if !errors.Is(err, ratelimit.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() ||
		!(errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || errors.As(err, new(*net.OpError))) {
		t.Errorf("Allow with the server gone: %v after %s; want ErrUnavailable and a connection error, not a timeout", err, took)
	}
}

// TestHeartbeat: limiters sharing a Redis count each other through their
// heartbeats, and forget a node that stopped.
func TestHeartbeat(t *testing.T) {
	_, client, prefix := open(t)
	a, b := redislimit.New(client, prefix), redislimit.New(client, prefix)
	if n := a.LiveNodes(); n != 1 {
		t.Errorf("LiveNodes before any heartbeat = %d; want 1 (this node)", n)
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopA()
	doneA, doneB := make(chan struct{}), make(chan struct{})
	go func() { defer close(doneA); a.Heartbeat(ctxA, 200*time.Millisecond) }()
	go func() { defer close(doneB); b.Heartbeat(ctxB, 200*time.Millisecond) }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: LiveNodes = %d, %d", what, a.LiveNodes(), b.LiveNodes())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("two nodes", func() bool { return a.LiveNodes() == 2 && b.LiveNodes() == 2 })
	stopB()
	<-doneB
	waitFor("one node after the other stopped", func() bool { return a.LiveNodes() == 1 })
	stopA()
	<-doneA
	if n := client.ZCard(context.Background(), fmt.Sprintf("%snodes", prefix)).Val(); n != 0 {
		t.Errorf("%d nodes left in %snodes after both stopped; want 0", n, prefix)
	}
}

// TestAdd: calls admitted while Redis was unreachable, added back, count
// against the quotas of their day and month (and only those the policy
// sets), with the expiry allow.lua gives a count; the rate is untouched.
func TestAdd(t *testing.T) {
	l, client, prefix := open(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 23, 0, 0, 0, time.UTC)
	p := ratelimit.Policy{Rate: 1, Burst: 1, QuotaDay: 10, QuotaMonth: 100}
	if err := l.Add(ctx, "k", p, at, 7); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(ctx, "k", ratelimit.Policy{Rate: 1, Burst: 1, QuotaMonth: 100}, at.Add(2*time.Hour), 5); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(ctx, "k", ratelimit.Policy{Rate: 1, Burst: 1}, at, 5); err != nil {
		t.Fatal(err)
	}
	d, err := l.Allow(ctx, "k", p, at.Add(time.Minute))
	if err != nil || !d.Allowed() || d.DayRemaining != 2 || d.MonthRemaining != 87 {
		t.Errorf("Allow after adding 7 on the day and 5 more on the next day: %+v, %v; want admitted with 2 left today and 87 this month", d, err)
	}
	day := prefix + "{k}:d:20260304"
	if ttl := client.TTL(ctx, day).Val(); ttl <= 0 {
		t.Errorf("TTL of %s = %s; want an expiry", day, ttl)
	}
	if n := client.Get(ctx, prefix+"{k}:d:20260305").Val(); n != "" {
		t.Errorf("the next day's count = %q; want none (that policy sets no day quota)", n)
	}
}
