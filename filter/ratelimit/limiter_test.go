package ratelimit_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/ratelimit"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

// scenarios are played against every backend: same clock, same answers.
func scenarios() []struct {
	name  string
	rule  ratelimit.Rule
	steps []step
} {
	fixed := ratelimit.Rule{Name: "conn_ip", Limit: 3, Window: time.Minute, Fixed: true}
	sliding := ratelimit.Rule{Name: "msg_ip", Limit: 10, Window: time.Minute}
	return []struct {
		name  string
		rule  ratelimit.Rule
		steps []step
	}{
		{"fixed window fills and rolls", fixed, []step{
			{allowed: true, count: 1},
			{advance: 10 * time.Second, allowed: true, count: 2},
			{allowed: true, count: 3},
			{advance: 20 * time.Second, allowed: false, count: 3, retry: 30 * time.Second},
			{allowed: false, count: 3, retry: 30 * time.Second},  // a refusal is not counted
			{otherKey: true, allowed: true, count: 1},            // keys are separate
			{advance: 30 * time.Second, allowed: true, count: 1}, // next window: forgotten
		}},
		{"fixed window take of several", fixed, []step{
			{n: 2, allowed: true, count: 2},
			{n: 2, allowed: false, count: 2, retry: time.Minute},
			{n: 1, allowed: true, count: 3},
			{n: 4, advance: time.Minute, allowed: false, count: 0, retry: time.Minute}, // never fits
		}},
		{"sliding window weighs the previous window", sliding, []step{
			{n: 10, allowed: true, count: 10},
			// Full: one more fits 6s into the next window (ceil(10*54/60) = 9).
			{allowed: false, count: 10, retry: 66 * time.Second},
			{advance: time.Minute, allowed: false, count: 10, retry: 6 * time.Second},
			{advance: 5999 * time.Millisecond, allowed: false, count: 10, retry: time.Millisecond},
			{advance: time.Millisecond, allowed: true, count: 10},
			{advance: 24 * time.Second, allowed: true, count: 5 + 1 + 1}, // 10*30/60 + 1 + this
			{advance: 30 * time.Second, allowed: true, count: 2 + 1},     // next window: all of the previous + this
		}},
		{"sliding window forgets after two windows", sliding, []step{
			{n: 10, allowed: true, count: 10},
			{advance: 2 * time.Minute, n: 10, allowed: true, count: 10},
		}},
		{"add counts past the limit, peek counts nothing", fixed, []step{
			{op: "peek", allowed: true, count: 0},
			{op: "add", n: 2, allowed: true, count: 2},
			{op: "add", n: 2, allowed: false, count: 4, retry: time.Minute},
			{op: "peek", allowed: false, count: 4, retry: time.Minute},
			{op: "take", allowed: false, count: 4, retry: time.Minute},
			{op: "reset"},
			{op: "peek", allowed: true, count: 0},
			{op: "take", n: 3, allowed: true, count: 3},
		}},
	}
}

// TestScenariosMemory plays the scenarios on a memory store.
func TestScenariosMemory(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			l, clock := memLimiter(t)
			play(t, l, clock, sc.rule, sc.steps)
		})
	}
}

// TestScenariosBackends plays the scenarios on the embedded file store and
// on Redis: the Lua and Go scripts must agree.
func TestScenariosBackends(t *testing.T) {
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			for _, sc := range scenarios() {
				t.Run(sc.name, func(t *testing.T) {
					clock := statetest.NewClock(epoch())
					st := b.Open(t, clock.Now)
					play(t, ratelimit.New(st, ratelimit.Options{Now: clock.Now}), clock, sc.rule, sc.steps)
				})
			}
		})
	}
}

// TestTakeAll checks several limits in one call on both backends: each
// decided on its own, all counted or none, disabled ones allowed without
// touching the store.
func TestTakeAll(t *testing.T) {
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clock := statetest.NewClock(epoch())
			l := ratelimit.New(b.Open(t, clock.Now), ratelimit.Options{Now: clock.Now})
			testTakeAll(t, l)
		})
	}
}

