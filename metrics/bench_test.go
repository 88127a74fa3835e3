package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/metrics"
)

// BenchmarkTransaction measures recording one transaction with 8 symbols
// and 10 check timings (target: well under 5 µs).
func BenchmarkTransaction(b *testing.B) {
	m := metrics.New()
	syms := make([]filter.Symbol, 8)
	for i := range syms {
		syms[i] = filter.Symbol{Name: fmt.Sprintf("SYMBOL_%d", i), Score: 1}
	}
	syms[7].Name = "GREYLIST_PASS"
	stages := filter.AllStages()
	timings := make([]filter.Timing, 10)
	for i := range timings {
		timings[i] = filter.Timing{Check: fmt.Sprintf("check%d", i), Stage: stages[i%len(stages)], Duration: time.Duration(i+1) * time.Millisecond}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Transaction("accept", syms, timings, 50*time.Millisecond)
		}
	})
}
