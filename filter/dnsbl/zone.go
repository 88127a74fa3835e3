package dnsbl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ListKind says what a list is indexed by.
type ListKind int

// The kinds of list.
const (
	// IPList is indexed by client IP address (DNSBL, DNSWL).
	IPList ListKind = iota
	// URIList is indexed by domain name (SURBL, URIBL, DBL).
	URIList
)

// String returns "ip" or "uri", for logs and metric labels.
func (k ListKind) String() string {
	if k == URIList {
		return "uri"
	}
	return "ip"
}

// Symbol name markers: an IP list's symbols contain DNSBL (block list) or
// DNSWL (allow list); a URI list's contain URIBL.
const (
	MarkBlock = "DNSBL"
	MarkAllow = "DNSWL"
	MarkURI   = "URIBL"
)

// Zone configures one DNS list.
type Zone struct {
	// Zone is the list's DNS suffix, such as "zen.spamhaus.org".
	Zone string
	// Key is an access key for lists that put it in the query name
	// (Spamhaus DQS: <item>.<key>.zen.dq.spamhaus.net). Empty for none. It
	// never appears in a symbol, a reason, an error or a log line.
	Key string
	// Symbol is emitted, with Score, for a listing whose return codes match
	// none of Returns. It must contain DNSBL or DNSWL (IP lists), or URIBL
	// (URI lists).
	Symbol string
	// Score is Symbol's score. Allow lists (DNSWL) score zero or less;
	// block lists zero or more.
	Score float64
	// Returns score specific return codes, each with its own symbol. A
	// listing emits the symbol of every entry one of its answers matches.
	Returns []Return
	// Reject asks for a hard block: every symbol of the zone is listed by
	// RejectSymbols, for the policy to force a rejection. Not for allow
	// lists.
	Reject bool
	// IPv4Only skips the list for IPv6 clients (IP lists that do not
	// publish IPv6 data).
	IPv4Only bool
	// QueryIPs (URI lists) also looks up the IP addresses of URLs written
	// with an IP literal, reversed as in a DNSBL. SURBL supports it;
	// Spamhaus DBL does not (it answers 127.0.1.255).
	QueryIPs bool
	// NoSelfTest skips the RFC 5782 self-test, for lists that do not
	// publish the test points. Such a zone is still disabled when it
	// answers in 127.255.255.0/24, until the next self-test round.
	NoSelfTest bool
	// TestListed and TestUnlisted override the self-test points: an IP
	// address for IP lists (default 127.0.0.2 and 127.0.0.1), a domain for
	// URI lists (default "test" and "invalid", RFC 5782 section 5).
	TestListed, TestUnlisted string
}

// Return scores one return code, or a family of codes. Exactly one of
// Address, Prefix and Bitmask is set.
type Return struct {
	// Address matches one answer exactly, such as 127.0.0.2.
	Address netip.Addr
	// Prefix matches a range of answers, such as 127.0.0.4/30.
	Prefix netip.Prefix
	// Bitmask matches an answer whose last octet has any of these bits
	// set, for lists that encode several sources in one answer (SURBL
	// multi: 8 phishing, 16 malware, 64 abuse, 128 cracked).
	Bitmask uint8
	// Symbol is emitted when the entry matches; the zone's Symbol when "".
	Symbol string
	// Score is the symbol's score.
	Score float64
}

// loopback8 holds every valid DNS list answer (RFC 5782 section 2.3).
var loopback8 = netip.MustParsePrefix("127.0.0.0/8")

// refusedNet holds the answers lists use to refuse a query: blocked,
// public resolver, over quota, bad key (127.255.255.0/24).
var refusedNet = netip.MustParsePrefix("127.255.255.0/24")

// matches reports whether answer a matches r.
func (r Return) matches(a netip.Addr) bool {
	switch {
	case r.Address.IsValid():
		return a == r.Address
	case r.Prefix.IsValid():
		return r.Prefix.Contains(a)
	case r.Bitmask != 0:
		return a.Is4() && a.As4()[3]&r.Bitmask != 0
	}
	return false
}

// String describes the entry's match, for error messages.
func (r Return) String() string {
	switch {
	case r.Address.IsValid():
		return r.Address.String()
	case r.Prefix.IsValid():
		return r.Prefix.String()
	}
	return fmt.Sprintf("bitmask %d", r.Bitmask)
}

// FieldError is one problem with one field of a Zone.
type FieldError struct {
	// Field names the field in the YAML spelling a configuration file would
	// use: "zone", "key", "symbol", "score", "reject", "query_ips",
	// "returns[1]", "returns[1].address", "returns[1].cidr",
	// "returns[1].symbol", "returns[1].score", "test_listed",
	// "test_unlisted".
	Field string
	// Message says what is wrong. It never repeats the key.
	Message string
}

