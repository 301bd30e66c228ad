package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gatehouse/internal/testproc"
)

// faultsAPI is the one-operation API every scenario calls: a JSON body
// checked against a schema and a scope, so each call passes every stage.
const faultsAPI = `openapi: 3.0.3
info: {title: Fault suite API, version: 1.0.0}
servers: [{url: "{apiRoot}/faults/v1", variables: {apiRoot: {default: "http://localhost"}}}]
components:
  securitySchemes:
    openId: {type: openIdConnect, openIdConnectUrl: "https://example.com/.well-known/openid-configuration"}
paths:
  /ping:
    post:
      operationId: ping
      security: [{openId: ["faults:ping"]}]
      requestBody:
        required: true
        content: {application/json: {schema: {type: object, properties: {n: {type: integer}}}}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object}}}}
`

// plan is the subscription's plan; zero fields limit nothing.
type plan struct {
	rate, burst, quotaDay int
}

// rigOptions describe the platform a scenario runs against.
type rigOptions struct {
	nodes    int                   // gatehouse processes (more than one needs postgres)
	postgres bool                  // a private PostgreSQL cluster instead of SQLite
	redis    *testproc.Redis       // the limiter's Redis, nil for the in-memory limiter
	dataDir  string                // SQLite's data directory; empty: a new one
	plan     plan                  //
	env      map[string]string     // extra GATEHOUSE_* settings for every node
	upstream func(*upstream) error // changes the upstream before the first call (optional)
}

// rig is a running platform: nodes, their database, an upstream, one app
// subscribed to the API with a token.
type rig struct {
	dir   string
	pg    *testproc.Postgres
	nodes []*testproc.Gatehouse
	up    *upstream

	clientID, clientSecret, token string
	// probeToken is another app's, for the calls that wait until the API is
	// served: they must not count in the measured app's usage.
	probeID, probeSecret, probeToken string
}

// newRig starts the platform described by o.
func newRig(ctx context.Context, bin string, o rigOptions) (*rig, error) {
	r := &rig{}
	var err error
	if r.dir, err = os.MkdirTemp("", "gatehouse-faults-"); err != nil {
		return nil, err
	}
	if r.up, err = startUpstream(); err != nil {
		r.close()
		return nil, err
	}
	env := map[string]string{
		"GATEHOUSE_USAGE_FLUSH_INTERVAL": "1s",
		"GATEHOUSE_LOG_LEVEL":            "warn",
	}
	if o.postgres {
		if r.pg, err = testproc.StartPostgres(ctx); err != nil {
			r.close()
			return nil, err
		}
		env["GATEHOUSE_DATABASE_URL"] = r.pg.URL()
	} else if o.nodes > 1 {
		r.close()
		return nil, errors.New("more than one node needs a shared database (postgres)")
	}
	if o.redis != nil {
		env["GATEHOUSE_REDIS_URL"] = o.redis.URL(0)
	}
	for k, v := range o.env {
		env[k] = v
	}
	for i := range max(o.nodes, 1) {
		dataDir := o.dataDir
		if dataDir == "" || i > 0 {
			dataDir = filepath.Join(r.dir, "node"+strconv.Itoa(i))
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			r.close()
			return nil, err
		}
		g, err := testproc.NewGatehouse(bin, dataDir, env)
		if err != nil {
			r.close()
			return nil, err
		}
		r.nodes = append(r.nodes, g)
	}
	if len(r.nodes) > 1 {
		// Nodes behind one load balancer: one issuer, one secret.
		for _, g := range r.nodes {
			g.Env["GATEHOUSE_SECRET"] = "faults-shared-secret-faults-shared-secret"
			g.Env["GATEHOUSE_ISSUER"] = r.nodes[0].Env["GATEHOUSE_ISSUER"]
		}
	}
	if err := r.setup(o.plan); err != nil {
		r.close()
		return nil, err
	}
	for _, g := range r.nodes {
		if err := g.Start(ctx); err != nil {
			r.close()
			return nil, err
		}
	}
	if r.token, err = r.newToken(r.nodes[0], r.clientID, r.clientSecret); err != nil {
		r.close()
		return nil, err
	}
	if r.probeToken, err = r.newToken(r.nodes[0], r.probeID, r.probeSecret); err != nil {
		r.close()
		return nil, err
	}
	if o.upstream != nil {
		if err := o.upstream(r.up); err != nil {
			r.close()
			return nil, err
		}
	}
	// Each node serves the API once its reload poll has seen it.
	for _, g := range r.nodes {
		if err := r.waitServed(ctx, g); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

// setup imports the API, creates the plan, the app and its subscription
// through the first node's CLI (the server need not run).
func (r *rig) setup(p plan) error {
	g := r.nodes[0]
	doc := filepath.Join(r.dir, "faults.yaml")
	if err := os.WriteFile(doc, []byte(faultsAPI), 0o600); err != nil {
		return err
	}
	if _, err := g.CLI("apis", "import", doc, "--upstream", r.up.url()+"/faults/v1", "--name", "faults"); err != nil {
		return err
	}
	args := []string{"plans", "create", "--name", "faults", "--rate", strconv.Itoa(p.rate)}
	if p.burst > 0 {
		args = append(args, "--burst", strconv.Itoa(p.burst))
	}
	if p.quotaDay > 0 {
		args = append(args, "--quota-day", strconv.Itoa(p.quotaDay))
	}
	if _, err := g.CLI(args...); err != nil {
		return err
	}
	var err error
	if r.clientID, r.clientSecret, err = subscribe(g, "faults app", "faults"); err != nil {
		return err
	}
	if _, err := g.CLI("plans", "create", "--name", "probe", "--rate", "0"); err != nil {
		return err
	}
	r.probeID, r.probeSecret, err = subscribe(g, "probe app", "probe")
	return err
}

// subscribe creates an app with the scope faults:ping and subscribes it to
// the API on plan.
func subscribe(g *testproc.Gatehouse, name, plan string) (id, secret string, err error) {
	out, err := g.CLI("clients", "create", "--name", name, "--scopes", "faults:ping", "--json")
	if err != nil {
		return "", "", err
	}
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		return "", "", fmt.Errorf("clients create printed %q: %v", out, err)
	}
	_, err = g.CLI("subscriptions", "create", "--client", c.ID, "--api", "faults", "--plan", plan)
	return c.ID, c.Secret, err
}

// newToken gets an access token for the app id from node g.
func (r *rig) newToken(g *testproc.Gatehouse, id, secret string) (string, error) {
	status, body, _, err := tokenRequest(http.DefaultClient, g, id, secret)
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token endpoint answered %d %s", status, body)
	}
	return tok.AccessToken, nil
}

