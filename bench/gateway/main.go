// Command gateway measures what the gatehouse gateway adds to a request. In
// one run it drives a trivial upstream (bench/upstream) directly and through
// gatehouse — bearer token verification, scope check and JSON schema
// validation on every request — first at -c connections in a closed loop
// (throughput: the req/s ratio), then at -lc connections open loop, paced
// at one rate for every target (-lrate; by default half what the gateway
// sustained at -c connections), with latency measured from each request's
// scheduled start: the latency the gateway adds below saturation. (A
// closed loop on a saturated machine would measure queueing for the cores
// instead, so no closed-loop latency is reported.)
//
// When wrk is installed (-wrk), the throughput scenarios are also measured
// with wrk, with every stage on (the limited client's plan is checked and
// counted on every request), for the plain and the HTTPS upstream.
//
// When nginx is installed (-nginx), the same scenarios also run through
// nginx as a plain reverse proxy in front of the same upstream: the
// reference for what one proxy hop costs on this machine.
//
// It also measures, at -c connections, what enforcing a plan costs (-limits,
// on by default). The client of the gateway scenario is subscribed to
// bench-open, a plan without limits, so the limiter is not consulted; a
// second client is subscribed to bench-limited (1,000,000 requests per
// second, burst 1,000,000, 10^12 requests a month), so that every one of its
// requests is checked and counted by the in-memory limiter but none is
// refused. With -redis redis://host:port/db, a second gatehouse process with
// its own data directory and GATEHOUSE_REDIS_URL set (and failing closed)
// serves the same kind of client through the Redis limiter. That logical
// database is flushed before and after the run, so it must be dedicated to
// the benchmark: database 0, and a database holding keys gatehouse did not
// write, are refused.
//
// With -https (on by default) it also measures, at -c connections, the
// same upstream served over HTTPS (a listener of the bench/upstream
// process, with a certificate from a CA made for the run and given to the
// API as its per-API CA, --upstream-ca): directly ("direct-https") and
// through the gateway ("gateway-https"), beside the plain scenarios.
//
// It builds gatehouse and bench/upstream, starts them on free loopback ports
// with fresh temporary data directories, imports a minimal OpenAPI document
// with `gatehouse apis import`, creates the plans, clients (`gatehouse
// clients create --env`) and subscriptions, gets tokens, checks that the
// gateway enforces the token, its scope, the schema and (only) the limited
// plan, runs each scenario with vegeta (github.com/tsenart/vegeta/v12, as a
// library: bench/internal/loadtest) and stops every process (also
// on errors and on SIGINT/SIGTERM).
//
// For each scenario it also reports where the CPU went: the CPU time
// (utime+stime from /proc/<pid>/stat) the load generator (this process),
// the gatehouse serving the scenario, the upstream and, with -redis, the
// Redis server each used during the measurement window, in microseconds per
// request, and how busy the rest of the machine was (/proc/stat), so a run
// disturbed by other work shows as such. The CPU time per request of the
// processes together gives a second gateway/direct ratio that other load on
// the machine barely affects. For a gateway scenario it reports gatehouse's
// heap allocations per request, from go_memstats_mallocs_total and
// go_memstats_alloc_bytes_total on its /metrics. A scenario whose window
// other work disturbed (more than 0.15 cores of other processes or steal) is
// measured again, up to -noise-retries times, and the least disturbed
// window is kept; a scenario still disturbed is named at the end. This
// needs Linux.
//
//	go run ./bench/gateway -d 10s
//	go run ./bench/gateway -d 10s -redis redis://127.0.0.1:6379/5
//	go run ./bench/gateway -d 10s -json
//	go run ./bench/gateway -d 2s -warmup 1s -limits=false -nginx off   # a quick check
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
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

	"gatehouse/bench/internal/loadtest"
)

// requestBody is sent by every request, direct and through the gateway; it
// is valid against the schema in benchOpenAPI.
const requestBody = `{"phoneNumber":"+34600000001","maxAge":240}`

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

func main() {
	var o options
	flag.IntVar(&o.conns, "c", 32, "connections for the throughput and limiter scenarios")
	flag.IntVar(&o.latConns, "lc", 16, "connections for the latency scenarios (added p50)")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "measurement window per scenario")
	flag.DurationVar(&o.warm, "warmup", 2*time.Second, "warm-up per scenario (not counted)")
	flag.StringVar(&o.bin, "gatehouse", "", "gatehouse binary (default: build ./cmd/gatehouse)")
	flag.BoolVar(&o.limits, "limits", true, "also measure the plan limiter at -c connections: limiter off vs on (in-memory)")
	flag.StringVar(&o.redisURL, "redis", "", "also measure the Redis limiter on this dedicated logical database, e.g.\n"+
		"redis://127.0.0.1:6379/5 (not 0; flushed before and after the run)")
	flag.IntVar(&o.retries, "noise-retries", 3, "measure a scenario again, up to this many times, when other work on the machine\n"+
		"disturbed it (other + steal above 0.15 cores); the least disturbed measurement is kept")
	flag.BoolVar(&o.asJSON, "json", false, "print the results as one JSON document")
	flag.BoolVar(&o.https, "https", true, "also measure an HTTPS upstream at -c connections, directly and through the gateway")
	flag.StringVar(&o.nginx, "nginx", "auto", "the nginx binary for the reference plain-proxy scenarios; auto: nginx from PATH or\n"+
		"/usr/sbin when installed, off: none")
	flag.StringVar(&o.wrk, "wrk", "auto", "the wrk binary for the throughput scenarios measured with wrk as well; auto: wrk from\n"+
		"PATH if installed (apt-get install wrk); off: none")
	flag.Func("lrate", "the paced rates (req/s, all connections together, comma-separated) of the open-loop\n"+
		"latency scenarios at -lc connections (default: half the gateway's closed-loop req/s\n"+
		"at -lc connections in this run)", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || r <= 0 {
				return fmt.Errorf("want positive rates, e.g. 1000,2000,4000")
			}
			o.latRates = append(o.latRates, r)
		}
		return nil
	})
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "after the measured scenarios, run one more gateway window at -lc connections (not\n"+
		"counted; paced at the first -lrate when it is set, else a closed loop) and write gatehouse's CPU\n"+
		"profile of it to this file (read it with go tool pprof)")
	flag.Parse()
	if o.conns <= 0 || o.latConns <= 0 || o.dur <= 0 || o.warm < 0 || o.retries < 0 {
		fmt.Fprintln(os.Stderr, "bench/gateway: -c and -lc must be positive, -d positive, -warmup and -noise-retries not negative")
		os.Exit(2)
	}
	if o.redisURL != "" && !o.limits {
		fmt.Fprintln(os.Stderr, "bench/gateway: -redis needs -limits")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(1)
	}
}

