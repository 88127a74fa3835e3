package dnstest

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// zone is the data of one zone.
type zone struct {
	origin string // lower case, trailing dot
	soa    *dns.SOA
	rrs    map[string][]dns.RR // by lower-case owner name
	// names holds every owner name and every empty non-terminal between an
	// owner and the origin: the names that exist.
	names map[string]bool
}

func parseZone(text, file string) (*zone, error) {
	z := &zone{rrs: make(map[string][]dns.RR), names: make(map[string]bool)}
	zp := dns.NewZoneParser(strings.NewReader(text), "", file)
	var all []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		all = append(all, rr)
		if soa, isSOA := rr.(*dns.SOA); isSOA && z.soa == nil {
			z.soa = soa
			z.origin = canonical(soa.Hdr.Name)
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	if z.soa == nil {
		return nil, fmt.Errorf("dnstest: %s: %w", file, errNoSOA)
	}
	for _, rr := range all {
		owner := canonical(rr.Header().Name)
		if !dns.IsSubDomain(z.origin, owner) {
			return nil, fmt.Errorf("dnstest: %s: %s is outside zone %s", file, owner, z.origin)
		}
		z.rrs[owner] = append(z.rrs[owner], rr)
		for n := owner; ; {
			z.names[n] = true
			if n == z.origin {
				break
			}
			i := strings.IndexByte(n, '.')
			n = n[i+1:]
		}
	}
	return z, nil
}

// lookup returns the records of type qtype at qname (a wildcard answer
// rewritten to qname, a CNAME followed inside the zone), and whether qname
// exists at all.
func (z *zone) lookup(qname string, qtype uint16) ([]dns.RR, bool) {
	rrs, exists := z.rrs[qname], z.names[qname]
	if !exists {
		rrs = z.wildcard(qname)
		exists = rrs != nil
	}
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype || qtype == dns.TypeANY {
			out = append(out, rr)
		}
	}
	if len(out) == 0 && qtype != dns.TypeCNAME {
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CNAME); ok {
				out = append(out, rr)
				target := canonical(c.Target)
				if dns.IsSubDomain(z.origin, target) && target != qname {
					more, _ := z.lookup(target, qtype)
					out = append(out, more...)
				}
				break
			}
		}
	}
	return out, exists
}

// wildcard returns copies of the records of the nearest "*." owner above
// qname, renamed to qname, or nil. (Closest-encloser subtleties of RFC 4592
// are ignored: tests do not need them.)
func (z *zone) wildcard(qname string) []dns.RR {
	for n := qname; n != z.origin; {
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return nil
		}
		n = n[i+1:]
		if rrs, ok := z.rrs["*."+n]; ok {
			out := make([]dns.RR, len(rrs))
			for j, rr := range rrs {
				c := dns.Copy(rr)
				c.Header().Name = qname
				out[j] = c
			}
			return out
		}
	}
	return nil
}

// negativeSOA returns the SOA to put in the authority section of a negative
// answer, its TTL lowered to the MINIMUM field as RFC 2308 asks.
func (z *zone) negativeSOA() dns.RR {
	soa := dns.Copy(z.soa).(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return soa
}
