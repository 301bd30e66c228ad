package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/testproc"
)

// adminToken is every rig node's admin API token.
const adminToken = "faults-admin-token-0123456789abcdef"

// suite is what every scenario shares.
type suite struct {
	bin string
	// faultFor is how long each fault lasts.
	faultFor time.Duration
	// storeTimeout is the nodes' store time limit in the database scenarios.
	storeTimeout time.Duration
}

// notApplicable marks a count a scenario does not measure.
const notApplicable = math.MinInt64

// result is one scenario's line. Counts that do not apply are
// notApplicable.
type result struct {
	name    string
	made    int64 // calls sent
	ok      int64 // answered 2xx
	counted int64 // in the usage records afterwards
	lost    int64 // answered but not counted
	over    int64 // admitted beyond the plan's limits
	longest time.Duration
	figures string // the scenario's own figures
	// holds is whether the scenario's promise held; why says what broke.
	holds bool
	why   []string
	err   error // the scenario could not run
}

func newResult(name string) *result {
	na := int64(notApplicable)
	return &result{name: name, made: na, ok: na, counted: na, lost: na, over: na, holds: true}
}

func (r *result) fail(format string, args ...any) {
	r.holds = false
	r.why = append(r.why, fmt.Sprintf(format, args...))
}

// scenario is one fault: its name, the promise it checks, whether it is
// fast enough for CI, and how to run it.
type scenario struct {
	name    string
	promise string
	fast    bool
	run     func(ctx context.Context, s *suite, res *result) error
}

var scenarios = []scenario{
	{"kill9", "kill -9 loses at most the calls of one flush interval; nothing written is lost, nothing invented", true, kill9},
	{"sigterm", "SIGTERM under load: every answered call counted, no request broken on a kept-alive connection, exit 0", true, sigterm},
	{"upstream-down", "upstream refusing connections: every call answered 502/503 at once, none hangs", true, upstreamDown},
	{"upstream-hang", "upstream accepting and never answering: every call answered 504/503 after upstream_timeout", true, upstreamHang},
	{"upstream-flap", "upstream up 64 % of each second: the breaker lets most of that through", false, upstreamFlap},
	{"pg-freeze", "PostgreSQL frozen (SIGSTOP): every request answered within store_timeout, 503 + Retry-After; /readyz not ready; no write half-done", true, pgFreeze},
	{"pg-stop", "PostgreSQL stopped and started: every request answered, 503 + Retry-After while down; service and counts back after", true, pgStop},
	{"disk-full", "disk full (SQLite on a full tmpfs): writes refused with 503 storage_full, counts kept and written once space returns", true, diskFull},
	{"disk-full-stop", "stopped while the disk is full: the counts it could not write are logged with their number and the exit is non-zero", true, diskFullStop},
	{"redis-freeze", "Redis frozen then killed and restarted, two nodes: over-admission within the local share, day quota exact", false, redisFreeze},
}

// callLoop returns a drive function that calls the API through node g,
// tallying into t, and stops at the first transport error when stopOnErr.
func callLoop(r *rig, g *testproc.Gatehouse, t *tally, stopOnErr bool) func(*http.Client) bool {
	return func(hc *http.Client) bool {
		start := time.Now()
		status, body, _, err := r.call(hc, g)
		t.add(status, body, err, time.Since(start))
		return err == nil || !stopOnErr
	}
}

func kill9(ctx context.Context, s *suite, res *result) error {
	r, err := newRig(ctx, s.bin, rigOptions{})
	if err != nil {
		return err
	}
	defer r.close()
	g := r.nodes[0]
	t := newTally()
	t.keepTime = true
	// Phase 1: calls, then wait until usage holds them: written.
	p1, cancel := context.WithTimeout(ctx, time.Second)
	drive(p1, 4, 0, callLoop(r, g, t, true))
	cancel()
	written := t.answers()
	if _, err := r.waitCounted(ctx, written); err != nil {
		return err
	}
	// Phase 2: calls without pause, kill -9 in the middle of them.
	var wg sync.WaitGroup
	p2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	wg.Add(1)
	go func() { defer wg.Done(); drive(p2, 4, 0, callLoop(r, g, t, true)) }()
	time.Sleep(1500 * time.Millisecond)
	killedAt := time.Now()
	if err := g.Kill(); err != nil {
		return err
	}
	wg.Wait()
	counted, err := r.restartAndCount(ctx, g)
	if err != nil {
		return err
	}
	answered := t.answers()
	var lastInterval int64 // answered within the flush interval before the kill
	for _, at := range t.answered {
		if at.After(killedAt.Add(-time.Second)) {
			lastInterval++
		}
	}
	res.made, res.ok, res.counted, res.lost = t.made(), answered, counted, answered-counted
	res.figures = fmt.Sprintf("flush interval 1s; %d answered in the last interval before the kill", lastInterval)
	if counted < written {
		res.fail("%d calls counted after the restart, fewer than the %d already written before", counted, written)
	}
	if counted > answered+4 {
		res.fail("%d calls counted, more than the %d answered (+4 in flight): invented", counted, answered)
	}
	if res.lost > lastInterval+4 {
		res.fail("%d lost, more than one interval's %d (+4 in flight)", res.lost, lastInterval)
	}
	return nil
}

