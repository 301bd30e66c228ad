package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/store"
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
		benchmarkGetClient(b, mustOpen(b, newSchema(b, postgresURL(b))))
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
		benchmarkAPIsGeneration(b, mustOpen(b, newSchema(b, postgresURL(b))))
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
