package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/store/storetest"
	"gatehouse/internal/testhttp"
)

// Issue 4's promises under load, across nodes, through crashes and Redis
// outages: the real binary (or run in-process) on real PostgreSQL, SQLite
// and Redis.

// limiterPrefix is the key prefix the server's Redis limiter uses (serve.go).
const limiterPrefix = "gatehouse:"

// testRedis is one logical database of the Redis server named by
// GATEHOUSE_TEST_REDIS_URL, set aside for one test so that the servers'
// keys never mix with other tests' (which use the URL's own database).
// The limiter's keys embed the client id, which is random per test, so a
// test starts clean without flushing; at cleanup it deletes the keys of
// the clients it owns, and only those: a FLUSHDB would pull the counters
// from under a concurrent run of the same test.
type testRedis struct {
	t    *testing.T
	URL  string // the servers' GATEHOUSE_REDIS_URL
	Addr string // host:port of the Redis server
	DB   int
	rdb  *redis.Client

	mu     sync.Mutex
	owners []string
}

// newTestRedis returns logical database db of the test Redis server, or
// skips the test when GATEHOUSE_TEST_REDIS_URL is not set.
func newTestRedis(t *testing.T, db int) *testRedis {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if base == "" {
		t.Skip("set GATEHOUSE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run the Redis limiter tests")
	}
	opts, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS_URL: %v", err)
	}
	opts.DB = db
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS_URL: %v", err)
	}
	u.Path = "/" + strconv.Itoa(db)
	r := &testRedis{t: t, URL: u.String(), Addr: opts.Addr, DB: db, rdb: redis.NewClient(opts)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		r.rdb.Close()
		t.Fatalf("Redis at %s (database %d): %v", opts.Addr, db, err)
	}
	t.Cleanup(r.cleanup)
	return r
}

// via returns the servers' URL with the host and port replaced by addr (a
// forwarder's).
func (r *testRedis) via(addr string) string {
	u, _ := url.Parse(r.URL)
	u.Host = addr
	return u.String()
}

// own marks a client's limiter keys for deletion at cleanup.
func (r *testRedis) own(clientID string) {
	r.mu.Lock()
	r.owners = append(r.owners, clientID)
	r.mu.Unlock()
}

// globEscape escapes the glob metacharacters of a SCAN MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (r *testRedis) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer r.rdb.Close()
	r.mu.Lock()
	owners := r.owners
	r.mu.Unlock()
	for _, id := range owners {
		pattern := limiterPrefix + "{" + globEscape(id) + "|*"
		var keys []string
		iter := r.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			r.t.Errorf("Redis cleanup: scanning %s: %v", pattern, err)
			continue
		}
		if len(keys) > 0 {
			if err := r.rdb.Del(ctx, keys...).Err(); err != nil {
				r.t.Errorf("Redis cleanup: deleting %d keys: %v", len(keys), err)
			}
		}
	}
}

// dayCount returns the admitted requests the limiter counted for the
// client on the API on the UTC day holding day (0 when the key is absent).
func (r *testRedis) dayCount(clientID, api string, day time.Time) int64 {
	r.t.Helper()
	key := limiterPrefix + "{" + clientID + "|" + api + "}:d:" + day.UTC().Format("20060102")
	n, err := r.rdb.Get(context.Background(), key).Int64()
	if err == redis.Nil {
		return 0
	}
	if err != nil {
		r.t.Fatalf("reading %s: %v", key, err)
	}
	return n
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pongUpstream is a trivial upstream for testhttp.LiveAPI (base path /live/v1).
func pongUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"pong":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// liveTarget is the one operation of testhttp.LiveAPI, relative to a node's
// public base URL; it takes a JSON body and needs scope live:ping.
const liveTarget = "/live/v1/ping"

// setupLive imports testhttp.LiveAPI as API "live" against upstream through the
// CLI of the binary (the server need not run: the CLI writes the database).
func setupLive(t *testing.T, p *procServer, upstream string) {
	t.Helper()
	doc := filepath.Join(t.TempDir(), "live.yaml")
	if err := os.WriteFile(doc, []byte(testhttp.LiveAPI), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cli("apis", "import", doc, "--upstream", upstream+"/live/v1")
}

// subscribedClient creates a client with scope live:ping and subscribes it
// to API live on plan, through the binary's CLI.
func subscribedClient(t *testing.T, p *procServer, name, plan string) client {
	t.Helper()
	var c client
	out := p.cli("clients", "create", "--name", name, "--scopes", "live:ping", "--json")
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		t.Fatalf("clients create printed %q: %v", out, err)
	}
	var sub struct {
		Status string `json:"status"`
	}
	out = p.cli("subscriptions", "create", "--client", c.ID, "--api", "live", "--plan", plan, "--json")
	if err := json.Unmarshal([]byte(out), &sub); err != nil || sub.Status != "active" {
		t.Fatalf("subscriptions create printed %q: %v; want an active subscription", out, err)
	}
	return c
}

// sigterm asks the process to stop (SIGTERM) and waits for a clean exit.
func (p *procServer) sigterm() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatal("gatehouse did not exit within 60s of SIGTERM")
	}
	if !p.cmd.ProcessState.Success() {
		p.t.Errorf("gatehouse exited with %v after SIGTERM; want status 0\n%s", p.cmd.ProcessState, p.out.String())
	}
	if strings.Contains(p.out.String(), "writing the last usage counts failed") {
		p.t.Errorf("the last usage flush failed:\n%s", p.out.String())
	}
}

