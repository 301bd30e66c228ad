package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/store/storetest"
	"gatehouse/internal/testhttp"
	"gatehouse/internal/testproc"
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
				testhttp.Eventually(t, 30*time.Second, "the saved count to reach the calls admitted", func() bool {
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

// privateRedis is a redis-server of the test's own (testproc.Redis: never
// the machine's shared one), without persistence, on a port that stays the
// same when it is killed and started again, so that it can be frozen,
// killed and restarted under the nodes' feet.
type privateRedis struct {
	*testproc.Redis
	t   *testing.T
	URL string // redis://127.0.0.1:PORT/0
	rdb *redis.Client
}

// newPrivateRedis picks a free port (nothing listens until start) or skips
// the test when redis-server is not installed.
func newPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	rd, err := testproc.NewRedis()
	if errors.Is(err, testproc.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := &privateRedis{Redis: rd, t: t, URL: rd.URL(0)}
	r.rdb = redis.NewClient(&redis.Options{Addr: rd.Addr(), MaxRetries: -1})
	t.Cleanup(func() {
		r.rdb.Close()
		rd.Close()
	})
	return r
}

// start runs redis-server on the port and waits until it answers PING.
func (r *privateRedis) start() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mustDo(r.t, r.Start(ctx))
}

// freeze stops the process (SIGSTOP): connections stay open, nothing
// answers.
func (r *privateRedis) freeze() { mustDo(r.t, r.Freeze()) }

// kill ends it with SIGKILL (a frozen one too): its data is gone.
func (r *privateRedis) kill() { mustDo(r.t, r.Kill()) }

// dayCount returns the day count Redis holds for the client on API live.
func (r *privateRedis) dayCount(clientID string, day time.Time) int64 {
	r.t.Helper()
	key := limiterPrefix + "{" + clientID + "|live}:d:" + day.UTC().Format("20060102")
	n, err := r.rdb.Get(context.Background(), key).Int64()
	if err == redis.Nil {
		return 0
	}
	if err != nil {
		r.t.Fatalf("reading %s: %v", key, err)
	}
	return n
}

// readiness is a node's /readyz answer.
type readiness struct {
	code   int
	Status string // "ready" or "degraded" on a 200
	Limits string
	Nodes  int
	Cause  string // the problem's cause id on a 503
}

func readyz(t *testing.T, p *procServer) readiness {
	t.Helper()
	resp, err := http.Get(p.http.Admin + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	var body struct {
		Status any    `json:"status"` // a string on 200, a number in a problem
		Limits string `json:"limits"`
		Nodes  int    `json:"nodes"`
		Cause  *struct {
			ID string `json:"id"`
		} `json:"cause"`
	}
	testhttp.DecodeJSON(t, resp, &body)
	r := readiness{code: resp.StatusCode, Limits: body.Limits, Nodes: body.Nodes}
	r.Status, _ = body.Status.(string)
	if body.Cause != nil {
		r.Cause = body.Cause.ID
	}
	return r
}

// degraded reports whether the node's /readyz says its limits are
// degraded: 200 "degraded" fail-open, 503 limiter_unavailable fail-closed.
func (r readiness) degraded() bool {
	return r.code == http.StatusOK && r.Status == "degraded" ||
		r.code == http.StatusServiceUnavailable && r.Cause == "limiter_unavailable"
}

func (r readiness) ready() bool { return r.code == http.StatusOK && r.Status == "ready" }

// TestNodeStartsWithRedisDown: a node whose Redis does not answer starts
// anyway (it exited 1 before), says in /readyz and gatehouse_limiter_degraded
// that its limits are degraded, enforces its share of the rate (one node
// known: the whole rate) or, fail-closed, refuses with 503; once Redis
// starts it becomes ready without a restart, meters through Redis, and
// Redis counts the calls admitted before it was there.
func TestNodeStartsWithRedisDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs redis-server; skipped in -short mode")
	}
	bin := buildBinary(t)
	for _, closed := range []bool{false, true} {
		mode := map[bool]string{false: "fail-open", true: "fail-closed"}[closed]
		t.Run(mode, func(t *testing.T) {
			rd := newPrivateRedis(t) // not started
			env := testEnv(t)
			env["GATEHOUSE_REDIS_URL"] = rd.URL
			env["GATEHOUSE_LIMITER_TIMEOUT"] = "500ms"
			env["GATEHOUSE_LOG_LEVEL"] = "error"
			if closed {
				env["GATEHOUSE_LIMITER_FAIL_CLOSED"] = "true"
			}
			p := newProcServer(t, bin, env)
			setupLive(t, p, pongUpstream(t).URL)
			p.cli("plans", "create", "--name", "r10", "--rate", "10", "--burst", "10", "--quota-day", "1000")
			c := subscribedClient(t, p, "early app", "r10")
			p.start()
			day := time.Now()

			r := readyz(t, p)
			t.Logf("/readyz with Redis down: %d %+v", r.code, r)
			if !r.degraded() {
				t.Errorf("/readyz with Redis down: %d %+v; want degraded", r.code, r)
			}
			if closed && r.code != http.StatusServiceUnavailable {
				t.Errorf("fail-closed /readyz with Redis down: %d; want 503", r.code)
			}
			if !closed && (r.code != http.StatusOK || r.Nodes != 1 || !strings.Contains(r.Limits, "local share")) {
				t.Errorf("fail-open /readyz with Redis down: %d %+v; want 200 degraded, local share of 1 node", r.code, r)
			}
			if v := metricValue(t, p.http, "gatehouse_limiter_degraded"); v != 1 {
				t.Errorf("gatehouse_limiter_degraded = %v with Redis down; want 1", v)
			}

			tok := p.http.token(c, "")
			hc := &http.Client{Timeout: 30 * time.Second}
			var admitted int64
			for i := range 5 {
				resp, body, err := liveCall(hc, p.http.Issuer, tok)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case closed && resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "limiter_unavailable"):
				case !closed && resp.StatusCode == http.StatusOK && resp.Header.Get("RateLimit-Policy") == `"rate";q=10;w=1` &&
					!strings.Contains(resp.Header.Get("RateLimit"), "day"):
					admitted++
				default:
					t.Errorf("call %d with Redis down: %d, RateLimit-Policy %q, RateLimit %q, %s", i+1, resp.StatusCode,
						resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"), body)
				}
			}

			rd.start()
			testhttp.Eventually(t, 60*time.Second, "/readyz to say ready once Redis answers", func() bool { return readyz(t, p).ready() })
			if v := metricValue(t, p.http, "gatehouse_limiter_degraded"); v != 0 {
				t.Errorf("gatehouse_limiter_degraded = %v with Redis up; want 0", v)
			}
			// The calls admitted locally are added to Redis's count once it
			// answers, whether or not calls come in.
			testhttp.Eventually(t, 60*time.Second, "Redis to count the calls admitted before it was up", func() bool {
				return rd.dayCount(c.ID, day) == admitted
			})
			resp, body, err := liveCall(hc, p.http.Issuer, tok)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf(`"day";r=%d;`, 1000-admitted-1)
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("RateLimit"), want) {
				t.Errorf("call with Redis up: %d, RateLimit %q, %s; want 200 metered through Redis (%s)", resp.StatusCode, resp.Header.Get("RateLimit"), body, want)
			}
			p.sigterm()
		})
	}
}

