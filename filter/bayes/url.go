package bayes

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// maxURLLen bounds how much of one URL is read.
const maxURLLen = 2048

// urlEnd reports whether c ends a URL in running text.
func urlEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '"', '\'', '<', '>', '(', ')', '[', ']', '{', '}', '|', '\\', '^', '`':
		return true
	}
	return c < ' ' || c == 0x7f
}

// url reads the URL whose authority starts at b[i] (after "scheme://", or
// at "www." when scheme is empty), adds its tokens and returns the index
// after it.
func (z *tz) url(_ prefix, scheme string, b []byte, i int) int {
	end := i
	for end < len(b) && end-i < maxURLLen && !urlEnd(b[end]) {
		end++
	}
	for end > i && strings.IndexByte(".,;:!?", b[end-1]) >= 0 { // sentence punctuation
		end--
	}
	z.urlTokens(scheme, b[i:end])
	return end
}

// urlTokens adds the tokens of one URL given without its "scheme://":
// the scheme, the host, its registered domain, and up to eight words of
// the path and query.
func (z *tz) urlTokens(scheme string, rest []byte) {
	z.breakRing()
	if z.urls >= z.o.MaxURLs {
		return
	}
	z.urls++
	if scheme != "" {
		z.addString(pProto, scheme)
	}
	auth := rest
	if k := bytes.IndexAny(auth, "/?#"); k >= 0 {
		auth, rest = auth[:k], auth[k:]
	} else {
		rest = nil
	}
	if k := bytes.LastIndexByte(auth, '@'); k >= 0 {
		z.addString(pURL, "userinfo")
		auth = auth[k+1:]
	}
	host := strings.ToLower(string(auth))
	if strings.HasPrefix(host, "[") { // IPv6 literal
		if k := strings.IndexByte(host, ']'); k > 0 {
			host = host[1:k]
		}
	} else if k := strings.LastIndexByte(host, ':'); k >= 0 {
		host = host[:k]
	}
	host = strings.TrimSuffix(host, ".")
	z.hostTokens(pURL, pURLDom, host)
	n := 0
	for len(rest) > 0 && n < 8 {
		j := 0
		for j < len(rest) && !isAlnum(rest[j]) {
			j++
		}
		k := j
		for k < len(rest) && isAlnum(rest[k]) {
			k++
		}
		if k-j >= 2 && k-j <= z.o.MaxWordLen {
			z.add(pURLPart, foldNumbers(lowerASCII(rest[j:k], &z.word), &z.word2))
			n++
		}
		rest = rest[k:]
	}
}

// hostTokens adds a host name under p, and its registered domain under
// pd; an IP address adds "ip" and its /16 instead.
func (z *tz) hostTokens(p, pd prefix, host string) {
	if host == "" {
		return
	}
	if a, err := netip.ParseAddr(host); err == nil {
		z.addString(p, "ip")
		if a.Is4() {
			v := a.As4()
			z.addString(p, "ip:"+strconv.Itoa(int(v[0]))+"."+strconv.Itoa(int(v[1])))
		}
		return
	}
	if len(host) > 253 || strings.IndexByte(host, '.') < 0 {
		z.addString(p, "bad")
		return
	}
	z.addString(p, foldHost(host))
	if reg, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil && reg != host {
		z.addString(pd, reg)
	}
}

// foldHost folds the digit runs of a host name, so that per-message host
// names (a3719.example.com) share a token.
func foldHost(h string) string {
	for i := 0; i < len(h); i++ {
		if h[i] >= '0' && h[i] <= '9' {
			var s []byte
			return string(foldNumbers([]byte(h), &s))
		}
	}
	return h
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// lowerASCII lower-cases b into *scratch.
func lowerASCII(b []byte, scratch *[]byte) []byte {
	out := (*scratch)[:0]
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	*scratch = out
	return out
}
