package dnsbl

import (
	"context"
	"net/netip"

	"github.com/moatmail/moat/filter/dnsx"
)

// Resolver is what the checks need from the DNS resolver; *dnsx.Resolver
// implements it. A lookup that finds nothing must return an error for which
// dnsx.IsNotFound is true (NXDOMAIN, NODATA); any other error is a failure.
type Resolver interface {
	LookupA(ctx context.Context, name string) ([]netip.Addr, error)
	LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error)
	LookupIP(ctx context.Context, name string) ([]netip.Addr, error)
	LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error)
}

var _ Resolver = (*dnsx.Resolver)(nil)
