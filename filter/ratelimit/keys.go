package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
)

// Default network sizes of NetKey.
const (
	DefaultIPv4Bits = 24
	DefaultIPv6Bits = 64
)

// maxKeyPart is the longest rule name or key kept as is in a store key;
// longer ones (a client-chosen user name) are replaced by a digest.
const maxKeyPart = 200

// IPKey is the key of one client address ("ip:192.0.2.1",
// "ip:2001:db8::1"). An IPv4-mapped IPv6 address counts as its IPv4
// address; the zone is dropped.
func IPKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return "ip:invalid"
	}
	return "ip:" + normalizeIP(ip).String()
}

// NetKey is the key of the client's network: its /24 for IPv4 and its /64
// for IPv6 ("net:192.0.2.0/24", "net:2001:db8:1:2::/64").
func NetKey(ip netip.Addr) string {
	return NetKeyBits(ip, DefaultIPv4Bits, DefaultIPv6Bits)
}

// NetKeyBits is NetKey with other prefix lengths (clamped to the address
// size).
func NetKeyBits(ip netip.Addr, v4Bits, v6Bits int) string {
	if !ip.IsValid() {
		return "net:invalid"
	}
	ip = normalizeIP(ip)
	bits := v6Bits
	if ip.Is4() {
		bits = v4Bits
	}
	bits = min(max(bits, 0), ip.BitLen())
	p, _ := ip.Prefix(bits) // cannot fail: a valid address, bits in range
	return "net:" + p.String()
}

func normalizeIP(ip netip.Addr) netip.Addr {
	return ip.Unmap().WithZone("")
}

// DomainKey is the key of the domain of a sender address, in lower case
// ("dom:example.org"); the null sender and an address without a domain
// give "dom:<>".
func DomainKey(sender string) string {
	sender = strings.Trim(strings.TrimSpace(sender), "<>")
	d := ""
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		d = strings.TrimSuffix(sender[i+1:], ".")
	}
	if d == "" {
		return "dom:<>"
	}
	return "dom:" + strings.ToLower(d)
}

// UserKey is the key of a login name, in lower case ("user:alice@example.org").
func UserKey(user string) string {
	return "user:" + strings.ToLower(strings.TrimSpace(user))
}

// escape makes s safe inside a Redis Cluster hash tag (no braces) and
// bounds its length.
func escape(s string) string {
	if len(s) > maxKeyPart {
		sum := sha256.Sum256([]byte(s))
		return "#" + hex.EncodeToString(sum[:16])
	}
	if !strings.ContainsAny(s, "%{}") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '{':
			b.WriteString("%7B")
		case '}':
			b.WriteString("%7D")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
