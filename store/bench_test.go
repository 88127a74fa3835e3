package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchMessages returns ~4 KB corpus messages (or synthetic ones when the
// corpus is missing).
func benchMessages(b *testing.B) [][]byte {
	files, _ := filepath.Glob("/work/shared/corpus/ham/*.eml")
	var out [][]byte
	if len(files) > 0 {
		for _, raw := range corpus(b, "ham", 400) {
			if len(raw) >= 2000 && len(raw) <= 8000 {
				out = append(out, raw)
			}
		}
	}
	if len(out) == 0 {
		body := strings.Repeat("All work and no play makes Jack a dull boy.\r\n", 90)
		for i := range 16 {
			out = append(out, fmt.Appendf(nil, "Subject: bench %d\r\n\r\n%s", i, body))
		}
	}
	return out
}

// BenchmarkDeliver measures durable deliveries (file fsync, directory
// fsync, group-committed index fsync) from 32 concurrent SMTP sessions.
func BenchmarkDeliver(b *testing.B) {
	ctx := context.Background()
	s := openAt(b, b.TempDir(), Options{})
	if err := s.AddUser(ctx, alice, "pw"); err != nil {
		b.Fatal(err)
	}
	msgs := benchMessages(b)
	var n atomic.Int64
	var bytesIn atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := msgs[int(n.Add(1))%len(msgs)]
			bytesIn.Add(int64(len(m)))
			if err := s.Deliver(ctx, alice, false, bytes.NewReader(m)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(bytesIn.Load())/float64(b.N), "B/msg")
}

// BenchmarkList measures a snapshot of a 1,000-message mailbox.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	s := openAt(b, b.TempDir(), Options{})
	if err := s.AddUser(ctx, alice, "pw"); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, _, err := s.Append(ctx, alice, Inbox, []string{`\Seen`, "$label1"}, time.Time{}, bytes.NewReader(msg(fmt.Sprint(i)))); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		_, msgs, err := s.List(ctx, alice, Inbox)
		if err != nil || len(msgs) != 1000 {
			b.Fatal(len(msgs), err)
		}
	}
}
