package ratelimit_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/ratelimit"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestKeys checks the key helpers, in particular which addresses share a
// network key.
func TestKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, got, want string
	}{
		{"ipv4", ratelimit.IPKey(mustAddr(t, "192.0.2.1")), "ip:192.0.2.1"},
		{"ipv4-mapped ipv6", ratelimit.IPKey(mustAddr(t, "::ffff:192.0.2.1")), "ip:192.0.2.1"},
		{"ipv6 with zone", ratelimit.IPKey(mustAddr(t, "fe80::1%eth0")), "ip:fe80::1"},
		{"ipv4 /24", ratelimit.NetKey(mustAddr(t, "192.0.2.77")), "net:192.0.2.0/24"},
		{"ipv4-mapped /24", ratelimit.NetKey(mustAddr(t, "::ffff:192.0.2.200")), "net:192.0.2.0/24"},
		{"ipv6 /64", ratelimit.NetKey(mustAddr(t, "2001:db8:1:2:aaaa:bbbb:cccc:dddd")), "net:2001:db8:1:2::/64"},
		{"ipv6 /64 neighbour", ratelimit.NetKey(mustAddr(t, "2001:db8:1:2::1")), "net:2001:db8:1:2::/64"},
		{"ipv6 next /64", ratelimit.NetKey(mustAddr(t, "2001:db8:1:3::1")), "net:2001:db8:1:3::/64"},
		{"custom bits", ratelimit.NetKeyBits(mustAddr(t, "192.0.2.77"), 16, 48), "net:192.0.0.0/16"},
		{"bits clamped", ratelimit.NetKeyBits(mustAddr(t, "192.0.2.77"), 99, 48), "net:192.0.2.77/32"},
		{"invalid address", ratelimit.NetKey(netip.Addr{}), "net:invalid"},
		{"sender domain", ratelimit.DomainKey("Alice@Example.ORG"), "dom:example.org"},
		{"sender in brackets", ratelimit.DomainKey("<bob@sub.example.org.>"), "dom:sub.example.org"},
		{"quoted local part", ratelimit.DomainKey(`"a@b"@example.net`), "dom:example.net"},
		{"null sender", ratelimit.DomainKey(""), "dom:<>"},
		{"no domain", ratelimit.DomainKey("postmaster"), "dom:<>"},
		{"user", ratelimit.UserKey(" Alice@Example.org "), "user:alice@example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestStoreKeys checks the keys written in the store: under the prefix, one
// Redis Cluster hash tag per rule and key without stray braces, long keys
// bounded.
func TestStoreKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ruleName, key string
		wantTag             string
	}{
		{"plain", "conn_ip", "ip:192.0.2.1", "{conn_ip:ip:192.0.2.1}"},
		{"braces escaped", "auth_user", "user:}{evil%", "{auth_user:user:%7D%7Bevil%25}"},
		{"long key digested", "auth_user", "user:" + strings.Repeat("a", 500), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := statetest.NewClock(epoch())
			st := state.NewMemory(clock.Now)
			t.Cleanup(func() { _ = st.Close() })
			l := ratelimit.New(st, ratelimit.Options{Now: clock.Now})
			rule := ratelimit.Rule{Name: tt.ruleName, Limit: 5, Window: time.Minute}
			if _, err := l.Take(ctx(t), rule, tt.key, 1); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute) // the next window's counter too
			if _, err := l.Take(ctx(t), rule, tt.key, 1); err != nil {
				t.Fatal(err)
			}
			var keys []string
			if err := st.Scan(ctx(t), "", func(k string) error { keys = append(keys, k); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 {
				t.Fatalf("keys %q, want 2", keys)
			}
			for _, k := range keys {
				if !strings.HasPrefix(k, ratelimit.DefaultPrefix+"{") || len(k) > 300 {
					t.Errorf("key %q: want %s{…} and bounded", k, ratelimit.DefaultPrefix)
				}
				open, closing := strings.Index(k, "{"), strings.Index(k, "}")
				tag := k[open : closing+1]
				if strings.Count(k, "{") != 1 || strings.Count(k, "}") != 1 || tag != keys[0][open:closing+1] {
					t.Errorf("key %q: hash tag %q not shared or braces in the key", k, tag)
				}
				if tt.wantTag != "" && tag != tt.wantTag {
					t.Errorf("key %q: tag %q, want %q", k, tag, tt.wantTag)
				}
			}
		})
	}
}
