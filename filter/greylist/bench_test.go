package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

// benchTxns are distinct triplets, each from its own /24 (so no client
// reaches auto-allowing and every decision runs the whole script).
func benchTxns(n int) []*filter.Txn {
	txns := make([]*filter.Txn, n)
	for i := range txns {
		ip := netip.AddrFrom4([4]byte{10 + byte(i>>16), byte(i >> 8), byte(i), 1})
		txns[i] = &filter.Txn{ID: "bench", ClientIP: ip, MailFrom: fmt.Sprintf("sender%d@example.org", i%1000),
			Rcpts: []string{fmt.Sprintf("rcpt%d@example.net", i%5000)}}
	}
	return txns
}

// benchDecisions decides over a pool of triplets with a zero delay: the
// first round is all new triplets, later rounds pass (refreshing them).
// parallelism is goroutines per CPU, like concurrent SMTP sessions.
func benchDecisions(b *testing.B, st state.Store, parallelism int) {
	o := DefaultOptions()
	o.Delay = 0
	g, err := New(st, o)
	if err != nil {
		b.Fatal(err)
	}
	txns := benchTxns(1 << 16)
	var next atomic.Int64
	ctx := context.Background()
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t := txns[int(next.Add(1))%len(txns)]
			r, err := g.Decide(ctx, t, t.Rcpts[0])
			if err != nil || (r.Status != StatusNew && r.Status != StatusPass) {
				b.Errorf("decision: %v, %v", r.Status, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkDecisionEmbedded: target ≥ 50,000 decisions/s on 2 cores.
func BenchmarkDecisionEmbedded(b *testing.B) {
	st, err := state.OpenEmbedded(state.EmbeddedOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	benchDecisions(b, st, 1)
}

// BenchmarkDecisionRedis: target ≥ 20,000 decisions/s against a local
// redis-server on 2 cores; one round trip per decision.
func BenchmarkDecisionRedis(b *testing.B) {
	srv := statetest.StartRedis(b)
	benchDecisions(b, statetest.OpenRedis(b, srv), 8)
}
