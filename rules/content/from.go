package content

import (
	"strings"
)

// FromNameSpoof reports whether the From field's display name holds an
// address other than the field's real address, as in
// `"support@bank.example" <x@elsewhere.example>`. It reads the first From
// field of the decoded header; a display name holding the real address
// itself is not a spoof.
func (m *Message) FromNameSpoof() bool {
	var from string
	for _, f := range m.Header {
		if strings.EqualFold(f.Name, "From") {
			from = f.Value
			break
		}
	}
	name, addr := splitFrom(from)
	if addr == "" || name == "" {
		return false
	}
	for _, a := range addressesIn(name) {
		if !strings.EqualFold(a, addr) {
			return true
		}
	}
	return false
}

// splitFrom splits `Name <addr>` into its display name and address. A value
// without angle brackets is a bare address (or `addr (comment)`) and has no
// display name.
func splitFrom(v string) (name, addr string) {
	lt := strings.LastIndexByte(v, '<')
	if lt < 0 {
		return "", ""
	}
	gt := strings.IndexByte(v[lt:], '>')
	if gt < 0 {
		return "", ""
	}
	addr = strings.TrimSpace(v[lt+1 : lt+gt])
	name = strings.TrimSpace(v[:lt])
	return name, addr
}

// addressesIn returns the things in s shaped like mail addresses:
// local@domain.tld with a dot in the domain.
func addressesIn(s string) []string {
	var out []string
	for {
		at := strings.IndexByte(s, '@')
		if at < 0 {
			return out
		}
		start := at
		for start > 0 && addrChar(s[start-1]) {
			start--
		}
		end := at + 1
		for end < len(s) && (addrChar(s[end]) && s[end] != '+') {
			end++
		}
		domain := strings.TrimRight(s[at+1:end], ".-")
		if start < at && strings.Contains(domain, ".") {
			out = append(out, s[start:at+1]+domain)
		}
		s = s[at+1:]
	}
}

// addrChar reports bytes of a (simplified) address: letters, digits and
// . _ - + (no quotes, no white space).
func addrChar(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '+'
}
