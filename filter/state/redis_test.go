package state_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

// waitFor polls cond until it holds or the deadline passes; it is how the
// test waits for the client to reconnect, not a timing assertion.
func waitFor(t *testing.T, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", within, err)
		}
		<-tick.C
	}
}

// TestRedisDownAndBack stops Redis under a live store, checks that calls
// fail by themselves (before a generous caller deadline), then restarts it
// on the same port and checks that the same store works again, scripts
// included (Redis has forgotten them).
func TestRedisDownAndBack(t *testing.T) {
	t.Parallel()
	srv := statetest.StartRedis(t)
	if !srv.CanRestart() {
		t.Skip("REDIS_URL is set: cannot stop an external server")
	}
	s := statetest.OpenRedis(t, srv)
	script := state.Run(casScript, []string{"c"}, 0, 1, 60000)
	mustDo(t, s, state.Set("k", []byte("v"), 0), script)

	srv.Stop()
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.Do(ctx, state.Get("k"), state.Incr("n", 1, time.Minute))
		ctxErr := ctx.Err()
		cancel()
		if err == nil {
			t.Fatalf("call %d with Redis down succeeded", i)
		}
		if ctxErr != nil {
			t.Fatalf("call %d with Redis down ran into the caller's 10s deadline instead of failing: %v", i, err)
		}
	}

	srv.Restart()
	waitFor(t, 10*time.Second, func() error {
		return s.Do(context.Background(), state.Set("k", []byte("again"), 0))
	})
	get, again := state.Get("k"), state.Run(casScript, []string{"c"}, 0, 5, 60000)
	mustDo(t, s, get, again)
	if string(get.Bytes()) != "again" {
		t.Fatalf("after restart: %q", get.Bytes())
	}
	if got := again.Ints(); len(got) != 2 || got[1] != 1 {
		t.Fatalf("script after restart (Redis lost it) = %v, want a swap on the empty server", got)
	}
}

// TestRedisNotUpAtOpen opens a store while nothing listens on the port:
// Open succeeds, calls fail, and work once a server starts there.
func TestRedisNotUpAtOpen(t *testing.T) {
	t.Parallel()
	srv := statetest.StartRedis(t)
	if !srv.CanRestart() {
		t.Skip("REDIS_URL is set: cannot stop an external server")
	}
	srv.Stop()
	s := statetest.OpenRedis(t, srv)
	if err := s.Do(context.Background(), state.Get("k")); err == nil {
		t.Fatal("call with no server succeeded")
	}
	srv.Restart()
	waitFor(t, 10*time.Second, func() error { return s.Do(context.Background(), state.Get("k")) })
}

func TestRedisPrefixAndDeadline(t *testing.T) {
	t.Parallel()
	srv := statetest.StartRedis(t)
	s := statetest.OpenRedis(t, srv)
	mustDo(t, s, state.Set("k", []byte("v"), 0))
	raw, err := s.Client().Get(context.Background(), s.Prefix()+"k").Result()
	if err != nil || raw != "v" {
		t.Fatalf("key under the prefix %q: %q, %v", s.Prefix(), raw, err)
	}
	if n, _ := s.Client().Exists(context.Background(), "k").Result(); n != 0 {
		t.Fatal("key written without the prefix")
	}
	other := statetest.OpenRedis(t, srv)
	if get := state.Get("k"); other.Do(context.Background(), get) != nil || get.Found() {
		t.Fatal("a store with another prefix sees the key")
	}

	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := s.Do(ctx, state.Get("k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do past the deadline: %v", err)
	}
}

// TestRedisHangingServer checks the read timeout: a "server" that accepts
// and never answers makes calls fail instead of hanging.
func TestRedisHangingServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	s, err := state.OpenRedis(context.Background(), state.RedisOptions{
		URL: "redis://127.0.0.1:" + strconv.Itoa(port) + "?read_timeout=100ms", MaxRetries: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Do(ctx, state.Get("k")); err == nil || ctx.Err() != nil {
		t.Fatalf("Do against a silent server: %v (caller deadline hit: %v)", err, ctx.Err())
	}
}
