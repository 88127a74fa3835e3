package state_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

var epoch = time.Date(2026, 11, 23, 16, 40, 0, 0, time.UTC)

// env is what one behaviour case gets: a fresh store and its clock.
type env struct {
	t       *testing.T
	s       state.Store
	clock   *statetest.Clock
	clocked bool // the store's expiry follows clock
}

func (e *env) do(ops ...*state.Op) {
	e.t.Helper()
	if err := e.s.Do(context.Background(), ops...); err != nil {
		e.t.Fatalf("Do: %v", err)
	}
}

func (e *env) get(key string) ([]byte, bool) {
	e.t.Helper()
	op := state.Get(key)
	e.do(op)
	return op.Bytes(), op.Found()
}

func (e *env) ttl(key string) (time.Duration, bool) {
	e.t.Helper()
	op := state.TTL(key)
	e.do(op)
	return op.Duration(), op.Found()
}

// wantTTL checks that key has a TTL in (max-slack, max].
func (e *env) wantTTL(key string, max time.Duration) {
	e.t.Helper()
	d, ok := e.ttl(key)
	if !ok || d <= max-2*time.Second || d > max {
		e.t.Fatalf("TTL(%s) = %v, %v; want about %v", key, d, ok, max)
	}
}

func (e *env) scan(prefix string) []string {
	e.t.Helper()
	var keys []string
	if err := e.s.Scan(context.Background(), prefix, func(k string) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		e.t.Fatalf("Scan(%q): %v", prefix, err)
	}
	slices.Sort(keys)
	return keys
}

// casScript is a compare-and-set with an expiry, in Lua and Go: when the
// hash field "v" of KEYS[1] equals ARGV[1] (0 when missing), set it to
// ARGV[2] and expire the key after ARGV[3] ms. Returns {old, swapped}.
var casScript = state.NewScript("cas", `
local old = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if old ~= tonumber(ARGV[1]) then return {old, 0} end
redis.call('HSET', KEYS[1], 'v', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {old, 1}`,
	func(tx state.Tx, keys []string, args []int64) ([]int64, error) {
		h, err := tx.HGetAll(keys[0])
		if err != nil {
			return nil, err
		}
		old := h["v"]
		if old != args[0] {
			return []int64{old, 0}, nil
		}
		if err := tx.HSet(keys[0], map[string]int64{"v": args[1]}); err != nil {
			return nil, err
		}
		tx.Expire(keys[0], time.Duration(args[2])*time.Millisecond)
		return []int64{old, 1}, nil
	})

