package policies

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// validDomain reports whether s is a DNS host name: dot-separated labels of
// ASCII letters, digits and hyphens, each 1–63 long and not starting or
// ending with a hyphen, 253 characters in all. Case is not checked.
// Internationalized names must be written in their xn-- form.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validAddress reports whether s is a mailbox address local@domain with a
// dot-atom local part (UTF-8 allowed, as with SMTPUTF8) and a valid
// domain.
func validAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > 64 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", rune(c)) {
			return false
		}
	}
	return validDomain(domain)
}

// validSymbolName reports whether s is an UPPER_SNAKE symbol name
// (^[A-Z][A-Z0-9_]*$).
func validSymbolName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// hostPortRules say what a host:port value may leave out.
type hostPortRules struct {
	// anyHost allows an empty host (listen on every interface).
	anyHost bool
	// anyPort allows port 0 (a port chosen by the system).
	anyPort bool
}

// checkHostPort returns what is wrong with a "host:port" value, or "".
func checkHostPort(s string, rules hostPortRules) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("want host:port, got %q", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || port[0] == '+' {
		return fmt.Sprintf("port must be a number from 0 to 65535, got %q", port)
	}
	if n == 0 && !rules.anyPort {
		return "port must not be 0"
	}
	switch {
	case host == "":
		if !rules.anyHost {
			return fmt.Sprintf("want host:port, got %q (no host)", s)
		}
	case validDomain(host):
	default:
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Sprintf("%q is neither an IP address nor a host name", host)
		}
	}
	return ""
}

// parseNetwork parses an IP address or CIDR range. A single address is a
// /32 or /128 range; host bits of a range are cleared; IPv4-mapped IPv6
// addresses and ranges become IPv4 ones, as client addresses are unmapped
// before matching.
func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("want an IP address or CIDR range, got %q", s)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("want an IP address or CIDR range, got %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
