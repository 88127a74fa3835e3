package relay

import (
	"strings"
	"testing"

	"github.com/moatmail/moat/filter"
)

// BenchmarkRelayNewConnection measures the whole front end in process: a
// client connects, sends one ~4 KB message for a relayed domain and quits;
// moat runs the pipeline and relays it to a downstream sink over a reused
// connection. Client, moat and sink share the CPU, so the figure is a floor.
func BenchmarkRelayNewConnection(b *testing.B) {
	ts := startServer(b, []filter.Check{scoreCheck{filter.StageData, func(*filter.Txn) []filter.Symbol {
		return []filter.Symbol{{Name: "BENCH", Score: 1}}
	}}}, nil)
	msg := message("", strings.Repeat("The quick brown fox jumps over the lazy dog.\r\n", 90))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := sendVia(ts.addr, "a@sender.example", []string{"bob@relay.test"}, msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
