package dnsbl

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
)

// BenchmarkConnectStage measures what the DNS checks add to a connection
// with a warm cache: the whole connect stage (four DNS lists and FCrDNS) as
// the SMTP front end runs it, then the helo stage (HELO check). Target:
// under 200 µs for the connect stage.
func BenchmarkConnectStage(b *testing.B) {
	_, res := startDNS(b)
	ipc, err := NewIPCheck(res, IPConfig{Zones: testZones()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	checks := []filter.Check{ipc, NewFCrDNS(res, nil), NewHelo(res, HeloConfig{Names: []string{"mx.moat.test"}}, nil)}
	p := filter.NewPipeline(checks, 10*time.Second, nil)
	ctx := context.Background()
	client := netip.MustParseAddr("127.0.0.2")
	run := func(stage filter.Stage) *filter.Txn {
		t := &filter.Txn{ID: "bench", ClientIP: client, Helo: "mail.good.test"}
		p.Run(ctx, t, stage)
		return t
	}
	// Warm the cache, and make sure the checks work.
	for _, s := range []filter.Stage{filter.StageConnect, filter.StageHelo} {
		if t := run(s); s == filter.StageConnect && len(t.Symbols()) != 4 {
			b.Fatalf("warm-up: symbols %v", t.Symbols())
		}
	}
	for _, bc := range []struct {
		name  string
		stage filter.Stage
	}{{"connect", filter.StageConnect}, {"helo", filter.StageHelo}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				run(bc.stage)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/stage")
		})
	}
}

// BenchmarkIPCheckParallel measures DNSBL checks per second from all cores
// with a warm cache.
func BenchmarkIPCheckParallel(b *testing.B) {
	_, res := startDNS(b)
	c, err := NewIPCheck(res, IPConfig{Zones: testZones()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	t := txn("192.0.2.10")
	if _, err := c.Check(ctx, t, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Check(ctx, t, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}
