package greylist

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

var epoch = time.Date(2026, 11, 23, 16, 40, 0, 0, time.UTC)

const day = 24 * time.Hour

// msg describes one delivery attempt. Empty fields take the defaults of
// attempt().
type msg struct {
	ip, from, rcpt string
	syms           []string
	trusted        bool
	auth           string
}

func (m msg) txn() *filter.Txn {
	if m.ip == "" {
		m.ip = "192.0.2.10"
	}
	if m.from == "" {
		m.from = "alice@example.org"
	} else if m.from == "<>" {
		m.from = ""
	}
	if m.rcpt == "" {
		m.rcpt = "bob@example.net"
	}
	t := &filter.Txn{ID: "t1", ClientIP: netip.MustParseAddr(m.ip), Helo: "mx.example.org", MailFrom: m.from, Rcpts: []string{m.rcpt}, Trusted: m.trusted, AuthUser: m.auth}
	for _, s := range m.syms {
		t.Add(filter.Symbol{Name: s})
	}
	return t
}

// step is one thing that happens in a case: the clock moves by after, then
// either admin runs or msg is decided and must give want (and, for
// greylisted results, a retry in retryIn).
type step struct {
	after   time.Duration
	admin   func(t *testing.T, g *Greylist)
	msg     msg
	want    Status
	retryIn time.Duration
}

