package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// soakSample is one reading of the server's size.
type soakSample struct {
	at         time.Duration
	rssKB      int64
	goroutines int64
	calls      int64
}

// runSoak drives steady traffic (API calls and token requests) through one
// node for d, samples its RSS and goroutines every 10 s, and reports
// whether they stayed flat: after the first minute (warm-up), RSS at the
// end within 1.5× and goroutines within +50 of the first sample. Every
// answered call must also be counted.
func runSoak(ctx context.Context, s *suite, d time.Duration, w io.Writer) (bool, error) {
	r, err := newRig(ctx, s.bin, rigOptions{})
	if err != nil {
		return false, err
	}
	defer r.close()
	g := r.nodes[0]
	calls, tokens := newTally(), newTally()
	dctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); drive(dctx, 4, 2*time.Millisecond, callLoop(r, g, calls, false)) }()
	go func() {
		defer wg.Done()
		drive(dctx, 1, 50*time.Millisecond, func(hc *http.Client) bool {
			start := time.Now()
			status, body, _, err := r.tokenRequest(hc, g)
			tokens.add(status, body, err, time.Since(start))
			return true
		})
	}()
	var samples []soakSample
	start := time.Now()
	fmt.Fprintf(w, "soak: %v, 4 callers every 2 ms + token requests every 50 ms through one node (SQLite)\n", d)
	fmt.Fprintf(w, "%8s %10s %10s %10s\n", "at", "RSS MB", "goroutines", "calls")
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-dctx.Done():
			done = true
			if len(samples) > 0 && time.Since(start)-samples[len(samples)-1].at < time.Second {
				continue // the last tick was the end
			}
		case <-tick.C:
		}
		rss, err := rssKB(g.Pid())
		if err != nil {
			return false, err
		}
		gor, err := metric(g.Admin, "go_goroutines")
		if err != nil {
			return false, err
		}
		sm := soakSample{at: time.Since(start).Round(time.Second), rssKB: rss, goroutines: int64(gor), calls: calls.made()}
		samples = append(samples, sm)
		fmt.Fprintf(w, "%8v %10.1f %10d %10d\n", sm.at, float64(sm.rssKB)/1024, sm.goroutines, sm.calls)
	}
	wg.Wait()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	counted, cerr := r.waitCounted(wctx, calls.answers())
	ok := true
	var base soakSample
	for _, sm := range samples {
		if sm.at >= time.Minute || base.at == 0 {
			base = sm
			if sm.at >= time.Minute {
				break
			}
		}
	}
	last := samples[len(samples)-1]
	maxRSS := int64(0)
	for _, sm := range samples {
		maxRSS = max(maxRSS, sm.rssKB)
	}
	fmt.Fprintf(w, "soak: %d calls (%v), %d token requests (%v); %d counted\n",
		calls.made(), calls, tokens.made(), tokens, counted)
	fmt.Fprintf(w, "soak: RSS %.1f MB at %v, %.1f MB at the end, %.1f MB at most; goroutines %d → %d\n",
		float64(base.rssKB)/1024, base.at, float64(last.rssKB)/1024, float64(maxRSS)/1024, base.goroutines, last.goroutines)
	if float64(last.rssKB) > 1.5*float64(base.rssKB) {
		ok = false
		fmt.Fprintln(w, "soak: RSS grew more than 1.5× after the warm-up")
	}
	if last.goroutines > base.goroutines+50 {
		ok = false
		fmt.Fprintln(w, "soak: goroutines grew by more than 50")
	}
	if cerr != nil {
		ok = false
		fmt.Fprintln(w, "soak:", cerr)
	}
	if len(calls.errs) > 0 || len(tokens.errs) > 0 {
		ok = false
	}
	return ok, nil
}

// rssKB reads VmRSS of process pid.
func rssKB(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// metric reads one unlabelled sample from a node's /metrics.
func metric(admin, name string) (float64, error) {
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("/metrics has no %s", name)
}
