package dnsbl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// dynamicWords are words that, as a whole token of a reverse name's host
// part, mark an address handed out to an access network rather than a mail
// server's.
var dynamicWords = map[string]bool{
	"adsl": true, "broadband": true, "cable": true, "client": true, "clients": true,
	"cpe": true, "cust": true, "customer": true, "customers": true, "dhcp": true,
	"dial": true, "dialin": true, "dialup": true, "dip": true, "dsl": true,
	"dyn": true, "dynamic": true, "dynip": true, "ftth": true, "fttx": true,
	"pool": true, "pools": true, "ppp": true, "pppoe": true, "resident": true,
	"residential": true, "unassigned": true, "vdsl": true, "xdsl": true,
}

// genericPTR reports whether name, a reverse DNS name of ip, looks generic
// (made up by the network from the address) or dynamic, and why. Only the
// labels left of the registered domain are examined, so an operator's own
// name never counts against it.
func genericPTR(name string, ip netip.Addr) (string, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	host := name
	if reg, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		host = strings.TrimSuffix(strings.TrimSuffix(name, reg), ".")
	}
	if host == "" {
		return "", false
	}
	tokens := tokenize(host)
	for _, tok := range tokens {
		if dynamicWords[tok] {
			return fmt.Sprintf("%q names a dynamic or access network", tok), true
		}
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return "", false
	}
	o := ip.As4()
	// Three octets in a row, in either order: 192-0-2-10, 10.2.0.192, ip-0-2-10.
	for i := 0; i+3 <= len(tokens); i++ {
		var n [3]int
		ok := true
		for j := range 3 {
			v, err := strconv.Atoi(tokens[i+j])
			if err != nil || len(tokens[i+j]) > 3 {
				ok = false
				break
			}
			n[j] = v
		}
		if !ok {
			continue
		}
		fwd := n == [3]int{int(o[1]), int(o[2]), int(o[3])} || n == [3]int{int(o[0]), int(o[1]), int(o[2])}
		rev := n == [3]int{int(o[3]), int(o[2]), int(o[1])} || n == [3]int{int(o[2]), int(o[1]), int(o[0])}
		if fwd || rev {
			return "it embeds the client address", true
		}
	}
	// The whole address run together: 192000002010 or c000020a.
	padded := fmt.Sprintf("%03d%03d%03d%03d", o[0], o[1], o[2], o[3])
	hex := fmt.Sprintf("%02x%02x%02x%02x", o[0], o[1], o[2], o[3])
	for label := range strings.SplitSeq(host, ".") {
		if strings.Contains(label, padded) || strings.Contains(label, hex) {
			return "it embeds the client address", true
		}
	}
	return "", false
}

// tokenize splits s into runs of letters and runs of digits; everything else
// separates tokens.
func tokenize(s string) []string {
	var out []string
	start := -1
	kind := 0 // 1 letters, 2 digits
	flush := func(i int) {
		if start >= 0 {
			out = append(out, s[start:i])
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		k := 0
		switch {
		case c >= 'a' && c <= 'z':
			k = 1
		case c >= '0' && c <= '9':
			k = 2
		}
		if k != kind {
			flush(i)
			if k != 0 {
				start = i
			}
			kind = k
		}
	}
	flush(len(s))
	return out
}
