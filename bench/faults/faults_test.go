package main

import (
	"context"
	"errors"
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
			res := runOne(context.Background(), s, sc)
			t.Log(res.line())
			if errors.Is(res.err, testproc.ErrNotInstalled) {
				t.Skip(res.err)
			}
			if res.err != nil {
				t.Fatalf("could not run: %v", res.err)
			}
			if !res.holds {
				t.Errorf("%s: %s", sc.promise, strings.Join(res.why, "; "))
			}
		})
	}
}