// usageOf returns the `usage --json` row of the client on API live (zero
// when there is none), read by the binary's CLI.
func usageOf(t *testing.T, p *procServer, clientID string) usageRow {
	t.Helper()
	var out struct {
		Usage []usageRow `json:"usage"`
	}
	raw := p.cli("usage", "--client", clientID, "--api", "live", "--json")
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("usage --json printed %q: %v", raw, err)
	}
	var row usageRow
	for _, u := range out.Usage {
		if u.ClientID != clientID || u.API != "live" {
			t.Errorf("usage --client %s --api live lists %s on %s", clientID, u.ClientID, u.API)
			continue
		}
		row = u
	}
	return row
}

// liveCall sends one call to the live API with hc.
func liveCall(hc *http.Client, base, token string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, base+liveTarget, strings.NewReader(`{"n":1}`))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// secondsToUTCMidnight is how many seconds remain in the UTC day.
func secondsToUTCMidnight(now time.Time) int {
	now = now.UTC()
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return int(math.Ceil(next.Sub(now).Seconds()))
}

// limitAnswer is what a call through the limits must look like.
type limitAnswer struct {
	policy string // the exact RateLimit-Policy field
	// Refusals: the CAMARA code, cause, a part of the RateLimit field and
	// the bounds of Retry-After in seconds.
	code, cause, state string
	retryMin, retryMax int
}

// check classifies one answer: admitted (200 with the RateLimit fields),
// refused (a well-formed 429 as described), or neither, with what is wrong.
func (la limitAnswer) check(resp *http.Response, body []byte) (admitted bool, wrong string) {
	h := resp.Header
	switch resp.StatusCode {
	case http.StatusOK:
		if got := h.Get("RateLimit-Policy"); got != la.policy {
			return true, fmt.Sprintf("200 with RateLimit-Policy %q; want %q", got, la.policy)
		}
		if h.Get("RateLimit") == "" {
			return true, "200 without the RateLimit field"
		}
		if !strings.Contains(string(body), `"pong"`) {
			return true, fmt.Sprintf("200 with body %q; want the upstream's", body)
		}
		return true, ""
	case http.StatusTooManyRequests:
	default:
		return false, fmt.Sprintf("status %d, body %q", resp.StatusCode, body)
	}
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "application/json" && mt != "application/problem+json" {
		return false, fmt.Sprintf("429 with Content-Type %q", h.Get("Content-Type"))
	}
	var e testhttp.GatewayError
	if err := json.Unmarshal(body, &e); err != nil {
		return false, fmt.Sprintf("429 body is not JSON: %q", body)
	}
	if e.Status != 429 || e.Code != la.code || e.Cause == nil || e.Cause.ID != la.cause || e.Message == "" || e.Type == "" || e.Correlator == "" {
		return false, fmt.Sprintf("429 body %s; want status 429, code %s, cause %s, message, type and correlator", body, la.code, la.cause)
	}
	ra, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || ra < la.retryMin || ra > la.retryMax {
		return false, fmt.Sprintf("429 with Retry-After %q; want whole seconds in [%d, %d]", h.Get("Retry-After"), la.retryMin, la.retryMax)
	}
	if got := h.Get("RateLimit-Policy"); got != la.policy {
		return false, fmt.Sprintf("429 with RateLimit-Policy %q; want %q", got, la.policy)
	}
	if got := h.Get("RateLimit"); !strings.Contains(got, la.state) {
		return false, fmt.Sprintf("429 with RateLimit %q; want it to contain %q", got, la.state)
	}
	return false, ""
}

