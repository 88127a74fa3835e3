package ratelimit_test

import (
	"testing"
	"time"

	"github.com/moatmail/moat/filter/ratelimit"
	"github.com/moatmail/moat/filter/state/statetest"
)

// twoInstances returns two limiters on one Redis with the same key prefix,
// as two moat processes sharing it, on one manual clock.
func twoInstances(t *testing.T) (a, b *ratelimit.Limiter, clock *statetest.Clock) {
	t.Helper()
	srv := statetest.StartRedis(t)
	prefix := statetest.UniquePrefix()
	clock = statetest.NewClock(epoch())
	a = ratelimit.New(statetest.OpenRedisPrefix(t, srv, prefix), ratelimit.Options{Now: clock.Now})
	b = ratelimit.New(statetest.OpenRedisPrefix(t, srv, prefix), ratelimit.Options{Now: clock.Now})
	return a, b, clock
}

// TestRedisSharedAcrossInstances checks two instances count against the
// same limits: connections per address, per network, and login failures.
func TestRedisSharedAcrossInstances(t *testing.T) {
	a, b, clock := twoInstances(t)
	perIP := ratelimit.Rule{Name: "conn_ip", Limit: 4, Window: time.Minute}
	ip := mustAddr(t, "192.0.2.10")

	t.Run("per address", func(t *testing.T) {
		for i, l := range []*ratelimit.Limiter{a, b, a, b} {
			d, err := l.Take(ctx(t), perIP, ratelimit.IPKey(ip), 1)
			if err != nil || !d.Allowed || d.Count != int64(i+1) {
				t.Fatalf("take %d: %+v %v, want allowed with count %d", i, d, err, i+1)
			}
		}
		for name, l := range map[string]*ratelimit.Limiter{"a": a, "b": b} {
			d, err := l.Take(ctx(t), perIP, ratelimit.IPKey(ip), 1)
			if err != nil || d.Allowed || d.Count != 4 || d.RetryAfter <= 0 {
				t.Errorf("instance %s over the limit: %+v %v, want refused", name, d, err)
			}
		}
	})
	t.Run("per network", func(t *testing.T) {
		perNet := ratelimit.Rule{Name: "conn_net", Limit: 2, Window: time.Minute, Fixed: true}
		v6 := []string{"2001:db8:5:6::1", "2001:db8:5:6:ffff::2", "2001:db8:5:6::3"}
		for i, s := range v6 {
			l := []*ratelimit.Limiter{a, b}[i%2]
			d, err := l.Take(ctx(t), perNet, ratelimit.NetKey(mustAddr(t, s)), 1)
			if err != nil || d.Allowed != (i < 2) {
				t.Errorf("%s: %+v %v, want allowed %v (same /64)", s, d, err, i < 2)
			}
		}
		d, err := b.Take(ctx(t), perNet, ratelimit.NetKey(mustAddr(t, "2001:db8:5:7::1")), 1)
		if err != nil || !d.Allowed {
			t.Errorf("another /64: %+v %v, want allowed", d, err)
		}
	})
	t.Run("auth failures", func(t *testing.T) {
		ga := ratelimit.NewAuthGuard(a, authOptions())
		gb := ratelimit.NewAuthGuard(b, authOptions())
		for i := range 3 {
			g := []*ratelimit.AuthGuard{ga, gb}[i%2]
			g.Failed(ctx(t), mustAddr(t, "198.51.100.1"), "alice")
		}
		if err := gb.Allow(ctx(t), mustAddr(t, "203.0.113.1"), "alice"); err == nil {
			t.Errorf("instance b lets alice in after 3 failures counted on a and b")
		}
		ga.Succeeded(ctx(t), mustAddr(t, "203.0.113.1"), "alice")
		if err := gb.Allow(ctx(t), mustAddr(t, "203.0.113.1"), "alice"); err != nil {
			t.Errorf("instance b still throttles alice after a success on a: %v", err)
		}
	})
	t.Run("window rolls for both", func(t *testing.T) {
		clock.Advance(2 * time.Minute)
		for name, l := range map[string]*ratelimit.Limiter{"a": a, "b": b} {
			if d, err := l.Take(ctx(t), perIP, ratelimit.IPKey(ip), 1); err != nil || !d.Allowed {
				t.Errorf("instance %s two windows later: %+v %v", name, d, err)
			}
		}
	})
}

// TestRedisConcurrentInstances races two instances on one key: exactly the
// limit gets through (the script is atomic on the server).
func TestRedisConcurrentInstances(t *testing.T) {
	a, b, _ := twoInstances(t)
	concurrentTakes(t, []*ratelimit.Limiter{a, b})
}

// TestRedisFailsOpen checks a dead Redis allows with an error, and the
// limits work again once it is back.
func TestRedisFailsOpen(t *testing.T) {
	srv := statetest.StartRedis(t)
	if !srv.CanRestart() {
		t.Skip("external Redis (REDIS_URL): cannot stop it")
	}
	l := ratelimit.New(statetest.OpenRedis(t, srv), ratelimit.Options{})
	rule := ratelimit.Rule{Name: "conn_ip", Limit: 1, Window: time.Hour}
	if d, err := l.Take(ctx(t), rule, "ip:192.0.2.1", 1); err != nil || !d.Allowed {
		t.Fatalf("first take: %+v %v", d, err)
	}
	srv.Stop()
	d, err := l.Take(ctx(t), rule, "ip:192.0.2.1", 1)
	if err == nil || !d.Allowed {
		t.Errorf("Redis down: %+v %v, want allowed with an error", d, err)
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err = l.Take(ctx(t), rule, "ip:192.0.2.2", 1); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the client reconnects by itself
	}
	if err != nil {
		t.Fatalf("Redis back: %v", err)
	}
	if d, err := l.Take(ctx(t), rule, "ip:192.0.2.2", 1); err != nil || d.Allowed {
		t.Errorf("limit after reconnect: %+v %v, want refused", d, err)
	}
}
