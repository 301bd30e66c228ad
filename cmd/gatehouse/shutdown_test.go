package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store/storetest"
	"gatehouse/internal/testhttp"
	"gatehouse/internal/testproc"
)

// loadNode is usageNode with extra environment: the binary on the live API
// with a plan that limits nothing in practice, a subscribed client and its
// token.
func loadNode(t *testing.T, bin string, extra map[string]string) (*procServer, client, string) {
	t.Helper()
	env := testEnv(t)
	env["GATEHOUSE_USAGE_FLUSH_INTERVAL"] = "1s"
	for k, v := range extra {
		env[k] = v
	}
	p := newProcServer(t, bin, env)
	setupLive(t, p, pongUpstream(t).URL)
	p.cli("plans", "create", "--name", "big", "--rate", "100000", "--burst", "100000")
	c := subscribedClient(t, p, "load app", "big")
	p.start()
	return p, c, p.http.token(c, "")
}

// stopExpectingLoss sends SIGTERM and wants the process to exit 1 and log
// the number of counted calls it could not write; it returns that number.
func (p *procServer) stopExpectingLoss() int64 {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatal("gatehouse did not exit within 60s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 1 {
		p.t.Errorf("gatehouse exited with %v after SIGTERM with counts it could not write; want status 1\n%s", p.cmd.ProcessState, p.out.String())
	}
	m := regexp.MustCompile(`"msg":"writing the last usage counts failed: counted calls are lost","lost_calls":(\d+)`).FindStringSubmatch(p.out.String())
	if m == nil {
		p.t.Fatalf("no log line reports the lost calls:\n%s", p.out.String())
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	if !strings.Contains(p.out.String(), fmt.Sprintf("gatehouse: %d counted calls were not written to the database", n)) {
		p.t.Errorf("the exit message does not give the %d lost calls:\n%s", n, p.out.String())
	}
	return n
}

// TestSIGTERMUnderLoadKeepAlive: SIGTERM while callers reuse keep-alive
// connections through the gateway. Every call gets a complete response, or
// its connection is refused before anything is sent; none is reset or cut
// after it was sent. Every answer is counted once in the usage.
//
// The callers send their next request as soon as they have the previous
// answer; the idle grace (10 s here) is what a caller may pause between two
// calls and still be answered, so the test does not depend on how fast
// this machine schedules them.
func TestSIGTERMUnderLoadKeepAlive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it as a process; skipped in -short mode")
	}
	bin := buildBinary(t)
	for run := range 5 {
		t.Run(fmt.Sprint("run ", run+1), func(t *testing.T) {
			p, c, tok := loadNode(t, bin, map[string]string{
				"GATEHOUSE_SHUTDOWN_TIMEOUT":    "60s",
				"GATEHOUSE_SHUTDOWN_IDLE_GRACE": "10s",
			})
			const callers = 8
			var (
				mu       sync.Mutex
				byStatus = map[int]int64{}
				failures []string
				reused   atomic.Int64
				calls    atomic.Int64
			)
			var wg sync.WaitGroup
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tr := &http.Transport{MaxIdleConnsPerHost: 1}
					defer tr.CloseIdleConnections()
					hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
					for {
						var wrote, wasReused bool
						ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
							GotConn:      func(i httptrace.GotConnInfo) { wasReused = i.Reused },
							WroteRequest: func(httptrace.WroteRequestInfo) { wrote = true },
						})
						req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.http.Issuer+liveTarget, strings.NewReader(`{"n":1}`))
						if err != nil {
							panic(err)
						}
						req.Header.Set("Authorization", "Bearer "+tok)
						req.Header.Set("Content-Type", "application/json")
						resp, err := hc.Do(req)
						if err == nil {
							_, err = io.ReadAll(resp.Body)
							resp.Body.Close()
						}
						if err != nil {
							if errors.Is(err, syscall.ECONNREFUSED) && !wrote {
								return // the listener is closed: the end of this caller
							}
							mu.Lock()
							failures = append(failures, fmt.Sprintf("%v (request sent: %v, reused connection: %v)", err, wrote, wasReused))
							mu.Unlock()
							return
						}
						if wasReused {
							reused.Add(1)
						}
						calls.Add(1)
						mu.Lock()
						byStatus[resp.StatusCode]++
						mu.Unlock()
					}
				}()
			}
			testhttp.Eventually(t, 60*time.Second, "300 calls before SIGTERM", func() bool { return calls.Load() >= 300 })
			// The test's own keep-alive connections (token, /healthz) would
			// hold the stop for the grace: only the callers' stay.
			http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			p.sigterm()
			wg.Wait()
			u := usageOf(t, p, c.ID)
			t.Logf("%d calls (%d on reused connections) before and during the graceful stop (%v); %d failed; usage counts %d (%v)",
				calls.Load(), reused.Load(), byStatus, len(failures), u.Calls, u.ByStatus)
			for _, f := range failures {
				t.Errorf("call cut off: %s", f)
			}
			if byStatus[http.StatusOK] != calls.Load() {
				t.Errorf("answers by status = %v; want only 200s", byStatus)
			}
			if u.Calls != calls.Load() || u.ByStatus["200"] != byStatus[http.StatusOK] {
				t.Errorf("usage counts %d calls (%v) after SIGTERM; want exactly the %d answered", u.Calls, u.ByStatus, calls.Load())
			}
		})
	}
}

