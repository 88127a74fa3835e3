package msgauth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// blitiri's spf interprets a record term by term and stops at the first
// match, so a syntax error after the match (or a malformed target name it
// can still look up) goes unnoticed, where RFC 7208 section 4.6 says the
// whole record must be valid or the result is permerror. spfRecordSyntax
// checks a record against the grammar of RFC 7208 section 12, so the spf
// check can turn such results into permerror. It checks the record of the
// domain itself; records reached through include: or redirect= are only
// checked as far as the library checks them.

// errSPFSyntax wraps every syntax error of an SPF record.
var errSPFSyntax = errors.New("SPF record syntax error")

// spfRecordSyntax returns nil when rec is a valid SPF record, else an error
// naming the first bad term.
func spfRecordSyntax(rec string) error {
	for i := 0; i < len(rec); i++ {
		if c := rec[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: byte 0x%02x is not printable ASCII", errSPFSyntax, c)
		}
	}
	if len(rec) < 6 || !strings.EqualFold(rec[:6], "v=spf1") || len(rec) > 6 && rec[6] != ' ' {
		return fmt.Errorf("%w: no v=spf1 version", errSPFSyntax)
	}
	seen := map[string]bool{}
	for term := range strings.SplitSeq(rec[6:], " ") {
		if term == "" {
			continue // 1*SP between terms, and trailing spaces
		}
		if err := spfTerm(term, seen); err != nil {
			return fmt.Errorf("%w: term %q: %w", errSPFSyntax, term, err)
		}
	}
	return nil
}

// spfTerm checks one directive or modifier. seen counts the redirect and
// exp modifiers, which may each appear once.
func spfTerm(term string, seen map[string]bool) error {
	if name, value, ok := modifier(term); ok {
		lname := strings.ToLower(name)
		switch lname {
		case "redirect", "exp":
			if seen[lname] {
				return errors.New("repeated modifier")
			}
			seen[lname] = true
			return domainSpec(value)
		}
		_, err := macroString(value, false)
		return err
	}
	if strings.IndexByte("+-?~", term[0]) >= 0 {
		term = term[1:]
	}
	name, arg, hasArg := strings.Cut(term, ":")
	switch lname := strings.ToLower(name); {
	case lname == "all" && !hasArg:
		return nil
	case (lname == "include" || lname == "exists") && hasArg:
		return domainSpec(arg)
	case lname == "ptr":
		if !hasArg {
			return nil
		}
		return domainSpec(arg)
	case (lname == "ip4" || lname == "ip6") && hasArg:
		return ipNetwork(lname, arg)
	}
	// a and mx: [":" domain-spec] [dual-cidr-length]; without ":" the
	// name may carry the CIDR lengths directly ("a/24", "mx//64").
	lower := strings.ToLower(term)
	for _, mech := range []string{"a", "mx"} {
		if !strings.HasPrefix(lower, mech) {
			continue
		}
		rest := term[len(mech):]
		spec, cidr := splitDualCIDR(rest)
		if err := dualCIDR(cidr); err != nil {
			return err
		}
		switch {
		case spec == "":
			return nil
		case spec[0] == ':':
			return domainSpec(spec[1:])
		}
	}
	return errors.New("unknown mechanism")
}

// modifier splits a modifier term: name "=" value, the name being ALPHA
// *( ALPHA / DIGIT / "-" / "_" / "." ).
func modifier(term string) (name, value string, ok bool) {
	eq := strings.IndexByte(term, '=')
	if eq <= 0 || !isAlpha(term[0]) {
		return "", "", false
	}
	for i := 1; i < eq; i++ {
		c := term[i]
		if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return "", "", false
		}
	}
	return term[:eq], term[eq+1:], true
}

// splitDualCIDR splits "spec/24//64" into the spec and the CIDR part
// ("/24//64", "/24", "//64" or "").
func splitDualCIDR(s string) (spec, cidr string) {
	end := len(s)
	if i := strings.LastIndex(s, "//"); i >= 0 && allDigits(s[i+2:]) {
		end = i
	}
	if i := strings.LastIndexByte(s[:end], '/'); i >= 0 && allDigits(s[i+1:end]) {
		end = i
	}
	return s[:end], s[end:]
}

