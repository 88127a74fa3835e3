package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/ratelimit"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

// loginGuard is what the IMAP, POP3 and SMTP AUTH front ends take.
type loginGuard interface {
	Allow(ctx context.Context, ip netip.Addr, user string) error
	Failed(ctx context.Context, ip netip.Addr, user string)
	Succeeded(ctx context.Context, ip netip.Addr, user string)
}

var _ loginGuard = (*ratelimit.AuthGuard)(nil)

func authOptions() ratelimit.AuthGuardOptions {
	return ratelimit.AuthGuardOptions{
		PerClient: ratelimit.Rule{Limit: 5, Window: 10 * time.Minute},
		PerUser:   ratelimit.Rule{Limit: 3, Window: 15 * time.Minute},
	}
}

// TestAuthGuard plays login attempts and checks who is throttled.
func TestAuthGuard(t *testing.T) {
	t.Parallel()
	type attempt struct {
		advance time.Duration
		ip      string
		user    string
		result  string // "fail", "ok", or "" to only ask
		want    string // "" allowed, else the refusing rule
	}
	tests := []struct {
		name     string
		attempts []attempt
	}{
		{"user failures throttle the user from any address", []attempt{
			{ip: "192.0.2.1", user: "alice", result: "fail"},
			{ip: "192.0.2.2", user: "Alice", result: "fail"},
			{ip: "198.51.100.3", user: "alice", result: "fail"},
			{ip: "203.0.113.4", user: "ALICE", want: ratelimit.AuthUserRule},
			{ip: "203.0.113.4", user: "bob"},
			{advance: 15 * time.Minute, ip: "203.0.113.4", user: "alice", want: ratelimit.AuthUserRule}, // sliding: still 3
			{advance: 15 * time.Minute, ip: "203.0.113.4", user: "alice"},
		}},
		{"client failures throttle the client for every user", []attempt{
			{ip: "192.0.2.1", user: "u1", result: "fail"},
			{ip: "192.0.2.1", user: "u2", result: "fail"},
			{ip: "192.0.2.1", user: "u3", result: "fail"},
			{ip: "192.0.2.1", user: "u4", result: "fail"},
			{ip: "192.0.2.1", user: "u5", result: "fail"},
			{ip: "192.0.2.1", user: "u6", want: ratelimit.AuthClientRule},
			{ip: "::ffff:192.0.2.1", user: "u6", want: ratelimit.AuthClientRule},
			{ip: "192.0.2.2", user: "u6"},
		}},
		{"success clears the user, not the client", []attempt{
			{ip: "192.0.2.1", user: "alice", result: "fail"},
			{ip: "192.0.2.1", user: "alice", result: "fail"},
			{ip: "192.0.2.1", user: "mallory", result: "fail"},
			{ip: "192.0.2.1", user: "mallory", result: "fail"},
			{ip: "192.0.2.1", user: "alice", result: "ok"},
			{ip: "192.0.2.9", user: "alice", result: "fail"},
			{ip: "192.0.2.9", user: "alice", result: "fail"},
			{ip: "192.0.2.9", user: "alice"}, // 2 failures since the success
			{ip: "192.0.2.1", user: "bob", result: "fail"},
			{ip: "192.0.2.1", user: "carol", want: ratelimit.AuthClientRule},
		}},
		{"no user yet", []attempt{
			{ip: "192.0.2.1", result: "fail"},
			{ip: "192.0.2.1", result: "fail"},
			{ip: "192.0.2.1", result: "fail"},
			{ip: "192.0.2.1", result: "fail"},
			{ip: "192.0.2.1", result: "fail"},
			{ip: "192.0.2.1", want: ratelimit.AuthClientRule},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, clock := memLimiter(t)
			g := ratelimit.NewAuthGuard(l, authOptions())
			for i, a := range tt.attempts {
				clock.Advance(a.advance)
				ip := mustAddr(t, a.ip)
				err := g.Allow(ctx(t), ip, a.user)
				var te *ratelimit.ThrottledError
				switch {
				case a.want == "" && err != nil:
					t.Fatalf("attempt %d (%s from %s): %v, want allowed", i, a.user, a.ip, err)
				case a.want != "" && (!errors.As(err, &te) || !errors.Is(err, ratelimit.ErrThrottled) || te.Rule != a.want || te.RetryAfter <= 0):
					t.Fatalf("attempt %d (%s from %s): %v, want throttled by %s with a wait", i, a.user, a.ip, err, a.want)
				}
				switch a.result {
				case "fail":
					g.Failed(ctx(t), ip, a.user)
				case "ok":
					g.Succeeded(ctx(t), ip, a.user)
				}
			}
		})
	}
}

// TestAuthGuardRetryAfter checks the wait reported matches when the guard
// lets the client in again.
func TestAuthGuardRetryAfter(t *testing.T) {
	t.Parallel()
	l, clock := memLimiter(t)
	g := ratelimit.NewAuthGuard(l, ratelimit.AuthGuardOptions{
		PerClient: ratelimit.Rule{Limit: 2, Window: time.Minute, Fixed: true},
	})
	ip := mustAddr(t, "2001:db8::1")
	clock.Advance(15 * time.Second)
	g.Failed(ctx(t), ip, "x")
	g.Failed(ctx(t), ip, "y")
	err := g.Allow(ctx(t), ip, "z")
	var te *ratelimit.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != 45*time.Second {
		t.Fatalf("Allow = %v, want throttled for 45s", err)
	}
	if strings.Contains(err.Error(), "2001:db8") {
		t.Errorf("error %q names the client", err)
	}
	clock.Advance(te.RetryAfter - time.Millisecond)
	if g.Allow(ctx(t), ip, "z") == nil {
		t.Errorf("allowed before the wait ended")
	}
	clock.Advance(time.Millisecond)
	if err := g.Allow(ctx(t), ip, "z"); err != nil {
		t.Errorf("still throttled after the wait: %v", err)
	}
}

// TestAuthGuardFailsOpen checks a failing backend lets logins through and
// is logged once, not per attempt.
func TestAuthGuardFailsOpen(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch())
	st := state.NewMemory(clock.Now)
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil))
	opts := authOptions()
	opts.Log = log
	g := ratelimit.NewAuthGuard(ratelimit.New(st, ratelimit.Options{Now: clock.Now}), opts)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ip := mustAddr(t, "192.0.2.1")
	for i := range 10 {
		g.Failed(ctx(t), ip, "alice")
		if err := g.Allow(ctx(t), ip, "alice"); err != nil {
			t.Fatalf("attempt %d: %v, want allowed while the backend is down", i, err)
		}
	}
	g.Succeeded(ctx(t), ip, "alice")
	mu.Lock()
	lines := strings.Count(buf.String(), "auth rate limit backend failing")
	mu.Unlock()
	if lines != 1 {
		t.Errorf("%d log lines within a minute, want 1:\n%s", lines, buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