// tally is the answers the test received, by status.
type tally map[int]int64

func (t tally) total() (n int64) {
	for _, c := range t {
		n += c
	}
	return n
}

// matches reports whether usage u counts exactly the answers of t.
func (t tally) matches(u usageRow) bool {
	if u.Calls != t.total() {
		return false
	}
	for st, n := range t {
		if u.ByStatus[strconv.Itoa(st)] != n {
			return false
		}
	}
	return true
}

// callN makes n gateway calls, each of which must be answered, and counts
// the answers in made. When only200 is set, each must be a 200.
func callN(t *testing.T, p *procServer, tok string, n int, made tally, only200 bool) {
	t.Helper()
	for i := range n {
		resp, body, err := liveCall(http.DefaultClient, p.http.Issuer, tok)
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if only200 && resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d: %d %s", i+1, resp.StatusCode, body)
		}
		made[resp.StatusCode]++
	}
}

// TestUsageWhileDiskFull: the SQLite database's disk fills up while calls
// are served. The counts are kept and written once space is back, each
// exactly once. Counts pending at shutdown while the disk is full are
// reported lost, with their number, and the exit status is 1.
func TestUsageWhileDiskFull(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs it as a process; skipped in -short mode")
	}
	disk := testproc.MountDiskT(t, "16m")
	bin := buildBinary(t)
	p, c, tok := loadNode(t, bin, map[string]string{
		"GATEHOUSE_DATA_DIR":            disk.Dir,
		"GATEHOUSE_USAGE_FLUSH_TIMEOUT": "1s",
	})
	made := tally{}
	callN(t, p, tok, 20, made, true)
	testhttp.Eventually(t, 30*time.Second, "the first 20 calls to be written", func() bool {
		return usageOf(t, p, c.ID).Calls == 20
	})

	mustDo(t, disk.Fill())
	callN(t, p, tok, 50, made, true)
	testhttp.Eventually(t, 30*time.Second, "a flush to fail on the full disk", func() bool {
		return strings.Contains(p.out.String(), "writing usage counts failed; they are kept in memory and retried")
	})
	callN(t, p, tok, 30, made, true)
	if got := metricValue(t, p.http, "gatehouse_usage_pending_calls"); got != 80 {
		t.Errorf("gatehouse_usage_pending_calls on a full disk = %v; want the 80 calls made since", got)
	}
	mustDo(t, disk.Free())
	testhttp.Eventually(t, 60*time.Second, "the 100 calls to be written once space is back", func() bool {
		return usageOf(t, p, c.ID).Calls >= 100
	})
	if u := usageOf(t, p, c.ID); !made.matches(u) {
		t.Errorf("usage after the disk was full = %d calls (%v); want exactly the %v made", u.Calls, u.ByStatus, made)
	}
	// The flush forgets what it wrote just after the commit the CLI saw.
	testhttp.Eventually(t, 30*time.Second, "gatehouse_usage_pending_calls to be 0 once written", func() bool {
		return metricValue(t, p.http, "gatehouse_usage_pending_calls") == 0
	})

	// Full again at shutdown: the 40 calls made since cannot be written.
	mustDo(t, disk.Fill())
	callN(t, p, tok, 40, tally{}, true)
	lost := p.stopExpectingLoss()
	mustDo(t, disk.Free())
	u := usageOf(t, p, c.ID)
	t.Logf("shutdown on a full disk: %d calls reported lost; %d counted in the database", lost, u.Calls)
	if lost != 40 || !made.matches(u) {
		t.Errorf("shutdown on a full disk: %d reported lost, %d counted (%v); want 40 lost and the %v from before counted", lost, u.Calls, u.ByStatus, made)
	}
}

// pgDatabase creates a PostgreSQL database of the test's own on the server
// of baseURL, returns its URL and a function that turns its new sessions
// read-only (or back) and ends the sessions open on it, so that the
// server refuses every write to it (or accepts them again). The database
// is dropped when the test ends. The shared database itself is never
// altered.
func pgDatabase(t *testing.T, baseURL string) (string, func(readOnly bool)) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "gh_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()
	// DROP DATABASE (and CREATE, depending on the strategy) waits for a
	// checkpoint of the shared cluster, which on a busy machine can take
	// longer than any single query: the bound is generous, and only there
	// so that a stuck server fails the test instead of hanging it.
	run := func(sql string, args ...any) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	run("CREATE DATABASE " + ident)
	t.Cleanup(func() { run("DROP DATABASE IF EXISTS " + ident + " WITH (FORCE)") })
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String(), func(readOnly bool) {
		run(fmt.Sprintf("ALTER DATABASE %s SET default_transaction_read_only = %t", ident, readOnly))
		run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)
	}
}

