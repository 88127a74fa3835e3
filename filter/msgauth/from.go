package msgauth

import (
	"io"
	"mime"
	"net/mail"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/moatmail/moat/filter"
)

// newAddressParser returns a parser for From fields. Encoded words in
// display names are decoded whatever their charset (an unknown charset is
// passed through), so a display name never makes the address unparsable.
func newAddressParser() *mail.AddressParser {
	return &mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
}

// authorDomain returns the domain of the message's single From address
// (RFC 5322.From, the DMARC author domain), lower case without a trailing
// dot. problem, when not "", says why there is no such domain: no From
// field, several From fields or addresses, or one that cannot be parsed.
func authorDomain(h *filter.Header) (domain, problem string) {
	froms := h.Values("From")
	switch len(froms) {
	case 0:
		return "", "no From field"
	case 1:
	default:
		return "", "several From fields"
	}
	v := froms[0]
	addrs, err := newAddressParser().ParseList(v)
	if err != nil {
		// Lenient fallback: a single angle-bracketed address, as a mail
		// reader would show it.
		a, ok := angleAddr(v)
		if !ok {
			return "", "From field " + quoteShort(v) + " cannot be parsed"
		}
		addrs = []*mail.Address{{Address: a}}
	}
	switch len(addrs) {
	case 0:
		return "", "From field " + quoteShort(v) + " holds no address"
	case 1:
	default:
		return "", "From field lists several addresses"
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	if at < 0 || at == len(addrs[0].Address)-1 {
		return "", "From address " + quoteShort(addrs[0].Address) + " has no domain"
	}
	return normDomain(addrs[0].Address[at+1:]), ""
}

// angleAddr returns the address of v when v holds exactly one
// "<local@domain>" and nothing else that looks like an address in angle
// brackets.
func angleAddr(v string) (string, bool) {
	open := strings.IndexByte(v, '<')
	if open < 0 || strings.Count(v, "<") != 1 || strings.Count(v, ">") != 1 {
		return "", false
	}
	end := strings.IndexByte(v[open:], '>')
	if end < 0 {
		return "", false
	}
	a := strings.TrimSpace(v[open+1 : open+end])
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.ContainsAny(a, " \t,;<>()") {
		return "", false
	}
	return a, true
}

// orgDomain returns the organisational domain of d (RFC 7489 section
// 3.2): the public suffix plus one label, or d itself when d is a public
// suffix or the list cannot tell.
func orgDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// aligned reports whether domain d is aligned with the From domain from:
// equal in strict mode, the same organisational domain in relaxed mode.
// Both are normalised.
func aligned(d, from string, strict bool) bool {
	if d == from {
		return true
	}
	return !strict && d != "" && orgDomain(d) == orgDomain(from)
}
