package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gatehouse/bench/internal/loadtest"
)

// wrk (Debian's package, github.com/wg/wrk) is the load generator most
// people measure gateways with, so the throughput ratio is also reported
// as wrk sees it. It is an event-driven C program: one epoll loop per
// thread, requests pre-encoded once, no per-request allocation, so it takes
// less of the two cores than vegeta (a Go net/http client that builds a
// request, a result and two channel hand-offs per hit) and leaves more to
// the processes measured. Both drive closed loops; wrk cannot pace (wrk2
// can, but Debian ships wrk), so the open-loop latency scenarios stay
// vegeta's.

// wrkScript makes wrk send the benchmark's request and print its summary
// as one JSON line, so nothing depends on wrk's human-readable units.
const wrkScript = `wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/json"
%s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests":%%d,"duration_us":%%d,"status_errors":%%d,"socket_errors":%%d,"p50_us":%%d,"p99_us":%%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`

// findWrk resolves the -wrk flag as findNginx does -nginx.
func findWrk(flagValue string) (string, error) {
	switch flagValue {
	case "off", "":
		return "", nil
	case "auto":
		if p, err := exec.LookPath("wrk"); err == nil {
			return p, nil
		}
		return "", nil
	}
	if _, err := os.Stat(flagValue); err != nil {
		return "", fmt.Errorf("-wrk %s: %w", flagValue, err)
	}
	return flagValue, nil
}

// wrkRun is one wrk measurement: the load generator's result and the CPU
// time wrk itself used, which is not this process's and so must be
// accounted separately.
type wrkRun struct {
	res loadtest.Result
	cpu time.Duration
}

// runWrk drives t with wrk at conns connections: a warm-up run (not
// counted), then a run of dur whose figures are returned.
func runWrk(ctx context.Context, bin, dir string, t target, conns int, warm, dur time.Duration) (wrkRun, error) {
	var headers strings.Builder
	for k, vs := range t.header {
		for _, v := range vs {
			fmt.Fprintf(&headers, "wrk.headers[%s] = %s\n", luaString(k), luaString(v))
		}
	}
	script := filepath.Join(dir, "wrk.lua")
	if err := os.WriteFile(script, fmt.Appendf(nil, wrkScript, luaString(requestBody), headers.String()), 0o600); err != nil {
		return wrkRun{}, err
	}
	threads := min(runtime.NumCPU(), conns)
	if warm > 0 {
		if _, err := wrkOnce(ctx, bin, script, t.url, threads, conns, warm); err != nil {
			return wrkRun{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	return wrkOnce(ctx, bin, script, t.url, threads, conns, dur)
}

func wrkOnce(ctx context.Context, bin, script, url string, threads, conns int, dur time.Duration) (wrkRun, error) {
	secs := max(1, int(dur.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "-s", script, url)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return wrkRun{}, fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	_, line, ok := strings.Cut(out.String(), "WRK_RESULT ")
	if !ok {
		return wrkRun{}, fmt.Errorf("wrk printed no result:\n%s", out.String())
	}
	line, _, _ = strings.Cut(line, "\n")
	var r struct {
		Requests     int64 `json:"requests"`
		DurationUS   int64 `json:"duration_us"`
		StatusErrors int64 `json:"status_errors"`
		SocketErrors int64 `json:"socket_errors"`
		P50US        int64 `json:"p50_us"`
		P99US        int64 `json:"p99_us"`
	}
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return wrkRun{}, fmt.Errorf("wrk result %q: %w", line, err)
	}
	elapsed := time.Duration(r.DurationUS) * time.Microsecond
	res := loadtest.Result{
		Label: "wrk", URL: url, Method: "POST", Connections: conns, Elapsed: elapsed,
		Requests: r.Requests, Errors: r.StatusErrors + r.SocketErrors,
		StatusErrors: r.StatusErrors, TransportErrors: r.SocketErrors,
	}
	res.Successes = res.Requests - res.StatusErrors
	if elapsed > 0 {
		res.RPS = float64(r.Requests) / elapsed.Seconds()
	}
	res.Latency.P50 = time.Duration(r.P50US) * time.Microsecond
	res.Latency.P99 = time.Duration(r.P99US) * time.Microsecond
	st := cmd.ProcessState
	return wrkRun{res: res, cpu: st.UserTime() + st.SystemTime()}, nil
}

// luaString quotes s as a Lua string literal.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
