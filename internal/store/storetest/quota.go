package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// quotaDay returns the UTC midnight d days after a fixed day.
func quotaDay(d int) time.Time { return time.Date(2025, 3, 14+d, 0, 0, 0, 0, time.UTC) }

var quotaMonthStart = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func mustSaveQuotaCounts(t *testing.T, s store.Store, cs ...store.QuotaCount) {
	t.Helper()
	if err := s.SaveQuotaCounts(t.Context(), cs); err != nil {
		t.Fatalf("SaveQuotaCounts(%d counts): %v", len(cs), err)
	}
}

func checkQuotaCounts(t *testing.T, s store.Store, day, month time.Time, want ...store.QuotaCount) {
	t.Helper()
	got, err := s.ListQuotaCounts(t.Context(), day, month)
	if err != nil {
		t.Fatalf("ListQuotaCounts: %v", err)
	}
	format := func(cs []store.QuotaCount) string {
		out := ""
		for _, c := range cs {
			out += fmt.Sprintf("{%q %s %s %d}", c.Key, c.Period, c.Start.Format(time.RFC3339Nano), c.Count)
		}
		return out
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.Key == w.Key && g.Period == w.Period && g.Start.Equal(w.Start) && g.Start.Location() == time.UTC && g.Count == w.Count
	}
	if !ok {
		t.Fatalf("ListQuotaCounts(%s, %s):\n got  %s\n want %s", day.Format(time.DateOnly), month.Format(time.DateOnly), format(got), format(want))
	}
}

// testQuotaCounts: a saved count only grows (a smaller or repeated value
// changes nothing), counts of one row in one batch merge, listing selects
// periods by their start and orders by key (bytes), period, start, and
// deleting removes past periods only.
func testQuotaCounts(t *testing.T, s store.Store) {
	d0, d1 := quotaDay(0), quotaDay(1)
	m := quotaMonthStart
	checkQuotaCounts(t, s, time.Time{}, time.Time{})
	mustSaveQuotaCounts(t, s,
		store.QuotaCount{Key: "b|api", Period: store.QuotaDay, Start: d0, Count: 5},
		store.QuotaCount{Key: "b|api", Period: store.QuotaMonth, Start: m, Count: 40},
		store.QuotaCount{Key: "B|api", Period: store.QuotaDay, Start: d1.In(time.FixedZone("x", 3600)), Count: 1},
		store.QuotaCount{Key: "b|api", Period: store.QuotaDay, Start: d1, Count: 2},
		store.QuotaCount{Key: "b|api", Period: store.QuotaDay, Start: d1, Count: 7}, // merged: 7 wins
	)
	// A smaller value (a stale save) stays below the stored one; a larger
	// one raises it.
	mustSaveQuotaCounts(t, s,
		store.QuotaCount{Key: "b|api", Period: store.QuotaDay, Start: d0, Count: 3},
		store.QuotaCount{Key: "b|api", Period: store.QuotaMonth, Start: m, Count: 41},
	)
	all := []store.QuotaCount{
		{Key: "B|api", Period: store.QuotaDay, Start: d1, Count: 1},
		{Key: "b|api", Period: store.QuotaDay, Start: d0, Count: 5},
		{Key: "b|api", Period: store.QuotaDay, Start: d1, Count: 7},
		{Key: "b|api", Period: store.QuotaMonth, Start: m, Count: 41},
	}
	checkQuotaCounts(t, s, time.Time{}, time.Time{}, all...)
	checkQuotaCounts(t, s, d1, m, all[0], all[2], all[3])
	checkQuotaCounts(t, s, d1, m.AddDate(0, 1, 0), all[0], all[2])

	if err := s.SaveQuotaCounts(t.Context(), []store.QuotaCount{{Key: "k", Period: "week", Start: d0, Count: 1}}); err == nil {
		t.Errorf("SaveQuotaCounts with period week: no error")
	}
	if err := s.SaveQuotaCounts(t.Context(), nil); err != nil {
		t.Errorf("SaveQuotaCounts(nil) = %v", err)
	}

	if err := s.DeleteQuotaCountsBefore(t.Context(), d1, m); err != nil {
		t.Fatalf("DeleteQuotaCountsBefore: %v", err)
	}
	checkQuotaCounts(t, s, time.Time{}, time.Time{}, all[0], all[2], all[3])
	if err := s.DeleteQuotaCountsBefore(t.Context(), d1, m.AddDate(0, 1, 0)); err != nil {
		t.Fatalf("DeleteQuotaCountsBefore: %v", err)
	}
	checkQuotaCounts(t, s, time.Time{}, time.Time{}, all[0], all[2])
}

// testQuotaCountsConcurrent: concurrent saves of growing values of the same
// rows (in opposite orders) neither fail nor lose the largest.
func testQuotaCountsConcurrent(t *testing.T, s store.Store) {
	const writers, rounds = 4, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= rounds; i++ {
				cs := []store.QuotaCount{
					{Key: "a", Period: store.QuotaDay, Start: quotaDay(0), Count: int64(i*writers + w)},
					{Key: "z", Period: store.QuotaDay, Start: quotaDay(0), Count: int64(i*writers + w)},
				}
				if w%2 == 1 {
					cs[0], cs[1] = cs[1], cs[0]
				}
				if err := s.SaveQuotaCounts(t.Context(), cs); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent SaveQuotaCounts: %v", err)
	}
	top := int64(rounds*writers + writers - 1)
	checkQuotaCounts(t, s, time.Time{}, time.Time{},
		store.QuotaCount{Key: "a", Period: store.QuotaDay, Start: quotaDay(0), Count: top},
		store.QuotaCount{Key: "z", Period: store.QuotaDay, Start: quotaDay(0), Count: top})
}
