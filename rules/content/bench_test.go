package content

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse parses the committed corpus samples of package rules in
// turn, one per iteration.
func BenchmarkParse(b *testing.B) {
	files, err := filepath.Glob("../testdata/corpus/*/*.eml")
	if err != nil || len(files) == 0 {
		b.Fatalf("no samples: %v", err)
	}
	var msgs [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if bytes.HasPrefix(raw, []byte("From ")) {
			raw = raw[bytes.IndexByte(raw, '\n')+1:]
		}
		msgs = append(msgs, raw)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Parse(msgs[i%len(msgs)], Limits{})
		i++
	}
}