// hammerResult is the outcome of hammer.
type hammerResult struct {
	admitted, refused int64
	perNode           []struct{ admitted, refused int64 }
	wrong             int64    // answers that were neither, and transport errors
	samples           []string // the first few of those
	elapsed           time.Duration
	// firstAnswer is when the first answer was read and lastSent when the
	// last call was sent, both since the start: every call was decided
	// within elapsed, and the decisions certainly span lastSent −
	// firstAnswer (the first was made by firstAnswer, the last after
	// lastSent).
	firstAnswer, lastSent time.Duration
}

// hammer sends calls to the live API on every node from conns connections
// (each its own keep-alive connection), split evenly over the nodes: each
// node gets perNode calls when perNode > 0, else the calls keep coming
// until dur has passed. elapsed runs from just before the first call is
// sent until the last answer was read.
func hammer(bases []string, token string, conns int, perNode int64, dur time.Duration, la limitAnswer) *hammerResult {
	res := &hammerResult{perNode: make([]struct{ admitted, refused int64 }, len(bases))}
	var mu sync.Mutex
	remaining := make([]atomic.Int64, len(bases))
	for i := range remaining {
		remaining[i].Store(perNode)
	}
	start := make(chan struct{})
	var t0 time.Time
	var wg sync.WaitGroup
	for w := range conns {
		node := w % len(bases)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
			<-start
			for {
				if perNode > 0 {
					if remaining[node].Add(-1) < 0 {
						return
					}
				} else if time.Since(t0) >= dur {
					return
				}
				sent := time.Since(t0)
				resp, body, err := liveCall(hc, bases[node], token)
				answered := time.Since(t0)
				var admitted bool
				var wrong string
				if err != nil {
					wrong = "transport error: " + err.Error()
				} else {
					admitted, wrong = la.check(resp, body)
				}
				mu.Lock()
				if res.firstAnswer == 0 || answered < res.firstAnswer {
					res.firstAnswer = answered
				}
				res.lastSent = max(res.lastSent, sent)
				switch {
				case wrong != "":
					res.wrong++
					if len(res.samples) < 5 {
						res.samples = append(res.samples, fmt.Sprintf("node %d: %s", node, wrong))
					}
				case admitted:
					res.admitted++
					res.perNode[node].admitted++
				default:
					res.refused++
					res.perNode[node].refused++
				}
				mu.Unlock()
			}
		}()
	}
	t0 = time.Now()
	close(start)
	wg.Wait()
	res.elapsed = time.Since(t0)
	return res
}

