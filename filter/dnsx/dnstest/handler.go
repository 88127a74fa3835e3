package dnstest

import (
	"strings"

	"github.com/miekg/dns"
)

// ServeDNS answers one query. It implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		reply(w, new(dns.Msg).SetRcode(req, dns.RcodeFormatError))
		return
	}
	q := req.Question[0]
	qname := canonical(q.Name)
	netw := "udp"
	if w.LocalAddr().Network() == "tcp" {
		netw = "tcp"
	}

	s.mu.Lock()
	s.queries = append(s.queries, Query{Name: strings.TrimSuffix(qname, "."), Type: dns.TypeToString[q.Qtype], Net: netw})
	z := s.zoneFor(qname)
	var (
		mode = Normal
		h    *hold
	)
	if z != nil {
		mode = s.modes[z.origin]
		h = s.holds[z.origin]
	}
	s.mu.Unlock()

	if z == nil {
		reply(w, new(dns.Msg).SetRcode(req, dns.RcodeRefused))
		return
	}
	if h != nil {
		select {
		case h.arrived <- strings.TrimSuffix(qname, "."):
		default:
		}
		<-h.release
	}

	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	switch mode {
	case Drop:
		return
	case ServFail:
		resp.Rcode = dns.RcodeServerFailure
		reply(w, resp)
		return
	case Refused:
		resp.Rcode = dns.RcodeRefused
		reply(w, resp)
		return
	case TruncateUDP:
		if netw == "udp" {
			resp.Truncated = true
			reply(w, resp)
			return
		}
	}

	rrs, exists := z.lookup(qname, q.Qtype)
	switch {
	case !exists:
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{z.negativeSOA()}
	case len(rrs) == 0:
		resp.Ns = []dns.RR{z.negativeSOA()}
	default:
		resp.Answer = rrs
	}
	if netw == "udp" {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
			resp.SetEdns0(uint16(size), false)
		}
		resp.Truncate(size)
	}
	reply(w, resp)
}

func reply(w dns.ResponseWriter, m *dns.Msg) {
	_ = w.WriteMsg(m)
}

// zoneFor returns the zone with the longest origin qname is in, or nil.
// The caller holds s.mu.
func (s *Server) zoneFor(qname string) *zone {
	var best *zone
	for _, z := range s.zones {
		if dns.IsSubDomain(z.origin, qname) && (best == nil || len(z.origin) > len(best.origin)) {
			best = z
		}
	}
	return best
}
