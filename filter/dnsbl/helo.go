package dnsbl

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"unicode"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx"
)

// Symbols of the HELO check.
const (
	// HeloNotFQDN: the HELO name is not a fully qualified domain name (no
	// dot, characters a host name cannot have, a numeric top-level label,
	// or a malformed address literal).
	HeloNotFQDN = "HELO_NOT_FQDN"
	// HeloBareIP: the HELO name is an IP address without the brackets of an
	// address literal (RFC 5321: [192.0.2.1]).
	HeloBareIP = "HELO_BARE_IP"
	// HeloClaimsUs: the HELO name is one of our names or addresses, and the
	// client is not us.
	HeloClaimsUs = "HELO_CLAIMS_US"
	// HeloNoDNS: the HELO name has no address record (NXDOMAIN or NODATA
	// for both A and AAAA).
	HeloNoDNS = "HELO_NO_DNS"
)

// HeloConfig says who "we" are.
type HeloConfig struct {
	// Names are our host names: moat's hostname, the names our MX records
	// point at. Names without a dot ("localhost") are ignored: they cannot
	// identify us.
	Names []string
	// Addrs are our public addresses.
	Addrs []netip.Addr
}

// HeloCheck is the "helo" check of the HELO/EHLO name. It is safe for
// concurrent use.
type HeloCheck struct {
	res   Resolver
	names map[string]bool
	addrs map[netip.Addr]bool
	log   *slog.Logger
}

var _ filter.Check = (*HeloCheck)(nil)

// NewHelo returns the check. log receives debug lines about lookups that
// failed; nil discards them.
func NewHelo(res Resolver, cfg HeloConfig, log *slog.Logger) *HeloCheck {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &HeloCheck{res: res, names: map[string]bool{}, addrs: map[netip.Addr]bool{}, log: log}
	for _, n := range cfg.Names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if strings.Contains(n, ".") {
			c.names[n] = true
		}
	}
	for _, a := range cfg.Addrs {
		c.addrs[a.Unmap()] = true
	}
	return c
}

// Name returns "helo".
func (c *HeloCheck) Name() string { return "helo" }

// Stages returns the helo stage.
func (c *HeloCheck) Stages() []filter.Stage { return []filter.Stage{filter.StageHelo} }

// Check judges the HELO name. It never fails: when the name's address
// lookup fails it just does not emit HELO_NO_DNS.
func (c *HeloCheck) Check(ctx context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	helo := strings.TrimSpace(t.Helo)
	if helo == "" {
		return nil, nil
	}
	// A client on this host, or one of our addresses, is us: it may say so.
	client := t.ClientIP.Unmap()
	isUs := client.IsLoopback() || c.addrs[client]
	claims := func(why string) filter.Symbol {
		return filter.Symbol{Name: HeloClaimsUs, Score: score(HeloClaimsUs), Reason: "HELO " + quote(helo) + " is " + why + ", but the client " + client.String() + " is not"}
	}

	if strings.HasPrefix(helo, "[") && strings.HasSuffix(helo, "]") {
		lit := helo[1 : len(helo)-1]
		if len(lit) > 5 && strings.EqualFold(lit[:5], "ipv6:") {
			lit = lit[5:]
		}
		a, err := netip.ParseAddr(lit)
		if err != nil || a.Zone() != "" {
			return []filter.Symbol{{Name: HeloNotFQDN, Score: score(HeloNotFQDN), Reason: "HELO " + quote(helo) + " is a malformed address literal"}}, nil
		}
		if c.addrs[a.Unmap()] && !isUs {
			return []filter.Symbol{claims("our address")}, nil
		}
		return nil, nil
	}
	if a, err := netip.ParseAddr(helo); err == nil {
		syms := []filter.Symbol{{Name: HeloBareIP, Score: score(HeloBareIP), Reason: "HELO " + quote(helo) + " is an IP address without brackets"}}
		if c.addrs[a.Unmap()] && !isUs {
			syms = append(syms, claims("our address"))
		}
		return syms, nil
	}
	name := strings.ToLower(strings.TrimSuffix(helo, "."))
	if c.names[name] {
		if isUs {
			return nil, nil
		}
		return []filter.Symbol{claims("our name")}, nil
	}
	if !fqdn(name) {
		return []filter.Symbol{{Name: HeloNotFQDN, Score: score(HeloNotFQDN), Reason: "HELO " + quote(helo) + " is not a fully qualified domain name"}}, nil
	}
	_, err := c.res.LookupIP(ctx, name)
	switch {
	case dnsx.IsNotFound(err):
		return []filter.Symbol{{Name: HeloNoDNS, Score: score(HeloNoDNS), Reason: "HELO " + quote(helo) + " has no address in the DNS"}}, nil
	case err != nil:
		c.log.Debug("helo lookup failed", "txn", t.ID, "helo", name, "err", err)
	}
	return nil, nil
}

// fqdn reports whether name is a host name of at least two labels whose
// last label is not all digits.
func fqdn(name string) bool {
	if !validDomain(name) {
		return false
	}
	tld := name[strings.LastIndexByte(name, '.')+1:]
	return strings.Trim(tld, "0123456789") != ""
}

// quote returns s quoted for a reason, cut to a sane length.
func quote(s string) string {
	const maxLen = 80
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' {
			return '?'
		}
		return r
	}, s) + `"`
}
