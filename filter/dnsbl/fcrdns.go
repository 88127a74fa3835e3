package dnsbl

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx"
)

// Symbols of the FCrDNS check.
const (
	// RDNSNone: the client IP address has no reverse DNS name.
	RDNSNone = "RDNS_NONE"
	// RDNSUnconfirmed: no reverse name of the client resolves back to its
	// address (forward-confirmed reverse DNS fails).
	RDNSUnconfirmed = "RDNS_UNCONFIRMED"
	// RDNSDynamic: the reverse name looks generic or dynamic (the address in
	// the name, dsl, pool, dynamic, …), as end-user access networks' do.
	RDNSDynamic = "RDNS_DYNAMIC"
)

// maxPTRNames bounds the reverse names forward-checked per client.
const maxPTRNames = 5

// FCrDNSCheck is the "fcrdns" check of the client's reverse DNS. It is safe
// for concurrent use.
type FCrDNSCheck struct {
	res Resolver
	log *slog.Logger
}

var _ filter.Check = (*FCrDNSCheck)(nil)

// NewFCrDNS returns the check. log receives debug lines about lookups that
// failed; nil discards them.
func NewFCrDNS(res Resolver, log *slog.Logger) *FCrDNSCheck {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FCrDNSCheck{res: res, log: log}
}

// Name returns "fcrdns".
func (c *FCrDNSCheck) Name() string { return "fcrdns" }

// Stages returns the connect stage.
func (c *FCrDNSCheck) Stages() []filter.Stage { return []filter.Stage{filter.StageConnect} }

// Check looks up the client's reverse names and confirms them forward (A
// for an IPv4 client, AAAA for IPv6). It fails when the reverse lookup
// itself fails (SERVFAIL, timeout); a forward lookup that fails makes it
// withhold RDNS_UNCONFIRMED rather than guess.
func (c *FCrDNSCheck) Check(ctx context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	ip := t.ClientIP.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() {
		return nil, nil
	}
	names, err := c.res.LookupPTR(ctx, ip)
	switch {
	case dnsx.IsNotFound(err) || (err == nil && len(names) == 0):
		return []filter.Symbol{{Name: RDNSNone, Score: score(RDNSNone), Reason: "client IP " + ip.String() + " has no reverse DNS name"}}, nil
	case err != nil:
		return nil, fmt.Errorf("fcrdns: reverse lookup of %s: %w", ip, err)
	}
	if len(names) > maxPTRNames {
		names = names[:maxPTRNames]
	}
	lookup := c.res.LookupA
	if ip.Is6() {
		lookup = c.res.LookupAAAA
	}
	confirmed, unsure := "", false
	for _, n := range names {
		if !validDomain(n) {
			continue
		}
		addrs, err := lookup(ctx, n)
		if err != nil {
			if !dnsx.IsNotFound(err) {
				unsure = true
				c.log.Debug("fcrdns forward lookup failed", "txn", t.ID, "name", n, "err", err)
			}
			continue
		}
		for _, a := range addrs {
			if a.Unmap() == ip {
				confirmed = n
				break
			}
		}
		if confirmed != "" {
			break
		}
	}
	var syms []filter.Symbol
	if confirmed == "" && !unsure {
		syms = append(syms, filter.Symbol{Name: RDNSUnconfirmed, Score: score(RDNSUnconfirmed),
			Reason: fmt.Sprintf("reverse name %s of %s does not resolve back to it", strings.Join(names, ", "), ip)})
	}
	name := confirmed
	if name == "" {
		name = names[0]
	}
	if why, ok := genericPTR(name, ip); ok {
		syms = append(syms, filter.Symbol{Name: RDNSDynamic, Score: score(RDNSDynamic),
			Reason: fmt.Sprintf("reverse name %s looks generic: %s", name, why)})
	}
	return syms, nil
}

// DefaultScore returns the default score of one of the FCrDNS and HELO
// checks' symbols, and whether the name is one of theirs. The DNS list
// symbols' scores come from their zone configuration.
func DefaultScore(symbol string) (float64, bool) {
	switch symbol {
	case HeloClaimsUs:
		return 3, true
	case HeloBareIP:
		return 1.5, true
	case RDNSNone:
		return 1.5, true
	case RDNSUnconfirmed, RDNSDynamic, HeloNotFQDN, HeloNoDNS:
		return 1, true
	}
	return 0, false
}

// score returns a symbol's default score.
func score(symbol string) float64 {
	s, _ := DefaultScore(symbol)
	return s
}
