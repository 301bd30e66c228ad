package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// BenchmarkGetClient measures the token endpoint's client lookup, one
// caller at a time and from GOMAXPROCS goroutines at once.
func BenchmarkGetClient(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchmarkGetClient(b, mustOpen(b, filepath.Join(b.TempDir(), "bench.db")))
	})
	b.Run("sqlite-memory", func(b *testing.B) {
		benchmarkGetClient(b, mustOpen(b, ":memory:"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchmarkGetClient(b, mustOpen(b, storetest.PostgresSchema(b, storetest.PostgresURL(b))))
	})
}

func benchmarkGetClient(b *testing.B, s store.Store) {
	ctx := context.Background()
	c := &store.Client{
		ID:                      "bench-client-0001",
		Name:                    "Benchmark App",
		SecretHash:              make([]byte, 32),
		GrantTypes:              []string{"client_credentials", "authorization_code", "refresh_token"},
		Scopes:                  []string{"openid", "sim-swap:check", "sim-swap:retrieve-date", "number-verification:verify"},
		RedirectURIs:            []string{"https://app.example.com/callback"},
		TokenEndpointAuthMethod: "client_secret_basic",
		Status:                  store.ClientActive,
		PreviousSecretExpiresAt: time.Now().Add(time.Hour),
	}
	if err := s.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	// Unrelated rows, so the lookup is not a scan of one row.
	for i := range 1000 {
		if err := s.CreateClient(ctx, &store.Client{ID: fmt.Sprintf("filler-%04d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetClient(ctx, c.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetClient(ctx, c.ID); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkAPIsGeneration measures the read every node polls to notice API
// changes.
func BenchmarkAPIsGeneration(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchmarkAPIsGeneration(b, mustOpen(b, filepath.Join(b.TempDir(), "bench.db")))
	})
	b.Run("sqlite-memory", func(b *testing.B) {
		benchmarkAPIsGeneration(b, mustOpen(b, ":memory:"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchmarkAPIsGeneration(b, mustOpen(b, storetest.PostgresSchema(b, storetest.PostgresURL(b))))
	})
}

func benchmarkAPIsGeneration(b *testing.B, s store.Store) {
	ctx := context.Background()
	if err := s.CreateAPI(ctx, &store.API{Name: "bench", BasePath: "/bench"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.APIsGeneration(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFindSubscription measures the gateway's subscription lookup, one
// caller at a time and from GOMAXPROCS goroutines at once.
func BenchmarkFindSubscription(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchmarkFindSubscription(b, mustOpen(b, filepath.Join(b.TempDir(), "bench.db")))
	})
	b.Run("sqlite-memory", func(b *testing.B) {
		benchmarkFindSubscription(b, mustOpen(b, ":memory:"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchmarkFindSubscription(b, mustOpen(b, storetest.PostgresSchema(b, storetest.PostgresURL(b))))
	})
}

func benchmarkFindSubscription(b *testing.B, s store.Store) {
	ctx := context.Background()
	if err := s.CreatePlan(ctx, &store.Plan{Name: "starter", RatePerSecond: 10, Burst: 20}); err != nil {
		b.Fatal(err)
	}
	// 100 clients × 10 APIs, so the lookup is not a scan of one row.
	for a := range 10 {
		name := fmt.Sprintf("api-%02d", a)
		if err := s.CreateAPI(ctx, &store.API{Name: name, BasePath: "/" + name}); err != nil {
			b.Fatal(err)
		}
	}
	for c := range 100 {
		id := fmt.Sprintf("client-%03d", c)
		if err := s.CreateClient(ctx, &store.Client{ID: id}); err != nil {
			b.Fatal(err)
		}
		for a := range 10 {
			if err := s.CreateSubscription(ctx, &store.Subscription{
				ID: fmt.Sprintf("sub-%03d-%02d", c, a), ClientID: id, APIName: fmt.Sprintf("api-%02d", a),
				PlanName: "starter", Status: store.SubscriptionActive,
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.FindSubscription(ctx, "client-042", "api-07"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.FindSubscription(ctx, "client-042", "api-07"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkAddUsage measures one flush of the gateway's usage counters: a
// batch of 500 buckets, all of which exist after the first iteration (the
// steady state within an hour).
func BenchmarkAddUsage(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchmarkAddUsage(b, mustOpen(b, filepath.Join(b.TempDir(), "bench.db")))
	})
	b.Run("sqlite-memory", func(b *testing.B) {
		benchmarkAddUsage(b, mustOpen(b, ":memory:"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchmarkAddUsage(b, mustOpen(b, storetest.PostgresSchema(b, storetest.PostgresURL(b))))
	})
}

func benchmarkAddUsage(b *testing.B, s store.Store) {
	const n = 500
	ctx := context.Background()
	hour := time.Now().UTC().Truncate(time.Hour)
	batch := make([]store.UsageRecord, n)
	for i := range batch {
		batch[i] = store.UsageRecord{
			ClientID: fmt.Sprintf("client-%03d", i%100), APIName: fmt.Sprintf("api-%02d", i%7),
			Hour: hour, Status: []int{200, 201, 400, 403, 429}[i/100], Error: "",
			Count: 3, LatencySum: 4500, LatencyMax: 2000,
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.AddUsage(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}

// BenchmarkRotateRefreshToken measures refresh token rotation, the token
// endpoint's one write per refresh: one refresher, then 32 concurrent
// refreshers each rotating its own family's chain (no two share a token,
// as under real load). Every rotation must succeed.
func BenchmarkRotateRefreshToken(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchmarkRotateRefreshToken(b, mustOpen(b, filepath.Join(b.TempDir(), "bench.db")))
	})
	b.Run("sqlite-memory", func(b *testing.B) {
		benchmarkRotateRefreshToken(b, mustOpen(b, ":memory:"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchmarkRotateRefreshToken(b, mustOpen(b, storetest.PostgresSchema(b, storetest.PostgresURL(b))))
	})
}

// refreshers is how many goroutines rotate at once in the parallel run.
const refreshers = 32

func benchmarkRotateRefreshToken(b *testing.B, s store.Store) {
	ctx := context.Background()
	if err := s.CreateClient(ctx, &store.Client{ID: "bench-client"}); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateUser(ctx, &store.User{ID: "bench-user", Username: "bench"}); err != nil {
		b.Fatal(err)
	}
	token := func(family string, i int) *store.RefreshToken {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", family, i))
		return &store.RefreshToken{
			Hash: hex.EncodeToString(sum[:]), FamilyID: family,
			ClientID: "bench-client", UserID: "bench-user",
			Scopes:   []string{"openid", "offline_access", "sim-swap:check"},
			AuthTime: time.Now(), ExpiresAt: time.Now().Add(30 * 24 * time.Hour),
		}
	}
	// Unrelated tokens, so the indexes are not trivially small.
	for i := range 1000 {
		if err := s.CreateRefreshToken(ctx, token("filler", i)); err != nil {
			b.Fatal(err)
		}
	}
	var families atomic.Int64
	// refresh runs one refresher over a new family until pb says stop.
	refresh := func(b *testing.B, next func() bool) {
		family := fmt.Sprintf("family-%06d", families.Add(1))
		cur := token(family, 0)
		if err := s.CreateRefreshToken(ctx, cur); err != nil {
			b.Error(err)
			return
		}
		for i := 1; next(); i++ {
			n := token(family, i)
			if _, err := s.RotateRefreshToken(ctx, cur.Hash, time.Time{}, n); err != nil {
				b.Errorf("rotation %d of %s: %v", i, family, err)
				return
			}
			cur = n
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		refresh(b, b.Loop)
	})
	b.Run(fmt.Sprintf("parallel-%d", refreshers), func(b *testing.B) {
		b.SetParallelism((refreshers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) { refresh(b, pb.Next) })
	})
}
