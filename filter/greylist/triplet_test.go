package greylist

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNormalizeSender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"lower-case", "Alice@Example.ORG", "alice@example.org"},
		{"angle brackets", "<alice@example.org>", "alice@example.org"},
		{"null sender empty", "", NullSender},
		{"null sender brackets", "<>", NullSender},
		{"plus tag", "alice+news@example.org", "alice@example.org"},
		{"plus tag with more plus", "alice+a+b@example.org", "alice@example.org"},
		{"leading plus kept", "+alice@example.org", "+alice@example.org"},
		{"SRS0", "SRS0=HHH=TT=example.org=alice@forwarder.example", "alice@example.org"},
		{"SRS0 plus separator", "SRS0+HHH=TT=example.org=alice@forwarder.example", "alice@example.org"},
		{"SRS0 minus separator", "srs0-HHH=TT=example.org=alice@forwarder.example", "alice@example.org"},
		{"SRS0 equals in local part", "SRS0=h=tt=example.org=a=b@fwd.example", "a=b@example.org"},
		{"SRS1", "SRS1=HHH=fwd1.example==HHH=TT=orig.example=alice@fwd2.example", "alice@orig.example"},
		{"SRS1 plus inner separator", "SRS1=HHH=fwd1.example=+HHH=TT=orig.example=alice@fwd2.example", "alice@orig.example"},
		{"broken SRS0 kept", "SRS0=abc@fwd.example", "srs0=abc@fwd.example"},
		{"BATV prvs", "prvs=1234abcdef=bob@example.org", "bob@example.org"},
		{"BATV prvs user first", "prvs=bob=1234abcdef@example.org", "bob@example.org"},
		{"BATV msprvs1", "msprvs1=17862MOi0Cq35=bounces-123@mail.example", "bounces-123@mail.example"},
		{"BATV btv1", "btv1==1234abcdef==bob@example.org", "bob@example.org"},
		{"BATV then plus tag", "prvs=1234abcdef=bob+x@example.org", "bob@example.org"},
		{"SRS around BATV", "SRS0=h=tt=example.org=prvs=1234abcdef=bob@fwd.example", "bob@example.org"},
		{"not BATV", "prvsfoo@example.org", "prvsfoo@example.org"},
		{"prvs without tag shape kept", "prvs=bob@example.org", "prvs=bob@example.org"},
		{"no domain", "Postmaster", "postmaster"},
		{"trailing at", "alice@", "alice@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := NormalizeSender(tt.in); got != tt.want {
				t.Errorf("NormalizeSender(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTripletKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tr := range []Triplet{
		{Client: "192.0.2.0/24", Sender: "alice@example.org", Rcpt: "bob@example.net"},
		{Client: "2001:db8::/64", Sender: NullSender, Rcpt: "bob@example.net"},
		{Client: "spf:example.org", Sender: `"a b%c{d}"@example.org`, Rcpt: "x\x01y@z"},
	} {
		k := tripletKey(tr)
		if strings.Count(k, " ") != 1 || strings.Count(k, "{") != 1 || strings.Count(k, "}") != 1 {
			t.Errorf("key %q: want one separator and one hash tag", k)
		}
		got, ok := parseTripletKey(k)
		if !ok || got != tr {
			t.Errorf("parseTripletKey(%q) = %+v, %v; want %+v", k, got, ok, tr)
		}
	}
	if c, ok := parseClientKey(clientKey("spf:example.org")); !ok || c != "spf:example.org" {
		t.Errorf("client key round trip: %q %v", c, ok)
	}
	for _, bad := range []string{"gl:t:", "gl:t:{x", "gl:t:{x}:nospace", "other"} {
		if _, ok := parseTripletKey(bad); ok {
			t.Errorf("parseTripletKey(%q) accepted", bad)
		}
	}
}

func TestNetworkAndClientFor(t *testing.T) {
	t.Parallel()
	def := DefaultOptions()
	g := &Greylist{opts: def}
	narrow := def
	narrow.IPv4Prefix, narrow.IPv6Prefix = 28, 48
	gn := &Greylist{opts: narrow}
	tests := []struct {
		name string
		g    *Greylist
		in   string
		want string // "" for an error
	}{
		{"IPv4 address", g, "192.0.2.77", "192.0.2.0/24"},
		{"IPv4-mapped IPv6", g, "::ffff:192.0.2.77", "192.0.2.0/24"},
		{"IPv6 address", g, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"configured IPv4 prefix", gn, "192.0.2.77", "192.0.2.64/28"},
		{"configured IPv6 prefix", gn, "2001:db8:1:2::1", "2001:db8:1::/48"},
		{"network at the prefix", g, "192.0.2.0/24", "192.0.2.0/24"},
		{"narrower network", g, "192.0.2.128/25", "192.0.2.0/24"},
		{"wider network refused", g, "192.0.0.0/16", ""},
		{"IPv6 network", g, "2001:db8:1:2::/64", "2001:db8:1:2::/64"},
		{"SPF domain", g, "SPF:Example.ORG", "spf:example.org"},
		{"bad SPF domain", g, "spf:exa mple", ""},
		{"garbage", g, "not-an-ip", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.g.ClientFor(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ClientFor(%q) = %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ClientFor(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	if got := g.network(netip.MustParseAddr("fe80::1%eth0")); got != "fe80::/64" {
		t.Errorf("zoned address: %q", got)
	}
}
