package greylist

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// NullSender is the sender part of a triplet for the null reverse path <>
// (bounces): an identity of its own.
const NullSender = "<>"

// spfPrefix marks a client part that is an SPF-authenticated domain.
const spfPrefix = "spf:"

// Triplet is the greylisting key of a delivery attempt.
type Triplet struct {
	// Client is the client's network ("192.0.2.0/24", "2001:db8:1:2::/64")
	// or, when the sender's SPF passed, "spf:" and the authenticated domain.
	Client string `json:"client"`
	// Sender is the normalised envelope sender (see NormalizeSender).
	Sender string `json:"sender"`
	// Rcpt is the lower-case recipient.
	Rcpt string `json:"rcpt"`
}

// String formats the triplet for logs.
func (t Triplet) String() string { return t.Client + " " + t.Sender + " " + t.Rcpt }

// NormalizeSender reduces an envelope sender to the stable address that
// identifies it across retries: lower-case; SRS0/SRS1 rewritten forwarding
// addresses reduced to the original address; BATV (prvs=TAG=user,
// msprvs1=TAG=user, btv1==TAG==user) reduced to the user; a +tag removed
// from the local part. The null sender ("" or "<>") is NullSender.
func NormalizeSender(addr string) string {
	a := strings.ToLower(strings.TrimSpace(addr))
	a = strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">")
	if a == "" {
		return NullSender
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return a
	}
	local, domain := a[:at], a[at+1:]
	for range 4 { // a message may have been forwarded (and signed) several times
		l, d, ok := unwrap(local, domain)
		if !ok {
			break
		}
		local, domain = l, d
	}
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	return local + "@" + domain
}

// NormalizeRcpt returns the recipient as the triplet holds it.
func NormalizeRcpt(addr string) string {
	a := strings.ToLower(strings.TrimSpace(addr))
	return strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">")
}

// unwrap removes one layer of SRS or BATV from a lower-case address.
func unwrap(local, domain string) (string, string, bool) {
	switch {
	case len(local) > 5 && strings.HasPrefix(local, "srs0") && isSRSSep(local[4]):
		// SRS0=HHH=TT=orig-domain=orig-local@forwarder
		if p := strings.SplitN(local[5:], "=", 4); len(p) == 4 && p[2] != "" && p[3] != "" {
			return p[3], p[2], true
		}
	case len(local) > 5 && strings.HasPrefix(local, "srs1") && isSRSSep(local[4]):
		// SRS1=HHH=first-forwarder=<sep>HHH=TT=orig-domain=orig-local@forwarder
		if p := strings.SplitN(local[5:], "=", 3); len(p) == 3 && p[2] != "" && isSRSSep(p[2][0]) {
			if q := strings.SplitN(p[2][1:], "=", 4); len(q) == 4 && q[2] != "" && q[3] != "" {
				return q[3], q[2], true
			}
		}
	case strings.HasPrefix(local, "prvs="), strings.HasPrefix(local, "msprvs1="):
		rest := local[strings.IndexByte(local, '=')+1:]
		// prvs=TAG=user (the draft's order) or prvs=user=TAG (seen in the wild)
		if tag, user, ok := strings.Cut(rest, "="); ok && user != "" && looksLikeTag(tag) {
			return user, domain, true
		}
		if i := strings.LastIndexByte(rest, '='); i > 0 && isPRVSTag(rest[i+1:]) {
			return rest[:i], domain, true
		}
	case strings.HasPrefix(local, "btv1=="):
		// btv1==TAG==user
		if _, user, ok := strings.Cut(local[len("btv1=="):], "=="); ok && user != "" {
			return user, domain, true
		}
	}
	return local, domain, false
}

func isSRSSep(c byte) bool { return c == '=' || c == '+' || c == '-' }

// looksLikeTag accepts the opaque tags BATV implementations put first.
func looksLikeTag(s string) bool {
	if len(s) < 4 || len(s) > 40 {
		return false
	}
	digit := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'z', c == '-', c == '_':
		default:
			return false
		}
	}
	return digit
}