// Error returns "field: message".
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate reports every problem with z as a list of kind k: nil when z is
// usable, else the *FieldError of each problem joined with errors.Join
// (unwrap with errors.As, or the Unwrap() []error method of the result).
func (z Zone) Validate(k ListKind) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if !validDomain(z.Zone) {
		bad("zone", "want a DNS name such as zen.spamhaus.org, got %q", z.Zone)
	}
	if z.Key != "" && !validKey(z.Key) {
		// Never echo the key.
		bad("key", "want letters, digits and hyphens only (at most 63)")
	}
	allow := strings.Contains(z.Symbol, MarkAllow)
	if msg := checkSymbol(z.Symbol, k, allow); msg != "" {
		bad("symbol", "%s", msg)
	}
	checkScore := func(field string, s float64) {
		switch {
		case allow && s > 0:
			bad(field, "an allow list (%s) scores zero or less, got %g", MarkAllow, s)
		case !allow && s < 0:
			bad(field, "a block list scores zero or more, got %g (allow lists have %s in the symbol)", s, MarkAllow)
		}
	}
	checkScore("score", z.Score)
	if k == IPList && z.QueryIPs {
		bad("query_ips", "only for URI lists")
	}
	if allow && z.Reject {
		bad("reject", "an allow list cannot reject")
	}
	for i, r := range z.Returns {
		f := fmt.Sprintf("returns[%d]", i)
		n := 0
		if r.Address.IsValid() {
			n++
			if !r.Address.Is4() || !loopback8.Contains(r.Address) {
				bad(f+".address", "want an address in 127.0.0.0/8, got %s", r.Address)
			}
		}
		if r.Prefix.IsValid() {
			n++
			if !r.Prefix.Addr().Is4() || !loopback8.Contains(r.Prefix.Addr()) || r.Prefix.Bits() < 8 {
				bad(f+".cidr", "want a range inside 127.0.0.0/8, got %s", r.Prefix)
			} else if r.Prefix.Masked() != r.Prefix {
				bad(f+".cidr", "%s has host bits set (want %s)", r.Prefix, r.Prefix.Masked())
			}
		}
		if r.Bitmask != 0 {
			n++
		}
		if n != 1 {
			bad(f, "want exactly one of address, cidr and bitmask")
		}
		if r.Symbol != "" {
			if msg := checkSymbol(r.Symbol, k, allow); msg != "" {
				bad(f+".symbol", "%s", msg)
			}
		}
		checkScore(f+".score", r.Score)
	}
	for _, tp := range []struct{ field, v string }{{"test_listed", z.TestListed}, {"test_unlisted", z.TestUnlisted}} {
		switch {
		case tp.v == "":
		case k == IPList:
			if _, err := netip.ParseAddr(tp.v); err != nil {
				bad(tp.field, "want an IP address, got %q", tp.v)
			}
		case !validDomain(tp.v) && !validLabel(tp.v):
			bad(tp.field, "want a domain name, got %q", tp.v)
		}
	}
	return errors.Join(errs...)
}

// checkSymbol returns what is wrong with a symbol name, or "".
func checkSymbol(s string, k ListKind, allow bool) string {
	if s == "" {
		return "must be set"
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return fmt.Sprintf("want UPPER_SNAKE letters, digits and underscores, got %q", s)
		}
	}
	switch {
	case k == URIList && !strings.Contains(s, MarkURI):
		return fmt.Sprintf("a URI list symbol must contain %s, got %q", MarkURI, s)
	case k == IPList && allow && !strings.Contains(s, MarkAllow):
		return fmt.Sprintf("the zone is an allow list (%s in its symbol): every symbol must contain %s, got %q", MarkAllow, MarkAllow, s)
	case k == IPList && !allow && !strings.Contains(s, MarkBlock):
		return fmt.Sprintf("an IP list symbol must contain %s or %s, got %q", MarkBlock, MarkAllow, s)
	}
	return ""
}

// validDomain reports whether s is a host name of at least two LDH labels.
func validDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

// validLabel reports whether s is one LDH label.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < 'a' || c > 'z') && (s[i] < '0' || s[i] > '9') && s[i] != '-' {
			return false
		}
	}
	return true
}

// validKey reports whether s can be put in a query name as one label.
func validKey(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < 'a' || c > 'z') && (s[i] < '0' || s[i] > '9') && s[i] != '-' {
			return false
		}
	}
	return true
}
