package content

import (
	"bytes"
	"strings"
)

// maxURILen bounds one URI; longer ones are cut.
const maxURILen = 2048

// linkURI returns the URI of an HTML link target, normalized (see normURI),
// or "" when it is not a web, FTP or mail link (relative links, anchors,
// cid: and javascript: targets are dropped).
func linkURI(v string) string {
	v = strings.TrimSpace(v)
	lower := strings.ToLower(v[:min(len(v), 10)])
	switch {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"),
		strings.HasPrefix(lower, "ftp://"), strings.HasPrefix(lower, "mailto:"):
	case strings.HasPrefix(lower, "www."):
		v = "http://" + v
	default:
		return ""
	}
	return normURI(v)
}

// normURI cuts u at maxURILen, removes white space inside it (a link split
// over lines) and lower-cases its scheme and host (for mailto:, the whole
// address), so rules can match "http://host" without caring about case.
func normURI(u string) string {
	if len(u) > maxURILen {
		u = u[:maxURILen]
	}
	if strings.ContainsAny(u, " \t\r\n") {
		u = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, u)
	}
	end := len(u)
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexAny(u[i+3:], "/?#"); j >= 0 {
			end = i + 3 + j
		}
	} else if i := strings.IndexByte(u, '?'); i >= 0 { // mailto:addr?subject=…
		end = i
	}
	if hasUpper(u[:end]) {
		u = strings.ToLower(u[:end]) + u[end:]
	}
	return u
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// plainURIs finds the URIs written out in text: "scheme://…" for http,
// https and ftp, and "www.…" (recorded as "http://www.…").
func (p *parser) plainURIs(text []byte) {
	f := uriFinder{text: text, next: [3]int{-2, -2, -2}}
	for pos := 0; pos < len(text); {
		start := f.index(pos)
		if start < 0 {
			return
		}
		// The scheme, if any, is the run of letters before "://".
		if bytes.HasPrefix(text[start:], []byte("://")) {
			s := start
			for s > 0 && isLetter(text[s-1]) {
				s--
			}
			scheme := strings.ToLower(string(text[s:start]))
			pos = start + 3
			if scheme != "http" && scheme != "https" && scheme != "ftp" {
				continue
			}
			if s > 0 && isWordChar(text[s-1]) {
				continue
			}
			start = s
		} else if start > 0 && (isWordChar(text[start-1]) || text[start-1] == '/' || text[start-1] == '.') {
			pos = start + 4 // "www." inside a word or after "//": seen with its scheme
			continue
		}
		end := start
		for end < len(text) && end-start < maxURILen && uriChar(text[end]) {
			end++
		}
		pos = max(end, start+4)
		u := strings.TrimRight(string(text[start:end]), ".,;:!?)]}'\"")
		if len(u) < len("www.x.y") {
			continue
		}
		if strings.HasPrefix(strings.ToLower(u), "www.") {
			u = "http://" + u
		}
		p.addURI(normURI(u))
	}
}

// uriPatterns are what starts a URI in text.
var uriPatterns = [3]string{"://", "www.", "WWW."}

// uriFinder finds the next URI start in text. It remembers where each
// pattern next occurs, so scanning a whole text costs one pass per pattern
// however many URIs it holds.
type uriFinder struct {
	text []byte
	next [3]int // next occurrence of each pattern; -1 none left, -2 unknown
}

// index returns the first occurrence at or after pos of any pattern, or -1.
func (f *uriFinder) index(pos int) int {
	best := -1
	for k, pat := range uriPatterns {
		if f.next[k] == -1 {
			continue
		}
		if f.next[k] < pos {
			i := bytes.Index(f.text[pos:], []byte(pat))
			if i < 0 {
				f.next[k] = -1
				continue
			}
			f.next[k] = pos + i
		}
		if best < 0 || f.next[k] < best {
			best = f.next[k]
		}
	}
	return best
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isWordChar(c byte) bool { return isLetter(c) || c >= '0' && c <= '9' || c == '_' || c == '-' }

// uriChar reports bytes that may appear in a URI written in text.
func uriChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '<', '>', '"', '\'', '`', '{', '}', '|', '\\', '^', '(', ')', '[', ']':
		return false
	}
	return true
}
