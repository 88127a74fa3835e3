package rules

import (
	"context"
	"os"
	"testing"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/headers"
)

// benchMessages returns the committed corpus samples, or every message of
// the corpus MOAT_CORPUS names (a directory with ham/ and spam/), without
// their mbox lines.
func benchMessages(b *testing.B) [][]byte {
	b.Helper()
	dir := "testdata/corpus"
	if d := os.Getenv("MOAT_CORPUS"); d != "" {
		dir = d
	}
	var msgs [][]byte
	for _, f := range corpusFiles(b, dir) {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, StripMboxFrom(raw))
	}
	return msgs
}

// BenchmarkDefaultRules matches the default rule set against corpus
// messages in turn, one per iteration: the cost per message of the rules
// check (parsing included). The target is 100µs per message on one core
// (-cpu 1) over the development corpus (MOAT_CORPUS=../shared/corpus).
func BenchmarkDefaultRules(b *testing.B) {
	rs, err := Default(Options{})
	if err != nil {
		b.Fatal(err)
	}
	msgs := benchMessages(b)
	ctx := context.Background()
	var bytes int64
	for _, m := range msgs {
		bytes += int64(len(m))
	}
	b.SetBytes(bytes / int64(len(msgs)))
	b.ReportAllocs()
	i, exceeded := 0, 0
	for b.Loop() {
		if res := rs.MatchBytes(ctx, msgs[i%len(msgs)], nil); res.BudgetExceeded {
			exceeded++ // the budget is wall time: a loaded machine may overrun it
		}
		i++
	}
	b.ReportMetric(float64(exceeded), "overruns")
}

// TestDefaultCorpusFalsePositives checks the default rules on a whole
// corpus with the default policy thresholds: at most 0.5% of ham may reach
// junk (8). It runs only when MOAT_CORPUS names the corpus (a directory
// with ham/ and spam/), since tests do not read ../shared on their own:
//
//	MOAT_CORPUS=../shared/corpus go test -run TestDefaultCorpusFalsePositives -v ./rules/
func TestDefaultCorpusFalsePositives(t *testing.T) {
	dir := os.Getenv("MOAT_CORPUS")
	if dir == "" {
		t.Skip("MOAT_CORPUS not set")
	}
	rs, err := Default(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Stats(t.Context(), rs, dir, StatsOptions{
		Extra:      []filter.Check{headers.New()},
		Thresholds: []Threshold{{Name: "add_header", Score: 5}, {Name: "junk", Score: 8}, {Name: "reject", Score: 15}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range rep.Thresholds {
		t.Logf("%-10s >= %4.1f: ham %d (%.2f%%), spam %d (%.2f%%)", th.Name, th.Score, th.HamCount, 100*th.HamRate, th.SpamCount, 100*th.SpamRate)
	}
	if junk := rep.Thresholds[1]; junk.HamRate > 0.005 {
		t.Errorf("%.2f%% of ham reaches junk, more than 0.5%%: %q", 100*junk.HamRate, junk.HamFiles)
	}
	if rep.BudgetExceeded > 0 {
		t.Errorf("%d messages exhausted the matching budget", rep.BudgetExceeded)
	}
}