// TestUsageWhilePostgresReadOnly: the same as TestUsageWhileDiskFull on a
// PostgreSQL database of the test's own that refuses writes (read-only
// sessions).
func TestUsageWhilePostgresReadOnly(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs it as a process; skipped in -short mode")
	}
	dbURL, setReadOnly := pgDatabase(t, storetest.PostgresURL(t))
	bin := buildBinary(t)
	p, c, tok := loadNode(t, bin, map[string]string{
		"GATEHOUSE_DATABASE_URL":        dbURL,
		"GATEHOUSE_USAGE_FLUSH_TIMEOUT": "1s",
	})
	made := tally{}
	callN(t, p, tok, 20, made, true)
	testhttp.Eventually(t, 30*time.Second, "the first 20 calls to be written", func() bool { return usageOf(t, p, c.ID).Calls == 20 })

	// Ending the sessions can fail the calls that were using them (503
	// store_unavailable): those are answers too, and counted.
	setReadOnly(true)
	callN(t, p, tok, 50, made, false)
	testhttp.Eventually(t, 30*time.Second, "a flush to fail on the read-only database", func() bool {
		return strings.Contains(p.out.String(), "writing usage counts failed; they are kept in memory and retried")
	})
	callN(t, p, tok, 30, made, false)
	setReadOnly(false)
	testhttp.Eventually(t, 60*time.Second, "the 100 calls to be written once writes are accepted", func() bool {
		return usageOf(t, p, c.ID).Calls >= 100
	})
	if u := usageOf(t, p, c.ID); !made.matches(u) {
		t.Errorf("usage after the database refused writes = %d calls (%v); want exactly the %v made", u.Calls, u.ByStatus, made)
	}

	setReadOnly(true)
	callN(t, p, tok, 40, tally{}, false)
	lost := p.stopExpectingLoss()
	setReadOnly(false)
	u := usageOf(t, p, c.ID)
	t.Logf("answers %v; shutdown on a read-only database: %d calls reported lost; %d counted in the database (%v)", made, lost, u.Calls, u.ByStatus)
	if lost != 40 || !made.matches(u) {
		t.Errorf("shutdown on a read-only database: %d reported lost, %d counted (%v); want 40 lost and the %v from before counted", lost, u.Calls, u.ByStatus, made)
	}
}

// TestLastFlushAfterShutdownTimeout: a call still running when
// shutdown_timeout ends does not cost the counts of the calls answered
// before it: the last usage flush has its own deadline
// (usage_flush_timeout), where it used to get the expired shutdown one
// (and lose every pending count, exit status 0).
func TestLastFlushAfterShutdownTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it as a process; skipped in -short mode")
	}
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), `"n":999`) {
			arrived <- struct{}{}
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"pong":true}`)
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(func() { close(release) })

	bin := buildBinary(t)
	env := testEnv(t)
	env["GATEHOUSE_USAGE_FLUSH_INTERVAL"] = "1h" // only the last flush writes
	env["GATEHOUSE_SHUTDOWN_TIMEOUT"] = "300ms"
	env["GATEHOUSE_SHUTDOWN_IDLE_GRACE"] = "0s"
	p := newProcServer(t, bin, env)
	setupLive(t, p, upstream.URL)
	p.cli("plans", "create", "--name", "big", "--rate", "100000", "--burst", "100000")
	c := subscribedClient(t, p, "slow app", "big")
	p.start()
	tok := p.http.token(c, "")
	made := tally{}
	callN(t, p, tok, 25, made, true)

	answered := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, p.http.Issuer+liveTarget, strings.NewReader(`{"n":999}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answered <- fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
	}()
	select {
	case <-arrived: // in flight, and it stays so past shutdown_timeout
	case a := <-answered:
		t.Fatalf("the slow call was answered before it reached the upstream: %s", a)
	case <-time.After(60 * time.Second):
		t.Fatal("the slow call did not reach the upstream")
	}
	p.sigterm()
	if !strings.Contains(p.out.String(), "shutdown did not finish cleanly") {
		t.Errorf("the stop does not say a request was still running at shutdown_timeout:\n%s", p.out.String())
	}
	if u := usageOf(t, p, c.ID); !made.matches(u) {
		t.Errorf("usage after a stop past shutdown_timeout = %d calls (%v); want the %v answered before it", u.Calls, u.ByStatus, made)
	}
}