// isPRVSTag reports whether s is the draft's tag: a key digit, three day
// digits, six hex digits.
func isPRVSTag(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < 10; i++ {
		c := s[i]
		if i < 4 && (c < '0' || c > '9') {
			return false
		}
		if i >= 4 && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// domainOf returns the domain of a normalised sender ("" for the null
// sender or an address without one).
func domainOf(sender string) string {
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		return sender[i+1:]
	}
	return ""
}

// network returns the client network of ip at the configured prefix
// lengths.
func (g *Greylist) network(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	bits := g.opts.IPv6Prefix
	if ip.Is4() {
		bits = g.opts.IPv4Prefix
	}
	p, err := ip.Prefix(bits)
	if err != nil { // not reachable: bits are validated
		return ip.String()
	}
	return p.String()
}

// validDomain accepts what can be an SPF-authenticated domain in a key.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 || d[0] == '.' || d[len(d)-1] == '.' {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// ClientFor turns what an administrator types into a triplet's client part:
// an IP address or a network no wider than the greylisting network (the
// network containing it), or "spf:DOMAIN".
func (g *Greylist) ClientFor(s string) (string, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutPrefix(strings.ToLower(s), spfPrefix); ok {
		if !validDomain(d) {
			return "", fmt.Errorf("greylist: %q is not a domain", d)
		}
		return spfPrefix + d, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return g.network(ip), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", fmt.Errorf("greylist: %q is neither an IP address, a network nor spf:DOMAIN", s)
	}
	addr := p.Addr().Unmap()
	want := g.opts.IPv6Prefix
	if addr.Is4() {
		want = g.opts.IPv4Prefix
	}
	bits := p.Bits()
	if addr.Is4() && p.Addr().Is4In6() {
		bits -= 96
	}
	if bits < want {
		return "", fmt.Errorf("greylist: %s is wider than a greylisting network (/%d): put it in policy.allow.networks", s, want)
	}
	return g.network(addr), nil
}

// Keys in the store (under the Redis prefix). The client part is a Redis
// Cluster hash tag, so a decision's keys share one slot.
const (
	keyTriplet = "gl:t:" // gl:t:{CLIENT}:SENDER RCPT → hash f l n p e r
	keyClient  = "gl:c:" // gl:c:{CLIENT} → hash c a m e l
	keySender  = "gl:s:" // gl:s:SENDER or gl:s:@DOMAIN → allowed-until (ms, 0: forever)
)

func tripletKey(t Triplet) string {
	return keyTriplet + "{" + t.Client + "}:" + escape(t.Sender) + " " + escape(t.Rcpt)
}

func clientKey(client string) string { return keyClient + "{" + client + "}" }

func senderKey(sender string) string { return keySender + escape(sender) }

// parseTripletKey is the inverse of tripletKey.
func parseTripletKey(k string) (Triplet, bool) {
	rest, ok := strings.CutPrefix(k, keyTriplet+"{")
	if !ok {
		return Triplet{}, false
	}
	client, rest, ok := strings.Cut(rest, "}:")
	if !ok {
		return Triplet{}, false
	}
	s, r, ok := strings.Cut(rest, " ")
	if !ok {
		return Triplet{}, false
	}
	return Triplet{Client: client, Sender: unescape(s), Rcpt: unescape(r)}, true
}

func parseClientKey(k string) (string, bool) {
	rest, ok := strings.CutPrefix(k, keyClient+"{")
	if !ok || !strings.HasSuffix(rest, "}") {
		return "", false
	}
	return strings.TrimSuffix(rest, "}"), true
}

// escape percent-encodes the bytes that would make a key ambiguous: '%',
// space, control characters and braces.
func escape(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '%' || r == '{' || r == '}' || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '%' || c == '{' || c == '}' || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(c))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
