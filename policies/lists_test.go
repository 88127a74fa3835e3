package policies

import (
	"net/netip"
	"testing"
)

func TestListMatching(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, PolicyConfig{
		TrustedNetworks: []string{"10.1.0.0/16"},
		Allow: Lists{
			Networks: []string{"192.0.2.10", "2001:db8:1::/48"},
			Senders:  []string{"Partner.example.net", "Billing@Supplier.example.org"},
			Helos:    []string{"Mail.Partner.example.net"},
		},
		Block: Lists{
			Networks: []string{"203.0.113.0/24", "2001:db8:bad::1", "::ffff:198.51.100.0/120"},
			Senders:  []string{"spammer.example", "offers@marketing.example.com"},
			Helos:    []string{"ylmf-pc", "[192.0.2.1]"},
		},
	})
	ip := netip.MustParseAddr
	ipTests := []struct {
		ip                      string
		trusted, allow, blocked bool
	}{
		{"192.0.2.10", false, true, false},
		{"192.0.2.11", false, false, false},
		{"::ffff:192.0.2.10", false, true, false},
		{"2001:db8:1:ff::25", false, true, false},
		{"2001:db8:2::25", false, false, false},
		{"203.0.113.0", false, false, true},
		{"203.0.113.255", false, false, true},
		{"203.0.114.1", false, false, false},
		{"2001:db8:bad::1", false, false, true},
		{"2001:db8:bad::2", false, false, false},
		{"198.51.100.7", false, false, true},
		{"10.1.200.3", true, false, false},
		{"10.2.0.1", false, false, false},
		{"127.0.0.1", false, false, false},
	}
	for _, tc := range ipTests {
		a := ip(tc.ip)
		if got := p.Trusted(a); got != tc.trusted {
			t.Errorf("Trusted(%s) = %v", tc.ip, got)
		}
		if got := p.AllowedIP(a); got != tc.allow {
			t.Errorf("AllowedIP(%s) = %v", tc.ip, got)
		}
		if got := p.BlockedIP(a); got != tc.blocked {
			t.Errorf("BlockedIP(%s) = %v", tc.ip, got)
		}
	}
	if p.AllowedIP(netip.Addr{}) || p.BlockedIP(netip.Addr{}) || p.Trusted(netip.Addr{}) {
		t.Error("the zero address matched")
	}

	senderTests := []struct {
		addr           string
		allow, blocked bool
	}{
		{"anyone@partner.example.net", true, false},
		{"anyone@PARTNER.example.net", true, false},
		{"anyone@eu.mail.partner.example.net", true, false},
		{"anyone@notpartner.example.net", false, false},
		{"anyone@example.net", false, false},
		{"billing@supplier.example.org", true, false},
		{"BILLING@SUPPLIER.EXAMPLE.ORG", true, false},
		{"sales@supplier.example.org", false, false},
		{"x@spammer.example", false, true},
		{"x@a.b.spammer.example", false, true},
		{"offers@marketing.example.com", false, true},
		{"news@marketing.example.com", false, false},
		{"partner.example.net", false, false}, // no @: only a full-address entry could match
		{"", false, false},
	}
	for _, tc := range senderTests {
		if got := p.AllowedSender(tc.addr); got != tc.allow {
			t.Errorf("AllowedSender(%q) = %v", tc.addr, got)
		}
		if got := p.BlockedSender(tc.addr); got != tc.blocked {
			t.Errorf("BlockedSender(%q) = %v", tc.addr, got)
		}
	}

	heloTests := []struct {
		name           string
		allow, blocked bool
	}{
		{"mail.partner.example.net", true, false},
		{"MAIL.PARTNER.EXAMPLE.NET", true, false},
		{"partner.example.net", false, false},
		{"YLMF-PC", false, true},
		{"[192.0.2.1]", false, true},
		{"", false, false},
	}
	for _, tc := range heloTests {
		if got := p.AllowedHelo(tc.name); got != tc.allow {
			t.Errorf("AllowedHelo(%q) = %v", tc.name, got)
		}
		if got := p.BlockedHelo(tc.name); got != tc.blocked {
			t.Errorf("BlockedHelo(%q) = %v", tc.name, got)
		}
	}
}

func TestEmptyListsMatchNothing(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, PolicyConfig{})
	if p.Trusted(netip.MustParseAddr("127.0.0.1")) {
		t.Error("loopback is trusted by default")
	}
	if p.AllowedIP(netip.MustParseAddr("::1")) || p.BlockedSender("a@b.example") || p.AllowedHelo("localhost") {
		t.Error("an empty list matched")
	}
}
