package filter

import (
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkParseHeader parses the header of a real 6.8 KB ham message from
// the development corpus (testdata/ham-00006.eml, 30 fields, 9 Received).
func BenchmarkParseHeader(b *testing.B) {
	raw, err := os.ReadFile("testdata/ham-00006.eml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		h, _, err := ParseHeader(raw)
		if err != nil || len(h.Fields) != 30 {
			b.Fatalf("ParseHeader: %d fields, %v", len(h.Fields), err)
		}
	}
}

// BenchmarkPipelineRun runs one stage with three trivial checks on a fresh
// Txn per iteration: the runner's own overhead (goroutines, deadlines,
// timing, symbol recording).
func BenchmarkPipelineRun(b *testing.B) {
	p := NewPipeline([]Check{
		emit("one", "ONE", StageData),
		emit("two", "TWO", StageData),
		emit("three", "THREE", StageData),
	}, 5*time.Second, discardLog())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		txn := &Txn{ID: "bench"}
		p.Run(ctx, txn, StageData)
		if txn.SymbolCount() != 3 {
			b.Fatalf("%d symbols, want 3", txn.SymbolCount())
		}
	}
}
