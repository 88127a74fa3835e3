package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/ratelimit"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

// epoch is aligned to every window that divides a day, so the tests know
// where windows start.
func epoch() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }

// memLimiter returns a limiter on a memory store, both on one manual clock.
func memLimiter(t testing.TB) (*ratelimit.Limiter, *statetest.Clock) {
	t.Helper()
	clock := statetest.NewClock(epoch())
	st := state.NewMemory(clock.Now)
	t.Cleanup(func() { _ = st.Close() })
	return ratelimit.New(st, ratelimit.Options{Now: clock.Now}), clock
}

func ctx(t testing.TB) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// step is one call of a scripted scenario and what it must answer.
type step struct {
	advance   time.Duration // clock move before the call
	op        string        // "take" (default), "add", "peek", "reset"
	n         int64
	allowed   bool
	count     int64
	retry     time.Duration // checked when not allowed
	otherKey  bool          // use a second key
	wantError bool
}

// play runs steps against l on clock and checks every answer.
func play(t *testing.T, l *ratelimit.Limiter, clock *statetest.Clock, rule ratelimit.Rule, steps []step) {
	t.Helper()
	for i, s := range steps {
		clock.Advance(s.advance)
		key := "ip:192.0.2.1"
		if s.otherKey {
			key = "ip:192.0.2.2"
		}
		n := s.n
		if n == 0 {
			n = 1
		}
		var (
			d   ratelimit.Decision
			err error
		)
		switch s.op {
		case "", "take":
			d, err = l.Take(ctx(t), rule, key, n)
		case "add":
			d, err = l.Add(ctx(t), rule, key, n)
		case "peek":
			d, err = l.Peek(ctx(t), rule, key)
		case "reset":
			if err := l.Reset(ctx(t), rule, key); err != nil {
				t.Fatalf("step %d: Reset: %v", i, err)
			}
			continue
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
		if (err != nil) != s.wantError {
			t.Fatalf("step %d (%s %d): error %v, want error %v", i, s.op, n, err, s.wantError)
		}
		if d.Allowed != s.allowed || d.Count != s.count || d.Limit != rule.Limit || d.Rule != rule.Name {
			t.Errorf("step %d (%s %d at +%v): %+v, want allowed %v count %d", i, s.op, n,
				clock.Now().Sub(epoch()), d, s.allowed, s.count)
		}
		if !s.allowed && d.RetryAfter != s.retry {
			t.Errorf("step %d: RetryAfter %v, want %v", i, d.RetryAfter, s.retry)
		}
		if s.allowed && d.RetryAfter != 0 {
			t.Errorf("step %d: allowed with RetryAfter %v", i, d.RetryAfter)
		}
	}
}
