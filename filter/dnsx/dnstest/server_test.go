package dnstest

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const testZone = `$ORIGIN zone.test.
$TTL 300
@        IN SOA ns.zone.test. hostmaster.zone.test. 1 3600 600 86400 30
www      IN A     192.0.2.1
alias    IN CNAME www
*.wild   IN A     192.0.2.9
a.b.deep IN A     192.0.2.2
`

func exchange(t *testing.T, s *Server, name string, qtype uint16, netw string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: netw}
	resp, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("exchange %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return resp
}

func TestServer(t *testing.T) {
	t.Parallel()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.AddZone(testZone); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		answers int
		soaTTL  uint32 // of the SOA in the authority section; 0: none
	}{
		{"answer", "www.zone.test", dns.TypeA, dns.RcodeSuccess, 1, 0},
		{"case-insensitive", "WWW.Zone.Test", dns.TypeA, dns.RcodeSuccess, 1, 0},
		{"CNAME followed", "alias.zone.test", dns.TypeA, dns.RcodeSuccess, 2, 0},
		{"wildcard", "x.y.wild.zone.test", dns.TypeA, dns.RcodeSuccess, 1, 0},
		{"NODATA with SOA at its minimum", "www.zone.test", dns.TypeAAAA, dns.RcodeSuccess, 0, 30},
		{"empty non-terminal is NODATA", "b.deep.zone.test", dns.TypeA, dns.RcodeSuccess, 0, 30},
		{"NXDOMAIN with SOA", "nope.zone.test", dns.TypeA, dns.RcodeNameError, 0, 30},
		{"outside every zone", "www.other.test", dns.TypeA, dns.RcodeRefused, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := exchange(t, s, tt.qname, tt.qtype, "udp")
			if resp.Rcode != tt.rcode || len(resp.Answer) != tt.answers {
				t.Fatalf("rcode %s, %d answers; want %s, %d", dns.RcodeToString[resp.Rcode], len(resp.Answer), dns.RcodeToString[tt.rcode], tt.answers)
			}
			var soaTTL uint32
			for _, rr := range resp.Ns {
				if soa, ok := rr.(*dns.SOA); ok {
					soaTTL = soa.Hdr.Ttl
				}
			}
			if soaTTL != tt.soaTTL {
				t.Errorf("SOA TTL %d, want %d", soaTTL, tt.soaTTL)
			}
			if tt.answers > 0 && !strings.EqualFold(resp.Answer[0].Header().Name, dns.Fqdn(tt.qname)) {
				t.Errorf("answer owner %s", resp.Answer[0].Header().Name)
			}
		})
	}
	if got := s.Count("www.zone.test", "A"); got != 2 {
		t.Errorf("Count = %d, want 2", got)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.AddZone(testZone); err != nil {
		t.Fatal(err)
	}
	s.SetMode("zone.test.", ServFail)
	if r := exchange(t, s, "www.zone.test", dns.TypeA, "udp"); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("ServFail mode: rcode %s", dns.RcodeToString[r.Rcode])
	}
	s.SetMode("zone.test", TruncateUDP)
	if r := exchange(t, s, "www.zone.test", dns.TypeA, "udp"); !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("TruncateUDP over UDP: TC=%v, %d answers", r.Truncated, len(r.Answer))
	}
	if r := exchange(t, s, "www.zone.test", dns.TypeA, "tcp"); r.Truncated || len(r.Answer) != 1 {
		t.Errorf("TruncateUDP over TCP: TC=%v, %d answers", r.Truncated, len(r.Answer))
	}
	s.SetMode("zone.test", Normal)
	arrived, release := s.Hold("zone.test")
	done := make(chan *dns.Msg)
	go func() {
		m := new(dns.Msg).SetQuestion("www.zone.test.", dns.TypeA)
		r, _, _ := new(dns.Client).Exchange(m, s.Addr())
		done <- r
	}()
	if name := <-arrived; name != "www.zone.test" {
		t.Errorf("held query for %q", name)
	}
	release()
	if r := <-done; r == nil || len(r.Answer) != 1 {
		t.Errorf("released query answered %v", r)
	}
	var nets []string
	for _, q := range s.Queries() {
		nets = append(nets, q.Net)
	}
	if strings.Join(nets, ",") != "udp,udp,tcp,udp" {
		t.Errorf("query log nets %v", nets)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, text, want string }{
		{"no SOA", "$ORIGIN x.test.\nwww 300 IN A 192.0.2.1\n", "no SOA record"},
		{"outside the zone", "$ORIGIN x.test.\n@ 300 IN SOA ns hm 1 1 1 1 1\nwww.y.test. 300 IN A 192.0.2.1\n", "outside zone"},
		{"syntax", "$ORIGIN x.test.\n@ 300 IN SOA ns hm 1 1 1 1 1\nwww 300 IN A not-an-ip\n", "dnstest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseZone(tt.text, "t.zone")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseZone error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := New("testdata/missing.zone"); err == nil {
		t.Error("New with a missing file succeeded")
	}
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddZone(testZone); err != nil {
		t.Fatal(err)
	}
	if err := s.AddZone(testZone); err == nil {
		t.Error("a zone loaded twice")
	}
}
