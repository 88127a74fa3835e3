package dnsx

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// LookupA returns the IPv4 addresses of name.
func (r *Resolver) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	e, err := r.lookup(ctx, name, dns.TypeA)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.addrs), nil
}

// LookupAAAA returns the IPv6 addresses of name.
func (r *Resolver) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	e, err := r.lookup(ctx, name, dns.TypeAAAA)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.addrs), nil
}

// LookupIP returns the IPv4 and IPv6 addresses of name, asking for both at
// once. It succeeds when either lookup finds addresses; when neither does,
// a failure (timeout, SERVFAIL) is reported in preference to NXDOMAIN or
// NODATA, since then the name may well exist.
func (r *Resolver) LookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	var (
		wg    sync.WaitGroup
		six   []netip.Addr
		err6  error
		four  []netip.Addr
		err4  error
		addrs []netip.Addr
	)
	wg.Go(func() { six, err6 = r.LookupAAAA(ctx, name) })
	four, err4 = r.LookupA(ctx, name)
	wg.Wait()
	addrs = append(four, six...)
	switch {
	case len(addrs) > 0:
		return addrs, nil
	case err4 != nil && !IsNotFound(err4):
		return nil, err4
	case err6 != nil && !IsNotFound(err6):
		return nil, err6
	case err4 != nil:
		return nil, err4
	}
	return nil, err6
}

// LookupPTR returns the names the reverse zone gives for addr, in lower case
// without the trailing dot.
func (r *Resolver) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	e, err := r.lookup(ctx, ReverseName(addr), dns.TypePTR)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.names), nil
}

// LookupTXT returns the TXT records of name, the character strings of each
// record joined into one string, as net.Resolver.LookupTXT does.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	e, err := r.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.txts), nil
}

// LookupMX returns the MX records of name sorted by preference, each Host
// ending in a dot, as net.Resolver.LookupMX does.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	e, err := r.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, len(e.mxs))
	for i := range e.mxs {
		mx := e.mxs[i]
		out[i] = &mx
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int {
		if a.Pref != b.Pref {
			return int(a.Pref) - int(b.Pref)
		}
		return strings.Compare(a.Host, b.Host)
	})
	return out, nil
}

// LookupIPAddr returns the addresses of host like net.Resolver.LookupIPAddr:
// an IP address literal is returned as is.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []net.IPAddr{{IP: net.IP(a.AsSlice()), Zone: a.Zone()}}, nil
	}
	addrs, err := r.LookupIP(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(addrs))
	for i, a := range addrs {
		out[i] = net.IPAddr{IP: net.IP(a.AsSlice())}
	}
	return out, nil
}

// LookupAddr returns the names of an address like net.Resolver.LookupAddr:
// absolute names, ending in a dot.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr, UnwrapErr: ErrBadName}
	}
	names, err := r.LookupPTR(ctx, a)
	if err != nil {
		return nil, err
	}
	for i, n := range names {
		names[i] = n + "."
	}
	return names, nil
}

// TXTFunc returns a TXT lookup function bound to ctx, in the shape the
// go-msgauth packages take (dkim.VerifyOptions.LookupTXT,
// dmarc.LookupOptions.LookupTXT), so their lookups go through r and end
// with ctx.
func (r *Resolver) TXTFunc(ctx context.Context) func(domain string) ([]string, error) {
	return func(domain string) ([]string, error) { return r.LookupTXT(ctx, domain) }
}

// ReverseName returns the name under in-addr.arpa or ip6.arpa that holds
// the PTR records of addr, without the trailing dot. An IPv4-mapped IPv6
// address is treated as the IPv4 address.
func ReverseName(addr netip.Addr) string {
	return ReverseIP(addr) + suffixFor(addr.Unmap())
}

func suffixFor(a netip.Addr) string {
	if a.Is4() {
		return ".in-addr.arpa"
	}
	return ".ip6.arpa"
}

// ReverseIP returns addr in the reversed form DNS lists and reverse zones
// use: "4.3.2.1" for 1.2.3.4, and 32 dot-separated nibbles, least
// significant first, for an IPv6 address. An IPv4-mapped IPv6 address is
// treated as the IPv4 address.
func ReverseIP(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		buf := make([]byte, 0, 15)
		for i := 3; i >= 0; i-- {
			buf = strconv.AppendUint(buf, uint64(b[i]), 10)
			if i > 0 {
				buf = append(buf, '.')
			}
		}
		return string(buf)
	}
	const hex = "0123456789abcdef"
	b := addr.As16()
	buf := make([]byte, 0, 63)
	for i := 15; i >= 0; i-- {
		buf = append(buf, hex[b[i]&0xf], '.', hex[b[i]>>4])
		if i > 0 {
			buf = append(buf, '.')
		}
	}
	return string(buf)
}

// netipFrom converts an address from a record, unmapping IPv4-in-IPv6.
func netipFrom(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

// joinTXT joins the character strings of one TXT record, undoing the zone
// file escapes (\" \\ \DDD) miekg/dns puts in them.
func joinTXT(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		if !strings.Contains(p, `\`) {
			b.WriteString(p)
			continue
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c != '\\' || i+1 >= len(p) {
				b.WriteByte(c)
				continue
			}
			if i+3 < len(p) && isDigit(p[i+1]) && isDigit(p[i+2]) && isDigit(p[i+3]) {
				n := int(p[i+1]-'0')*100 + int(p[i+2]-'0')*10 + int(p[i+3]-'0')
				if n <= 255 {
					b.WriteByte(byte(n))
					i += 3
					continue
				}
			}
			b.WriteByte(p[i+1])
			i++
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