// TestLimitsAccuracyAcrossNodes: two gatehouse processes sharing one
// PostgreSQL schema and one Redis enforce one budget per subscription.
// A day quota of L admits exactly L calls out of 3L sent from 64
// connections split over both nodes, every other answer being a well-formed
// 429 QUOTA_EXCEEDED; a rate of R per second with burst B admits no more
// than B + R×(measured wall time) and not much less under saturating load.
// Usage, written by both nodes, counts every call once.
func TestLimitsAccuracyAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two nodes under load; skipped in -short mode")
	}
	dbURL := storetest.PostgresSchema(t, storetest.PostgresURL(t))
	rdb := newTestRedis(t, 7)
	bin := buildBinary(t)
	upstream := pongUpstream(t)

	const (
		quota = 2000 // L
		rate  = 50   // R per second
		burst = 50   // B
		conns = 64
	)
	secret := randomHex(32)
	envA, envB := testEnv(t), testEnv(t)
	for _, env := range []map[string]string{envA, envB} {
		env["GATEHOUSE_DATABASE_URL"] = dbURL
		env["GATEHOUSE_SECRET"] = secret
		env["GATEHOUSE_REDIS_URL"] = rdb.URL
	}
	// Both nodes behind one issuer, as a load balancer would put them.
	envB["GATEHOUSE_ISSUER"] = envA["GATEHOUSE_ISSUER"]
	a := newProcServer(t, bin, envA)
	b := newProcServer(t, bin, envB)
	b.http.Issuer = "http://" + envB["GATEHOUSE_PUBLIC_ADDR"]

	// The catalogue is written before the nodes start, so that both serve
	// it from their first request.
	setupLive(t, a, upstream.URL)
	a.cli("plans", "create", "--name", "quota-l", "--rate", "100000", "--burst", "100000", "--quota-day", strconv.Itoa(quota))
	a.cli("plans", "create", "--name", "rate-r", "--rate", strconv.Itoa(rate), "--burst", strconv.Itoa(burst))
	quotaApp := subscribedClient(t, a, "quota app", "quota-l")
	rateApp := subscribedClient(t, a, "rate app", "rate-r")
	rdb.own(quotaApp.ID)
	rdb.own(rateApp.ID)
	a.start()
	b.start()
	bases := []string{a.http.Issuer, b.http.Issuer}

	t.Run("day quota", func(t *testing.T) {
		tok := a.http.token(quotaApp, "")
		day := time.Now().UTC()
		began := time.Now()
		res := hammer(bases, tok, conns, 3*quota/2, 0, limitAnswer{
			policy: `"rate";q=100000;w=1, "day";q=` + strconv.Itoa(quota) + `;w=86400`,
			code:   "QUOTA_EXCEEDED", cause: "day_quota", state: `"day";r=0;t=`,
			retryMin: 1, retryMax: secondsToUTCMidnight(day) + 1,
		})
		if time.Now().UTC().Day() != day.Day() {
			t.Skip("the UTC day changed during the run: the quota restarted")
		}
		t.Logf("%d calls over 2 nodes from %d connections in %s (%.0f calls/s): %d admitted (node A %d, node B %d), %d refused",
			3*quota, conns, res.elapsed.Round(time.Millisecond), float64(3*quota)/res.elapsed.Seconds(),
			res.admitted, res.perNode[0].admitted, res.perNode[1].admitted, res.refused)
		if res.wrong > 0 {
			t.Errorf("%d answers were neither 200 nor a well-formed 429 QUOTA_EXCEEDED; first: %s", res.wrong, strings.Join(res.samples, "; "))
		}
		// With one atomic budget in Redis the count is exact; without
		// Redis it would only be within 1% at best.
		if res.admitted != quota {
			t.Errorf("admitted %d calls on a day quota of %d shared by two nodes; want exactly %d (within 1%% at the very least)", res.admitted, quota, quota)
		}
		if res.admitted+res.refused+res.wrong != 3*quota {
			t.Errorf("%d answers for %d calls", res.admitted+res.refused+res.wrong, 3*quota)
		}
		if res.perNode[0].admitted == 0 || res.perNode[1].admitted == 0 {
			t.Errorf("admitted per node = %d and %d; the load did not reach both nodes", res.perNode[0].admitted, res.perNode[1].admitted)
		}
		if n := rdb.dayCount(quotaApp.ID, "live", day); n != quota {
			t.Errorf("Redis counts %d admitted calls today; want %d (refusals are not counted)", n, quota)
		}
		// Once the quota is used up, each node still refuses.
		for i, base := range bases {
			resp, body, err := liveCall(http.DefaultClient, base, tok)
			if err != nil {
				t.Fatal(err)
			}
			if admitted, wrong := (limitAnswer{
				policy: `"rate";q=100000;w=1, "day";q=` + strconv.Itoa(quota) + `;w=86400`,
				code:   "QUOTA_EXCEEDED", cause: "day_quota", state: `"day";r=0;t=`,
				retryMin: 1, retryMax: secondsToUTCMidnight(time.Now()) + 1,
			}).check(resp, body); admitted || wrong != "" {
				t.Errorf("node %d after the run: admitted %v, %s; want a 429 QUOTA_EXCEEDED", i, admitted, wrong)
			}
		}
		t.Logf("day quota phase took %s", time.Since(began).Round(time.Millisecond))
	})

	var rateAdmitted, rateRefused int64
	t.Run("rate", func(t *testing.T) {
		tok := a.http.token(rateApp, "")
		const dur = 3 * time.Second
		res := hammer(bases, tok, conns, 0, dur, limitAnswer{
			policy: `"rate";q=` + strconv.Itoa(burst) + `;w=1`,
			code:   "TOO_MANY_REQUESTS", cause: "rate_limited", state: `"rate";r=0;t=`,
			// 1/R = 20 ms to the next admission: Retry-After is 1 s.
			retryMin: 1, retryMax: 1,
		})
		rateAdmitted, rateRefused = res.admitted, res.refused
		// Every admission was decided between t0 and t0+elapsed: GCRA
		// admits the burst at once and then R per second, so at most
		// B + R×elapsed. Under saturating load the limiter decided calls
		// all through lastSent − firstAnswer (a pause shorter than B/R
		// loses nothing: the budget refills meanwhile), so at least 90%
		// of B + R×(lastSent − firstAnswer). On a busy machine the first
		// answer and the last call can be far from the window's ends.
		maxAdmitted := float64(burst) + float64(rate)*res.elapsed.Seconds()
		minAdmitted := 0.9 * (float64(burst) + float64(rate)*(res.lastSent-res.firstAnswer).Seconds())
		total := res.admitted + res.refused + res.wrong
		t.Logf("%d calls over 2 nodes in %s (%.0f calls/s; first answer at %s, last call sent at %s): %d admitted (node A %d, node B %d), %d refused; bounds %.1f – %.1f",
			total, res.elapsed.Round(time.Millisecond), float64(total)/res.elapsed.Seconds(),
			res.firstAnswer.Round(time.Millisecond), res.lastSent.Round(time.Millisecond),
			res.admitted, res.perNode[0].admitted, res.perNode[1].admitted, res.refused, minAdmitted, maxAdmitted)
		if res.wrong > 0 {
			t.Errorf("%d answers were neither 200 nor a well-formed 429 TOO_MANY_REQUESTS; first: %s", res.wrong, strings.Join(res.samples, "; "))
		}
		if float64(res.admitted) > maxAdmitted*1.01 {
			t.Errorf("admitted %d calls in %s at %d/s with burst %d; want at most %.1f (+1%%)", res.admitted, res.elapsed, rate, burst, maxAdmitted)
		}
		if float64(res.admitted) < minAdmitted {
			t.Errorf("admitted %d calls at %d/s with burst %d under saturating load, decided over at least %s; want at least %.1f (90%% of B+R×t)",
				res.admitted, rate, burst, res.lastSent-res.firstAnswer, minAdmitted)
		}
		if res.refused < res.admitted {
			t.Errorf("only %d refusals for %d admissions: the load did not saturate the rate, the bound proves little", res.refused, res.admitted)
		}
		if res.perNode[0].admitted == 0 || res.perNode[1].admitted == 0 {
			t.Errorf("admitted per node = %d and %d; the load did not reach both nodes", res.perNode[0].admitted, res.perNode[1].admitted)
		}
	})

	// Usage, recorded by both nodes into the shared database: after a
	// graceful stop every answer is counted once, by status.
	a.sigterm()
	b.sigterm()
	for _, c := range []struct {
		name              string
		app               client
		admitted, refused int64
	}{
		// The 2L refusals of the run and one per node after it.
		{"day quota", quotaApp, quota, 2*quota + int64(len(bases))},
		{"rate", rateApp, rateAdmitted, rateRefused},
	} {
		u := usageOf(t, a, c.app.ID)
		if u.ByStatus["200"] != c.admitted || u.ByStatus["429"] != c.refused || u.Calls != c.admitted+c.refused {
			t.Errorf("%s: usage counts %d calls %v; want %d 200s and %d 429s", c.name, u.Calls, u.ByStatus, c.admitted, c.refused)
		}
	}
}

