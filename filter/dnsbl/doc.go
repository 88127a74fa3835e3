// Package dnsbl holds moat's DNS-based checks of the client and of the links
// in a message:
//
//   - IPCheck ("dnsbl", connect stage): the client IP address in DNS block
//     lists and allow lists (DNSBL, DNSWL), IPv4 and IPv6, all zones in
//     parallel under one deadline.
//   - URICheck ("uribl", data stage): the registered domains of the URLs and
//     host names in a message's text and HTML parts (see package uri) in URI
//     block lists (SURBL, URIBL, Spamhaus DBL style).
//   - FCrDNSCheck ("fcrdns", connect stage): the client's reverse DNS and its
//     forward confirmation, and reverse names that look generic or dynamic.
//   - HeloCheck ("helo", helo stage): HELO/EHLO names that are not a fully
//     qualified domain name, bare IP addresses, names or addresses that claim
//     to be this server, and names that do not resolve.
//
// Each list (Zone) has a symbol and a score, and scores per return code:
// an exact address, a CIDR range, or a bitmask of the last octet for lists
// that encode several sources there. Lists are watched: the RFC 5782 test
// points are queried at start and periodically (127.0.0.2 must be listed and
// 127.0.0.1 not, or TEST and INVALID for domain lists), and a zone that
// fails them, or that answers in 127.255.255.0/24 (the codes lists use to
// say "you are blocked" or "use a non-public resolver"), is disabled, logged
// and never scores until a self-test passes again. Health exposes the state
// for metrics.
//
// A list's access key (Spamhaus DQS style, queries under <key>.<zone>) is
// only ever put in query names: it never appears in a symbol, a reason, an
// error or a log line.
//
// Like every check these only emit symbols; policy decides. A zone marked
// Reject names its symbols in RejectSymbols so the policy can force a
// rejection when they fire.
package dnsbl