// behaviour is the table every backend must pass.
var behaviour = []struct {
	name string
	run  func(e *env)
}{
	{"get of a missing key", func(e *env) {
		if v, ok := e.get("nope"); ok || v != nil {
			e.t.Fatalf("Get = %q, %v; want nothing", v, ok)
		}
	}},
	{"set then get keeps binary bytes", func(e *env) {
		val := []byte("a\x00b\xffc")
		e.do(state.Set("k", val, 0))
		if v, ok := e.get("k"); !ok || !bytes.Equal(v, val) {
			e.t.Fatalf("Get = %q, %v; want %q", v, ok, val)
		}
		if d, ok := e.ttl("k"); !ok || d != 0 {
			e.t.Fatalf("TTL = %v, %v; want no expiry", d, ok)
		}
	}},
	{"set with a ttl, overwrite without one", func(e *env) {
		e.do(state.Set("k", []byte("1"), time.Hour))
		e.wantTTL("k", time.Hour)
		e.do(state.Set("k", []byte("2"), 0))
		if d, ok := e.ttl("k"); !ok || d != 0 {
			e.t.Fatalf("TTL after plain Set = %v, %v; want no expiry", d, ok)
		}
	}},
	{"ttl of a missing key", func(e *env) {
		if d, ok := e.ttl("nope"); ok || d != 0 {
			e.t.Fatalf("TTL = %v, %v; want missing", d, ok)
		}
	}},
	{"keys expire at their ttl", func(e *env) {
		e.do(state.Set("s", []byte("x"), 10*time.Second), state.HSet("h", map[string]int64{"a": 1}, 10*time.Second), state.Incr("c", 1, 10*time.Second))
		e.wantTTL("s", 10*time.Second)
		e.wantTTL("h", 10*time.Second)
		e.wantTTL("c", 10*time.Second)
		if !e.clocked {
			return // Redis expires on its own clock: the TTL values are the contract
		}
		e.clock.Advance(10*time.Second - time.Millisecond)
		if _, ok := e.get("s"); !ok {
			e.t.Fatal("key gone before its ttl")
		}
		e.clock.Advance(time.Millisecond)
		if _, ok := e.get("s"); ok {
			e.t.Fatal("key still there at its ttl")
		}
		hm := state.HGetAll("h")
		inc := state.Incr("c", 5, 0)
		e.do(hm, inc)
		if hm.Found() || inc.Int() != 5 {
			e.t.Fatalf("after expiry: hash found %v, counter %d; want gone, 5", hm.Found(), inc.Int())
		}
		if got := e.scan(""); !slices.Equal(got, []string{"c"}) {
			e.t.Fatalf("Scan = %q; want only the new counter", got)
		}
	}},
	{"del counts existing keys", func(e *env) {
		e.do(state.Set("a", []byte("1"), 0), state.HSet("b", map[string]int64{"f": 1}, 0))
		del := state.Del("a", "b", "c")
		e.do(del)
		if del.Int() != 2 {
			e.t.Fatalf("Del = %d, want 2", del.Int())
		}
		if _, ok := e.get("a"); ok {
			e.t.Fatal("a still there")
		}
	}},
	{"incr counts from zero, ttl only on create", func(e *env) {
		a, b, c := state.Incr("n", 3, 10*time.Second), state.Incr("n", -1, time.Hour), state.Incr("n", 0, 0)
		e.do(a, b, c)
		if a.Int() != 3 || b.Int() != 2 || c.Int() != 2 {
			e.t.Fatalf("Incr = %d, %d, %d; want 3, 2, 2", a.Int(), b.Int(), c.Int())
		}
		e.wantTTL("n", 10*time.Second) // the second ttl did not reset it
		if v, _ := e.get("n"); string(v) != "2" {
			e.t.Fatalf("Get(counter) = %q, want decimal 2", v)
		}
		e.do(state.Set("p", []byte("7"), 0), state.Incr("p", 1, time.Minute))
		if d, ok := e.ttl("p"); !ok || d <= 58*time.Second {
			e.t.Fatalf("TTL of a counter without expiry after Incr with ttl = %v, %v; want about 1m", d, ok)
		}
	}},
	{"incr errors", func(e *env) {
		e.do(state.Set("s", []byte("abc"), 0), state.HSet("h", map[string]int64{"f": 1}, 0), state.Set("max", []byte("9223372036854775807"), 0))
		for _, c := range []struct {
			op   *state.Op
			want error
		}{
			{state.Incr("s", 1, 0), state.ErrNotInteger},
			{state.Incr("h", 1, 0), state.ErrWrongType},
			{state.Incr("max", 1, 0), state.ErrNotInteger},
			{state.Incr("s", 1, time.Minute), state.ErrNotInteger},
		} {
			if err := e.s.Do(context.Background(), c.op); !errors.Is(err, c.want) || !errors.Is(c.op.Err(), c.want) {
				e.t.Errorf("%s: Do = %v, op.Err = %v; want %v", c.op, err, c.op.Err(), c.want)
			}
		}
	}},
	{"expire sets and removes the expiry", func(e *env) {
		miss := state.Expire("nope", time.Minute)
		e.do(miss, state.Set("k", []byte("v"), 0))
		if miss.Found() {
			e.t.Fatal("Expire on a missing key reports found")
		}
		set := state.Expire("k", time.Minute)
		e.do(set)
		if !set.Found() {
			e.t.Fatal("Expire on k reports not found")
		}
		e.wantTTL("k", time.Minute)
		persist := state.Expire("k", 0)
		e.do(persist)
		if d, ok := e.ttl("k"); !persist.Found() || !ok || d != 0 {
			e.t.Fatalf("after Expire(0): found %v, TTL %v %v; want persistent", persist.Found(), d, ok)
		}
		persistMiss := state.Expire("nope", 0)
		e.do(persistMiss)
		if persistMiss.Found() {
			e.t.Fatal("Expire(0) on a missing key reports found")
		}
	}},
	{"hashes: set, increment, read", func(e *env) {
		e.do(state.HSet("h", map[string]int64{"a": 1, "b": -2}, 0),
			state.HIncrBy("h", map[string]int64{"a": 10, "c": 5}, time.Minute),
			state.HIncrBy("h", map[string]int64{"c": 1}, time.Hour))
		all, some, none := state.HGetAll("h"), state.HMGet("h", "c", "zz", "a"), state.HMGet("other", "a")
		e.do(all, some, none)
		want := map[string]int64{"a": 11, "b": -2, "c": 6}
		if !all.Found() || len(all.Hash()) != 3 || all.Hash()["a"] != 11 || all.Hash()["b"] != -2 || all.Hash()["c"] != 6 {
			e.t.Fatalf("HGetAll = %v, %v; want %v", all.Hash(), all.Found(), want)
		}
		if !some.Found() || !slices.Equal(some.Ints(), []int64{6, 0, 11}) {
			e.t.Fatalf("HMGet = %v, %v; want [6 0 11]", some.Ints(), some.Found())
		}
		if none.Found() || !slices.Equal(none.Ints(), []int64{0}) {
			e.t.Fatalf("HMGet on a missing key = %v, %v", none.Ints(), none.Found())
		}
		e.wantTTL("h", time.Minute) // HIncrBy: ttl when there was none, not reset
		e.do(state.HSet("h", map[string]int64{"a": 0}, 2*time.Hour))
		e.wantTTL("h", 2*time.Hour) // HSet with a ttl resets it
		missing := state.HGetAll("nope")
		e.do(missing)
		if missing.Found() || missing.Hash() != nil {
			e.t.Fatalf("HGetAll on a missing key = %v, %v", missing.Hash(), missing.Found())
		}
	}},
	{"hash and string ops refuse the other type", func(e *env) {
		e.do(state.Set("s", []byte("1"), 0), state.HSet("h", map[string]int64{"f": 1}, 0))
		for _, op := range []*state.Op{
			state.Get("h"), state.HGetAll("s"), state.HMGet("s", "f"),
			state.HSet("s", map[string]int64{"f": 1}, 0), state.HIncrBy("s", map[string]int64{"f": 1}, 0),
		} {
			if err := e.s.Do(context.Background(), op); !errors.Is(err, state.ErrWrongType) {
				e.t.Errorf("%s: %v, want ErrWrongType", op, err)
			}
		}
		e.do(state.Set("h", []byte("now a string"), 0)) // Set replaces any type
		if v, ok := e.get("h"); !ok || string(v) != "now a string" {
			e.t.Fatalf("Get after Set over a hash = %q, %v", v, ok)
		}
	}},
	{"a failing op does not stop the batch", func(e *env) {
		e.do(state.Set("s", []byte("x"), 0))
		before, bad, after := state.Incr("n", 1, 0), state.HGetAll("s"), state.Get("s")
		err := e.s.Do(context.Background(), before, bad, after)
		if !errors.Is(err, state.ErrWrongType) || bad.Err() == nil {
			e.t.Fatalf("Do = %v, bad.Err = %v; want ErrWrongType", err, bad.Err())
		}
		if before.Err() != nil || before.Int() != 1 || after.Err() != nil || string(after.Bytes()) != "x" {
			e.t.Fatalf("the other ops: %v %d, %v %q", before.Err(), before.Int(), after.Err(), after.Bytes())
		}
	}},
	{"ops can run again", func(e *env) {
		op := state.Incr("n", 2, 0)
		e.do(op)
		e.do(op)
		if op.Int() != 4 {
			e.t.Fatalf("second run = %d, want 4", op.Int())
		}
	}},
	{"scripts run atomically with the same result", func(e *env) {
		first, second, third := state.Run(casScript, []string{"c"}, 0, 7, 60000), state.Run(casScript, []string{"c"}, 0, 9, 60000), state.Run(casScript, []string{"c"}, 7, 8, 60000)
		e.do(first, second, third)
		if !slices.Equal(first.Ints(), []int64{0, 1}) || !slices.Equal(second.Ints(), []int64{7, 0}) || !slices.Equal(third.Ints(), []int64{7, 1}) {
			e.t.Fatalf("cas results %v %v %v; want [0 1] [7 0] [7 1]", first.Ints(), second.Ints(), third.Ints())
		}
		e.wantTTL("c", time.Minute)
		all := state.HGetAll("c")
		e.do(all)
		if all.Hash()["v"] != 8 {
			e.t.Fatalf("after the scripts: %v", all.Hash())
		}
		wrong := state.Run(casScript, []string{"s"}, 0, 1, 1000)
		e.do(state.Set("s", []byte("x"), 0))
		if err := e.s.Do(context.Background(), wrong); !errors.Is(err, state.ErrWrongType) {
			e.t.Fatalf("script on a string: %v, want ErrWrongType", err)
		}
	}},
	{"scan lists live keys by prefix", func(e *env) {
		e.do(state.Set("a:1", nil, 0), state.Set("a:2", []byte("x"), time.Hour), state.HSet("a:h", map[string]int64{"f": 1}, 0),
			state.Set("b:1", nil, 0), state.Set("x*1", nil, 0), state.Set("xy", nil, 0), state.Set("a:gone", nil, 0))
		e.do(state.Del("a:gone"))
		if got, want := e.scan("a:"), []string{"a:1", "a:2", "a:h"}; !slices.Equal(got, want) {
			e.t.Fatalf("Scan(a:) = %q, want %q", got, want)
		}
		if got, want := e.scan("x*"), []string{"x*1"}; !slices.Equal(got, want) {
			e.t.Fatalf("Scan(x*) = %q, want %q (the prefix is literal)", got, want)
		}
		if got := e.scan("zzz"); len(got) != 0 {
			e.t.Fatalf("Scan(zzz) = %q", got)
		}
		stop := errors.New("stop")
		n := 0
		err := e.s.Scan(context.Background(), "a:", func(string) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			e.t.Fatalf("Scan with a failing callback: %v after %d calls", err, n)
		}
	}},
	{"bad ops are refused before anything runs", func(e *env) {
		good := state.Incr("n", 1, 0)
		for _, bad := range []*state.Op{
			state.Get(""), state.Set("k", nil, -time.Second), state.Set("k", nil, time.Microsecond),
			state.Del("a", ""), state.HSet("h", nil, 0), state.HSet("h", map[string]int64{"": 1}, 0),
			state.HMGet("h"), state.Run(nil, []string{"k"}), {},
		} {
			if err := e.s.Do(context.Background(), good, bad); !errors.Is(err, state.ErrBadOp) {
				e.t.Errorf("%v: %v, want ErrBadOp", bad, err)
			}
		}
		if err := e.s.Do(context.Background(), good, nil); !errors.Is(err, state.ErrBadOp) {
			e.t.Errorf("nil op: %v, want ErrBadOp", err)
		}
		if v, ok := e.get("n"); ok {
			e.t.Fatalf("an op ran in a refused batch: n = %q", v)
		}
	}},
	{"a cancelled context fails the call", func(e *env) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := e.s.Do(ctx, state.Set("k", nil, 0)); !errors.Is(err, context.Canceled) {
			e.t.Fatalf("Do with a cancelled context: %v", err)
		}
	}},
	{"large values and counts", func(e *env) {
		big := bytes.Repeat([]byte("z"), 1<<20)
		e.do(state.Set("big", big, 0), state.HSet("h", map[string]int64{"min": math.MinInt64, "max": math.MaxInt64}, 0))
		if v, ok := e.get("big"); !ok || !bytes.Equal(v, big) {
			e.t.Fatalf("1 MiB value came back as %d bytes", len(v))
		}
		h := state.HMGet("h", "min", "max")
		e.do(h)
		if !slices.Equal(h.Ints(), []int64{math.MinInt64, math.MaxInt64}) {
			e.t.Fatalf("extreme integers: %v", h.Ints())
		}
	}},
}

// TestBehaviour runs the behaviour table against every backend.
func TestBehaviour(t *testing.T) {
	t.Parallel()
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, c := range behaviour {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					clock := statetest.NewClock(epoch)
					s := b.Open(t, clock.Now)
					c.run(&env{t: t, s: s, clock: clock, clocked: b.Clocked})
				})
			}
		})
	}
}

// TestClosed checks that a closed store refuses calls with ErrClosed.
func TestClosed(t *testing.T) {
	t.Parallel()
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.Open(t, time.Now)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := s.Do(context.Background(), state.Get("k")); !errors.Is(err, state.ErrClosed) {
				t.Fatalf("Do after Close: %v, want ErrClosed", err)
			}
		})
	}
}
