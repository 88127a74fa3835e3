package dnsbl

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"testing"

	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

func TestFCrDNS(t *testing.T) {
	t.Parallel()
	_, res := startDNS(t)
	c := NewFCrDNS(res, nil)
	tests := []struct {
		name string
		ip   string
		want map[string]float64
	}{
		{"confirmed", "127.0.0.2", map[string]float64{}},
		{"forward name points elsewhere", "127.0.0.3", map[string]float64{RDNSUnconfirmed: 1}},
		{"confirmed but generic", "127.0.0.4", map[string]float64{RDNSDynamic: 1}},
		{"no PTR", "127.0.0.5", map[string]float64{RDNSNone: 1.5}},
		{"forward name does not exist", "127.0.0.6", map[string]float64{RDNSUnconfirmed: 1}},
		{"dynamic keywords", "127.0.0.7", map[string]float64{RDNSDynamic: 1}},
		{"second name confirms", "127.0.0.8", map[string]float64{}},
		{"IPv6 confirmed", "2001:db8::25", map[string]float64{}},
		{"IPv6 no PTR", "2001:db8::26", map[string]float64{RDNSNone: 1.5}},
		{"IPv4-mapped", "::ffff:127.0.0.2", map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syms, err := c.Check(context.Background(), txn(tt.ip), 0)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := scores(syms); !maps.Equal(got, tt.want) {
				t.Errorf("symbols %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFCrDNSFailures(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	c := NewFCrDNS(res, nil)
	srv.SetMode("good.test", dnstest.ServFail)
	syms, err := c.Check(context.Background(), txn("127.0.0.3"), 0)
	if err != nil || len(syms) != 0 {
		t.Errorf("forward lookup failing: %v, %v; want no symbol and no error", names(syms), err)
	}
	srv.SetMode("127.in-addr.arpa", dnstest.ServFail)
	if _, err := c.Check(context.Background(), txn("127.0.0.9"), 0); !errors.Is(err, dnsx.ErrServFail) {
		t.Errorf("reverse lookup failing: error %v, want SERVFAIL", err)
	}
}

func TestGenericPTR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ip string
		want     bool
	}{
		{"c-67-180-22-10.hsd1.ca.comcast.net", "67.180.22.10", true},
		{"pool-71-105-32-11.nycmny.fios.verizon.net", "71.105.32.11", true},
		{"ip68-9-13-4.ri.ri.cox.net", "68.9.13.4", true},
		{"4.3.2.1.static.example.net", "1.2.3.4", true},
		{"host-2-3-4.example.net", "1.2.3.4", true},
		{"mx001002003004.example.net", "1.2.3.4", true},
		{"dsl-01020304.example.net", "1.2.3.4", true},
		{"dynamic.example.net", "1.2.3.4", true},
		{"adsl.customer.example.net", "1.2.3.4", true},
		{"mail.example.com", "1.2.3.4", false},
		{"mx1.cable-company.com", "1.2.3.4", false},
		{"dsl.net", "1.2.3.4", false},
		{"mail-1-2-9-9.example.com", "1.2.3.4", false},
		{"smtp10.example.com", "192.0.2.10", false},
		{"mail.example.com.", "2001:db8::1", false},
		{"dyn.example.com", "2001:db8::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, got := genericPTR(tt.name, netip.MustParseAddr(tt.ip))
			if got != tt.want {
				t.Errorf("genericPTR(%s, %s) = %v (%s), want %v", tt.name, tt.ip, got, why, tt.want)
			}
		})
	}
}
