package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testproc"
)

// TestFastScenarios runs the fault suite's fast scenarios against the real
// binary and fails on any promise that does not hold. Each fault is
// controlled by the test (frozen until the requests it starves have been
// answered, a disk filled to the last byte), so the verdicts are counts,
// not timings; the one duration checked is store_timeout + 1 s against a
// request that would otherwise hang for minutes.
func TestFastScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gatehouse, PostgreSQL and Redis as processes; skipped in -short mode")
	}
	bin, err := testproc.Build("../..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{bin: bin, faultFor: 2 * time.Second, storeTimeout: time.Second}
	for _, sc := range scenarios {
		if !sc.fast {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			if reason := cannotRun(sc.name); reason != "" {
				t.Skip(reason)
			}
			res := runOne(context.Background(), s, sc)
			t.Log(res.line())
			if res.err != nil {
				t.Fatalf("could not run: %v", res.err)
			}
			if !res.holds {
				t.Errorf("%s: %s", sc.promise, strings.Join(res.why, "; "))
			}
		})
	}
}

// cannotRun says why this machine cannot run a scenario, or "".
func cannotRun(name string) string {
	switch {
	case strings.HasPrefix(name, "pg-"):
		if _, err := os.Stat("/usr/lib/postgresql"); err != nil {
			if _, err := exec.LookPath("initdb"); err != nil {
				return "PostgreSQL's server programs are not installed"
			}
		}
	case strings.HasPrefix(name, "disk-"):
		if os.Geteuid() != 0 {
			return "mounting a small tmpfs needs root"
		}
	case strings.HasPrefix(name, "redis-"):
		if _, err := exec.LookPath("redis-server"); err != nil {
			return "redis-server is not installed"
		}
	}
	return ""
}