// usageNode starts the binary on SQLite with a 1 s usage flush interval
// and the live API on a plan that limits nothing in practice, and returns
// it with a subscribed client and its token.
func usageNode(t *testing.T, bin string) (*procServer, client, string) {
	t.Helper()
	env := testEnv(t)
	env["GATEHOUSE_USAGE_FLUSH_INTERVAL"] = "1s"
	p := newProcServer(t, bin, env)
	setupLive(t, p, pongUpstream(t).URL)
	p.cli("plans", "create", "--name", "big", "--rate", "100000", "--burst", "100000")
	c := subscribedClient(t, p, "usage app", "big")
	p.start()
	return p, c, p.http.token(c, "")
}

// TestUsageSurvivesKill9: usage is flushed every interval, so SIGKILL loses
// at most the calls of the last interval and never invents any; a graceful
// SIGTERM, even with calls in flight, loses none.
func TestUsageSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it as a process; skipped in -short mode")
	}
	bin := buildBinary(t)

	t.Run("SIGKILL", func(t *testing.T) {
		p, c, tok := usageNode(t, bin)
		const n = 300
		hc := &http.Client{Timeout: 30 * time.Second}
		completed := make([]time.Time, 0, n)
		for i := range n {
			resp, body, err := liveCall(hc, p.http.Issuer, tok)
			if err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("call %d: %d %s", i+1, resp.StatusCode, body)
			}
			completed = append(completed, time.Now())
			time.Sleep(10 * time.Millisecond) // ~300 calls over ~3 s
		}
		killedAt := time.Now()
		p.kill()
		// A call completed before killedAt - interval - margin was flushed
		// by a tick that came (and finished writing) before the kill.
		const interval, margin = time.Second, 500 * time.Millisecond
		var surely int64
		for _, at := range completed {
			if at.Before(killedAt.Add(-interval - margin)) {
				surely++
			}
		}
		p.start() // the database opens after the crash
		u := usageOf(t, p, c.ID)
		t.Logf("%d calls over %s, SIGKILL right after the last: %d counted after the restart (%d lost), %d completed over %s before the kill",
			n, completed[n-1].Sub(completed[0]).Round(time.Millisecond), u.Calls, n-u.Calls, surely, interval+margin)
		if u.Calls < surely || u.Calls > n {
			t.Errorf("usage counts %d calls after SIGKILL; want between %d (completed more than the flush interval + %s before the kill) and %d (made)", u.Calls, surely, margin, n)
		}
		if u.ByStatus["200"] != u.Calls {
			t.Errorf("usage by status = %v; want only 200s", u.ByStatus)
		}
		p.kill()
	})

	t.Run("SIGTERM", func(t *testing.T) {
		p, c, tok := usageNode(t, bin)
		// Four callers call without pause, so SIGTERM lands with calls in
		// flight; each stops at its first transport error (the listener
		// closed). Every answer received must be counted exactly once.
		var mu sync.Mutex
		byStatus := map[int]int64{}
		var calls atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tr := &http.Transport{}
				defer tr.CloseIdleConnections()
				hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
				for {
					resp, _, err := liveCall(hc, p.http.Issuer, tok)
					if err != nil {
						return
					}
					calls.Add(1)
					mu.Lock()
					byStatus[resp.StatusCode]++
					mu.Unlock()
				}
			}()
		}
		testhttp.Eventually(t, 30*time.Second, "300 calls before SIGTERM", func() bool { return calls.Load() >= 300 })
		p.sigterm()
		wg.Wait()
		u := usageOf(t, p, c.ID)
		t.Logf("%d answers received before and during the graceful stop (%v); usage counts %d (%v)", calls.Load(), byStatus, u.Calls, u.ByStatus)
		if u.Calls != calls.Load() {
			t.Errorf("usage counts %d calls after SIGTERM; want exactly the %d answered", u.Calls, calls.Load())
		}
		for st, n := range byStatus {
			if got := u.ByStatus[strconv.Itoa(st)]; got != n {
				t.Errorf("usage counts %d calls with status %d; want %d", got, st, n)
			}
		}
		if byStatus[http.StatusOK] != calls.Load() {
			t.Errorf("answers by status = %v; want only 200s", byStatus)
		}
	})
}

