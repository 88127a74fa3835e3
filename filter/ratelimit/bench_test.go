package ratelimit_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/ratelimit"
	"github.com/moatmail/moat/filter/state/statetest"
)

// BenchmarkTake measures sliding-window Takes (one round trip each) from
// 8 goroutines per CPU on the memory store, the embedded file store and
// Redis, over 1024 keys.
func BenchmarkTake(b *testing.B) {
	rule := ratelimit.Rule{Name: "bench", Limit: 1 << 40, Window: time.Minute}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "ip:10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
	}
	run := func(b *testing.B, l *ratelimit.Limiter) {
		c := ctx(b)
		b.SetParallelism(8) // many sessions at once, as on a busy gateway
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := l.Take(c, rule, keys[i%len(keys)], 1); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	}
	b.Run("memory", func(b *testing.B) {
		l, _ := memLimiter(b)
		run(b, l)
	})
	b.Run("embedded", func(b *testing.B) {
		st := statetest.Embedded().Open(b, nil)
		run(b, ratelimit.New(st, ratelimit.Options{}))
	})
	b.Run("redis", func(b *testing.B) {
		st := statetest.OpenRedis(b, statetest.StartRedis(b))
		run(b, ratelimit.New(st, ratelimit.Options{}))
	})
}
