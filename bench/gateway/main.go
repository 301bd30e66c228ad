// Command gateway measures what the gatehouse gateway adds to a request. In
// one run it drives a trivial upstream (bench/upstream) directly and through
// gatehouse — bearer token verification, scope check and JSON schema
// validation on every request — first at -c connections (throughput, the
// req/s ratio) and then at -lc connections (the p50 latency the gateway
// adds).
//
// It builds gatehouse and bench/upstream, starts both on free loopback ports
// with a fresh temporary data directory, imports a minimal OpenAPI document
// with `gatehouse apis import`, creates a client with `gatehouse clients
// create --env`, gets a token, waits for the gateway to serve the route, runs
// bench/loadgen for each scenario and stops both processes (also on errors
// and on SIGINT/SIGTERM).
//
// For each scenario it also reports where the CPU went: the CPU time
// (utime+stime from /proc/<pid>/stat) the load generator (this process),
// gatehouse and the upstream each used during the measurement window, in
// milliseconds per 1000 requests, and how busy the rest of the machine was
// (/proc/stat), so a run disturbed by other work shows as such. The CPU time
// per request of the three processes together gives a second gateway/direct
// ratio that other load on the machine barely affects. This needs Linux.
//
//	go run ./bench/gateway -d 10s
//	go run ./bench/gateway -d 10s -json
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"gatehouse/bench/loadgen"
)

// requestBody is sent by every request, direct and through the gateway; it
// is valid against the schema in benchOpenAPI.
const requestBody = `{"phoneNumber":"+34600000001","maxAge":240}`

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

func main() {
	conns := flag.Int("c", 32, "connections for the throughput scenarios")
	latConns := flag.Int("lc", 16, "connections for the latency scenarios (added p50)")
	dur := flag.Duration("d", 10*time.Second, "measurement window per scenario")
	warm := flag.Duration("warmup", 2*time.Second, "warm-up per scenario (not counted)")
	bin := flag.String("gatehouse", "", "gatehouse binary (default: build ./cmd/gatehouse)")
	asJSON := flag.Bool("json", false, "print the results as one JSON document")
	flag.Parse()
	if *conns <= 0 || *latConns <= 0 || *dur <= 0 || *warm < 0 {
		fmt.Fprintln(os.Stderr, "bench/gateway: -c and -lc must be positive, -d positive, -warmup not negative")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *bin, *conns, *latConns, *dur, *warm, *asJSON)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(1)
	}
}