// dualCIDR checks [ ip4-cidr-length ] [ "/" ip6-cidr-length ].
func dualCIDR(c string) error {
	if c == "" {
		return nil
	}
	v4, v6, _ := strings.Cut(c, "//")
	if v4 != "" {
		if err := cidrLength(v4, 32); err != nil {
			return err
		}
	}
	if strings.Contains(c, "//") {
		return cidrLength("/"+v6, 128)
	}
	return nil
}

// cidrLength checks "/" ("0" / %x31-39 *DIGIT) up to max, no leading zero.
func cidrLength(s string, max int) error {
	if len(s) < 2 || s[0] != '/' || !allDigits(s[1:]) || len(s) > 2 && s[1] == '0' {
		return errors.New("bad CIDR length")
	}
	n := 0
	for _, c := range s[1:] {
		n = n*10 + int(c-'0')
		if n > max {
			return errors.New("CIDR length out of range")
		}
	}
	return nil
}

// ipNetwork checks ip4:network[/len] and ip6:network[/len].
func ipNetwork(mech, arg string) error {
	addr, length, hasLen := strings.Cut(arg, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" || (mech == "ip4") != a.Is4() {
		return errors.New("bad " + mech + " network")
	}
	if !hasLen {
		return nil
	}
	if mech == "ip4" {
		return cidrLength("/"+length, 32)
	}
	return cidrLength("/"+length, 128)
}

// domainSpec checks macro-string domain-end, where domain-end is "."
// toplabel ["."] or a macro-expand.
func domainSpec(s string) error {
	if s == "" {
		return errors.New("empty domain")
	}
	macroEnd, err := macroString(s, true)
	if err != nil || macroEnd {
		return err
	}
	t := strings.TrimSuffix(s, ".")
	dot := strings.LastIndexByte(t, '.')
	if dot < 0 || !toplabel(t[dot+1:]) {
		return errors.New("domain does not end in a valid top label")
	}
	return nil
}

// macroString checks *( macro-expand / macro-literal ), and reports
// whether s ends with a macro-expand. In a domain-spec the letters c, r and
// t, allowed only in explanation text, are errors.
func macroString(s string, domain bool) (macroEnd bool, err error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		macroEnd = c == '%'
		if c != '%' {
			if c < 0x21 || c > 0x7e {
				return false, errors.New("bad character")
			}
			continue
		}
		if i+1 >= len(s) {
			return false, errors.New("lone %")
		}
		switch s[i+1] {
		case '%', '_', '-':
			i++
			continue
		case '{':
		default:
			return false, errors.New("bad macro")
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return false, errors.New("unterminated macro")
		}
		if err := macroBody(s[i+2:i+end], domain); err != nil {
			return false, err
		}
		i += end
	}
	return macroEnd, nil
}

// macroBody checks macro-letter transformers *delimiter.
func macroBody(b string, domain bool) error {
	if b == "" {
		return errors.New("empty macro")
	}
	letter := b[0] | 0x20
	switch {
	case strings.IndexByte("slodiphv", letter) >= 0:
	case strings.IndexByte("crt", letter) >= 0 && !domain:
	default:
		return fmt.Errorf("macro letter %q not allowed here", b[0])
	}
	i := 1
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i < len(b) && b[i]|0x20 == 'r' {
		i++
	}
	for ; i < len(b); i++ {
		if strings.IndexByte(".-+,/_=", b[i]) < 0 {
			return fmt.Errorf("bad macro delimiter %q", b[i])
		}
	}
	return nil
}

// toplabel checks ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *(
// alphanum / "-" ) alphanum ): letters, digits and inner hyphens, not all
// digits unless it has a hyphen.
func toplabel(l string) bool {
	if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	alpha := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case isAlpha(c), c == '-':
			alpha = true
		case isDigit(c):
		default:
			return false
		}
	}
	return alpha
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