func testTakeAll(t *testing.T, l *ratelimit.Limiter) {
	perIP := ratelimit.Rule{Name: "conn_ip", Limit: 2, Window: time.Minute, Fixed: true}
	perNet := ratelimit.Rule{Name: "conn_net", Limit: 3, Window: time.Minute}
	off := ratelimit.Rule{Name: "conn_off"}
	tests := []struct {
		name   string
		ip     string
		denied string // rule refusing, "" for none
		counts [2]int64
	}{
		{"first", "192.0.2.1", "", [2]int64{1, 1}},
		{"second", "192.0.2.1", "", [2]int64{2, 2}},
		{"third from the same address", "192.0.2.1", "conn_ip", [2]int64{2, 2}}, // the network's given back
		{"neighbour", "192.0.2.200", "", [2]int64{1, 3}},
		{"second neighbour fills the network", "192.0.2.201", "conn_net", [2]int64{0, 3}}, // its own given back
		{"other network", "198.51.100.1", "", [2]int64{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustAddr(t, tt.ip)
			ds, err := l.TakeAll(ctx(t),
				ratelimit.Request{Rule: perIP, Key: ratelimit.IPKey(a), N: 1},
				ratelimit.Request{Rule: perNet, Key: ratelimit.NetKey(a), N: 1},
				ratelimit.Request{Rule: off, Key: "whatever", N: 1},
			)
			if err != nil {
				t.Fatalf("TakeAll: %v", err)
			}
			if len(ds) != 3 || !ds[2].Allowed || ds[2].Count != 0 {
				t.Fatalf("decisions %+v: want 3, the disabled one allowed and uncounted", ds)
			}
			d, denied := ratelimit.FirstDenied(ds)
			switch {
			case tt.denied == "" && denied:
				t.Errorf("denied by %s (%+v)", d.Rule, ds)
			case tt.denied != "" && (!denied || d.Rule != tt.denied):
				t.Errorf("%+v, want denied by %s", ds, tt.denied)
			}
			if got := [2]int64{ds[0].Count, ds[1].Count}; got != tt.counts {
				t.Errorf("counts %v, want %v", got, tt.counts)
			}
			// What the store holds now, as the next caller sees it.
			for i, r := range []struct {
				rule ratelimit.Rule
				key  string
			}{{perIP, ratelimit.IPKey(a)}, {perNet, ratelimit.NetKey(a)}} {
				p, err := l.Peek(ctx(t), r.rule, r.key)
				if err != nil || p.Count != tt.counts[i] {
					t.Errorf("%s holds %d (%v), want %d", r.rule.Name, p.Count, err, tt.counts[i])
				}
			}
		})
	}
}

// TestInvalid checks invalid rules and requests are allowed with ErrInvalid
// and that disabled rules are allowed silently.
func TestInvalid(t *testing.T) {
	t.Parallel()
	l, _ := memLimiter(t)
	tests := []struct {
		name    string
		rule    ratelimit.Rule
		key     string
		n       int64
		wantErr bool
	}{
		{"no name", ratelimit.Rule{Limit: 1, Window: time.Second}, "k", 1, true},
		{"no window", ratelimit.Rule{Name: "r", Limit: 1}, "k", 1, true},
		{"empty key", ratelimit.Rule{Name: "r", Limit: 1, Window: time.Second}, "", 1, true},
		{"zero events", ratelimit.Rule{Name: "r", Limit: 1, Window: time.Second}, "k", 0, true},
		{"disabled", ratelimit.Rule{Name: "r", Window: time.Second}, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := l.Take(ctx(t), tt.rule, tt.key, tt.n)
			if !d.Allowed {
				t.Errorf("not allowed: %+v", d)
			}
			if tt.wantErr != errors.Is(err, ratelimit.ErrInvalid) || (!tt.wantErr && err != nil) {
				t.Errorf("err = %v, want ErrInvalid: %v", err, tt.wantErr)
			}
		})
	}
}

// TestFailOpen checks a failing backend allows and reports the error.
func TestFailOpen(t *testing.T) {
	t.Parallel()
	st := state.NewMemory(nil)
	l := ratelimit.New(st, ratelimit.Options{})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rule := ratelimit.Rule{Name: "conn_ip", Limit: 1, Window: time.Minute}
	for i := range 3 {
		d, err := l.Take(ctx(t), rule, "ip:192.0.2.1", 1)
		if !d.Allowed || !errors.Is(err, state.ErrClosed) {
			t.Errorf("take %d: %+v, %v; want allowed and ErrClosed", i, d, err)
		}
	}
	if err := l.Reset(ctx(t), rule, "ip:192.0.2.1"); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Reset: %v, want ErrClosed", err)
	}
}

// TestConcurrentTakes checks the count is atomic: of many concurrent takes
// exactly Limit are allowed.
func TestConcurrentTakes(t *testing.T) {
	t.Parallel()
	l, _ := memLimiter(t)
	concurrentTakes(t, []*ratelimit.Limiter{l})
}

// concurrentTakes races 4 goroutines per limiter on one key and checks
// exactly the limit got through.
func concurrentTakes(t *testing.T, ls []*ratelimit.Limiter) {
	t.Helper()
	rule := ratelimit.Rule{Name: "race", Limit: 50, Window: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for _, l := range ls {
		for range 4 {
			wg.Go(func() {
				for range 25 {
					d, err := l.Take(ctx(t), rule, "ip:192.0.2.9", 1)
					if err != nil {
						t.Errorf("Take: %v", err)
						return
					}
					if d.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	if got := allowed.Load(); got != rule.Limit {
		t.Errorf("%d takes allowed, want exactly %d", got, rule.Limit)
	}
}