// restartAndCount starts the stopped node g again (the database opens
// after a crash or a stop) and returns the calls the usage records hold.
func (r *rig) restartAndCount(ctx context.Context, g *testproc.Gatehouse) (int64, error) {
	if err := g.Start(ctx); err != nil {
		return 0, err
	}
	counted, _, err := r.counted()
	return counted, err
}

func sigterm(ctx context.Context, s *suite, res *result) error {
	r, err := newRig(ctx, s.bin, rigOptions{})
	if err != nil {
		return err
	}
	defer r.close()
	g := r.nodes[0]
	t := newTally()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); drive(ctx, 8, 0, callLoop(r, g, t, true)) }()
	for t.answers() < 300 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	code, err := g.Term(time.Minute)
	if err != nil {
		return err
	}
	wg.Wait()
	counted, err := r.restartAndCount(ctx, g)
	if err != nil {
		return err
	}
	res.made, res.ok, res.counted, res.lost = t.made(), t.status(http.StatusOK), counted, t.answers()-counted
	broken := int64(0)
	var kinds []string
	for k, n := range t.errs {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		if k != "refused" {
			broken += n
		}
	}
	sort.Strings(kinds)
	res.figures = fmt.Sprintf("exit %d; transport errors: %s", code, strings.Join(kinds, ", "))
	if code != 0 {
		res.fail("exit status %d", code)
	}
	if res.lost != 0 {
		res.fail("%d answered calls not counted", res.lost)
	}
	if broken > 0 {
		res.fail("%d requests broken after they were sent", broken)
	}
	return nil
}

