// Package dnsx is moat's one DNS resolver. Every lookup a check makes (DNS
// lists, reverse DNS, HELO names, SPF, DKIM, DMARC, MX) goes through a
// Resolver, which asks the configured servers directly with
// github.com/miekg/dns: UDP with EDNS0, TCP when an answer comes back
// truncated, a timeout per attempt and retries across servers. The servers
// are dns.servers from moat.yaml, or the nameservers of /etc/resolv.conf.
//
// Answers are kept in a bounded cache for their TTL, and NXDOMAIN and NODATA
// answers for the negative TTL of the zone's SOA record (RFC 2308).
// Identical lookups that overlap in time are sent to the servers once and
// share the answer.
//
// Go's own resolver (net.DefaultResolver) is never used. The lookup methods
// have the shapes of net.Resolver's, so a library that accepts a resolver
// (blitiri.com.ar/go/spf's WithResolver) or a TXT lookup function
// (go-msgauth's dkim and dmarc) can be handed this one. Every error a lookup
// returns is a *net.DNSError, which those libraries classify (IsNotFound for
// NXDOMAIN and NODATA, IsTimeout, IsTemporary), and which unwraps to one of
// this package's sentinel errors, so NXDOMAIN, NODATA, SERVFAIL and timeouts
// stay distinguishable with errors.Is.
//
// This package and its dnstest helper are the only importers of miekg/dns.
package dnsx