// TestQuotaSurvivesRestartWithRedis: with Redis, quota counters outlive the
// process: 5 calls on a quota of 5, a restart (graceful, then SIGKILL), and
// the next call is refused.
func TestQuotaSurvivesRestartWithRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it as a process; skipped in -short mode")
	}
	rdb := newTestRedis(t, 8)
	bin := buildBinary(t)
	env := testEnv(t)
	env["GATEHOUSE_REDIS_URL"] = rdb.URL
	p := newProcServer(t, bin, env)
	setupLive(t, p, pongUpstream(t).URL)
	p.cli("plans", "create", "--name", "five", "--rate", "1000", "--burst", "1000", "--quota-day", "5")
	c := subscribedClient(t, p, "five app", "five")
	rdb.own(c.ID)
	p.start()
	tok := p.http.token(c, "")
	day := time.Now().UTC()

	policy := `"rate";q=1000;w=1, "day";q=5;w=86400`
	for i := 1; i <= 5; i++ {
		resp, body, err := liveCall(http.DefaultClient, p.http.Issuer, tok)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d of 5 on a quota of 5: %d %s", i, resp.StatusCode, body)
		}
		if want := fmt.Sprintf(`"day";r=%d;t=`, 5-i); !strings.Contains(resp.Header.Get("RateLimit"), want) {
			t.Errorf("call %d: RateLimit %q; want it to contain %s", i, resp.Header.Get("RateLimit"), want)
		}
	}
	refused := func(when string) {
		t.Helper()
		resp, body, err := liveCall(http.DefaultClient, p.http.Issuer, tok)
		if err != nil {
			t.Fatal(err)
		}
		la := limitAnswer{policy: policy, code: "QUOTA_EXCEEDED", cause: "day_quota", state: `"day";r=0;t=`,
			retryMin: 1, retryMax: secondsToUTCMidnight(time.Now()) + 1}
		if admitted, wrong := la.check(resp, body); admitted || wrong != "" {
			t.Errorf("call past the quota %s: admitted %v, %s; want a well-formed 429 QUOTA_EXCEEDED day_quota", when, admitted, wrong)
		}
	}
	refused("before any restart")

	p.sigterm()
	p.start()
	tok = p.http.token(c, "")
	refused("after a graceful restart")

	p.kill()
	p.start()
	refused("after SIGKILL and a restart")
	if time.Now().UTC().Day() != day.Day() {
		t.Skip("the UTC day changed during the test: the quota restarted")
	}
	if n := rdb.dayCount(c.ID, "live", day); n != 5 {
		t.Errorf("Redis counts %d admitted calls today; want 5 (refusals are not counted)", n)
	}
	p.sigterm()
}