// outageCall is one call's outcome in TestRedisOutageAcrossNodes.
type outageCall int

const (
	callAdmitted outageCall = iota
	callRateLimited
	callQuotaExceeded
)

// classify returns what a call's answer was, failing the test on anything
// but a 200 from the upstream or a well-formed 429.
func classify(t *testing.T, resp *http.Response, body []byte, err error) outageCall {
	t.Helper()
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"pong"`):
		return callAdmitted
	case resp.StatusCode == http.StatusTooManyRequests && strings.Contains(string(body), `"QUOTA_EXCEEDED"`):
		return callQuotaExceeded
	case resp.StatusCode == http.StatusTooManyRequests && strings.Contains(string(body), `"TOO_MANY_REQUESTS"`):
		return callRateLimited
	}
	t.Fatalf("call: %d %s; want 200 or 429", resp.StatusCode, body)
	return 0
}

// TestRedisOutageAcrossNodes: two nodes (the binary) share one PostgreSQL
// schema and a private Redis, which is frozen (SIGSTOP) while traffic goes
// through both nodes, then killed (its counts are gone: no persistence) and
// started again on the same port. While it is frozen each node enforces its
// share of the rate (rate ÷ 2, burst ÷ 2): the calls admitted during the
// outage stay within the two shares over the time they took, so a quota
// used up during the outage is over-admitted by no more than that. Once
// Redis is back, its counts are exact: the counts of before the outage
// (which the restarted Redis lost) plus every call admitted during it, and
// a subscription with quota left is admitted exactly what is left.
//
// Phases are driven by what the nodes report (/readyz, metrics), not by
// sleeps; the only time in the assertions is measured, in the local-share
// bound.
func TestRedisOutageAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs two nodes and redis-server; skipped in -short mode")
	}
	dbURL := storetest.PostgresSchema(t, storetest.PostgresURL(t))
	rd := newPrivateRedis(t)
	rd.start()
	bin := buildBinary(t)
	upstream := pongUpstream(t)

	const (
		rate, burst, quota = 10, 30, 60
		nodes              = 2
		shareRate          = float64(rate) / nodes
		shareBurst         = (burst + nodes - 1) / nodes
	)
	secret := randomHex(32)
	envA, envB := testEnv(t), testEnv(t)
	for _, env := range []map[string]string{envA, envB} {
		env["GATEHOUSE_DATABASE_URL"] = dbURL
		env["GATEHOUSE_SECRET"] = secret
		env["GATEHOUSE_REDIS_URL"] = rd.URL
		env["GATEHOUSE_LIMITER_TIMEOUT"] = "500ms"
		env["GATEHOUSE_LOG_LEVEL"] = "error"
	}
	envB["GATEHOUSE_ISSUER"] = envA["GATEHOUSE_ISSUER"]
	a := newProcServer(t, bin, envA)
	b := newProcServer(t, bin, envB)
	b.http.Issuer = "http://" + envB["GATEHOUSE_PUBLIC_ADDR"]
	setupLive(t, a, upstream.URL)
	a.cli("plans", "create", "--name", "outage", "--rate", strconv.Itoa(rate), "--burst", strconv.Itoa(burst), "--quota-day", strconv.Itoa(quota))
	x := subscribedClient(t, a, "used-up app", "outage") // its quota runs out during the outage
	y := subscribedClient(t, a, "spare app", "outage")   // keeps quota for after it
	a.start()
	b.start()
	ps := []*procServer{a, b}
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range ps {
				t.Logf("node %d's log:\n%s", i, p.out.String())
			}
		}
	})
	day := time.Now()
	tokX, tokY := a.http.token(x, ""), a.http.token(y, "")
	hc := &http.Client{Timeout: 30 * time.Second}

	// Each node knows of both through the heartbeats in Redis.
	for i, p := range ps {
		testhttp.Eventually(t, 60*time.Second, fmt.Sprintf("node %d to count 2 nodes", i), func() bool {
			return metricValue(t, p.http, "gatehouse_limiter_nodes") == nodes
		})
	}

	// Phase 1, Redis up: calls through both nodes until x has 40 admitted
	// and y 10, metered exactly by Redis.
	admit := func(tok string, n int64) {
		var admitted int64
		for i := 0; admitted < n; i++ {
			resp, body, err := liveCall(hc, ps[i%2].http.Issuer, tok)
			switch classify(t, resp, body, err) {
			case callAdmitted:
				admitted++
			case callQuotaExceeded:
				t.Fatalf("quota exceeded after %d admitted", admitted)
			}
		}
	}
	admit(tokX, 40)
	admit(tokY, 10)
	if nx, ny := rd.dayCount(x.ID, day), rd.dayCount(y.ID, day); nx != 40 || ny != 10 {
		t.Fatalf("before the outage Redis counts %d and %d; want 40 and 10", nx, ny)
	}

	// Phase 2, Redis frozen: once both nodes say their limits are
	// degraded, 40 calls of x and 2 of y through each node.
	rd.freeze()
	for i, p := range ps {
		testhttp.Eventually(t, 60*time.Second, fmt.Sprintf("node %d to report degraded limits", i), func() bool {
			r := readyz(t, p)
			return r.code == http.StatusOK && r.Status == "degraded" && r.Nodes == nodes
		})
	}
	localPolicy := fmt.Sprintf(`"rate";q=%d;w=%d`, shareBurst, int(float64(shareBurst)/shareRate))
	var admittedX, admittedY [2]int64
	var elapsed [2]time.Duration
	done := make(chan int)
	for i, p := range ps {
		go func() {
			defer func() { done <- i }()
			began := time.Now()
			for range 40 {
				resp, body, err := liveCall(hc, p.http.Issuer, tokX)
				if err == nil && resp.StatusCode == http.StatusOK && resp.Header.Get("RateLimit-Policy") != localPolicy {
					t.Errorf("node %d during the outage: RateLimit-Policy %q; want the local share %q", i, resp.Header.Get("RateLimit-Policy"), localPolicy)
				}
				if err == nil && resp.StatusCode == http.StatusOK {
					admittedX[i]++
				} else if err != nil || resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "TOO_MANY_REQUESTS") {
					t.Errorf("node %d during the outage: %v %v %s; want 200 or a rate 429", i, err, resp, body)
					return
				}
			}
			for range 2 {
				resp, body, err := liveCall(hc, p.http.Issuer, tokY)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("node %d during the outage, y: %v %v %s; want 200 (well within its share)", i, err, resp, body)
					continue
				}
				admittedY[i]++
			}
			elapsed[i] = time.Since(began)
		}()
	}
	<-done
	<-done
	var duringX, bound float64
	for i := range ps {
		// GCRA admits the share's burst at once, then its rate.
		nodeBound := float64(shareBurst) + shareRate*elapsed[i].Seconds()
		t.Logf("node %d during the outage: x %d of 40 admitted in %s (share bound %.1f), y %d of 2", i, admittedX[i], elapsed[i].Round(time.Millisecond), nodeBound, admittedY[i])
		if float64(admittedX[i]) > nodeBound+1 {
			t.Errorf("node %d admitted %d calls of x during the outage in %s; want at most its share, %d + %g/s × t = %.1f", i, admittedX[i], elapsed[i], shareBurst, shareRate, nodeBound)
		}
		duringX += float64(admittedX[i])
		bound += nodeBound
	}
	totalX := 40 + admittedX[0] + admittedX[1]
	totalY := 10 + admittedY[0] + admittedY[1]
	t.Logf("x: %d admitted on a quota of %d, %d over (during the outage %.0f, local-share bound %.1f)", totalX, quota, max(0, totalX-quota), duringX, bound)

	// Phase 3, Redis killed and started again, empty.
	rd.kill()
	rd.start()
	for i, p := range ps {
		testhttp.Eventually(t, 60*time.Second, fmt.Sprintf("node %d to be ready again", i), func() bool { return readyz(t, p).ready() })
	}
	testhttp.Eventually(t, 60*time.Second, "Redis to count every call admitted before and during the outage", func() bool {
		return rd.dayCount(x.ID, day) == totalX && rd.dayCount(y.ID, day) == totalY
	})

	// x's quota is used up on both nodes; y is admitted exactly what is
	// left of its quota, through both nodes.
	for i, p := range ps {
		resp, body, err := liveCall(hc, p.http.Issuer, tokX)
		if c := classify(t, resp, body, err); c != callQuotaExceeded {
			t.Errorf("node %d after the outage, x: %v; want its quota exceeded", i, c)
		}
	}
	var afterY int64
	quotaSeen := [2]bool{}
	for i := 0; !quotaSeen[0] || !quotaSeen[1]; i++ {
		resp, body, err := liveCall(hc, ps[i%2].http.Issuer, tokY)
		switch classify(t, resp, body, err) {
		case callAdmitted:
			afterY++
		case callQuotaExceeded:
			quotaSeen[i%2] = true
		}
		if afterY > quota {
			t.Fatalf("y: %d admitted after the outage; the quota is not enforced", afterY)
		}
	}
	if time.Now().UTC().Day() != day.UTC().Day() {
		t.Skip("the UTC day changed during the test: the quota restarted")
	}
	t.Logf("y: %d admitted before and during the outage, %d after it on a quota of %d", totalY, afterY, quota)
	if totalY+afterY != quota {
		t.Errorf("y: %d admitted before and during the outage and %d after; want exactly %d in all", totalY, afterY, quota)
	}
	if n := rd.dayCount(y.ID, day); n != quota {
		t.Errorf("Redis counts %d calls of y; want %d", n, quota)
	}
}

// TestReadyzDegradedInProcess is TestNodeStartsWithRedisDown's first half
// in-process and without any Redis (fast, for -short runs): a node whose
// Redis URL points at nothing starts, and its /readyz and
// gatehouse_limiter_degraded say its limits are degraded: 200 "degraded"
// fail-open, 503 limiter_unavailable fail-closed.
func TestReadyzDegradedInProcess(t *testing.T) {
	for _, closed := range []bool{false, true} {
		t.Run(map[bool]string{false: "fail-open", true: "fail-closed"}[closed], func(t *testing.T) {
			nowhere := freeAddr(t) // nothing listens there
			ts := startServer(t, func(env map[string]string) {
				env["GATEHOUSE_REDIS_URL"] = "redis://" + nowhere + "/0"
				env["GATEHOUSE_LOG_LEVEL"] = "error"
				if closed {
					env["GATEHOUSE_LIMITER_FAIL_CLOSED"] = "true"
				}
			})
			p := &procServer{t: t, http: ts}
			r := readyz(t, p)
			want := http.StatusOK
			if closed {
				want = http.StatusServiceUnavailable
			}
			if !r.degraded() || r.code != want {
				t.Errorf("/readyz without Redis: %d %+v; want %d, degraded", r.code, r, want)
			}
			if v := metricValue(t, ts, "gatehouse_limiter_degraded"); v != 1 {
				t.Errorf("gatehouse_limiter_degraded = %v without Redis; want 1", v)
			}
		})
	}
}
