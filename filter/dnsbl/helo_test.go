package dnsbl

import (
	"context"
	"maps"
	"net/netip"
	"testing"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

func TestHelo(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	srv.SetMode("fail.test", dnstest.ServFail)
	c := NewHelo(res, HeloConfig{
		Names: []string{"mx.moat.test", "localhost", "MX2.Moat.Test."},
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.25"), netip.MustParseAddr("2001:db8::25")},
	}, nil)
	const client = "198.51.100.9"
	tests := []struct {
		name, helo, ip string
		want           map[string]float64
	}{
		{"good name", "mx.good.test", client, map[string]float64{}},
		{"good IPv6-only name", "v6.good.test", client, map[string]float64{}},
		{"trailing dot", "mx.good.test.", client, map[string]float64{}},
		{"address literal", "[198.51.100.9]", client, map[string]float64{}},
		{"IPv6 literal", "[IPv6:2001:db8::9]", client, map[string]float64{}},
		{"no dot", "WIN-ABC123", client, map[string]float64{HeloNotFQDN: 1}},
		{"localhost", "localhost", client, map[string]float64{HeloNotFQDN: 1}},
		{"underscore", "my_host.example.com", client, map[string]float64{HeloNotFQDN: 1}},
		{"numeric TLD", "1.2.3", client, map[string]float64{HeloNotFQDN: 1}},
		{"malformed literal", "[300.1.1.1]", client, map[string]float64{HeloNotFQDN: 1}},
		{"bare IPv4", "198.51.100.9", client, map[string]float64{HeloBareIP: 1.5}},
		{"bare IPv6", "2001:db8::9", client, map[string]float64{HeloBareIP: 1.5}},
		{"our name", "MX.moat.test", client, map[string]float64{HeloClaimsUs: 3}},
		{"our second name", "mx2.moat.test", client, map[string]float64{HeloClaimsUs: 3}},
		{"our address literal", "[192.0.2.25]", client, map[string]float64{HeloClaimsUs: 3}},
		{"our IPv6 literal", "[ipv6:2001:db8::25]", client, map[string]float64{HeloClaimsUs: 3}},
		{"our address bare", "192.0.2.25", client, map[string]float64{HeloBareIP: 1.5, HeloClaimsUs: 3}},
		{"our name from ourselves", "mx.moat.test", "192.0.2.25", map[string]float64{}},
		{"our name from loopback", "mx.moat.test", "127.0.0.1", map[string]float64{}},
		{"NXDOMAIN", "nothere.good.test", client, map[string]float64{HeloNoDNS: 1}},
		{"NODATA", "noaddr.good.test", client, map[string]float64{HeloNoDNS: 1}},
		{"lookup fails: no verdict", "x.fail.test", client, map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := txn(tt.ip)
			tx.Helo = tt.helo
			syms, err := c.Check(context.Background(), tx, filter.StageHelo)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := scores(syms); !maps.Equal(got, tt.want) {
				t.Errorf("symbols %v, want %v", got, tt.want)
			}
		})
	}
}