// metricValue returns the value of one sample line of the admin /metrics,
// or -1 when it is absent.
func metricValue(t *testing.T, ts *testServer, sample string) float64 {
	t.Helper()
	resp, body := ts.adminCall("GET", "/metrics", "", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("/metrics line %q: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// TestLimiterFailOpenAndClosed: with Redis behind a connection that is cut,
// the default decides calls with the node's share of the plan's rate
// (quotas unmetered), says so in the RateLimit fields and counts it in
// gatehouse_limiter_errors_total{mode="open"}; with
// GATEHOUSE_LIMITER_FAIL_CLOSED it answers 503 UNAVAILABLE
// limiter_unavailable with Retry-After. Both recover once Redis is back.
func TestLimiterFailOpenAndClosed(t *testing.T) {
	var admitted int64 // 200s of the current subtest
	sandbox := func(t *testing.T, ts *testServer, tok string) (*http.Response, []byte) {
		t.Helper()
		resp, body := ts.send(t, testhttp.Request{Path: "/sim-swap/v2/check", Token: tok, Body: `{"phoneNumber":"+34600000001"}`})
		if resp.StatusCode == http.StatusOK {
			admitted++
		}
		return resp, body
	}
	for _, closed := range []bool{false, true} {
		mode := map[bool]string{false: "open", true: "closed"}[closed]
		t.Run("fail-"+mode, func(t *testing.T) {
			admitted = 0
			rdb := newTestRedis(t, 9)
			fwd := startForwarder(t, rdb.Addr)
			ts := startServer(t, func(env map[string]string) {
				env["GATEHOUSE_REDIS_URL"] = rdb.via(fwd.addr)
				env["GATEHOUSE_LOG_LEVEL"] = "error" // fail-open warns on every call
				if closed {
					env["GATEHOUSE_LIMITER_FAIL_CLOSED"] = "true"
				}
			})
			app := ts.createClient("limiter "+mode, "--scopes", "sim-swap:check")
			rdb.own(app.ID)
			tok := ts.token(app, "")

			// Metered through Redis while it is reachable.
			resp, body := sandbox(t, ts, tok)
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("RateLimit"), `"day";r=999;`) {
				t.Fatalf("before the outage: %d, RateLimit %q, %s; want 200 metered by the sandbox plan", resp.StatusCode, resp.Header.Get("RateLimit"), body)
			}
			if n := rdb.dayCount(app.ID, "sim-swap", time.Now()); n != 1 {
				t.Fatalf("Redis counts %d calls; want 1: the limiter is not the Redis one", n)
			}
			if v := metricValue(t, ts, `gatehouse_limiter_errors_total{mode="`+mode+`"}`); v > 0 {
				t.Errorf("limiter errors before the outage = %v", v)
			}

			fwd.cut()
			const during = 3
			for i := range during {
				began := time.Now()
				resp, body := sandbox(t, ts, tok)
				t.Logf("call %d while Redis is cut: %d in %s", i+1, resp.StatusCode, time.Since(began).Round(time.Millisecond))
				if !closed {
					// One node: its share is the sandbox plan's whole rate
					// (10/s, burst 20), and no day quota.
					if resp.StatusCode != http.StatusOK || resp.Header.Get("RateLimit-Policy") != `"rate";q=20;w=2` ||
						!strings.HasPrefix(resp.Header.Get("RateLimit"), `"rate";r=`) {
						t.Errorf("fail-open call %d while Redis is cut: %d, RateLimit-Policy %q, RateLimit %q, %s; want 200 under the node's share of the rate only",
							i+1, resp.StatusCode, resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"), body)
					}
					continue
				}
				var e testhttp.GatewayError
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatalf("fail-closed call %d while Redis is cut: %d, body not JSON: %q", i+1, resp.StatusCode, body)
				}
				if resp.StatusCode != http.StatusServiceUnavailable || e.Status != 503 || e.Code != "UNAVAILABLE" || e.Cause == nil || e.Cause.ID != "limiter_unavailable" {
					t.Errorf("fail-closed call %d while Redis is cut: %d %s; want 503 UNAVAILABLE limiter_unavailable", i+1, resp.StatusCode, body)
				}
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("fail-closed call %d: Retry-After %q; want whole seconds ≥ 1", i+1, resp.Header.Get("Retry-After"))
				}
			}
			if v := metricValue(t, ts, `gatehouse_limiter_errors_total{mode="`+mode+`"}`); v < during {
				t.Errorf(`gatehouse_limiter_errors_total{mode=%q} = %v after %d calls without Redis; want ≥ %d`, mode, v, during, during)
			}
			other := map[bool]string{false: "closed", true: "open"}[closed]
			if v := metricValue(t, ts, `gatehouse_limiter_errors_total{mode="`+other+`"}`); v > 0 {
				t.Errorf(`gatehouse_limiter_errors_total{mode=%q} = %v; this server fails %s`, other, v, mode)
			}

			// Redis is back on the same address: metered 200s again.
			fwd.restore()
			// (Only Redis's decisions carry the day quota.)
			testhttp.Eventually(t, 30*time.Second, "calls to be metered through Redis again", func() bool {
				resp, _ := sandbox(t, ts, tok)
				return resp.StatusCode == http.StatusOK && strings.Contains(resp.Header.Get("RateLimit"), `"day";r=`)
			})
			resp, body = sandbox(t, ts, tok)
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("RateLimit"), `"day";r=`) {
				t.Errorf("after Redis came back: %d, RateLimit %q, %s; want a 200 metered through Redis", resp.StatusCode, resp.Header.Get("RateLimit"), body)
			}
			// The calls admitted without Redis are added to its count:
			// the day quota counts every call admitted, once.
			testhttp.Eventually(t, 30*time.Second, "Redis to count every admitted call", func() bool {
				return rdb.dayCount(app.ID, "sim-swap", time.Now()) == admitted
			})
		})
	}
}