// Scenario is the outcome of one load run.
type Scenario struct {
	Name        string  `json:"scenario"` // "direct" or "gateway"
	Connections int     `json:"connections"`
	RPS         float64 `json:"rps"`
	P50         float64 `json:"p50_us"`
	P99         float64 `json:"p99_us"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	// CPUMsPer1k is each process's CPU time in the measurement window, in
	// milliseconds per 1000 requests: loadgen, gatehouse, upstream.
	CPUMsPer1k map[string]float64 `json:"cpu_ms_per_1000_requests"`
	// CPUCores is each process's CPU time divided by the window: how many
	// cores it kept busy on average.
	CPUCores map[string]float64 `json:"cpu_cores"`
	// OtherCores is the rest of the machine's busy CPU time (/proc/stat:
	// user, nice, system, irq, softirq) over the window, in cores: other
	// processes and interrupt work not charged to the three processes.
	// IdleCores is its idle (and iowait) time. On a quiet machine OtherCores
	// is small; a large value means the figures were disturbed.
	OtherCores float64 `json:"other_cores"`
	IdleCores  float64 `json:"idle_cores"`
	// StealCores is CPU time the hypervisor gave to other guests while this
	// machine wanted it.
	StealCores float64        `json:"steal_cores"`
	Loadgen    loadgen.Result `json:"loadgen"`
}

// cpuPerRequest is the CPU time of all three processes per request, in
// microseconds.
func (s *Scenario) cpuPerRequest() float64 {
	var ms float64
	for _, p := range procNames {
		ms += s.CPUMsPer1k[p]
	}
	return ms // ms per 1000 requests = µs per request
}

// Summary compares the gateway with the direct upstream.
type Summary struct {
	Connections int `json:"connections"`
	// RPSRatio is gateway req/s divided by direct req/s at Connections.
	RPSRatio float64 `json:"rps_ratio"`
	// P50Ratio is gateway p50 divided by direct p50 at Connections.
	P50Ratio float64 `json:"p50_ratio"`

	// CPUPerRequest is the CPU time of all three processes per request, in
	// microseconds, at Connections; CPURatio is direct's divided by the
	// gateway's: the req/s ratio to expect when the machine is CPU-bound,
	// and much less sensitive to other load on the machine than RPSRatio.
	CPUPerRequest map[string]float64 `json:"cpu_us_per_request"`
	CPURatio      float64            `json:"cpu_ratio"`

	LatencyConnections int `json:"latency_connections"`
	// AddedP50 is gateway p50 minus direct p50 at LatencyConnections.
	AddedP50 float64 `json:"added_p50_us"`
}

// procNames are the processes whose CPU time is accounted, in print order.
var procNames = []string{"loadgen", "gatehouse", "upstream"}

type bench struct {
	warm, dur time.Duration
	pids      map[string]int // 0: this process
}

func run(ctx context.Context, bin string, conns, latConns int, dur, warm time.Duration, asJSON bool) error {
	if _, err := cpuTime(0); err != nil {
		return fmt.Errorf("CPU accounting needs /proc (Linux): %w", err)
	}
	tmp, err := os.MkdirTemp("", "gatehouse-bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	if bin == "" {
		bin = filepath.Join(tmp, "gatehouse")
		if err := goBuild(bin, "./cmd/gatehouse"); err != nil {
			return err
		}
	}
	upBin := filepath.Join(tmp, "upstream")
	if err := goBuild(upBin, "./bench/upstream"); err != nil {
		return err
	}

	var procs children
	defer procs.stop()

	addrs := make([]string, 3)
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return err
		}
	}
	upAddr, public, admin := addrs[0], addrs[1], addrs[2]

	// The upstream.
	upURL := "http://" + upAddr
	up := exec.Command(upBin, "-addr", upAddr)
	up.Stderr = os.Stderr
	upChild, err := procs.start("the upstream", up)
	if err != nil {
		return err
	}
	direct := target{url: upURL + "/check"}
	if err := waitOK(ctx, upChild, direct, 15*time.Second); err != nil {
		return err
	}

	// gatehouse.
	env := append(os.Environ(),
		"GATEHOUSE_DATA_DIR="+filepath.Join(tmp, "data"),
		"GATEHOUSE_PUBLIC_ADDR="+public,
		"GATEHOUSE_ADMIN_ADDR="+admin,
		"GATEHOUSE_ISSUER=http://"+public,
		"GATEHOUSE_LOG_LEVEL=error",
		"GATEHOUSE_TOKEN_RATE_PER_CLIENT=0",
		"GATEHOUSE_TOKEN_RATE_PER_ADDRESS=0",
	)
	srv := exec.Command(bin, "serve")
	srv.Env = env
	srv.Stderr = os.Stderr
	srvChild, err := procs.start("gatehouse", srv)
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, srvChild, "http://"+admin+"/healthz"); err != nil {
		return err
	}

	doc := filepath.Join(tmp, "bench-openapi.json")
	if err := os.WriteFile(doc, []byte(benchOpenAPI), 0o600); err != nil {
		return err
	}
	if _, err := gatehouseCLI(bin, env, "apis", "import", doc,
		"--upstream", upURL, "--name", "bench", "--base-path", "/bench/v1"); err != nil {
		return err
	}
	out, err := gatehouseCLI(bin, env, "clients", "create", "--name", "bench-gateway", "--scopes", "bench:check", "--env")
	if err != nil {
		return err
	}
	creds := parseEnv(out)
	if creds["CLIENT_ID"] == "" || creds["CLIENT_SECRET"] == "" {
		return fmt.Errorf("clients create --env printed no CLIENT_ID/CLIENT_SECRET:\n%s", out)
	}
	// A live API needs a subscription; this plan promises no limits, so
	// the limiter is not consulted (see the limits scenario for its cost).
	if _, err := gatehouseCLI(bin, env, "plans", "create", "--name", "bench-open", "--rate", "0"); err != nil {
		return err
	}
	if _, err := gatehouseCLI(bin, env, "subscriptions", "create", "--client", creds["CLIENT_ID"], "--api", "bench", "--plan", "bench-open"); err != nil {
		return err
	}
	token, err := getToken("http://"+public+"/oauth2/token", creds["CLIENT_ID"], creds["CLIENT_SECRET"], "bench:check")
	if err != nil {
		return err
	}
	gw := target{
		url:    "http://" + public + "/bench/v1/check",
		header: http.Header{"Authorization": {"Bearer " + token}},
	}
	// The gateway picks up the imported API on its next reload poll.
	if err := waitOK(ctx, srvChild, gw, 15*time.Second); err != nil {
		return err
	}

	// Make sure the gateway really enforces what the benchmark claims to
	// measure: a token, its scope and the request schema.
	out, err = gatehouseCLI(bin, env, "clients", "create", "--name", "bench-other", "--scopes", "bench:other", "--env")
	if err != nil {
		return err
	}
	other := parseEnv(out)
	otherToken, err := getToken("http://"+public+"/oauth2/token", other["CLIENT_ID"], other["CLIENT_SECRET"], "bench:other")
	if err != nil {
		return err
	}
	if err := preflight(ctx, gw, otherToken); err != nil {
		return err
	}

	b := &bench{warm: warm, dur: dur, pids: map[string]int{
		"loadgen": 0, "gatehouse": srv.Process.Pid, "upstream": up.Process.Pid,
	}}
	plan := []struct {
		name  string
		t     target
		conns int
	}{
		{"direct", direct, conns},
		{"gateway", gw, conns},
		{"direct", direct, latConns},
		{"gateway", gw, latConns},
	}
	var results []Scenario
	for _, p := range plan {
		if !asJSON {
			fmt.Fprintf(os.Stderr, "bench/gateway: %s, %d connections, %v + %v warm-up...\n", p.name, p.conns, dur, warm)
		}
		s, err := b.measure(ctx, p.name, p.t, p.conns)
		if err != nil {
			return fmt.Errorf("%s at %d connections: %w", p.name, p.conns, err)
		}
		results = append(results, s)
	}
	sum := Summary{
		Connections: conns,
		RPSRatio:    results[1].RPS / results[0].RPS,
		P50Ratio:    results[1].P50 / results[0].P50,
		CPUPerRequest: map[string]float64{
			"direct": results[0].cpuPerRequest(), "gateway": results[1].cpuPerRequest(),
		},
		LatencyConnections: latConns,
		AddedP50:           results[3].P50 - results[2].P50,
	}
	sum.CPURatio = sum.CPUPerRequest["direct"] / sum.CPUPerRequest["gateway"]

	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Duration  string     `json:"duration"`
			Warmup    string     `json:"warmup"`
			Scenarios []Scenario `json:"scenarios"`
			Summary   Summary    `json:"summary"`
		}{dur.String(), warm.String(), results, sum}); err != nil {
			return err
		}
	} else {
		printTable(os.Stdout, results, sum, dur)
	}

	var bad []string
	for _, s := range results {
		if s.Errors > 0 || s.Loadgen.Successes == 0 {
			bad = append(bad, fmt.Sprintf("%s c=%d:\n%s", s.Name, s.Connections, s.Loadgen))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("a scenario had errors or no successful request, the figures are not valid:\n%s", strings.Join(bad, "\n"))
	}
	return nil
}

type target struct {
	url    string
	header http.Header
}

// measure runs one scenario and accounts each process's CPU time over the
// measurement window (the warm-up excluded).
func (b *bench) measure(ctx context.Context, name string, t target, conns int) (Scenario, error) {
	// The CPU snapshots are taken by timers at the window's edges rather
	// than around loadgen.Run, which includes the warm-up and returns a
	// little after the window closes.
	type snap struct {
		at  time.Time
		cpu cpuSnapshot
		err error
	}
	take := func(c chan<- snap) func() {
		return func() {
			at := time.Now()
			cpu, err := b.cpu()
			c <- snap{at, cpu, err}
		}
	}
	startC, endC := make(chan snap, 1), make(chan snap, 1)
	startT := time.AfterFunc(b.warm, take(startC))
	endT := time.AfterFunc(b.warm+b.dur, take(endC))
	defer startT.Stop()
	defer endT.Stop()

	header := t.header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Type", "application/json")
	res, err := loadgen.Run(ctx, loadgen.Config{
		URL: t.url, Method: http.MethodPost, Header: header, Body: []byte(requestBody),
		Connections: conns, Duration: b.dur, Warmup: b.warm, ExpectStatus: http.StatusOK,
		Label: fmt.Sprintf("%s c=%d", name, conns),
	})
	if err != nil {
		return Scenario{}, err
	}
	if ctx.Err() != nil {
		return Scenario{}, ctx.Err()
	}
	start, end := <-startC, <-endC
	if err := errors.Join(start.err, end.err); err != nil {
		return Scenario{}, fmt.Errorf("reading CPU times: %w", err)
	}

	s := Scenario{
		Name: name, Connections: conns, RPS: res.RPS,
		P50: us(res.Latency.P50), P99: us(res.Latency.P99),
		Requests: res.Requests, Errors: res.Errors,
		CPUMsPer1k: map[string]float64{}, CPUCores: map[string]float64{},
		Loadgen: res,
	}
	window := end.at.Sub(start.at).Seconds()
	var ours time.Duration
	for _, p := range procNames {
		used := end.cpu[p] - start.cpu[p]
		ours += used
		if res.Requests > 0 {
			s.CPUMsPer1k[p] = float64(used) / 1e6 / float64(res.Requests) * 1000
		}
		if window > 0 {
			s.CPUCores[p] = used.Seconds() / window
		}
	}
	if window > 0 {
		delta := func(k string) float64 { return (end.cpu[k] - start.cpu[k]).Seconds() / window }
		s.OtherCores = max(0, delta(machineBusy)-ours.Seconds()/window)
		s.IdleCores = delta(machineIdle)
		s.StealCores = delta(machineSteal)
	}
	return s, nil
}

// cpuSnapshot maps a process name to its CPU time so far, and machineBusy
// and machineIdle to the machine's.
type cpuSnapshot map[string]time.Duration

const (
	machineBusy  = "machine busy"
	machineIdle  = "machine idle"
	machineSteal = "machine steal"
)

func (b *bench) cpu() (cpuSnapshot, error) {
	busy, idle, steal, err := machineTime()
	if err != nil {
		return nil, err
	}
	out := cpuSnapshot{machineBusy: busy, machineIdle: idle, machineSteal: steal}
	for _, name := range procNames {
		d, err := cpuTime(b.pids[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = d
	}
	return out, nil
}

// machineTime returns the busy (user, nice, system, irq, softirq), idle
// (idle, iowait) and steal time of all CPUs together, from the first line
// of /proc/stat.
func machineTime() (busy, idle, steal time.Duration, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0, fmt.Errorf("/proc/stat: unexpected format")
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
			return 0, 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
	}
	busy = time.Duration(v[0]+v[1]+v[2]+v[5]+v[6]) * clockTick
	idle = time.Duration(v[3]+v[4]) * clockTick
	steal = time.Duration(v[7]) * clockTick
	return busy, idle, steal, nil
}

// cpuTime returns utime+stime of process pid (0: this process), all threads
// included, from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces;
	// the fields after the last ')' start at field 3 (state). utime and
	// stime are fields 14 and 15.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func fmtUS(v float64) string {
	if v >= 1000 || v <= -1000 {
		return fmt.Sprintf("%.2fms", v/1000)
	}
	return fmt.Sprintf("%.0fµs", v)
}

func printTable(w io.Writer, results []Scenario, sum Summary, dur time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tconns\treq/s\tp50\tp99\terrors\t"+
		"CPU ms per 1000 req: loadgen\tgatehouse\tupstream\tcores: ours\tother\tidle\tsteal\t")
	for _, s := range results {
		var cores float64
		for _, p := range procNames {
			cores += s.CPUCores[p]
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", s.Name, s.Connections, s.RPS,
			fmtUS(s.P50), fmtUS(s.P99), s.Errors,
			s.CPUMsPer1k["loadgen"], s.CPUMsPer1k["gatehouse"], s.CPUMsPer1k["upstream"], cores, s.OtherCores, s.IdleCores, s.StealCores)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\ngateway/direct at %d connections: %.2fx req/s, %.2fx p50\n", sum.Connections, sum.RPSRatio, sum.P50Ratio)
	fmt.Fprintf(w, "CPU per request (all three processes) at %d connections: direct %.0fµs, gateway %.0fµs: %.2fx\n",
		sum.Connections, sum.CPUPerRequest["direct"], sum.CPUPerRequest["gateway"], sum.CPURatio)
	fmt.Fprintf(w, "added p50 at %d connections: %s (direct %s, gateway %s)\n", sum.LatencyConnections,
		fmtUS(sum.AddedP50), fmtUS(results[2].P50), fmtUS(results[3].P50))
	fmt.Fprintf(w, "%v windows, %d CPUs; per-process CPU is utime+stime of all threads (/proc/<pid>/stat);\n"+
		"cores: ours = the three processes, other = the rest of the machine, idle = unused,\n"+
		"steal = taken by the hypervisor (/proc/stat); other or steal well above 0 means a disturbed run\n", dur, runtime.NumCPU())
}

func goBuild(out, pkg string) error {
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building %s (run from the repository root): %w", pkg, err)
	}
	return nil
}

// gatehouseCLI runs one gatehouse command and returns its standard output.
func gatehouseCLI(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("gatehouse %s: %w\n%s%s", strings.Join(args[:2], " "), err, out, stderr.String())
	}
	return string(out), nil
}

// child is a process this command started.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// exited returns an error if the process is no longer running.
func (c *child) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited: %v", c.name, c.err)
	default:
		return nil
	}
}

// children are the processes this command started; stop ends them all.
type children []*child

func (cs *children) start(name string, cmd *exec.Cmd) (*child, error) {
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	*cs = append(*cs, c)
	return c, nil
}

// stop sends SIGTERM to every child, waits up to 5 s for each and kills the
// ones still running.
func (cs children) stop() {
	for _, c := range cs {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range cs {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

func getToken(tokenURL, id, secret, scope string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("getting a token: status %d, %v", resp.StatusCode, err)
	}
	return body.AccessToken, nil
}

// parseEnv reads the KEY=value lines `clients create --env` prints.
func parseEnv(out string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// preflight checks that the gateway refuses a request without a token
// (401), with a token lacking bench:check (403) and with a body the schema
// rejects (400 or 422).
func preflight(ctx context.Context, gw target, otherToken string) error {
	cases := []struct {
		what, auth, body string
		want             []int
	}{
		{"no token", "", requestBody, []int{http.StatusUnauthorized}},
		{"a token without bench:check", "Bearer " + otherToken, requestBody, []int{http.StatusForbidden}},
		{"an invalid phoneNumber", gw.header.Get("Authorization"), `{"phoneNumber":"34600000001","maxAge":240}`,
			[]int{http.StatusBadRequest, http.StatusUnprocessableEntity}},
	}
	for _, c := range cases {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, gw.url, strings.NewReader(c.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("preflight, %s: %w", c.what, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if !slices.Contains(c.want, resp.StatusCode) {
			return fmt.Errorf("preflight: the gateway answered %s with status %d, want %v: %s", c.what, resp.StatusCode, c.want, b)
		}
	}
	return nil
}

// waitOK sends the benchmark request to t, served by c, until it answers
// 200.
func waitOK(ctx context.Context, c *child, t target, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(requestBody))
		if err != nil {
			return err
		}
		for k, v := range t.header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("status %d: %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("POST %s (%s) did not answer 200 within %v (last: %s)", t.url, c.name, within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitHealthy(ctx context.Context, c *child, u string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.exited(); err != nil {
			return err
		}
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("gatehouse did not become healthy at %s", u)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
