package greylist

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/state/statetest"
)

func listAll(t *testing.T, g *Greylist) map[string]Entry {
	t.Helper()
	out := make(map[string]Entry)
	if err := g.List(context.Background(), func(e Entry) error {
		k := e.Kind.String() + " " + e.Triplet.String()
		if _, dup := out[k]; dup {
			t.Errorf("entry listed twice: %s", k)
		}
		out[k] = e
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	return out
}

func TestList(t *testing.T) {
	t.Parallel()
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			clock := statetest.NewClock(epoch)
			g := newGreylist(t, b, clock, func(o *Options) { o.AutoAllow = 1 })
			ctx := context.Background()
			decide := func(m msg) {
				t.Helper()
				if _, err := g.Decide(ctx, m.txn(), m.txn().Rcpts[0]); err != nil {
					t.Fatal(err)
				}
			}
			decide(msg{ip: "198.51.100.1", rcpt: "passed@example.net"})
			decide(msg{ip: "203.0.113.1", rcpt: "gone@example.net"})
			clock.Advance(5 * time.Minute)
			decide(msg{ip: "198.51.100.1", rcpt: "passed@example.net"}) // passes; 198.51.100.0/24 auto-allowed
			decide(msg{rcpt: "waiting@example.net"})
			decide(msg{rcpt: "released@example.net"})
			decide(msg{rcpt: "released@example.net"})
			if n, err := g.Release(ctx, Selector{Rcpt: "released@example.net"}); err != nil || n != 1 {
				t.Fatalf("Release = %d, %v", n, err)
			}
			for _, a := range []struct {
				target string
				ttl    time.Duration
			}{{"2001:db8::1", 0}, {"spf:example.com", time.Hour}, {"bounce@example.com", 0}, {"@example.com", 2 * time.Hour}, {"expired.example", time.Minute}} {
				if _, err := g.Allow(ctx, a.target, a.ttl); err != nil {
					t.Fatalf("Allow(%s): %v", a.target, err)
				}
			}
			clock.Advance(48*time.Hour - 5*time.Minute) // gone@ (first seen 48h ago) and expired.example lapse

			got := listAll(t, g)
			want := map[string]struct {
				state    string
				attempts int64
				expires  time.Time
			}{
				"triplet 198.51.100.0/24 alice@example.org passed@example.net": {StatePassed, 2, epoch.Add(5*time.Minute + DefaultPassTTL)},
				"triplet 192.0.2.0/24 alice@example.org waiting@example.net":   {StateWaiting, 1, epoch.Add(5*time.Minute + DefaultWindow)},
				"triplet 192.0.2.0/24 alice@example.org released@example.net":  {StateReleased, 2, epoch.Add(5*time.Minute + DefaultWindow)},
				"client 198.51.100.0/24  ":                                     {StateAuto, 0, epoch.Add(5*time.Minute + DefaultPassTTL)},
				"client 2001:db8::/64  ":                                       {StateAllowed, 0, time.Time{}},
				"sender  bounce@example.com ":                                  {StateAllowed, 0, time.Time{}},
			}
			for k, w := range want {
				e, ok := got[k]
				if !ok {
					t.Errorf("missing entry %q", k)
					continue
				}
				if e.State != w.state || e.Attempts != w.attempts || !e.Expires.Equal(w.expires) {
					t.Errorf("%s: state %s attempts %d expires %v; want %s %d %v", k, e.State, e.Attempts, e.Expires, w.state, w.attempts, w.expires)
				}
			}
			// Allows that lapsed (spf:example.com after 1h, @example.com after
			// 2h, expired.example) and the lapsed triplet are not listed.
			if len(got) != len(want) {
				keys := make([]string, 0, len(got))
				for k := range got {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				t.Errorf("listed %d entries, want %d: %q", len(got), len(want), keys)
			}
			p := got["triplet 198.51.100.0/24 alice@example.org passed@example.net"]
			if !p.FirstSeen.Equal(epoch) || !p.PassedAt.Equal(epoch.Add(5*time.Minute)) || !p.LastSeen.Equal(p.PassedAt) {
				t.Errorf("passed triplet times: %+v", p)
			}
			if c := got["client 198.51.100.0/24  "]; c.Passed != 1 {
				t.Errorf("auto-allowed client passed = %d, want 1", c.Passed)
			}

			stop := errors.New("stop")
			if err := g.List(ctx, func(Entry) error { return stop }); !errors.Is(err, stop) {
				t.Errorf("List with a failing callback: %v", err)
			}
		})
	}
}

func TestAllowTargets(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	g := newGreylist(t, statetest.Embedded(), clock, nil)
	ctx := context.Background()
	tests := []struct {
		target string
		kind   EntryKind
		who    string // client or sender shown; "" for an error
	}{
		{"192.0.2.7", KindClient, "192.0.2.0/24"},
		{"192.0.2.0/25", KindClient, "192.0.2.0/24"},
		{"10.0.0.0/8", 0, ""},
		{"2001:db8::/64", KindClient, "2001:db8::/64"},
		{"spf:Example.org", KindClient, "spf:example.org"},
		{"spf:", 0, ""},
		{"Alice+x@Example.org", KindSender, "alice@example.org"},
		{"@Example.org", KindSender, "@example.org"},
		{"example.org", KindSender, "@example.org"},
		{"<>", KindSender, NullSender},
		{"@bad domain", 0, ""},
		{"999.1.2.3", 0, ""},
		{"", 0, ""},
	}
	for _, tt := range tests {
		e, err := g.Allow(ctx, tt.target, time.Hour)
		if tt.who == "" {
			if err == nil {
				t.Errorf("Allow(%q) = %+v, want an error", tt.target, e)
			}
			continue
		}
		who := e.Triplet.Client
		if tt.kind == KindSender {
			who = e.Triplet.Sender
		}
		if err != nil || e.Kind != tt.kind || who != tt.who || !e.Expires.Equal(epoch.Add(time.Hour)) {
			t.Errorf("Allow(%q) = %+v, %v; want %v %q", tt.target, e, err, tt.kind, tt.who)
		}
	}
	if _, err := g.Allow(ctx, "192.0.2.1", -time.Second); err == nil {
		t.Error("negative TTL accepted")
	}
	if _, err := g.Release(ctx, Selector{}); err == nil {
		t.Error("Release with an empty selector accepted")
	}
	if _, err := g.Release(ctx, Selector{Client: "nonsense"}); err == nil {
		t.Error("Release with a bad client accepted")
	}
	if had, err := g.Revoke(ctx, "198.51.100.1"); err != nil || had {
		t.Errorf("Revoke of nothing = %v, %v", had, err)
	}
}
