// Command faults runs gatehouse's fault scenarios against real processes —
// the gatehouse binary, a private PostgreSQL cluster, a private Redis, a
// small tmpfs — and prints one line per scenario with its figures: calls
// made, answered 2xx, counted in the usage records, lost, admitted beyond
// the plan, and the longest request during the fault. It exits 1 when a
// scenario's promise does not hold. BENCHMARKS.md's RELIABILITY section
// records its output.
//
//	go run ./bench/faults                      # every scenario
//	go run ./bench/faults -fast                # the ones CI runs (a few seconds each)
//	go run ./bench/faults -run pg-freeze,kill9 -fault 20s
//	go run ./bench/faults -soak 5m             # soak: RSS and goroutines sampled
//
// Faults are done to private instances on other ports, never to the
// machine's shared PostgreSQL or Redis. It needs root for the tmpfs of the
// disk scenarios and PostgreSQL's server programs for the database ones.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/testproc"
)

func main() {
	var (
		only         = flag.String("run", "", "comma-separated scenarios to run (default: all)")
		fast         = flag.Bool("fast", false, "only the fast scenarios (those CI runs)")
		faultFor     = flag.Duration("fault", 5*time.Second, "how long each fault lasts")
		storeTimeout = flag.Duration("store-timeout", 2*time.Second, "the nodes' store_timeout in the database scenarios")
		soak         = flag.Duration("soak", 0, "run the soak instead of the scenarios, for this long")
		bin          = flag.String("gatehouse", "", "gatehouse binary (default: build ./cmd/gatehouse)")
		list         = flag.Bool("list", false, "list the scenarios and their promises")
	)
	flag.Parse()
	if *list {
		for _, sc := range scenarios {
			fmt.Printf("%-15s %-5v %s\n", sc.name, sc.fast, sc.promise)
		}
		return
	}
	ctx := context.Background()
	if *bin == "" {
		dir, err := os.MkdirTemp("", "gatehouse-faults-bin-")
		if err != nil {
			fatal(err)
		}
		defer os.RemoveAll(dir)
		if *bin, err = testproc.Build(".", dir); err != nil {
			fatal(err)
		}
	}
	if abs, err := filepath.Abs(*bin); err == nil {
		*bin = abs
	}
	s := &suite{bin: *bin, faultFor: *faultFor, storeTimeout: *storeTimeout}
	if *soak > 0 {
		ok, err := runSoak(ctx, s, *soak, os.Stdout)
		if err != nil {
			fatal(err)
		}
		if !ok {
			os.Exit(1)
		}
		return
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	if !runScenarios(ctx, s, names, *fast, os.Stdout) {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "faults:", err)
	os.Exit(2)
}

// runScenarios runs the named scenarios (all, or the fast ones, when
// names is empty), printing one line each, and reports whether every
// promise held.
func runScenarios(ctx context.Context, s *suite, names []string, fastOnly bool, w io.Writer) bool {
	all := true
	fmt.Fprintf(w, "%-15s %7s %7s %7s %6s %6s %9s  %-5s  %s\n", "scenario", "made", "2xx", "counted", "lost", "over", "longest", "holds", "figures")
	for _, sc := range scenarios {
		if len(names) > 0 && !slices.Contains(names, sc.name) || len(names) == 0 && fastOnly && !sc.fast {
			continue
		}
		res := runOne(ctx, s, sc)
		fmt.Fprintln(w, res.line())
		all = all && res.holds && res.err == nil
	}
	return all
}

// runOne runs one scenario under a time limit.
func runOne(ctx context.Context, s *suite, sc scenario) *result {
	res := newResult(sc.name)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute+4*s.faultFor)
	defer cancel()
	if err := sc.run(ctx, s, res); err != nil {
		res.err = err
		res.holds = false
	}
	return res
}

func (r *result) line() string {
	n := func(v int64) string {
		if v == notApplicable {
			return "-"
		}
		return fmt.Sprint(v)
	}
	longest := "-"
	if r.longest > 0 {
		longest = r.longest.Round(time.Millisecond).String()
	}
	holds := "yes"
	if !r.holds {
		holds = "NO"
	}
	figures := r.figures
	if r.err != nil {
		figures = "could not run: " + r.err.Error()
	}
	if len(r.why) > 0 {
		figures += " — " + strings.Join(r.why, "; ")
	}
	return fmt.Sprintf("%-15s %7s %7s %7s %6s %6s %9s  %-5s  %s", r.name, n(r.made), n(r.ok), n(r.counted), n(r.lost), n(r.over), longest, holds, figures)
}
