package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// result is one scenario's figures.
type result struct {
	Scenario string  `json:"scenario"`
	Database string  `json:"database"`
	Workers  int     `json:"workers"`
	Seconds  float64 `json:"seconds"`
	// Ops are the operations started in the measurement window that
	// succeeded; PerSec is Ops per second of the window.
	Ops    int     `json:"ops"`
	PerSec float64 `json:"ops_per_second"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
	// Errors counts failed operations in the window; AllErrors those of
	// the warm-up too, by message.
	Errors    int            `json:"errors"`
	AllErrors map[string]int `json:"all_errors,omitempty"`
	// CPU is the CPU time of each process in the window per second (cores):
	// gatehouse, the generator (this process) and the rest of the machine
	// (other); CPUPerOp the same in microseconds per operation. Absent
	// without /proc.
	CPU      map[string]float64 `json:"cpu_cores,omitempty"`
	CPUPerOp map[string]float64 `json:"cpu_us_per_op,omitempty"`
	// Stopped counts workers that stopped on an error (refresh only).
	Stopped int `json:"workers_stopped,omitempty"`
}

// drive runs op on o.workers workers for the warm-up and the window. An
// operation is counted in the window it started in; in-flight operations
// finish after the window instead of being cancelled (a cancelled refresh
// would leave its family's state unknown). op returns whether its error
// stops the worker.
func drive(ctx context.Context, g *gatehouse, o options, scenario, dbName string,
	op func(ctx context.Context, worker int) (fatal bool, err error)) (*result, error) {
	begin := time.Now()
	start, end := begin.Add(o.warm), begin.Add(o.warm+o.dur)
	type tally struct {
		lat     []time.Duration
		errors  int
		all     map[string]int
		stopped bool
	}
	tallies := make([]tally, o.workers)
	var wg sync.WaitGroup
	for i := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &tallies[i]
			t.all = map[string]int{}
			t.lat = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				fatal, err := op(ctx, i)
				d := time.Since(t0)
				if err != nil && ctx.Err() == nil {
					t.all[err.Error()]++
					if !t0.Before(start) {
						t.errors++
					}
					if fatal {
						t.stopped = true
						return
					}
					time.Sleep(10 * time.Millisecond) // no hot loop on a dead server
					continue
				}
				if !t0.Before(start) {
					t.lat = append(t.lat, d)
				}
			}
		}()
	}
	// CPU time at the window's edges.
	var before, after cpuSample
	sleepUntil(ctx, start)
	before = sampleCPU(g.pid())
	sleepUntil(ctx, end)
	after = sampleCPU(g.pid())
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res := &result{Scenario: scenario, Database: dbName, Workers: o.workers, Seconds: o.dur.Seconds(), AllErrors: map[string]int{}}
	var lat []time.Duration
	for _, t := range tallies {
		lat = append(lat, t.lat...)
		res.Errors += t.errors
		for k, v := range t.all {
			res.AllErrors[k] += v
		}
		if t.stopped {
			res.Stopped++
		}
	}
	slices.Sort(lat)
	res.Ops = len(lat)
	res.PerSec = float64(len(lat)) / o.dur.Seconds()
	if len(lat) > 0 {
		q := func(p float64) float64 { return ms(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
		res.P50MS, res.P90MS, res.P99MS, res.MaxMS = q(0.50), q(0.90), q(0.99), ms(lat[len(lat)-1])
	}
	res.CPU, res.CPUPerOp = after.since(before, res.Ops)
	return res, nil
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// report prints a scenario's result.
func report(r *result, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
		return
	}
	fmt.Printf("%-40s %-8s %7.0f /s  p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  errors %d (c=%d, %gs)\n",
		r.Scenario, r.Database, r.PerSec, r.P50MS, r.P90MS, r.P99MS, r.Errors, r.Workers, r.Seconds)
	if r.CPU != nil {
		fmt.Printf("%-40s %-8s CPU cores: gatehouse %.2f, generator %.2f, other %.2f; per op: gatehouse %.0f µs, generator %.0f µs\n",
			"", "", r.CPU["gatehouse"], r.CPU["generator"], r.CPU["other"], r.CPUPerOp["gatehouse"], r.CPUPerOp["generator"])
	}
	if len(r.AllErrors) > 0 {
		keys := make([]string, 0, len(r.AllErrors))
		for k := range r.AllErrors {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return r.AllErrors[keys[i]] > r.AllErrors[keys[j]] })
		for _, k := range keys[:min(5, len(keys))] {
			fmt.Printf("%-40s %-8s %6d × %s\n", "", "", r.AllErrors[k], strings.ReplaceAll(k, "\n", " "))
		}
	}
}
