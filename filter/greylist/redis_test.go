package greylist

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moatmail/moat/filter/state/statetest"
)

// roundTrips counts what the client sends: single commands and pipelines
// (one network round trip each).
type roundTrips struct {
	single, pipelines atomic.Int64
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.single.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		return next(ctx, cmds)
	}
}

func (h *roundTrips) reset() { h.single.Store(0); h.pipelines.Store(0) }

// TestOneRoundTripPerDecision counts the round trips of decisions of every
// kind against Redis.
func TestOneRoundTripPerDecision(t *testing.T) {
	t.Parallel()
	srv := statetest.StartRedis(t)
	hook := &roundTrips{}
	clock := statetest.NewClock(epoch)
	o := DefaultOptions()
	o.Now, o.AutoAllow = clock.Now, 2
	g, err := New(statetest.OpenRedis(t, srv, hook), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	decide := func(m msg) Status {
		t.Helper()
		r, err := g.Decide(ctx, m.txn(), m.txn().Rcpts[0])
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	decide(msg{rcpt: "warmup@example.net"}) // loads the script once
	hook.reset()

	seq := []struct {
		after time.Duration
		m     msg
		want  Status
	}{
		{0, msg{rcpt: "a@example.net"}, StatusNew},
		{time.Minute, msg{rcpt: "a@example.net"}, StatusEarly},
		{5 * time.Minute, msg{rcpt: "a@example.net"}, StatusPass},
		{0, msg{rcpt: "warmup@example.net"}, StatusPass},
		{0, msg{rcpt: "b@example.net"}, StatusAllowed},
		{0, msg{rcpt: "c@example.net", syms: []string{"SPF_PASS"}}, StatusAllowed}, // network allow read in the same batch
		{0, msg{ip: "198.51.100.1", rcpt: "d@example.net", syms: []string{"SPF_PASS"}}, StatusNew},
	}
	for i, s := range seq {
		clock.Advance(s.after)
		if got := decide(s.m); got != s.want {
			t.Fatalf("decision %d: %v, want %v", i, got, s.want)
		}
	}
	if p, s := hook.pipelines.Load(), hook.single.Load(); p != int64(len(seq)) || s != 0 {
		t.Fatalf("%d decisions took %d pipelines and %d single commands; want one pipeline each", len(seq), p, s)
	}

	hook.reset()
	txn := msg{ip: "203.0.113.1"}.txn()
	txn.Rcpts = []string{"x@example.net", "y@example.net", "z@example.net"}
	if _, err := g.DecideAll(ctx, txn); err != nil {
		t.Fatal(err)
	}
	if p, s := hook.pipelines.Load(), hook.single.Load(); p != 1 || s != 0 {
		t.Fatalf("DecideAll over 3 recipients: %d pipelines, %d single commands; want 1, 0", p, s)
	}
}

// TestRedisStoppedFailsOpen stops Redis mid-run: decisions fail open
// (not greylisted) and quickly, then resume when Redis is back.
func TestRedisStoppedFailsOpen(t *testing.T) {
	t.Parallel()
	srv := statetest.StartRedis(t)
	if !srv.CanRestart() {
		t.Skip("REDIS_URL is set: cannot stop an external server")
	}
	clock := statetest.NewClock(epoch)
	o := DefaultOptions()
	o.Now = clock.Now
	g, err := New(statetest.OpenRedis(t, srv), o)
	if err != nil {
		t.Fatal(err)
	}
	decide := func(m msg) (Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := g.Decide(ctx, m.txn(), m.txn().Rcpts[0])
		if ctx.Err() != nil {
			t.Fatalf("decision ran into the caller's 10s deadline: the backend did not fail by itself")
		}
		return r, err
	}
	if r, err := decide(msg{}); err != nil || r.Status != StatusNew {
		t.Fatalf("before: %+v, %v", r, err)
	}

	srv.Stop()
	for i := range 3 {
		r, err := decide(msg{})
		if err == nil || r.Status != StatusTempfail || r.Greylisted() {
			t.Fatalf("decision %d with Redis down: %+v, %v; want a fail-open tempfail", i, r, err)
		}
		if sym, _ := r.Symbol(); sym.Name != SymbolTempfail {
			t.Fatalf("symbol %q", sym.Name)
		}
	}

	srv.Restart() // empty: the triplet is new again
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := decide(msg{})
		if err == nil {
			if r.Status != StatusNew {
				t.Fatalf("after restart: %v, want new (Redis lost its data)", r.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("greylisting did not resume after Redis came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the reconnection, not timing
	}
	clock.Advance(5 * time.Minute)
	if r, err := decide(msg{}); err != nil || r.Status != StatusPass {
		t.Fatalf("after restart, retry: %+v, %v", r, err)
	}
}

// TestRedisSharedByTwoServers runs two Greylists (two moat processes) on
// one Redis: a triplet greylisted by the first passes on the second after
// the delay.
func TestRedisSharedByTwoServers(t *testing.T) {
	t.Parallel()
	srv := statetest.StartRedis(t)
	clock := statetest.NewClock(epoch)
	o := DefaultOptions()
	o.Now = clock.Now
	first := statetest.OpenRedis(t, srv)
	g1, err := New(first, o)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := New(statetest.OpenRedisPrefix(t, srv, first.Prefix()), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r, err := g1.Decide(ctx, msg{}.txn(), "bob@example.net"); err != nil || r.Status != StatusNew {
		t.Fatalf("first server: %+v, %v", r, err)
	}
	clock.Advance(5 * time.Minute)
	if r, err := g2.Decide(ctx, msg{ip: "192.0.2.20"}.txn(), "bob@example.net"); err != nil || r.Status != StatusPass {
		t.Fatalf("second server after the delay: %+v, %v", r, err)
	}
}