type options struct {
	bin             string
	conns, latConns int
	dur, warm       time.Duration
	limits          bool
	redisURL        string
	retries         int
	asJSON          bool
	https           bool
	cpuProfile      string
	nginx           string
	wrk             string
	latRates        []float64
}

// Load generators.
const (
	toolVegeta = "vegeta" // vegeta's attacker in this process (bench/internal/loadtest)
	toolWrk    = "wrk"    // Debian's wrk, a separate process (wrk.go)
)

// Limiters a gateway scenario consults on every request.
const (
	limiterOff    = "off"    // the plan limits nothing: the limiter is not consulted
	limiterMemory = "memory" // the in-memory limiter (one node)
	limiterRedis  = "redis"  // the Redis limiter (GATEHOUSE_REDIS_URL)
)

// Scenario is the outcome of one load run.
type Scenario struct {
	Name string `json:"scenario"` // "direct" or "gateway"
	// Tool is the load generator: "vegeta" (in this process, through
	// bench/internal/loadtest) or "wrk".
	Tool string `json:"tool"`
	// Limiter is, for a gateway scenario, what enforced the client's plan:
	// "off", "memory" or "redis".
	Limiter     string `json:"limiter,omitempty"`
	Connections int    `json:"connections"`
	// PacedRate is, for an open-loop scenario, the rate the load generator
	// sent at (req/s, all connections together); latency is then measured
	// from each request's scheduled start. 0 means a closed loop.
	PacedRate float64 `json:"paced_rate,omitempty"`
	RPS       float64 `json:"rps"`
	P50       float64 `json:"p50_us"`
	P99       float64 `json:"p99_us"`
	// ServiceP50 and ServiceP99 are, for an open-loop scenario, the
	// latency as vegeta itself timestamps it: from when one of its workers
	// took the request up rather than from its scheduled send time (see
	// loadtest.Result.ServiceTime).
	ServiceP50 float64 `json:"service_p50_us,omitempty"`
	ServiceP99 float64 `json:"service_p99_us,omitempty"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	// CPUMsPer1k is each process's CPU time in the measurement window, in
	// milliseconds per 1000 requests (that is, µs per request): the load
	// generator ("generator": vegeta in this process, or wrk),
	// gatehouse, upstream and, with -redis, the Redis server.
	CPUMsPer1k map[string]float64 `json:"cpu_ms_per_1000_requests"`
	// CPUCores is each process's CPU time divided by the window: how many
	// cores it kept busy on average.
	CPUCores map[string]float64 `json:"cpu_cores"`
	// OtherCores is the rest of the machine's busy CPU time (/proc/stat:
	// user, nice, system, irq, softirq) over the window, in cores: other
	// processes and interrupt work not charged to the accounted processes.
	// IdleCores is its idle (and iowait) time. On a quiet machine OtherCores
	// is small; a large value means the figures were disturbed.
	OtherCores float64 `json:"other_cores"`
	IdleCores  float64 `json:"idle_cores"`
	// StealCores is CPU time the hypervisor gave to other guests while this
	// machine wanted it.
	StealCores float64 `json:"steal_cores"`
	// Attempts is how many times the scenario was measured: more than one
	// when other work disturbed the earlier windows (see -noise-retries).
	Attempts int `json:"attempts"`
	// AllocsPerRequest and AllocBytesPerRequest are the serving gatehouse's
	// heap allocations in the window per request (the differences of
	// go_memstats_mallocs_total and go_memstats_alloc_bytes_total on its
	// /metrics); gateway scenarios only.
	AllocsPerRequest     float64 `json:"gatehouse_allocs_per_request,omitempty"`
	AllocBytesPerRequest float64 `json:"gatehouse_alloc_bytes_per_request,omitempty"`
	// RedisScriptsPerRequest is the EVALSHA and EVAL calls the Redis
	// server answered in the window per request: the limiter's round trips
	// (INFO commandstats). RedisCommandsPerRequest is all the commands it
	// processed, those the scripts ran included (INFO stats). Other
	// clients of the server add to both. With -redis only.
	RedisScriptsPerRequest  float64         `json:"redis_scripts_per_request,omitempty"`
	RedisCommandsPerRequest float64         `json:"redis_commands_per_request,omitempty"`
	Load                    loadtest.Result `json:"load"`
}

// noise is the CPU time, in cores, other work on the machine and the
// hypervisor took during the window.
func (s *Scenario) noise() float64 { return s.OtherCores + s.StealCores }

// noisy reports whether other work disturbed the window.
func (s *Scenario) noisy() bool { return s.noise() > noisyCores }

// cpuPerRequest is the CPU time of all accounted processes per request, in
// microseconds.
func (s *Scenario) cpuPerRequest() float64 {
	var ms float64
	for _, v := range s.CPUMsPer1k {
		ms += v
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

	// CPUPerRequest is the CPU time of all accounted processes per
	// request, in microseconds, at Connections; CPURatio is direct's
	// divided by the gateway's: the req/s ratio to expect when the machine
	// is CPU-bound, and much less sensitive to other load on the machine
	// than RPSRatio.
	CPUPerRequest map[string]float64 `json:"cpu_us_per_request"`
	CPURatio      float64            `json:"cpu_ratio"`

	// NginxRPSRatio is the reference proxy's req/s divided by direct's at
	// Connections (0 without nginx).
	NginxRPSRatio float64 `json:"nginx_rps_ratio,omitempty"`

	LatencyConnections int `json:"latency_connections"`
	// Paced is what the gateway (and nginx) add at LatencyConnections
	// paced open-loop, one entry per rate.
	Paced []PacedLatency `json:"paced"`

	// Limits is what the limiter cost at Connections, one entry per
	// limiter measured (without -limits, none).
	Limits []LimiterCost `json:"limits,omitempty"`

	// HTTPS compares the HTTPS upstream scenarios at Connections (nil
	// without -https).
	HTTPS *HTTPSCost `json:"https,omitempty"`

	// Wrk is the gateway/direct throughput ratio as wrk measured it at
	// Connections, one entry per upstream scheme (none without wrk).
	Wrk []WrkRatio `json:"wrk,omitempty"`

	gatewayRPS float64 // the gateway's (limiter off) req/s at Connections
}

// WrkRatio is the throughput through the gateway, with every stage on
// (Limiter "memory" unless -limits=false), against the same upstream hit
// directly, both measured by wrk.
type WrkRatio struct {
	Upstream   string  `json:"upstream"` // "http" or "https"
	Limiter    string  `json:"limiter"`
	DirectRPS  float64 `json:"direct_rps"`
	GatewayRPS float64 `json:"gateway_rps"`
	RPSRatio   float64 `json:"rps_ratio"`
}

// HTTPSCost is what an HTTPS upstream costs at Summary.Connections.
type HTTPSCost struct {
	// RPSRatio is gateway-https req/s divided by direct-https req/s.
	RPSRatio float64 `json:"rps_ratio"`
	// VsPlainRPSRatio is gateway-https req/s divided by the plain
	// gateway's (limiter off).
	VsPlainRPSRatio float64 `json:"vs_plain_rps_ratio"`
	// CPUPerRequest is all accounted processes' CPU time per request, in
	// microseconds, for direct-https and gateway-https; GatehouseCPUDelta
	// is gatehouse's CPU per request over HTTPS minus over plain HTTP.
	CPUPerRequest     map[string]float64 `json:"cpu_us_per_request"`
	GatehouseCPUDelta float64            `json:"gatehouse_cpu_us_per_request_delta"`
	P50Delta          float64            `json:"p50_delta_us"` // gateway-https − gateway
}

// PacedLatency compares the paced scenarios at one rate: what the gateway
// adds to the direct p50 and p99, latency measured from each request's
// scheduled start, and how busy the machine was while the gateway served.
type PacedLatency struct {
	Rate          float64 `json:"rate"`
	AddedP50      float64 `json:"added_p50_us"`
	AddedP99      float64 `json:"added_p99_us"`
	NginxAddedP50 float64 `json:"nginx_added_p50_us,omitempty"`
	// AddedServiceP50 is the same difference with the latency as vegeta
	// itself timestamps it, from when a worker took each request up rather
	// than from its scheduled send time: AddedP50 without the correction
	// for coordinated omission.
	AddedServiceP50 float64 `json:"added_service_p50_us"`
	// GatewayIdleCores is the machine's idle CPU during the gateway's
	// window: near 0, the rate saturates the machine and the added latency
	// is queueing again.
	GatewayIdleCores float64 `json:"gateway_idle_cores"`
}

// LimiterCost is the gateway scenario with a limiter consulted on every
// request minus the same scenario with the limiter off, both at
// Summary.Connections.
type LimiterCost struct {
	Limiter  string  `json:"limiter"`   // "memory" or "redis"
	RPS      float64 `json:"rps_delta"` // on − off
	RPSRatio float64 `json:"rps_ratio"` // on / off
	P50      float64 `json:"p50_delta_us"`
	P99      float64 `json:"p99_delta_us"`
	// GatehouseCPU is the difference in gatehouse's CPU time per request;
	// CPU the difference in all accounted processes' (Redis's included),
	// both in microseconds.
	GatehouseCPU float64 `json:"gatehouse_cpu_us_per_request_delta"`
	CPU          float64 `json:"cpu_us_per_request_delta"`
	Allocs       float64 `json:"gatehouse_allocs_per_request_delta"`
	AllocBytes   float64 `json:"gatehouse_alloc_bytes_per_request_delta"`
}

// summarize compares the scenarios of one run.
func summarize(o options, results []Scenario) Summary {
	// find returns the scenario, paced at rate (0: closed loop), or nil.
	find := func(name, limiter string, conns int, rate float64) *Scenario {
		for i := range results {
			s := &results[i]
			if s.Name == name && s.Tool == toolVegeta && s.Limiter == limiter && s.Connections == conns && s.PacedRate == rate {
				return s
			}
		}
		return nil
	}
	direct, gateway := find("direct", "", o.conns, 0), find("gateway", limiterOff, o.conns, 0)
	sum := Summary{
		Connections: o.conns,
		gatewayRPS:  gateway.RPS,
		RPSRatio:    gateway.RPS / direct.RPS,
		P50Ratio:    gateway.P50 / direct.P50,
		CPUPerRequest: map[string]float64{
			"direct": direct.cpuPerRequest(), "gateway": gateway.cpuPerRequest(),
		},
		LatencyConnections: o.latConns,
	}
	sum.CPURatio = sum.CPUPerRequest["direct"] / sum.CPUPerRequest["gateway"]
	if n := find("nginx", "", o.conns, 0); n != nil {
		sum.NginxRPSRatio = n.RPS / direct.RPS
		sum.CPUPerRequest["nginx"] = n.cpuPerRequest()
	}
	for _, s := range results {
		if s.Name != "direct" || s.PacedRate == 0 {
			continue
		}
		gw := find("gateway", limiterOff, o.latConns, s.PacedRate)
		if gw == nil {
			continue // the run stopped before the gateway's window
		}
		p := PacedLatency{Rate: s.PacedRate, AddedP50: gw.P50 - s.P50, AddedP99: gw.P99 - s.P99,
			AddedServiceP50: gw.ServiceP50 - s.ServiceP50, GatewayIdleCores: gw.IdleCores}
		if n := find("nginx", "", o.latConns, s.PacedRate); n != nil {
			p.NginxAddedP50 = n.P50 - s.P50
		}
		sum.Paced = append(sum.Paced, p)
	}
	for _, s := range results {
		if s.Name == "gateway" && s.Tool == toolVegeta && s.Limiter != limiterOff {
			sum.Limits = append(sum.Limits, limiterCost(*gateway, s))
		}
	}
	if dt, gt := find("direct-https", "", o.conns, 0), find("gateway-https", limiterOff, o.conns, 0); dt != nil && gt != nil {
		sum.HTTPS = &HTTPSCost{
			RPSRatio: gt.RPS / dt.RPS, VsPlainRPSRatio: gt.RPS / gateway.RPS,
			CPUPerRequest:     map[string]float64{"direct-https": dt.cpuPerRequest(), "gateway-https": gt.cpuPerRequest()},
			GatehouseCPUDelta: gt.CPUMsPer1k["gatehouse"] - gateway.CPUMsPer1k["gatehouse"],
			P50Delta:          gt.P50 - gateway.P50,
		}
	}
	for _, name := range []string{"", "-https"} {
		var d, g *Scenario
		for i := range results {
			switch s := &results[i]; {
			case s.Tool != toolWrk:
			case s.Name == "direct"+name:
				d = s
			case s.Name == "gateway"+name:
				g = s
			}
		}
		if d != nil && g != nil {
			upstream := "http"
			if name != "" {
				upstream = "https"
			}
			sum.Wrk = append(sum.Wrk, WrkRatio{Upstream: upstream, Limiter: g.Limiter,
				DirectRPS: d.RPS, GatewayRPS: g.RPS, RPSRatio: g.RPS / d.RPS})
		}
	}
	return sum
}

func limiterCost(off, on Scenario) LimiterCost {
	return LimiterCost{
		Limiter:      on.Limiter,
		RPS:          on.RPS - off.RPS,
		RPSRatio:     on.RPS / off.RPS,
		P50:          on.P50 - off.P50,
		P99:          on.P99 - off.P99,
		GatehouseCPU: on.CPUMsPer1k["gatehouse"] - off.CPUMsPer1k["gatehouse"],
		CPU:          on.cpuPerRequest() - off.cpuPerRequest(),
		Allocs:       on.AllocsPerRequest - off.AllocsPerRequest,
		AllocBytes:   on.AllocBytesPerRequest - off.AllocBytesPerRequest,
	}
}

type bench struct {
	warm, dur time.Duration
	// procs are the processes whose CPU time is accounted, in print order;
	// pids their ids (0: this process). "gatehouse" is the one serving
	// each scenario and is not in pids.
	procs []string
	pids  map[string]int
	redis *redisDB // nil without -redis
	tmp   string   // scratch directory (wrk's script)
}

// spec is a scenario to run.
type spec struct {
	name    string
	limiter string // for a gateway scenario
	t       target
	conns   int
	// gh is the gatehouse serving the scenario, or whose CPU is accounted
	// for a direct one.
	gh *gatehouse
	// rate paces the scenario open-loop (req/s in all); 0 is a closed loop.
	rate float64
	// wrk, when set, is the wrk binary that drives the scenario instead of
	// vegeta (closed loop only).
	wrk string
}

func run(ctx context.Context, o options) error {
	if _, err := cpuTime(0); err != nil {
		return fmt.Errorf("CPU accounting needs /proc (Linux): %w", err)
	}
	// Redis is opened (and flushed) first so that its deferred flush runs
	// after the gatehouse processes have stopped.
	var rdb *redisDB
	if o.redisURL != "" {
		var err error
		if rdb, err = openRedis(ctx, o.redisURL); err != nil {
			return err
		}
		defer func() {
			if err := rdb.close(); err != nil {
				fmt.Fprintln(os.Stderr, "bench/gateway:", err)
			}
		}()
	}
	tmp, err := os.MkdirTemp("", "gatehouse-bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	bin := o.bin
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
	doc := filepath.Join(tmp, "bench-openapi.json")
	if err := os.WriteFile(doc, []byte(benchOpenAPI), 0o600); err != nil {
		return err
	}

	var procs children
	defer procs.stop()

	// The upstream.
	upAddr, err := freeAddr()
	if err != nil {
		return err
	}
	upURL := "http://" + upAddr
	upArgs := []string{"-addr", upAddr}
	var tlsAddr, caFile string
	if o.https {
		if tlsAddr, err = freeAddr(); err != nil {
			return err
		}
		var certFile, keyFile string
		if caFile, certFile, keyFile, err = writeBenchCerts(tmp); err != nil {
			return err
		}
		upArgs = append(upArgs, "-tls-addr", tlsAddr, "-tls-cert", certFile, "-tls-key", keyFile)
	}
	up := exec.Command(upBin, upArgs...)
	up.Stderr = os.Stderr
	upChild, err := procs.start("the upstream", up)
	if err != nil {
		return err
	}
	direct := target{url: upURL + "/check"}
	if err := waitOK(ctx, upChild, direct, 15*time.Second); err != nil {
		return err
	}
	// The HTTPS upstream, measured directly: the load generator does not
	// verify the loopback certificate; the gateway verifies it with the
	// per-API CA.
	directTLS := target{url: "https://" + tlsAddr + "/check", insecure: true}
	if o.https {
		if err := waitOK(ctx, upChild, directTLS, 15*time.Second); err != nil {
			return err
		}
	}

	// gatehouse, with the in-memory limiter.
	gh, err := startGatehouse(ctx, &procs, "gatehouse", bin, filepath.Join(tmp, "data"), nil)
	if err != nil {
		return err
	}
	if err := gh.setup(doc, upURL); err != nil {
		return err
	}
	// A live API needs a subscription; bench-open promises no limits, so
	// the limiter is not consulted.
	gw, err := gh.subscribe(ctx, "bench-gateway", "bench-open")
	if err != nil {
		return err
	}
	// Make sure the gateway really enforces what the benchmark claims to
	// measure: a token, its scope and the request schema.
	out, err := gh.cli("clients", "create", "--name", "bench-other", "--scopes", "bench:other", "--allow-unknown-scopes", "--env")
	if err != nil {
		return err
	}
	other := parseEnv(out)
	otherToken, err := getToken("http://"+gh.public+"/oauth2/token", other["CLIENT_ID"], other["CLIENT_SECRET"], "bench:other")
	if err != nil {
		return err
	}
	if err := preflight(ctx, gw, otherToken); err != nil {
		return err
	}
	if err := checkLimiter(ctx, gw, false); err != nil {
		return err
	}
	var gwTLS target
	if o.https {
		if _, err := gh.cli("apis", "import", doc, "--upstream", "https://"+tlsAddr, "--upstream-ca", caFile,
			"--name", "bench-tls", "--base-path", "/bench-tls/v1"); err != nil {
			return err
		}
		if gwTLS, err = gh.subscribeTo(ctx, "bench-gateway-tls", "bench-open", "bench-tls"); err != nil {
			return err
		}
	}

	// The limiter scenarios: a second client on bench-limited, whose every
	// request is checked and counted by the limiter but never refused.
	var limited, limitedTLS, viaRedis target
	var ghRedis *gatehouse
	if o.limits {
		if limited, err = gh.subscribe(ctx, "bench-limited", "bench-limited"); err != nil {
			return err
		}
		if err := checkLimiter(ctx, limited, true); err != nil {
			return err
		}
		if o.https {
			if limitedTLS, err = gh.subscribeTo(ctx, "bench-limited-tls", "bench-limited", "bench-tls"); err != nil {
				return err
			}
		}
	}
	if rdb != nil {
		// A second gatehouse with its own data directory, limiting through
		// Redis, and failing closed: a request Redis did not decide is an
		// error (503), not an unmetered success.
		ghRedis, err = startGatehouse(ctx, &procs, "gatehouse (redis)", bin, filepath.Join(tmp, "data-redis"),
			[]string{"GATEHOUSE_REDIS_URL=" + o.redisURL, "GATEHOUSE_LIMITER_FAIL_CLOSED=true"})
		if err != nil {
			return err
		}
		if err := ghRedis.setup(doc, upURL); err != nil {
			return err
		}
		if viaRedis, err = ghRedis.subscribe(ctx, "bench-limited", "bench-limited"); err != nil {
			return err
		}
		if err := checkLimiter(ctx, viaRedis, true); err != nil {
			return err
		}
		if n, err := rdb.client.DBSize(ctx).Result(); err != nil {
			return fmt.Errorf("redis: %w", err)
		} else if n == 0 {
			return fmt.Errorf("gatehouse with GATEHOUSE_REDIS_URL=%s wrote no key to that database", o.redisURL)
		}
	}

	// The reference proxy, in front of the same upstream.
	var viaNginx target
	nginxBin, err := findNginx(o.nginx)
	if err != nil {
		return err
	}
	var nginx *child
	if nginxBin != "" {
		if nginx, viaNginx, err = startNginx(ctx, &procs, nginxBin, filepath.Join(tmp, "nginx"), upAddr); err != nil {
			return err
		}
	} else if !o.asJSON && o.nginx == "auto" {
		fmt.Fprintln(os.Stderr, "bench/gateway: nginx is not installed: no reference proxy scenarios (apt-get install nginx-light)")
	}

	b := &bench{warm: o.warm, dur: o.dur, redis: rdb, tmp: tmp,
		procs: []string{"generator", "gatehouse", "upstream"},
		pids:  map[string]int{"generator": 0, "upstream": up.Process.Pid},
	}
	if nginx != nil {
		b.procs = append(b.procs, "nginx")
		b.pids["nginx"] = nginx.cmd.Process.Pid
	}
	if rdb != nil && rdb.pid > 0 {
		if _, err := cpuTime(rdb.pid); err == nil {
			b.procs = append(b.procs, "redis")
			b.pids["redis"] = rdb.pid
		} else if !o.asJSON {
			fmt.Fprintf(os.Stderr, "bench/gateway: the Redis server's CPU is not accounted: %v\n", err)
		}
	}
	// Throughput at -c connections, then latency at -lc: closed loop, and
	// open loop at one paced rate for every target.
	plan := []spec{{name: "direct", t: direct, conns: o.conns, gh: gh}}
	if nginx != nil {
		plan = append(plan, spec{name: "nginx", t: viaNginx, conns: o.conns, gh: gh})
	}
	plan = append(plan, spec{name: "gateway", limiter: limiterOff, t: gw, conns: o.conns, gh: gh})
	if o.https {
		plan = append(plan,
			spec{name: "direct-https", t: directTLS, conns: o.conns, gh: gh},
			spec{name: "gateway-https", limiter: limiterOff, t: gwTLS, conns: o.conns, gh: gh})
	}
	if o.limits {
		plan = append(plan, spec{name: "gateway", limiter: limiterMemory, t: limited, conns: o.conns, gh: gh})
	}
	if ghRedis != nil {
		plan = append(plan, spec{name: "gateway", limiter: limiterRedis, t: viaRedis, conns: o.conns, gh: ghRedis})
	}
	// The same throughput as wrk measures it, every stage on: the limited
	// client's plan is checked and counted on every request.
	wrkBin, err := findWrk(o.wrk)
	if err != nil {
		return err
	}
	if wrkBin != "" {
		gwAll, gwAllLimiter, gwAllTLS := gw, limiterOff, gwTLS
		if o.limits {
			gwAll, gwAllLimiter, gwAllTLS = limited, limiterMemory, limitedTLS
		}
		plan = append(plan,
			spec{name: "direct", t: direct, conns: o.conns, gh: gh, wrk: wrkBin},
			spec{name: "gateway", limiter: gwAllLimiter, t: gwAll, conns: o.conns, gh: gh, wrk: wrkBin})
		if o.https {
			plan = append(plan,
				spec{name: "direct-https", t: directTLS, conns: o.conns, gh: gh, wrk: wrkBin},
				spec{name: "gateway-https", limiter: gwAllLimiter, t: gwAllTLS, conns: o.conns, gh: gh, wrk: wrkBin})
		}
	} else if !o.asJSON && o.wrk == "auto" {
		fmt.Fprintln(os.Stderr, "bench/gateway: wrk is not installed: no wrk scenarios (apt-get install wrk)")
	}
	// Latency at -lc connections is measured open loop only, paced at one
	// rate for every target: in a closed loop on a saturated machine the
	// "added latency" is queueing for the cores, not the gateway's work.
	latency := []spec{{name: "direct", t: direct, conns: o.latConns, gh: gh}}
	if nginx != nil {
		latency = append(latency, spec{name: "nginx", t: viaNginx, conns: o.latConns, gh: gh})
	}
	latency = append(latency, spec{name: "gateway", limiter: limiterOff, t: gw, conns: o.latConns, gh: gh})

	var results []Scenario
	for i := 0; i < len(plan); i++ {
		sp := plan[i]
		if !o.asJSON {
			what := sp.name
			if sp.limiter != "" {
				what += ", limiter " + sp.limiter
			}
			pace := "closed loop"
			if sp.rate > 0 {
				pace = fmt.Sprintf("paced at %.0f req/s", sp.rate)
			}
			fmt.Fprintf(os.Stderr, "bench/gateway: %s, %d connections, %s, %v + %v warm-up...\n", what, sp.conns, pace, o.dur, o.warm)
		}
		var s Scenario
		for attempt := 1; attempt <= 1+o.retries; attempt++ {
			m, err := b.measure(ctx, sp)
			if err != nil {
				return fmt.Errorf("%s at %d connections: %w", sp.name, sp.conns, err)
			}
			if attempt == 1 || m.noise() < s.noise() {
				s = m
			}
			s.Attempts = attempt
			if !s.noisy() {
				break
			}
			if !o.asJSON && attempt <= o.retries {
				fmt.Fprintf(os.Stderr, "bench/gateway: other work used %.2f cores during that window; measuring it again\n", m.noise())
			}
		}
		results = append(results, s)
		if i == len(plan)-1 && sp.rate == 0 {
			// The throughput scenarios are done: pace the latency targets
			// at fixed rates, by default half what the gateway sustained,
			// so that the latency is each request's own, not the queue's.
			rates := o.latRates
			if len(rates) == 0 {
				rates = []float64{math.Round(summarize(o, results).gatewayRPS / 2)}
			}
			for _, rate := range rates {
				for _, l := range latency {
					l.rate = rate
					plan = append(plan, l)
				}
			}
		}
	}
	sum := summarize(o, results)
	if o.asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Duration  string     `json:"duration"`
			Warmup    string     `json:"warmup"`
			CPUs      int        `json:"cpus"`
			Scenarios []Scenario `json:"scenarios"`
			Summary   Summary    `json:"summary"`
		}{o.dur.String(), o.warm.String(), runtime.NumCPU(), results, sum}); err != nil {
			return err
		}
	} else {
		printTable(os.Stdout, b.procs, results, sum, o.dur)
	}

	if o.cpuProfile != "" {
		if err := b.profile(ctx, spec{name: "gateway", limiter: limiterOff, t: gw, conns: o.latConns, gh: gh, rate: firstOr0(o.latRates)}, filepath.Join(tmp, "data"), o.cpuProfile); err != nil {
			return err
		}
		if !o.asJSON {
			fmt.Fprintf(os.Stderr, "bench/gateway: gatehouse's CPU profile is in %s (go tool pprof -top %s)\n", o.cpuProfile, o.cpuProfile)
		}
	}

	var bad []string
	for _, s := range results {
		if s.Errors > 0 || s.Load.Successes == 0 {
			bad = append(bad, fmt.Sprintf("%s c=%d:\n%s", s.Name, s.Connections, s.Load))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("a scenario had errors or no successful request, the figures are not valid:\n%s", strings.Join(bad, "\n"))
	}
	return nil
}

// gatehouse is a running gatehouse process.
type gatehouse struct {
	name          string
	bin           string
	env           []string // for the CLI, too
	public, admin string   // listen addresses
	child         *child
}

// startGatehouse starts `gatehouse serve` on free loopback ports with the
// data directory dir and waits until it is healthy. extraEnv is added to
// the environment.
func startGatehouse(ctx context.Context, procs *children, name, bin, dir string, extraEnv []string) (*gatehouse, error) {
	public, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The limiter is chosen here, not inherited.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GATEHOUSE_REDIS_URL=") || strings.HasPrefix(kv, "GATEHOUSE_LIMITER_FAIL_CLOSED=")
	})
	env = append(env,
		"GATEHOUSE_DATA_DIR="+dir,
		"GATEHOUSE_PUBLIC_ADDR="+public,
		"GATEHOUSE_ADMIN_ADDR="+admin,
		"GATEHOUSE_ISSUER=http://"+public,
		"GATEHOUSE_LOG_LEVEL=error",
		"GATEHOUSE_TOKEN_RATE_PER_CLIENT=0",
		"GATEHOUSE_TOKEN_RATE_PER_ADDRESS=0",
		"GATEHOUSE_PROFILING=true", // costs nothing until a profile is asked for
	)
	env = append(env, extraEnv...)
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	c, err := procs.start(name, cmd)
	if err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, c, "http://"+admin+"/healthz"); err != nil {
		return nil, err
	}
	return &gatehouse{name: name, bin: bin, env: env, public: public, admin: admin, child: c}, nil
}

func (g *gatehouse) pid() int { return g.child.cmd.Process.Pid }

// cli runs one gatehouse command against g's data directory and returns its
// standard output.
func (g *gatehouse) cli(args ...string) (string, error) {
	return gatehouseCLI(g.bin, g.env, args...)
}

// setup imports the benchmark API (the OpenAPI document doc, served by the
// upstream at upURL) and creates the plans: bench-open, which limits
// nothing, and bench-limited, whose limits no benchmark reaches.
func (g *gatehouse) setup(doc, upURL string) error {
	if _, err := g.cli("apis", "import", doc,
		"--upstream", upURL, "--name", "bench", "--base-path", "/bench/v1"); err != nil {
		return err
	}
	if _, err := g.cli("plans", "create", "--name", "bench-open", "--rate", "0"); err != nil {
		return err
	}
	_, err := g.cli("plans", "create", "--name", "bench-limited",
		"--rate", "1000000", "--burst", "1000000", "--quota-month", "1000000000000")
	return err
}

// subscribe creates a client with the scope bench:check, subscribes it to
// the API on plan, gets it a token and waits until the gateway serves it.
func (g *gatehouse) subscribe(ctx context.Context, client, plan string) (target, error) {
	return g.subscribeTo(ctx, client, plan, "bench")
}

// subscribeTo is subscribe to the API named api, served at /<api>/v1.
func (g *gatehouse) subscribeTo(ctx context.Context, client, plan, api string) (target, error) {
	out, err := g.cli("clients", "create", "--name", client, "--scopes", "bench:check", "--env")
	if err != nil {
		return target{}, err
	}
	creds := parseEnv(out)
	if creds["CLIENT_ID"] == "" || creds["CLIENT_SECRET"] == "" {
		return target{}, fmt.Errorf("clients create --env printed no CLIENT_ID/CLIENT_SECRET:\n%s", out)
	}
	if _, err := g.cli("subscriptions", "create", "--client", creds["CLIENT_ID"], "--api", api, "--plan", plan); err != nil {
		return target{}, err
	}
	token, err := getToken("http://"+g.public+"/oauth2/token", creds["CLIENT_ID"], creds["CLIENT_SECRET"], "bench:check")
	if err != nil {
		return target{}, err
	}
	t := target{
		url:    "http://" + g.public + "/" + api + "/v1/check",
		header: http.Header{"Authorization": {"Bearer " + token}},
	}
	// The gateway picks up the imported API and the subscription on its
	// next reload poll.
	return t, waitOK(ctx, g.child, t, 15*time.Second)
}

// heapAllocs returns the gatehouse's go_memstats_mallocs_total and
// go_memstats_alloc_bytes_total from its /metrics.
func (g *gatehouse) heapAllocs(ctx context.Context) (objects, bytes float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.admin+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		var dst *float64
		switch {
		case !ok:
			continue
		case name == "go_memstats_mallocs_total":
			dst = &objects
		case name == "go_memstats_alloc_bytes_total":
			dst = &bytes
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(value, 64); err != nil {
			return 0, 0, fmt.Errorf("/metrics %s: %w", name, err)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		return 0, 0, errors.New("/metrics has no go_memstats_mallocs_total or go_memstats_alloc_bytes_total")
	}
	return objects, bytes, nil
}

// checkLimiter sends one request to t and checks that the limiter decided
// it (the response carries the RateLimit field) exactly when want says so.
func checkLimiter(ctx context.Context, t target, want bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(requestBody))
	if err != nil {
		return err
	}
	for k, v := range t.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("preflight: status %d: %s", resp.StatusCode, b)
	}
	switch got := resp.Header.Get("RateLimit"); {
	case want && got == "":
		return errors.New("preflight: a client on bench-limited got no RateLimit field: the limiter was not consulted")
	case !want && got != "":
		return fmt.Errorf("preflight: a client on bench-open got RateLimit: %s: the limiter was consulted", got)
	}
	return nil
}

type target struct {
	url    string
	header http.Header
	// insecure skips verifying an https target's certificate (loopback).
	insecure bool
}

// client returns the HTTP client for one-off requests to t.
func (t target) client() *http.Client {
	if !t.insecure {
		return http.DefaultClient
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

// measure runs one scenario and accounts each process's CPU time over the
// measurement window (the warm-up excluded), and for a gateway scenario
// gatehouse's heap allocations.
func (b *bench) measure(ctx context.Context, sp spec) (Scenario, error) {
	pids := maps.Clone(b.pids)
	pids["gatehouse"] = sp.gh.pid()
	gateway := sp.limiter != ""

	// The snapshots are taken by timers at the window's edges rather than
	// around loadtest.Run, which includes the warm-up and returns a little
	// after the window closes.
	type snap struct {
		at             time.Time
		cpu            cpuSnapshot
		objects, bytes float64 // gatehouse's heap allocations so far
		redisCommands  int64
		redisScripts   int64
		err            error
	}
	take := func(c chan<- snap) func() {
		return func() {
			var s snap
			s.at = time.Now()
			var errs [3]error
			s.cpu, errs[0] = b.cpu(pids)
			if gateway {
				s.objects, s.bytes, errs[1] = sp.gh.heapAllocs(ctx)
			}
			if b.redis != nil {
				s.redisCommands, s.redisScripts, errs[2] = b.redis.counters(ctx)
			}
			s.err = errors.Join(errs[:]...)
			c <- s
		}
	}
	startC, endC := make(chan snap, 1), make(chan snap, 1)
	startT := time.AfterFunc(b.warm, take(startC))
	endT := time.AfterFunc(b.warm+b.dur, take(endC))
	defer startT.Stop()
	defer endT.Stop()

	header := sp.t.header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Type", "application/json")
	var res loadtest.Result
	var wrkCPU time.Duration // wrk's own CPU time; 0 with vegeta
	tool := toolVegeta
	if sp.wrk != "" {
		tool = toolWrk
		w, err := runWrk(ctx, sp.wrk, b.tmp, target{url: sp.t.url, header: header}, sp.conns, b.warm, b.dur)
		if err != nil {
			return Scenario{}, err
		}
		res, wrkCPU = w.res, w.cpu
	} else {
		var err error
		res, err = loadtest.Run(ctx, loadtest.Config{
			URL: sp.t.url, Method: http.MethodPost, Header: header, Body: []byte(requestBody),
			Connections: sp.conns, Duration: b.dur, Warmup: b.warm, ExpectStatus: http.StatusOK, Rate: sp.rate,
			InsecureTLS: sp.t.insecure,
			Label:       fmt.Sprintf("%s %s c=%d rate=%.0f", sp.name, sp.limiter, sp.conns, sp.rate),
		})
		if err != nil {
			return Scenario{}, err
		}
	}
	if ctx.Err() != nil {
		return Scenario{}, ctx.Err()
	}
	start, end := <-startC, <-endC
	if err := errors.Join(start.err, end.err); err != nil {
		return Scenario{}, fmt.Errorf("reading CPU times or counters: %w", err)
	}

	s := Scenario{
		Name: sp.name, Tool: tool, Limiter: sp.limiter, Connections: sp.conns, PacedRate: sp.rate, RPS: res.RPS,
		P50: us(res.Latency.P50), P99: us(res.Latency.P99),
		Requests: res.Requests, Errors: res.Errors,
		CPUMsPer1k: map[string]float64{}, CPUCores: map[string]float64{},
		Load: res,
	}
	if sp.rate > 0 {
		s.ServiceP50, s.ServiceP99 = us(res.ServiceTime.P50), us(res.ServiceTime.P99)
	}
	window := end.at.Sub(start.at).Seconds()
	var ours time.Duration
	for _, p := range b.procs {
		used := end.cpu[p] - start.cpu[p]
		if p == "generator" && wrkCPU > 0 {
			// wrk is the load generator of this window: its CPU time is
			// whole for the measured run, which spans the window.
			used = wrkCPU
		}
		ours += used
		if res.Requests > 0 {
			s.CPUMsPer1k[p] = float64(used) / 1e6 / float64(res.Requests) * 1000
		}
		if window > 0 {
			s.CPUCores[p] = used.Seconds() / window
		}
	}
	if res.Requests > 0 {
		n := float64(res.Requests)
		if gateway {
			s.AllocsPerRequest = (end.objects - start.objects) / n
			s.AllocBytesPerRequest = (end.bytes - start.bytes) / n
		}
		if b.redis != nil {
			s.RedisCommandsPerRequest = float64(end.redisCommands-start.redisCommands) / n
			s.RedisScriptsPerRequest = float64(end.redisScripts-start.redisScripts) / n
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

// profile runs sp once more, not counted, while it records gatehouse's CPU
// profile of the window into file. dataDir holds gatehouse's admin token.
func (b *bench) profile(ctx context.Context, sp spec, dataDir, file string) error {
	token, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil {
		return err
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	timer := time.AfterFunc(b.warm, func() {
		u := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", sp.gh.admin, max(1, int(b.dur.Seconds())))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET /debug/pprof/profile: status %d: %s", resp.StatusCode, data)
		}
		done <- result{data, err}
	})
	defer timer.Stop()
	if _, err := b.measure(ctx, sp); err != nil {
		return err
	}
	r := <-done
	if r.err != nil {
		return r.err
	}
	return os.WriteFile(file, r.data, 0o644)
}

func firstOr0(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// cpuSnapshot maps a process name to its CPU time so far, and machineBusy
// and machineIdle to the machine's.
type cpuSnapshot map[string]time.Duration

const (
	machineBusy  = "machine busy"
	machineIdle  = "machine idle"
	machineSteal = "machine steal"
)

func (b *bench) cpu(pids map[string]int) (cpuSnapshot, error) {
	busy, idle, steal, err := machineTime()
	if err != nil {
		return nil, err
	}
	out := cpuSnapshot{machineBusy: busy, machineIdle: idle, machineSteal: steal}
	for _, name := range b.procs {
		d, err := cpuTime(pids[name])
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

// fmtDelta formats a difference of microseconds with its sign.
func fmtDelta(v float64) string {
	if v >= 1000 || v <= -1000 {
		return fmt.Sprintf("%+.2fms", v/1000)
	}
	return fmt.Sprintf("%+.0fµs", v)
}

// noisyCores is how many cores of other work (other + steal) in a window
// mark a run as disturbed.
const noisyCores = 0.15

func printTable(w io.Writer, procs []string, results []Scenario, sum Summary, dur time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttool\tlimiter\tconns\tpaced at\treq/s\tp50\tp99\terrors\t"+
		"CPU µs/req: "+strings.Join(procs, "\t")+"\tgatehouse allocs/req\tKB/req\tcores: ours\tother\tidle\tsteal\tattempts\t")
	for _, s := range results {
		var cores float64
		for _, p := range procs {
			cores += s.CPUCores[p]
		}
		limiter, allocs, kb := "-", "-", "-"
		if s.Limiter != "" {
			limiter = s.Limiter
			allocs = fmt.Sprintf("%.0f", s.AllocsPerRequest)
			kb = fmt.Sprintf("%.1f", s.AllocBytesPerRequest/1024)
		}
		pace := "-"
		if s.PacedRate > 0 {
			pace = fmt.Sprintf("%.0f/s", s.PacedRate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.0f\t%s\t%s\t%d\t", s.Name, s.Tool, limiter, s.Connections, pace, s.RPS, fmtUS(s.P50), fmtUS(s.P99), s.Errors)
		for _, p := range procs {
			fmt.Fprintf(tw, "%.1f\t", s.CPUMsPer1k[p])
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t\n", allocs, kb, cores, s.OtherCores, s.IdleCores, s.StealCores, s.Attempts)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\ngateway/direct at %d connections: %.2fx req/s, %.2fx p50", sum.Connections, sum.RPSRatio, sum.P50Ratio)
	if sum.NginxRPSRatio > 0 {
		fmt.Fprintf(w, " (nginx/direct: %.2fx req/s)", sum.NginxRPSRatio)
	}
	fmt.Fprintf(w, "\nCPU per request (all accounted processes) at %d connections: direct %.0fµs, gateway %.0fµs: %.2fx\n",
		sum.Connections, sum.CPUPerRequest["direct"], sum.CPUPerRequest["gateway"], sum.CPURatio)
	for _, r := range sum.Wrk {
		fmt.Fprintf(w, "wrk at %d connections, %s upstream, limiter %s: gateway %.0f req/s, direct %.0f req/s: %.2fx\n",
			sum.Connections, r.Upstream, r.Limiter, r.GatewayRPS, r.DirectRPS, r.RPSRatio)
	}
	for _, p := range sum.Paced {
		fmt.Fprintf(w, "added at %d connections, paced at %.0f req/s: gateway p50 %s, p99 %s (machine idle %.2f cores)",
			sum.LatencyConnections, p.Rate, fmtDelta(p.AddedP50), fmtDelta(p.AddedP99), p.GatewayIdleCores)
		if sum.NginxRPSRatio > 0 {
			fmt.Fprintf(w, "; nginx p50 %s", fmtDelta(p.NginxAddedP50))
		}
		fmt.Fprintf(w, "; gateway p50 from vegeta's own timestamps %s", fmtDelta(p.AddedServiceP50))
		fmt.Fprintln(w)
	}
	if h := sum.HTTPS; h != nil {
		fmt.Fprintf(w, "https upstream at %d connections: gateway-https/direct-https %.2fx req/s; gateway-https/gateway %.2fx req/s, p50 %s; "+
			"CPU per request: direct-https %.0fµs, gateway-https %.0fµs, gatehouse %+.1fµs over plain\n",
			sum.Connections, h.RPSRatio, h.VsPlainRPSRatio, fmtDelta(h.P50Delta),
			h.CPUPerRequest["direct-https"], h.CPUPerRequest["gateway-https"], h.GatehouseCPUDelta)
	}
	if len(sum.Limits) > 0 {
		fmt.Fprintf(w, "limiter on − off at %d connections (against the gateway row with limiter off):\n", sum.Connections)
		for _, c := range sum.Limits {
			fmt.Fprintf(w, "  %-6s req/s %+.0f (%.2fx), p50 %s, p99 %s, CPU per request: gatehouse %+.1fµs, all processes %+.1fµs; gatehouse allocs %+.1f (%+.0f B)",
				c.Limiter+":", c.RPS, c.RPSRatio, fmtDelta(c.P50), fmtDelta(c.P99), c.GatehouseCPU, c.CPU, c.Allocs, c.AllocBytes)
			if c.Limiter == limiterRedis {
				var r Scenario
				for _, s := range results {
					if s.Limiter == limiterRedis {
						r = s
					}
				}
				fmt.Fprintf(w, "; per request, Redis ran %.2f scripts (round trips) and %.2f commands",
					r.RedisScriptsPerRequest, r.RedisCommandsPerRequest)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "%v windows, %d CPUs; per-process CPU is utime+stime of all threads (/proc/<pid>/stat);\n"+
		"allocations are gatehouse's go_memstats_mallocs_total and go_memstats_alloc_bytes_total (/metrics);\n"+
		"cores: ours = the accounted processes, other = the rest of the machine, idle = unused,\n"+
		"steal = taken by the hypervisor (/proc/stat)\n", dur, runtime.NumCPU())
	var noisy []string
	for _, s := range results {
		if s.noisy() {
			noisy = append(noisy, fmt.Sprintf("%s %s c=%d (%.2f cores)", s.Name, s.Limiter, s.Connections, s.noise()))
		}
	}
	if len(noisy) > 0 {
		fmt.Fprintf(w, "MACHINE NOISE: other work or steal above %.2f cores in: %s; the figures are disturbed, rerun\n",
			noisyCores, strings.Join(noisy, ", "))
	}
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
		resp, err := t.client().Do(req)
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
