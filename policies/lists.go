package policies

import (
	"net/netip"
	"strings"
)

// netList matches client addresses against IP addresses and CIDR ranges.
// Single addresses are looked up in a map; ranges are scanned.
type netList struct {
	addrs    map[netip.Addr]struct{}
	prefixes []netip.Prefix
}

func newNetList(entries []string) (netList, error) {
	var l netList
	for _, s := range entries {
		p, err := parseNetwork(s)
		if err != nil {
			return netList{}, err
		}
		if p.IsSingleIP() {
			if l.addrs == nil {
				l.addrs = make(map[netip.Addr]struct{})
			}
			l.addrs[p.Addr()] = struct{}{}
			continue
		}
		l.prefixes = append(l.prefixes, p)
	}
	return l, nil
}

// contains reports whether ip is in the list. IPv4-mapped IPv6 addresses
// match as IPv4; zones are ignored.
func (l *netList) contains(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	if _, ok := l.addrs[ip]; ok {
		return true
	}
	for _, p := range l.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// senderList matches envelope senders against full addresses and domains.
type senderList struct {
	addrs   map[string]struct{} // lower-case addresses
	domains map[string]struct{} // lower-case domains
}

func newSenderList(entries []string) senderList {
	var l senderList
	for _, s := range entries {
		s = strings.ToLower(s)
		if strings.Contains(s, "@") {
			if l.addrs == nil {
				l.addrs = make(map[string]struct{})
			}
			l.addrs[s] = struct{}{}
		} else {
			if l.domains == nil {
				l.domains = make(map[string]struct{})
			}
			l.domains[s] = struct{}{}
		}
	}
	return l
}

// contains reports whether addr is listed, as an address or by its domain
// or a parent domain of it. Matching is case-insensitive.
func (l *senderList) contains(addr string) bool {
	if addr == "" || l.addrs == nil && l.domains == nil {
		return false
	}
	a := strings.ToLower(addr)
	if _, ok := l.addrs[a]; ok {
		return true
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 || l.domains == nil {
		return false
	}
	for d := a[at+1:]; d != ""; {
		if _, ok := l.domains[d]; ok {
			return true
		}
		dot := strings.IndexByte(d, '.')
		if dot < 0 {
			break
		}
		d = d[dot+1:]
	}
	return false
}

func lowerSet(entries []string) map[string]struct{} {
	if len(entries) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(entries))
	for _, s := range entries {
		m[strings.ToLower(s)] = struct{}{}
	}
	return m
}

func inSet(m map[string]struct{}, name string) bool {
	if m == nil || name == "" {
		return false
	}
	_, ok := m[strings.ToLower(name)]
	return ok
}

// AllowedIP reports whether the client address is on the allow list
// (policy.allow.networks).
func (p *Policy) AllowedIP(ip netip.Addr) bool { return p.allowIP.contains(ip) }

// BlockedIP reports whether the client address is on the block list
// (policy.block.networks).
func (p *Policy) BlockedIP(ip netip.Addr) bool { return p.blockIP.contains(ip) }

// AllowedSender reports whether the envelope sender is on the allow list
// (policy.allow.senders): listed as a full address (case-insensitive), or
// its domain or a parent domain of it is listed.
func (p *Policy) AllowedSender(addr string) bool { return p.allowFrom.contains(addr) }

// BlockedSender reports whether the envelope sender is on the block list
// (policy.block.senders), matched like AllowedSender.
func (p *Policy) BlockedSender(addr string) bool { return p.blockFrom.contains(addr) }

// AllowedHelo reports whether the HELO/EHLO name is on the allow list
// (policy.allow.helos), case-insensitively.
func (p *Policy) AllowedHelo(name string) bool { return inSet(p.allowHelo, name) }

// BlockedHelo reports whether the HELO/EHLO name is on the block list
// (policy.block.helos), case-insensitively.
func (p *Policy) BlockedHelo(name string) bool { return inSet(p.blockHelo, name) }
