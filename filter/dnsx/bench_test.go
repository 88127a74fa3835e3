package dnsx

import (
	"context"
	"testing"
)

// BenchmarkCachedLookup measures lookups answered from the cache, from all
// cores at once (target: ≥ 500,000 lookups/s).
func BenchmarkCachedLookup(b *testing.B) {
	for _, bc := range []struct {
		name, query string
		found       bool
	}{
		{"A", "www.example.test", true},
		{"NXDOMAIN", "2.0.0.127.nope.example.test", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r, _ := setup(b, nil)
			ctx := context.Background()
			if _, err := r.LookupA(ctx, bc.query); (err == nil) != bc.found {
				b.Fatalf("warm-up lookup: %v", err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.LookupA(ctx, bc.query); (err == nil) != bc.found {
						b.Errorf("lookup: %v", err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			if s := r.Stats(); s.Queries != 1 {
				b.Errorf("%d queries sent, want 1 (all cached)", s.Queries)
			}
		})
	}
}