// decisions is the table every backend must pass.
var decisions = []struct {
	name  string
	opts  func(*Options)
	steps []step
}{
	{name: "unknown triplet is new", steps: []step{
		{want: StatusNew, retryIn: 5 * time.Minute},
	}},
	{name: "retry before the delay is early", steps: []step{
		{want: StatusNew, retryIn: 5 * time.Minute},
		{after: 4 * time.Minute, want: StatusEarly, retryIn: time.Minute},
		{after: 59 * time.Second, want: StatusEarly, retryIn: time.Second},
	}},
	{name: "retry at and after the delay passes", steps: []step{
		{want: StatusNew},
		{after: 5 * time.Minute, want: StatusPass},
		{after: time.Hour, want: StatusPass},
	}},
	{name: "retry after the window starts over", steps: []step{
		{want: StatusNew},
		{after: 48 * time.Hour, want: StatusNew, retryIn: 5 * time.Minute},
		{after: 5 * time.Minute, want: StatusPass},
	}},
	{name: "early retries do not extend the window", steps: []step{
		{want: StatusNew},
		{after: time.Minute, want: StatusEarly},
		{after: 48*time.Hour - time.Minute, want: StatusNew},
	}},
	{name: "passed triplet is remembered and refreshed", steps: []step{
		{want: StatusNew},
		{after: 5 * time.Minute, want: StatusPass},
		{after: 34 * day, want: StatusPass},
		{after: 34 * day, want: StatusPass},
		{after: 35 * day, want: StatusNew},
	}},
	{name: "another address of the same /24 matches", steps: []step{
		{msg: msg{ip: "192.0.2.10"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{ip: "192.0.2.250"}, want: StatusPass},
	}},
	{name: "another /24 is another triplet", steps: []step{
		{want: StatusNew},
		{after: 5 * time.Minute, msg: msg{ip: "198.51.100.10"}, want: StatusNew},
	}},
	{name: "IPv6 /64", steps: []step{
		{msg: msg{ip: "2001:db8:1:2::1"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{ip: "2001:db8:1:2:ffff::9"}, want: StatusPass},
		{msg: msg{ip: "2001:db8:1:3::1"}, want: StatusNew},
	}},
	{name: "configured IPv4 prefix", opts: func(o *Options) { o.IPv4Prefix = 32 }, steps: []step{
		{msg: msg{ip: "192.0.2.10"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{ip: "192.0.2.11"}, want: StatusNew},
		{msg: msg{ip: "192.0.2.10"}, want: StatusPass},
	}},
	{name: "sender forms reduce to one identity", steps: []step{
		{msg: msg{from: "Alice+list@Example.ORG"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{from: "SRS0=hh=tt=example.org=alice@forwarder.example"}, want: StatusPass},
		{msg: msg{from: "prvs=1234abcdef=alice@example.org"}, want: StatusPass},
	}},
	{name: "recipient case does not matter", steps: []step{
		{msg: msg{rcpt: "Bob@Example.NET"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{rcpt: "bob@example.net"}, want: StatusPass},
	}},
	{name: "another recipient is another triplet", steps: []step{
		{want: StatusNew},
		{after: 5 * time.Minute, msg: msg{rcpt: "carol@example.net"}, want: StatusNew},
	}},
	{name: "null sender is its own identity", steps: []step{
		{msg: msg{from: "<>"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{from: "<>"}, want: StatusPass},
		{msg: msg{from: "mailer-daemon@example.org"}, want: StatusNew},
	}},
	{name: "SPF pass keys on the domain", steps: []step{
		{msg: msg{ip: "192.0.2.10", syms: []string{"SPF_PASS"}}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{ip: "203.0.113.5", syms: []string{"SPF_PASS"}}, want: StatusPass},
		{msg: msg{ip: "203.0.113.5"}, want: StatusNew},
	}},
	{name: "auto-allow after N passed triplets", opts: func(o *Options) { o.AutoAllow = 2 }, steps: []step{
		{msg: msg{rcpt: "a@example.net"}, want: StatusNew},
		{msg: msg{rcpt: "b@example.net"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{rcpt: "a@example.net"}, want: StatusPass},
		{msg: msg{rcpt: "a@example.net"}, want: StatusPass}, // the same triplet counts once
		{msg: msg{rcpt: "c@example.net"}, want: StatusNew},
		{msg: msg{rcpt: "b@example.net"}, want: StatusPass},
		{msg: msg{ip: "192.0.2.99", from: "zed@elsewhere.example", rcpt: "d@example.net"}, want: StatusAllowed},
		{msg: msg{ip: "198.51.100.1", rcpt: "d@example.net"}, want: StatusNew},
		{after: 34 * day, msg: msg{rcpt: "e@example.net"}, want: StatusAllowed}, // refreshed by its mail
		{after: 35 * day, msg: msg{rcpt: "f@example.net"}, want: StatusNew},
	}},
	{name: "auto-allow off", opts: func(o *Options) { o.AutoAllow = 0 }, steps: []step{
		{msg: msg{rcpt: "a@example.net"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{rcpt: "a@example.net"}, want: StatusPass},
		{msg: msg{rcpt: "b@example.net"}, want: StatusNew},
	}},
	{name: "passed triplets expire from the auto-allow count", opts: func(o *Options) { o.AutoAllow = 2 }, steps: []step{
		{msg: msg{rcpt: "a@example.net"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{rcpt: "a@example.net"}, want: StatusPass},
		{after: 36 * day, msg: msg{rcpt: "b@example.net"}, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{rcpt: "b@example.net"}, want: StatusPass},
		{msg: msg{rcpt: "c@example.net"}, want: StatusNew}, // the count restarted at 1
	}},
	{name: "skipped clients and recipients record nothing", opts: func(o *Options) { o.OptOutDomains = []string{"optout.example"} }, steps: []step{
		{msg: msg{trusted: true}, want: StatusSkipped},
		{msg: msg{auth: "alice"}, want: StatusSkipped},
		{msg: msg{syms: []string{"ALLOWLIST_SENDER"}}, want: StatusSkipped},
		{msg: msg{syms: []string{"ALLOWLIST_IP"}}, want: StatusSkipped},
		{msg: msg{syms: []string{"RCVD_IN_DNSWL_MED"}}, want: StatusSkipped},
		{msg: msg{rcpt: "x@optout.example"}, want: StatusSkipped},
		{msg: msg{rcpt: "x@mx.optout.example"}, want: StatusSkipped},
		{after: 5 * time.Minute, want: StatusNew},
		{after: 5 * time.Minute, msg: msg{rcpt: "x@notoptout.example"}, want: StatusNew},
	}},
	{name: "zero delay", opts: func(o *Options) { o.Delay = 0 }, steps: []step{
		{want: StatusNew, retryIn: 0},
		{want: StatusPass},
	}},
	{name: "release lets a waiting triplet through at its next retry", steps: []step{
		{want: StatusNew},
		{msg: msg{rcpt: "other@example.net"}, want: StatusNew},
		{after: time.Minute, admin: func(t *testing.T, g *Greylist) {
			if n, err := g.Release(context.Background(), Selector{Sender: "Alice@example.org", Rcpt: "BOB@example.net"}); err != nil || n != 1 {
				t.Fatalf("Release = %d, %v; want 1", n, err)
			}
		}},
		{want: StatusPass},
		{msg: msg{rcpt: "other@example.net"}, want: StatusEarly},
	}},
	{name: "release by client", steps: []step{
		{want: StatusNew},
		{msg: msg{ip: "198.51.100.1"}, want: StatusNew},
		{admin: func(t *testing.T, g *Greylist) {
			if n, err := g.Release(context.Background(), Selector{Client: "192.0.2.200"}); err != nil || n != 1 {
				t.Fatalf("Release = %d, %v; want 1", n, err)
			}
		}},
		{want: StatusPass},
		{msg: msg{ip: "198.51.100.1"}, want: StatusEarly},
	}},
	{name: "administrator allows a network", steps: []step{
		{admin: allow("192.0.2.77", 0)},
		{msg: msg{from: "anyone@anywhere.example", rcpt: "x@example.net"}, want: StatusAllowed},
		{msg: msg{ip: "198.51.100.1"}, want: StatusNew},
		{after: 400 * day, want: StatusAllowed},
		{admin: revoke("192.0.2.0/24", true)},
		{want: StatusNew},
	}},
	{name: "administrator allows a network for a while", steps: []step{
		{admin: allow("192.0.2.0/24", time.Hour)},
		{want: StatusAllowed},
		{after: time.Hour, want: StatusNew},
	}},
	{name: "network allow also holds with SPF pass", steps: []step{
		{admin: allow("192.0.2.1", 0)},
		{msg: msg{syms: []string{"SPF_PASS"}}, want: StatusAllowed},
	}},
	{name: "administrator allows a sender and a sender domain", steps: []step{
		{admin: allow("Alice+x@Example.org", 0)},
		{msg: msg{ip: "203.0.113.9"}, want: StatusAllowed},
		{msg: msg{from: "carol@example.org"}, want: StatusNew},
		{admin: allow("example.org", time.Hour)},
		{msg: msg{from: "carol@example.org", rcpt: "y@example.net"}, want: StatusAllowed},
		{after: time.Hour, msg: msg{from: "carol@example.org", rcpt: "z@example.net"}, want: StatusNew},
		{admin: revoke("alice@example.org", true)},
		{msg: msg{rcpt: "w@example.net"}, want: StatusNew},
		{admin: revoke("alice@example.org", false)},
	}},
	{name: "administrator allows the null sender", steps: []step{
		{admin: allow("<>", 0)},
		{msg: msg{from: "<>"}, want: StatusAllowed},
	}},
	{name: "administrator allows an SPF domain", steps: []step{
		{admin: allow("spf:example.org", 0)},
		{msg: msg{ip: "203.0.113.9", syms: []string{"SPF_PASS"}}, want: StatusAllowed},
		{msg: msg{ip: "203.0.113.9"}, want: StatusNew},
	}},
	{name: "revoking an allow keeps the auto-allow", opts: func(o *Options) { o.AutoAllow = 1 }, steps: []step{
		{want: StatusNew},
		{after: 5 * time.Minute, want: StatusPass},
		{admin: allow("192.0.2.1", 0)},
		{admin: revoke("192.0.2.1", true)},
		{msg: msg{rcpt: "new@example.net"}, want: StatusAllowed},
	}},
}

func allow(target string, ttl time.Duration) func(*testing.T, *Greylist) {
	return func(t *testing.T, g *Greylist) {
		t.Helper()
		if _, err := g.Allow(context.Background(), target, ttl); err != nil {
			t.Fatalf("Allow(%q): %v", target, err)
		}
	}
}

func revoke(target string, want bool) func(*testing.T, *Greylist) {
	return func(t *testing.T, g *Greylist) {
		t.Helper()
		if had, err := g.Revoke(context.Background(), target); err != nil || had != want {
			t.Fatalf("Revoke(%q) = %v, %v; want %v", target, had, err, want)
		}
	}
}

// newGreylist returns greylisting on a fresh store of backend b.
func newGreylist(t *testing.T, b statetest.Backend, clock *statetest.Clock, edit func(*Options)) *Greylist {
	t.Helper()
	o := DefaultOptions()
	o.Now = clock.Now
	if edit != nil {
		edit(&o)
	}
	g, err := New(b.Open(t, clock.Now), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

// TestDecisions runs the decision table against every backend, with an
// injected clock (Redis records carry their own times, so the clock works
// there too).
func TestDecisions(t *testing.T) {
	t.Parallel()
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, c := range decisions {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					clock := statetest.NewClock(epoch)
					g := newGreylist(t, b, clock, c.opts)
					for i, s := range c.steps {
						clock.Advance(s.after)
						if s.admin != nil {
							s.admin(t, g)
							continue
						}
						r, err := g.Decide(context.Background(), s.msg.txn(), s.msg.txn().Rcpts[0])
						if err != nil {
							t.Fatalf("step %d: Decide: %v", i, err)
						}
						if r.Status != s.want {
							t.Fatalf("step %d (%+v): %v (%s), want %v", i, s.msg, r.Status, r.Reason, s.want)
						}
						if r.Greylisted() && r.RetryIn(clock.Now()) != s.retryIn && s.retryIn != 0 {
							t.Fatalf("step %d: retry in %v, want %v", i, r.RetryIn(clock.Now()), s.retryIn)
						}
						if sym, ok := r.Symbol(); ok != (s.want != StatusSkipped) || (ok && sym.Reason == "") {
							t.Fatalf("step %d: symbol %+v, %v", i, sym, ok)
						}
					}
				})
			}
		})
	}
}

// TestDecideAll decides for several recipients in one call.
func TestDecideAll(t *testing.T) {
	t.Parallel()
	for _, b := range statetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			clock := statetest.NewClock(epoch)
			g := newGreylist(t, b, clock, func(o *Options) { o.OptOutDomains = []string{"optout.example"} })
			ctx := context.Background()
			first := msg{rcpt: "a@example.net"}.txn()
			if _, err := g.Decide(ctx, first, "a@example.net"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Minute)
			if _, err := g.Decide(ctx, first, "b@example.net"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(3 * time.Minute)
			txn := msg{}.txn()
			txn.Rcpts = []string{"a@example.net", "b@example.net", "c@example.net", "d@optout.example"}
			rs, err := g.DecideAll(ctx, txn)
			if err != nil {
				t.Fatal(err)
			}
			want := []Status{StatusPass, StatusEarly, StatusNew, StatusSkipped}
			for i, r := range rs {
				if r.Status != want[i] || r.Rcpt != txn.Rcpts[i] {
					t.Errorf("rcpt %d %s: %v, want %v", i, r.Rcpt, r.Status, want[i])
				}
			}
			latest, ok := LatestRetry(rs)
			if !ok || latest.Rcpt != "c@example.net" || latest.RetryIn(clock.Now()) != 5*time.Minute {
				t.Errorf("LatestRetry = %+v, %v; want c@example.net in 5m", latest, ok)
			}
			txn.Rcpts = []string{"x@optout.example"}
			if rs, err := g.DecideAll(ctx, txn); err != nil || rs[0].Status != StatusSkipped {
				t.Errorf("only opted-out recipients: %+v, %v", rs, err)
			}
			if rs, err := g.DecideAll(ctx, &filter.Txn{}); err != nil || rs != nil {
				t.Errorf("no recipients: %v, %v", rs, err)
			}
			if c := g.Counts(); c.New != 3 || c.Early != 1 || c.Pass != 1 || c.Skipped != 2 {
				t.Errorf("Counts = %+v", c)
			}
		})
	}
}

func TestNoClientAddress(t *testing.T) {
	t.Parallel()
	g, err := New(state.NewMemory(nil), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.Decide(context.Background(), &filter.Txn{MailFrom: "a@b.example", Rcpts: []string{"c@d.example"}}, "c@d.example")
	if err != nil || r.Status != StatusSkipped {
		t.Fatalf("no client IP: %+v, %v", r, err)
	}
}
