package bayes

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/moatmail/moat/filter/state"
)

// corpusMessages reads testdata/corpus/{ham,spam}.
func corpusMessages(tb testing.TB) (ham, spam [][]byte) {
	tb.Helper()
	for _, c := range []string{"ham", "spam"} {
		dir := filepath.Join("testdata", "corpus", c)
		ents, err := os.ReadDir(dir)
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range ents {
			if filepath.Ext(e.Name()) != ".eml" {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				tb.Fatal(err)
			}
			if c == "ham" {
				ham = append(ham, raw)
			} else {
				spam = append(spam, raw)
			}
		}
	}
	return ham, spam
}

// trained returns a Bayes on an embedded store in a temporary directory
// that has learned the test corpus.
func trained(tb testing.TB, o Options) (*Bayes, [][]byte) {
	tb.Helper()
	st, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	o.MinLearned = 1
	b, err := New(st, o)
	if err != nil {
		tb.Fatal(err)
	}
	ham, spam := corpusMessages(tb)
	ctx := context.Background()
	if _, err := b.Learn(ctx, "", Ham, ham...); err != nil {
		tb.Fatal(err)
	}
	if _, err := b.Learn(ctx, "", Spam, spam...); err != nil {
		tb.Fatal(err)
	}
	return b, append(ham, spam...)
}

func BenchmarkTokenize(b *testing.B) {
	ham, spam := corpusMessages(b)
	msgs := append(ham, spam...)
	tok := NewTokenizer(DefaultTokenizerOptions())
	var ids []uint64
	var bytes int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m := msgs[i%len(msgs)]
		bytes += int64(len(m))
		ids = tok.Tokens(ids[:0], m)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.SetBytes(bytes / int64(b.N))
}

// BenchmarkClassify classifies corpus messages against a model of the
// test corpus in the embedded store, on one goroutine (run it with
// -cpu 1 for the one-core figure).
func BenchmarkClassify(b *testing.B) {
	bz, msgs := trained(b, DefaultOptions())
	ctx := context.Background()
	for _, m := range msgs { // warm the cache, as a running server has
		if _, err := bz.Classify(ctx, m, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := bz.Classify(ctx, msgs[i%len(msgs)], ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkTrain learns corpus messages into the embedded store in
// batches, as `moat train` does; each round learns a fresh model.
func BenchmarkTrain(b *testing.B) {
	ham, spam := corpusMessages(b)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		b.StopTimer()
		st, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		bz, err := New(st, DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := bz.Learn(ctx, "", Ham, ham...); err != nil {
			b.Fatal(err)
		}
		if _, err := bz.Learn(ctx, "", Spam, spam...); err != nil {
			b.Fatal(err)
		}
		n += len(ham) + len(spam)
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
