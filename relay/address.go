package relay

import (
	"strings"
)

// splitRecipient checks a RCPT TO address and splits it into a local part
// and a lower-cased domain. It accepts only the plain form local@domain with
// a dot-atom local part, because every other form is a way to make a server
// relay somewhere it should not:
//
//	user%other@dom     the "percent hack" (user@other via dom)
//	@a:user@b          a source route
//	"user@other"@dom   a quoted local part hiding an address
//	user@other@dom     two at-signs
//	user!other@dom     a UUCP bang path
//
// ok is false for any of these, for an empty part, and for a domain that is
// not a plain host name (address literals such as [127.0.0.1] included).
func splitRecipient(addr string) (local, domain string, ok bool) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", false
	}
	local, domain = addr[:at], addr[at+1:]
	if !isDotAtom(local) || !isHostname(domain) {
		return "", "", false
	}
	return local, strings.ToLower(strings.TrimSuffix(domain, ".")), true
}

// isDotAtom reports whether s is an RFC 5322 dot-atom made of atext, minus
// the characters that route mail ('%' and '!'). UTF-8 (SMTPUTF8) is allowed.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		case strings.IndexByte("!#$&'*+-/=?^_`{|}~.", c) >= 0:
			if c == '!' {
				return false
			}
		default: // '%', '@', '"', ':', space, controls, ...
			return false
		}
	}
	return true
}

// isHostname reports whether s looks like a DNS host name (letters, digits,
// hyphens, dots; UTF-8 labels allowed for SMTPUTF8), optionally with a
// trailing dot.
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80) {
				return false
			}
		}
	}
	return true
}

// validSender reports whether a MAIL FROM address is acceptable: the null
// sender, or local@domain with no control characters or spaces. Senders are
// not routed anywhere, so they are checked less strictly than recipients.
func validSender(addr string) bool {
	if addr == "" {
		return true
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return false
	}
	for i := 0; i < len(addr); i++ {
		if addr[i] < 0x21 || addr[i] == 0x7f {
			return false
		}
	}
	return true
}
