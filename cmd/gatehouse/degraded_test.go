package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
	sqlstore "gatehouse/internal/store/sql"
)

// Issue 10 §3: limits are exact or visibly degraded, never silently off.

// savedDayCount returns the day count the node's SQLite database holds for
// the client on API live (the in-memory limiter's saved quota count), read
// through a connection of the test's own.
func savedDayCount(t *testing.T, dataDir, clientID string, day time.Time) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sqlstore.Open(ctx, filepath.Join(dataDir, "gatehouse.db"))
	if err != nil {
		t.Fatalf("opening the node's database: %v", err)
	}
	defer db.Close()
	cs, err := db.ListQuotaCounts(ctx, ratelimit.DayStart(day), ratelimit.MonthStart(day))
	if err != nil {
		t.Fatalf("ListQuotaCounts: %v", err)
	}
	for _, c := range cs {
		if c.Key == clientID+"|live" && c.Period == store.QuotaDay {
			return c.Count
		}
	}
	return 0
}

// callsAdmitted sends n calls to the live API one after the other and
// returns how many were admitted; every other answer must be the day
// quota's 429.
func callsAdmitted(t *testing.T, p *procServer, tok string, n int) int64 {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	var admitted int64
	for i := range n {
		resp, body, err := liveCall(hc, p.http.Issuer, tok)
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			admitted++
		case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("RateLimit") != "":
		default:
			t.Fatalf("call %d: %d %s; want 200 or the quota's 429", i+1, resp.StatusCode, body)
		}
	}
	return admitted
}

// TestQuotaSurvivesRestarts: a single node (in-memory limiter, SQLite)
// keeps its day quota across restarts. Measured before: 150 calls admitted
// on a quota-day of 50 over three restarts. A graceful stop (SIGTERM)
// saves every count: exactly 50 are admitted in all. A crash (SIGKILL)
// loses only the counts admitted since the last save (every usage flush
// interval): the calls made after the test saw the saved count reach what
// it had sent bound the over-admission, and the restarted node admits
// exactly the quota minus what was saved.
func TestQuotaSurvivesRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and restarts it; skipped in -short mode")
	}
	bin := buildBinary(t)
	const quota = 50

	setup := func(t *testing.T) (*procServer, string, client) {
		env := testEnv(t)
		env["GATEHOUSE_USAGE_FLUSH_INTERVAL"] = "1s"
		p := newProcServer(t, bin, env)
		setupLive(t, p, pongUpstream(t).URL)
		p.cli("plans", "create", "--name", "day50", "--rate", "1000", "--burst", "1000", "--quota-day", strconv.Itoa(quota))
		c := subscribedClient(t, p, "quota app", "day50")
		return p, env["GATEHOUSE_DATA_DIR"], c
	}
	sameDay := func(t *testing.T, day time.Time) {
		if time.Now().UTC().Day() != day.UTC().Day() {
			t.Skip("the UTC day changed during the test: the quota restarted")
		}
	}

	t.Run("SIGTERM", func(t *testing.T) {
		p, _, c := setup(t)
		day := time.Now()
		var total int64
		for run, want := range []int64{20, 20, 10, 0} {
			p.start()
			got := callsAdmitted(t, p, p.http.token(c, ""), 20)
			t.Logf("run %d: %d of 20 calls admitted", run+1, got)
			if got != want {
				t.Errorf("run %d (after %d graceful restarts): %d of 20 admitted; want %d", run+1, run, got, want)
			}
			total += got
			p.sigterm()
		}
		sameDay(t, day)
		if total != quota {
			t.Errorf("%d calls admitted over three graceful restarts on a day quota of %d; want exactly %d", total, quota, quota)
		}
	})

	t.Run("SIGKILL", func(t *testing.T) {
		p, dataDir, c := setup(t)
		day := time.Now()

		// Run 1: 20 calls, a graceful stop.
		p.start()
		total := callsAdmitted(t, p, p.http.token(c, ""), 20)
		p.sigterm()
		if n := savedDayCount(t, dataDir, c.ID, day); n != total {
			t.Fatalf("after SIGTERM the database holds %d; want the %d admitted", n, total)
		}

		// Runs 2 and 3: calls the test saw saved, more calls, SIGKILL.
		var over int64 // bound: calls made after the last save the test saw
		for run := 2; run <= 3; run++ {
			p.start()
			tok := p.http.token(c, "")
			if run == 2 {
				total += callsAdmitted(t, p, tok, 15)
				want := total
				eventually(t, 30*time.Second, "the saved count to reach the calls admitted", func() bool {
					return savedDayCount(t, dataDir, c.ID, day) == want
				})
			}
			n := callsAdmitted(t, p, tok, 5)
			total += n
			over += n
			p.kill()
			t.Logf("run %d: SIGKILL with %d admitted, %d saved", run, total, savedDayCount(t, dataDir, c.ID, day))
		}

		// Run 4: the node admits exactly what the saved count leaves.
		saved := savedDayCount(t, dataDir, c.ID, day)
		p.start()
		last := callsAdmitted(t, p, p.http.token(c, ""), quota)
		p.sigterm()
		total += last
		sameDay(t, day)
		t.Logf("%d admitted on a day quota of %d over a SIGTERM and two SIGKILLs (%d over; bound %d, the calls made after the last save seen)", total, quota, total-quota, over)
		if want := quota - saved; last != want {
			t.Errorf("after the restart %d were admitted with %d saved; want exactly %d", last, saved, want)
		}
		if total < quota || total > quota+over {
			t.Errorf("%d admitted in all on a quota of %d; want between %d and %d (one flush interval's calls per SIGKILL)", total, quota, quota, quota+over)
		}
	})
}