// tokenRequest asks node g for a client-credentials token for the
// measured app.
func (r *rig) tokenRequest(hc *http.Client, g *testproc.Gatehouse) (int, []byte, http.Header, error) {
	return tokenRequest(hc, g, r.clientID, r.clientSecret)
}

func tokenRequest(hc *http.Client, g *testproc.Gatehouse, id, secret string) (int, []byte, http.Header, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"faults:ping"}}
	req, _ := http.NewRequest(http.MethodPost, g.Public+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return do(hc, req)
}

// call makes one API call through node g as the measured app.
func (r *rig) call(hc *http.Client, g *testproc.Gatehouse) (int, []byte, http.Header, error) {
	return callAs(hc, g, r.token)
}

func callAs(hc *http.Client, g *testproc.Gatehouse, token string) (int, []byte, http.Header, error) {
	req, _ := http.NewRequest(http.MethodPost, g.Public+"/faults/v1/ping", strings.NewReader(`{"n":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	return do(hc, req)
}

func do(hc *http.Client, req *http.Request) (int, []byte, http.Header, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header, err
}

// waitServed waits until node g answers the API with 200, calling it as
// the probe app.
func (r *rig) waitServed(ctx context.Context, g *testproc.Gatehouse) error {
	for {
		status, body, _, err := callAs(http.DefaultClient, g, r.probeToken)
		if err == nil && status == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the API is not served by %s: %d %s %v", g.Public, status, body, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// counted is what the usage records hold for the app: calls in all, and
// by status.
func (r *rig) counted() (int64, map[string]int64, error) {
	return r.countedFor(r.clientID)
}

// countedFor is counted for any app.
func (r *rig) countedFor(clientID string) (int64, map[string]int64, error) {
	out, err := r.nodes[0].CLI("usage", "--client", clientID, "--api", "faults", "--json")
	if err != nil {
		return 0, nil, err
	}
	var u struct {
		Usage []struct {
			Calls    int64            `json:"calls"`
			ByStatus map[string]int64 `json:"by_status"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		return 0, nil, fmt.Errorf("usage --json printed %q: %w", out, err)
	}
	var calls int64
	by := map[string]int64{}
	for _, row := range u.Usage {
		calls += row.Calls
		for s, n := range row.ByStatus {
			by[s] += n
		}
	}
	return calls, by, nil
}

// waitCounted waits until the usage records hold want calls (the flush
// interval passes), or ctx ends.
func (r *rig) waitCounted(ctx context.Context, want int64) (int64, error) {
	return r.waitCountedFor(ctx, r.clientID, want)
}

// waitCountedFor is waitCounted for any app.
func (r *rig) waitCountedFor(ctx context.Context, clientID string, want int64) (int64, error) {
	for {
		got, _, err := r.countedFor(clientID)
		if err == nil && got >= want {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("usage holds %d calls, want %d: %v", got, want, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ready reports whether node g's /readyz answers 200.
func ready(g *testproc.Gatehouse) bool {
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(g.Admin + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (r *rig) close() {
	for _, g := range r.nodes {
		g.Close()
	}
	if r.up != nil {
		r.up.close()
	}
	if r.pg != nil {
		r.pg.Close()
	}
	os.RemoveAll(r.dir)
}

// tally counts what callers saw.
type tally struct {
	mu       sync.Mutex
	byStatus map[int]int64
	byAnswer map[string]int64 // "200", or the status and cause of a problem
	errs     map[string]int64 // transport errors by kind
	longest  time.Duration
	answered []time.Time // when each answer arrived, for scenarios that need it
	keepTime bool
}

func newTally() *tally {
	return &tally{byStatus: map[int]int64{}, byAnswer: map[string]int64{}, errs: map[string]int64{}}
}

// add counts one request: its answer (status and body) or its transport
// error, and how long it took.
func (t *tally) add(status int, body []byte, err error, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.errs[errorKind(err)]++
	} else {
		t.byStatus[status]++
		answer := strconv.Itoa(status)
		if c := cause(body); c != "" {
			answer += " " + c
		}
		t.byAnswer[answer]++
		if t.keepTime {
			t.answered = append(t.answered, time.Now())
		}
	}
	t.longest = max(t.longest, took)
}

// String lists the answers with their causes, most frequent first, and the
// transport errors.
func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	type kv struct {
		k string
		n int64
	}
	var all []kv
	for k, n := range t.byAnswer {
		all = append(all, kv{k, n})
	}
	for k, n := range t.errs {
		all = append(all, kv{"no answer (" + k + ")", n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	parts := make([]string, len(all))
	for i, e := range all {
		parts[i] = fmt.Sprintf("%s ×%d", e.k, e.n)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (t *tally) answers() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, c := range t.byStatus {
		n += c
	}
	return n
}

func (t *tally) status(s int) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byStatus[s]
}

func (t *tally) made() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int64(0)
	for _, c := range t.byStatus {
		n += c
	}
	for _, c := range t.errs {
		n += c
	}
	return n
}

// errorKind names a transport error: refused (nothing was sent), or what
// broke a request that was sent.
func errorKind(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "gave up"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "gave up"
	}
	return "other: " + err.Error()
}

// drive runs conns callers, each with its own keep-alive connection, each
// calling fn in a loop until ctx ends or fn returns false (pause between
// calls: every). It returns when all have stopped.
func drive(ctx context.Context, conns int, every time.Duration, fn func(hc *http.Client) bool) {
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
			for ctx.Err() == nil {
				if !fn(hc) {
					return
				}
				if every > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(every):
					}
				}
			}
		}()
	}
	wg.Wait()
}

// upstream is the API's backend, whose behaviour a scenario switches:
// up (answers 200), hang (accepts and never answers), down (refuses
// connections), or flapping (up for upFor of every period, 503 the rest).
type upstream struct {
	addr string
	mu   sync.Mutex
	ln   net.Listener
	srv  *http.Server
	hang atomic.Bool
	// flapping: when period > 0, answers 503 outside the first upFor of
	// every period since flapStart.
	period, upFor time.Duration
	flapStart     time.Time
	release       chan struct{} // closed to free hung requests
}

func startUpstream() (*upstream, error) {
	u := &upstream{release: make(chan struct{})}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u.addr, u.ln = ln.Addr().String(), ln
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

func (u *upstream) url() string { return "http://" + u.addr }

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if u.hang.Load() {
		select {
		case <-u.release:
		case <-r.Context().Done():
		}
		return
	}
	u.mu.Lock()
	period, upFor, start := u.period, u.upFor, u.flapStart
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if period > 0 && time.Since(start)%period >= upFor {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":503,"code":"UNAVAILABLE","message":"flapping"}`)
		return
	}
	_, _ = io.WriteString(w, `{"pong":true}`)
}

// setDown closes the listener and every connection (down) or listens on
// the same address again (up).
func (u *upstream) setDown(down bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if down {
		if u.ln == nil {
			return nil
		}
		u.ln = nil
		return u.srv.Close()
	}
	if u.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", u.addr)
	if err != nil {
		return err
	}
	u.ln = ln
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 10 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(u.srv)
	return nil
}

// flap makes the upstream answer 503 outside the first upFor of every
// period (period 0: always up).
func (u *upstream) flap(period, upFor time.Duration) {
	u.mu.Lock()
	u.period, u.upFor, u.flapStart = period, upFor, time.Now()
	u.mu.Unlock()
}

func (u *upstream) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	select {
	case <-u.release:
	default:
		close(u.release)
	}
	if u.ln != nil {
		_ = u.srv.Close()
	}
}
