package dnsbl

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"unicode"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx"
)

// nxResolver answers every lookup with NXDOMAIN, without a network.
type nxResolver struct{}

func (nxResolver) notFound(name string) error {
	return &dnsxError{name}
}

type dnsxError struct{ name string }

func (e *dnsxError) Error() string { return e.name + ": " + dnsx.ErrNXDOMAIN.Error() }
func (e *dnsxError) Unwrap() error { return dnsx.ErrNXDOMAIN }

func (r nxResolver) LookupA(_ context.Context, n string) ([]netip.Addr, error) {
	return nil, r.notFound(n)
}
func (r nxResolver) LookupAAAA(_ context.Context, n string) ([]netip.Addr, error) {
	return nil, r.notFound(n)
}
func (r nxResolver) LookupIP(_ context.Context, n string) ([]netip.Addr, error) {
	return nil, r.notFound(n)
}
func (r nxResolver) LookupPTR(_ context.Context, a netip.Addr) ([]string, error) {
	return nil, r.notFound(a.String())
}

// FuzzHelo feeds arbitrary HELO names (client-controlled) to the HELO check
// and reverse names (controlled by whoever runs the client's reverse zone)
// to the generic-name test: no panic, only the check's symbols, and reasons
// free of control characters.
func FuzzHelo(f *testing.F) {
	for _, s := range []string{"mx.example.com", "[192.0.2.1]", "[IPv6:2001:db8::1]", "192.0.2.1", "localhost",
		"c-67-180-22-10.hsd1.ca.comcast.net", "dsl-01020304.example.net", "[", "]", "a..b", "x\x00y.com", "ünï.côdé.example"} {
		f.Add(s)
	}
	c := NewHelo(nxResolver{}, HeloConfig{Names: []string{"mx.moat.test"}, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.25")}}, nil)
	known := map[string]bool{HeloNotFQDN: true, HeloBareIP: true, HeloClaimsUs: true, HeloNoDNS: true}
	client := netip.MustParseAddr("198.51.100.7")
	f.Fuzz(func(t *testing.T, helo string) {
		tx := &filter.Txn{ClientIP: client, Helo: helo}
		syms, err := c.Check(context.Background(), tx, filter.StageHelo)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		for _, s := range syms {
			if !known[s.Name] {
				t.Fatalf("unknown symbol %s", s.Name)
			}
			if strings.ContainsFunc(s.Reason, unicode.IsControl) {
				t.Fatalf("control character in reason %q", s.Reason)
			}
		}
		for _, ip := range []netip.Addr{client, netip.MustParseAddr("2001:db8::7")} {
			genericPTR(helo, ip)
		}
	})
}
