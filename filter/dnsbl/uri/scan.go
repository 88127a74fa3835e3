package uri

import (
	"bytes"
	"html"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// schemes are the URL schemes whose host is taken.
var schemes = []string{"http", "https", "ftp"}

// scan finds hosts in text and passes each to add (fromURL reports a URL's
// host, where an IP literal counts) until add returns false. HTML is
// unescaped first, so &#46; and friends do not hide a name.
func scan(text []byte, isHTML bool, add func(host string, fromURL bool) bool) {
	if isHTML && bytes.IndexByte(text, '&') >= 0 {
		text = []byte(html.UnescapeString(string(text)))
	}
	if !scanURLs(text, add) {
		return
	}
	scanBare(text, add)
}

// scanURLs finds scheme://host and passes the hosts on.
func scanURLs(text []byte, add func(string, bool) bool) bool {
	for off := 0; ; {
		i := bytes.Index(text[off:], []byte("://"))
		if i < 0 {
			return true
		}
		at := off + i
		off = at + 3
		// The scheme: letters right before "://".
		s := at
		for s > 0 && isLetter(text[s-1]) {
			s--
		}
		if !isScheme(text[s:at]) {
			continue
		}
		host, end := authorityHost(text[off:])
		off += end
		if host != "" && !add(host, true) {
			return false
		}
	}
}

// isScheme reports whether b is one of schemes, in any case.
func isScheme(b []byte) bool {
	for _, s := range schemes {
		if len(b) == len(s) && strings.EqualFold(string(b), s) {
			return true
		}
	}
	return false
}

// authorityHost returns the host of the authority at the start of b (after
// "scheme://"), percent-decoded, and how many bytes the authority spans.
func authorityHost(b []byte) (string, int) {
	end := 0
	for end < len(b) && end < 512 && !endsAuthority(b[end]) {
		end++
	}
	auth := b[:end]
	if at := bytes.LastIndexByte(auth, '@'); at >= 0 {
		auth = auth[at+1:]
	}
	if len(auth) > 0 && auth[0] == '[' {
		if j := bytes.IndexByte(auth, ']'); j > 0 {
			return string(auth[:j+1]), end
		}
		return "", end
	}
	if c := bytes.IndexByte(auth, ':'); c >= 0 {
		auth = auth[:c]
	}
	return percentDecode(auth), end
}

// endsAuthority reports whether c cannot be part of a URL's authority as
// written in text.
func endsAuthority(c byte) bool {
	switch c {
	case '/', '?', '#', '\\', '"', '\'', '<', '>', '(', ')', '{', '}', '|', '^', '`', ',', ';', '*':
		return true
	}
	return c <= ' ' || c == 0x7f
}

// percentDecode undoes %XX escapes; a malformed escape is kept as written.
func percentDecode(b []byte) string {
	if bytes.IndexByte(b, '%') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

// scanBare finds host names written without a scheme: maximal runs of
// ASCII letters, digits, dots and hyphens holding a dot. A run next to '@'
// is an email address, and one right after a letter of a script written
// with spaces between words is the end of a longer word (the "cher.com" of
// "bücher.com"): both are skipped.
func scanBare(text []byte, add func(string, bool) bool) {
	for i := 0; i < len(text); {
		if !isHostByte(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isHostByte(text[j]) {
			j++
		}
		run := text[i:j]
		email := (i > 0 && text[i-1] == '@') || (j < len(text) && text[j] == '@')
		tail := wordTail(text[:i])
		i = j
		if email || tail || len(run) > 253 {
			continue
		}
		run = bytes.Trim(run, ".-")
		if bytes.IndexByte(run, '.') < 0 || allDigitsDots(run) {
			continue
		}
		if !add(string(run), false) {
			return
		}
	}
}

// wordTail reports whether before ends with a letter of a script written
// with spaces between words, so that what follows continues that word.
func wordTail(before []byte) bool {
	if len(before) == 0 || before[len(before)-1] < utf8.RuneSelf {
		return false
	}
	r, _ := utf8.DecodeLastRune(before)
	return unicode.IsLetter(r) && !unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Thai)
}

// ipLiteral returns the address of an IP literal host ("192.0.2.1",
// "[2001:db8::1]").
func ipLiteral(host string) (netip.Addr, bool) {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	a, err := netip.ParseAddr(h)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// RegisteredDomain returns the registered domain of a host name (its public
// suffix and one label more: example.co.uk for www.example.co.uk,
// user.github.io for x.user.github.io), in lower-case ASCII. It is false for
// names that are not host names, IP addresses, public suffixes themselves,
// and names under a top-level domain the list does not know.
func RegisteredDomain(host string) (string, bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || len(host) > 253 {
		return "", false
	}
	if !isASCII(host) {
		a, err := toASCII(host)
		if err != nil {
			return "", false
		}
		host = a
	}
	if !validHost(host) {
		return "", false
	}
	suffix, icann := publicsuffix.PublicSuffix(host)
	if !icann && !strings.Contains(suffix, ".") {
		// Only the list's default rule matched: an unknown TLD.
		return "", false
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return "", false
	}
	return d, true
}

// validHost reports whether host is dot-separated labels of letters, digits,
// hyphens and underscores, with a TLD that is not all digits.
func validHost(host string) bool {
	if len(host) > 253 {
		return false
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isHostByte(l[i]) && l[i] != '_' {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isHostByte(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '.' || c == '-'
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return (c | 0x20) - 'a' + 10
}

func allDigitsDots(b []byte) bool {
	for _, c := range b {
		if c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
