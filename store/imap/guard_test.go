package imap

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestMemoryGuard(t *testing.T) {
	ctx := context.Background()
	ip1 := netip.MustParseAddr("192.0.2.1")
	ip2 := netip.MustParseAddr("192.0.2.2")
	v6a := netip.MustParseAddr("2001:db8:1:2::1")
	v6b := netip.MustParseAddr("2001:db8:1:2:ffff::9") // same /64
	v6c := netip.MustParseAddr("2001:db8:1:3::1")      // another /64

	type step struct {
		op      string // "fail", "ok", "advance", "allow", "deny"
		ip      netip.Addr
		user    string
		advance time.Duration
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"under the limit is allowed", []step{
			{op: "fail", ip: ip1, user: alice},
			{op: "fail", ip: ip1, user: alice},
			{op: "allow", ip: ip1, user: alice},
		}},
		{"per address", []step{
			{op: "fail", ip: ip1, user: "a@x.test"},
			{op: "fail", ip: ip1, user: "b@x.test"},
			{op: "fail", ip: ip1, user: "c@x.test"},
			{op: "deny", ip: ip1, user: "d@x.test"},
			{op: "allow", ip: ip2, user: "d@x.test"},
		}},
		{"per user from many addresses", []step{
			{op: "fail", ip: ip1, user: alice},
			{op: "fail", ip: ip2, user: "ALICE@example.test"},
			{op: "fail", ip: v6c, user: alice},
			{op: "deny", ip: netip.MustParseAddr("198.51.100.7"), user: alice},
			{op: "allow", ip: netip.MustParseAddr("198.51.100.7"), user: bob},
		}},
		{"IPv6 by /64", []step{
			{op: "fail", ip: v6a, user: "a@x.test"},
			{op: "fail", ip: v6b, user: "b@x.test"},
			{op: "fail", ip: v6a, user: "c@x.test"},
			{op: "deny", ip: v6b, user: "d@x.test"},
			{op: "allow", ip: v6c, user: "d@x.test"},
		}},
		{"window passes", []step{
			{op: "fail", ip: ip1, user: alice},
			{op: "fail", ip: ip1, user: alice},
			{op: "fail", ip: ip1, user: alice},
			{op: "deny", ip: ip1, user: alice},
			{op: "advance", advance: 59 * time.Second},
			{op: "deny", ip: ip1, user: alice},
			{op: "advance", advance: time.Second},
			{op: "allow", ip: ip1, user: alice},
		}},
		{"success clears the counts", []step{
			{op: "fail", ip: ip1, user: alice},
			{op: "fail", ip: ip1, user: alice},
			{op: "ok", ip: ip1, user: alice},
			{op: "fail", ip: ip1, user: alice},
			{op: "fail", ip: ip1, user: alice},
			{op: "allow", ip: ip1, user: alice},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			g := NewMemoryGuard(3, time.Minute, clock.now)
			for i, s := range tt.steps {
				switch s.op {
				case "fail":
					g.Failed(ctx, s.ip, s.user)
				case "ok":
					g.Succeeded(ctx, s.ip, s.user)
				case "advance":
					clock.advance(s.advance)
				case "allow":
					if err := g.Allow(ctx, s.ip, s.user); err != nil {
						t.Errorf("step %d: Allow(%s, %s) = %v, want nil", i, s.ip, s.user, err)
					}
				case "deny":
					if err := g.Allow(ctx, s.ip, s.user); !errors.Is(err, ErrThrottled) {
						t.Errorf("step %d: Allow(%s, %s) = %v, want ErrThrottled", i, s.ip, s.user, err)
					}
				}
			}
		})
	}
}

func TestMemoryGuardBounded(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := NewMemoryGuard(3, time.Hour, clock.now)
	for i := range 3 * maxGuardKeys {
		g.Failed(ctx, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "")
	}
	if n := len(g.entries); n > maxGuardKeys {
		t.Errorf("%d entries, want at most %d", n, maxGuardKeys)
	}
}

func TestPlaintextAllowed(t *testing.T) {
	tests := []struct {
		name  string
		local net.Addr
		allow bool
		want  bool
	}{
		{"IPv4 loopback", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 143}, false, true},
		{"other 127/8 address", &net.TCPAddr{IP: net.IPv4(127, 1, 2, 3), Port: 143}, false, true},
		{"IPv6 loopback", &net.TCPAddr{IP: net.IPv6loopback, Port: 143}, false, true},
		{"IPv4-mapped loopback", &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 143}, false, true},
		{"public address", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 143}, false, false},
		{"private address", &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 143}, false, false},
		{"unspecified address", &net.TCPAddr{IP: net.IPv4zero, Port: 143}, false, false},
		{"public address, allowed", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 143}, true, true},
		{"unix socket", &net.UnixAddr{Name: "/run/moat/imap.sock", Net: "unix"}, false, true},
		{"no address", nil, false, false},
		{"other address type, loopback", stringAddr("127.0.0.1:143"), false, true},
		{"other address type, public", stringAddr("[2001:db8::1]:143"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plaintextAllowed(tt.local, tt.allow); got != tt.want {
				t.Errorf("plaintextAllowed(%v, %v) = %v, want %v", tt.local, tt.allow, got, tt.want)
			}
		})
	}
}

// stringAddr is a net.Addr of no known type.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