// upstreamFault runs 2 callers for s.faultFor against an upstream changed
// by fault, and checks every call was answered with one of want.
func upstreamFault(ctx context.Context, s *suite, res *result, env map[string]string, fault func(*upstream) error, want ...int) error {
	r, err := newRig(ctx, s.bin, rigOptions{env: env})
	if err != nil {
		return err
	}
	defer r.close()
	if err := fault(r.up); err != nil {
		return err
	}
	t := newTally()
	fctx, cancel := context.WithTimeout(ctx, s.faultFor)
	drive(fctx, 2, 0, callLoop(r, r.nodes[0], t, false))
	cancel()
	res.made, res.longest = t.made(), t.longest
	res.figures = t.String()
	for st, n := range t.byStatus {
		if !containsInt(want, st) {
			res.fail("%d calls answered %d", n, st)
		}
	}
	for k, n := range t.errs {
		res.fail("%d calls ended without an answer (%s)", n, k)
	}
	return nil
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func upstreamDown(ctx context.Context, s *suite, res *result) error {
	return upstreamFault(ctx, s, res, nil, func(u *upstream) error { return u.setDown(true) },
		http.StatusBadGateway, http.StatusServiceUnavailable)
}

func upstreamHang(ctx context.Context, s *suite, res *result) error {
	err := upstreamFault(ctx, s, res, map[string]string{"GATEHOUSE_UPSTREAM_TIMEOUT": "1s"},
		func(u *upstream) error { u.hang.Store(true); return nil },
		http.StatusGatewayTimeout, http.StatusServiceUnavailable)
	res.figures += "; upstream_timeout 1s"
	return err
}

func upstreamFlap(ctx context.Context, s *suite, res *result) error {
	r, err := newRig(ctx, s.bin, rigOptions{})
	if err != nil {
		return err
	}
	defer r.close()
	r.up.flap(time.Second, 640*time.Millisecond)
	t := newTally()
	fctx, cancel := context.WithTimeout(ctx, max(s.faultFor, 10*time.Second))
	drive(fctx, 4, 5*time.Millisecond, callLoop(r, r.nodes[0], t, false))
	cancel()
	res.made, res.ok, res.longest = t.made(), t.status(http.StatusOK), t.longest
	through := float64(res.ok) / float64(max(res.made, 1))
	res.figures = fmt.Sprintf("%.0f %% through (the upstream is up 64 %% of the time); %v", 100*through, t)
	if through < 0.4 {
		res.fail("only %.0f %% of calls got through", 100*through)
	}
	return nil
}

// storeFault runs the database scenarios: a rig on a private PostgreSQL,
// fault applied for s.faultFor while token requests, API calls and admin
// creates run, then heal; it checks every request was answered with
// success or 503 + Retry-After, /readyz turned not ready, and no create
// that was answered as failed exists afterwards.
func storeFault(ctx context.Context, s *suite, res *result, fault, heal func(*testproc.Postgres) error) error {
	r, err := newRig(ctx, s.bin, rigOptions{postgres: true, env: map[string]string{
		"GATEHOUSE_ADMIN_TOKEN":   adminToken,
		"GATEHOUSE_STORE_TIMEOUT": s.storeTimeout.String(),
	}})
	if err != nil {
		return err
	}
	defer r.close()
	g := r.nodes[0]
	before, err := r.adminClients()
	if err != nil {
		return err
	}
	// The app was calling before the fault, as apps in production are.
	if status, body, _, err := r.call(http.DefaultClient, g); err != nil || status != http.StatusOK {
		return fmt.Errorf("a call before the fault: %d %s %v", status, body, err)
	}
	if err := fault(r.pg); err != nil {
		return err
	}
	faultAt := time.Now()
	var notReadyAfter atomic.Int64
	notReadyAfter.Store(-1)
	tokens, calls, creates := newTally(), newTally(), newTally()
	var createdOK atomic.Int64
	var noRetryAfter atomic.Int64
	check := func(t *tally, status int, body []byte, h http.Header, err error, took time.Duration) {
		t.add(status, body, err, took)
		if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
			noRetryAfter.Add(1)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, s.faultFor)
	var wg sync.WaitGroup
	// send drives conns callers of one kind of request into t.
	send := func(t *tally, conns int, req func(*http.Client) (int, []byte, http.Header, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			drive(fctx, conns, 0, func(hc *http.Client) bool {
				start := time.Now()
				status, body, h, err := req(hc)
				check(t, status, body, h, err, time.Since(start))
				if status == http.StatusCreated {
					createdOK.Add(1)
				}
				return true
			})
		}()
	}
	send(tokens, 2, func(hc *http.Client) (int, []byte, http.Header, error) { return r.tokenRequest(hc, g) })
	send(calls, 2, func(hc *http.Client) (int, []byte, http.Header, error) { return r.call(hc, g) })
	send(creates, 1, func(hc *http.Client) (int, []byte, http.Header, error) { return r.adminCreate(hc, g) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for fctx.Err() == nil {
			if !ready(g) && notReadyAfter.Load() < 0 {
				notReadyAfter.Store(int64(time.Since(faultAt)))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	wg.Wait()
	cancel()
	if err := heal(r.pg); err != nil {
		return err
	}
	for !ready(g) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	after, err := r.adminClients()
	if err != nil {
		return err
	}
	halfDone := int64(after-before) - createdOK.Load()
	longest := max(tokens.longest, calls.longest, creates.longest)
	res.made = tokens.made() + calls.made() + creates.made()
	res.longest = longest
	nr := "never"
	if d := notReadyAfter.Load(); d >= 0 {
		nr = "after " + time.Duration(d).Round(100*time.Millisecond).String()
	}
	res.figures = fmt.Sprintf("store_timeout %v; token: %v; calls: %v; admin creates: %v; /readyz not ready %s; %d creates answered as failed but made",
		s.storeTimeout, tokens, calls, creates, nr, halfDone)
	for _, t := range []*tally{tokens, calls, creates} {
		for st, n := range t.byStatus {
			if st != http.StatusOK && st != http.StatusCreated && st != http.StatusServiceUnavailable {
				res.fail("%d answered %d", n, st)
			}
		}
		for k, n := range t.errs {
			res.fail("%d requests ended without an answer (%s)", n, k)
		}
	}
	if n := noRetryAfter.Load(); n > 0 {
		res.fail("%d answers 503 without Retry-After", n)
	}
	if notReadyAfter.Load() < 0 {
		res.fail("/readyz stayed ready")
	}
	if halfDone > 0 {
		res.fail("%d clients exist whose create was answered as failed", halfDone)
	}
	if limit := s.storeTimeout + time.Second; longest > limit {
		res.fail("a request took %v, more than store_timeout + 1 s", longest.Round(time.Millisecond))
	}
	return nil
}

func pgFreeze(ctx context.Context, s *suite, res *result) error {
	return storeFault(ctx, s, res, (*testproc.Postgres).Freeze, (*testproc.Postgres).Thaw)
}

func pgStop(ctx context.Context, s *suite, res *result) error {
	return storeFault(ctx, s, res, (*testproc.Postgres).Stop,
		func(p *testproc.Postgres) error { return p.Start(ctx) })
}

// adminCreate creates a client through the admin API.
func (r *rig) adminCreate(hc *http.Client, g *testproc.Gatehouse) (int, []byte, http.Header, error) {
	req, _ := http.NewRequest(http.MethodPost, g.Admin+"/admin/clients",
		strings.NewReader(`{"name":"created during a fault","scopes":["faults:ping"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	return do(hc, req)
}

// adminClients counts the clients through the CLI (the database, not a
// node's cache).
func (r *rig) adminClients() (int, error) {
	out, err := r.nodes[0].CLI("clients", "list", "--json")
	if err != nil {
		return 0, err
	}
	var list struct {
		Clients []json.RawMessage `json:"clients"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return 0, fmt.Errorf("clients list --json printed %q: %w", out, err)
	}
	return len(list.Clients), nil
}

// diskFullRig starts a SQLite rig on a small tmpfs and fills it.
func diskFullRig(ctx context.Context, s *suite) (*rig, *testproc.Disk, error) {
	d, err := testproc.MountDisk("24m")
	if err != nil {
		return nil, nil, err
	}
	r, err := newRig(ctx, s.bin, rigOptions{dataDir: filepath.Join(d.Dir, "data"), env: map[string]string{
		"GATEHOUSE_ADMIN_TOKEN": adminToken,
	}})
	if err != nil {
		_ = d.Unmount()
		return nil, nil, err
	}
	// The probe app's calls are written before the disk fills, so that
	// what the server reports lost is the measured app's alone.
	if _, err := r.waitCountedFor(ctx, r.probeID, 1); err != nil {
		r.close()
		_ = d.Unmount()
		return nil, nil, err
	}
	if err := d.Fill(); err != nil {
		r.close()
		_ = d.Unmount()
		return nil, nil, err
	}
	return r, d, nil
}

// fullDiskCalls makes calls, a token request and an admin create on a full
// disk and returns the tally of the calls and the figures.
func fullDiskCalls(ctx context.Context, s *suite, r *rig, res *result) *tally {
	g := r.nodes[0]
	t := newTally()
	fctx, cancel := context.WithTimeout(ctx, s.faultFor)
	drive(fctx, 2, 0, callLoop(r, g, t, false))
	cancel()
	cstatus, cbody, _, _ := r.adminCreate(http.DefaultClient, g)
	tstatus, _, _, _ := r.tokenRequest(http.DefaultClient, g)
	readyz := "ready"
	if !ready(g) {
		readyz = "not ready"
	}
	res.made, res.ok, res.longest = t.made(), t.status(http.StatusOK), t.longest
	res.figures = fmt.Sprintf("calls: %v; admin create %d %s; token %d; /readyz %s", t, cstatus, cause(cbody), tstatus, readyz)
	if cstatus != http.StatusServiceUnavailable || cause(cbody) != "storage_full" {
		res.fail("admin create on a full disk answered %d %s; want 503 storage_full", cstatus, cause(cbody))
	}
	if readyz == "ready" {
		res.fail("/readyz stayed ready on a full disk")
	}
	for k, n := range t.errs {
		res.fail("%d calls ended without an answer (%s)", n, k)
	}
	return t
}

// cause is the cause id of a problem body, the error code of an OAuth
// error body, or "".
func cause(body []byte) string {
	var p struct {
		Cause struct {
			ID string `json:"id"`
		} `json:"cause"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &p)
	if p.Cause.ID == "" {
		return p.Error
	}
	return p.Cause.ID
}

func diskFull(ctx context.Context, s *suite, res *result) error {
	r, d, err := diskFullRig(ctx, s)
	if err != nil {
		return err
	}
	defer func() { _ = d.Unmount() }()
	defer r.close()
	t := fullDiskCalls(ctx, s, r, res)
	if err := d.Free(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	counted, err := r.waitCounted(wctx, t.answers())
	res.counted, res.lost = counted, t.answers()-counted
	if err != nil {
		res.fail("after space returned: %v", err)
	}
	return nil
}

func diskFullStop(ctx context.Context, s *suite, res *result) error {
	r, d, err := diskFullRig(ctx, s)
	if err != nil {
		return err
	}
	defer func() { _ = d.Unmount() }()
	defer r.close()
	g := r.nodes[0]
	t := fullDiskCalls(ctx, s, r, res)
	code, err := g.Term(time.Minute)
	if err != nil {
		return err
	}
	if err := d.Free(); err != nil {
		return err
	}
	counted, _, err := r.counted()
	if err != nil {
		return err
	}
	res.counted, res.lost = counted, t.answers()-counted
	logged := lostLogged(g.Output())
	res.figures += fmt.Sprintf("; exit %d; log says %d lost", code, logged)
	if res.lost > 0 && code == 0 {
		res.fail("%d counts lost and the exit status is 0", res.lost)
	}
	if res.lost != logged {
		res.fail("%d counts lost, the log says %d", res.lost, logged)
	}
	return nil
}

// lostLogged finds the number of calls the server logged as lost (the
// JSON log's "lost_calls" in its last words), or 0.
func lostLogged(out string) int64 {
	const field = `"lost_calls":`
	i := strings.LastIndex(out, field)
	if i < 0 {
		return 0
	}
	f := strings.FieldsFunc(out[i+len(field):], func(r rune) bool { return r < '0' || r > '9' })
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n
}

func redisFreeze(ctx context.Context, s *suite, res *result) error {
	rd, err := testproc.StartRedis(ctx)
	if err != nil {
		return err
	}
	defer rd.Close()
	const rate, burst, quota, nodes = 50, 50, 400, 2
	r, err := newRig(ctx, s.bin, rigOptions{nodes: nodes, postgres: true, redis: rd,
		plan: plan{rate: rate, burst: burst, quotaDay: quota}})
	if err != nil {
		return err
	}
	defer r.close()
	// Phases: before the fault, Redis frozen, Redis killed, Redis back.
	phases := []*tally{newTally(), newTally(), newTally(), newTally()}
	var cur atomic.Pointer[tally]
	cur.Store(phases[0])
	loop := func(g *testproc.Gatehouse) func(*http.Client) bool {
		return func(hc *http.Client) bool {
			start := time.Now()
			status, body, _, err := r.call(hc, g)
			cur.Load().add(status, body, err, time.Since(start))
			return true
		}
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, g := range r.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); drive(dctx, 2, 10*time.Millisecond, loop(g)) }()
	}
	time.Sleep(2 * time.Second)
	if err := rd.Freeze(); err != nil {
		return err
	}
	outageStart := time.Now()
	cur.Store(phases[1])
	time.Sleep(s.faultFor / 2)
	if err := rd.Kill(); err != nil {
		return err
	}
	cur.Store(phases[2])
	time.Sleep(s.faultFor / 2)
	if err := rd.Start(ctx); err != nil {
		return err
	}
	outage := time.Since(outageStart)
	cur.Store(phases[3])
	time.Sleep(6 * time.Second)
	cancel()
	wg.Wait()
	var admitted int64
	var made int64
	for _, t := range phases {
		admitted += t.status(http.StatusOK)
		made += t.made()
	}
	inOutage := phases[1].status(http.StatusOK) + phases[2].status(http.StatusOK)
	allowed := int64(rate*outage.Seconds()) + burst
	localShare := int64(rate / nodes * outage.Seconds())
	res.made, res.ok = made, admitted
	res.over = max(0, admitted-quota)
	res.longest = max(phases[1].longest, phases[2].longest)
	res.figures = fmt.Sprintf("rate %d/s, quota-day %d, 2 nodes; outage %v: %d admitted (rate allows %d, one local share %d); admitted in all %d",
		rate, quota, outage.Round(100*time.Millisecond), inOutage, allowed, localShare, admitted)
	if over := inOutage - allowed; over > localShare {
		res.fail("%d admitted beyond the rate during the outage, more than one local share (%d)", over, localShare)
	}
	if res.over > localShare {
		res.fail("the day quota was over-admitted by %d, more than one local share (%d)", res.over, localShare)
	}
	for i, t := range phases {
		for k, n := range t.errs {
			res.fail("phase %d: %d calls ended without an answer (%s)", i, n, k)
		}
	}
	return nil
}
