package dnsbl

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestZoneValidate(t *testing.T) {
	t.Parallel()
	ok := Zone{Zone: "zen.spamhaus.org", Symbol: "DNSBL_ZEN", Score: 1}
	with := func(f func(*Zone)) Zone {
		z := ok
		z.Returns = append([]Return(nil), ok.Returns...)
		f(&z)
		return z
	}
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	tests := []struct {
		name string
		kind ListKind
		zone Zone
		want []string // substrings of the error; none means valid
	}{
		{"valid block list", IPList, ok, nil},
		{"valid allow list", IPList, Zone{Zone: "list.dnswl.org", Symbol: "DNSWL_ORG", Score: -1,
			Returns: []Return{{Address: a("127.0.0.3"), Symbol: "DNSWL_ORG_HI", Score: -5}}}, nil},
		{"valid DQS key and returns", IPList, with(func(z *Zone) {
			z.Key = "abcdef0123456789abcdef0123"
			z.Returns = []Return{{Address: a("127.0.0.2"), Score: 4}, {Prefix: p("127.0.0.4/30"), Symbol: "DNSBL_ZEN_XBL", Score: 4}, {Bitmask: 8, Score: 1}}
		}), nil},
		{"valid URI list", URIList, Zone{Zone: "dbl.spamhaus.org", Symbol: "URIBL_DBL", Score: 3, TestListed: "dbltest.com"}, nil},
		{"no zone", IPList, with(func(z *Zone) { z.Zone = "" }), []string{"zone: want a DNS name"}},
		{"one-label zone", IPList, with(func(z *Zone) { z.Zone = "localhost" }), []string{"zone:"}},
		{"bad zone characters", IPList, with(func(z *Zone) { z.Zone = "zen_spamhaus.org" }), []string{"zone:"}},
		{"bad key", IPList, with(func(z *Zone) { z.Key = "a.b" }), []string{"key: want letters"}},
		{"no symbol", IPList, with(func(z *Zone) { z.Symbol = "" }), []string{"symbol: must be set"}},
		{"lower-case symbol", IPList, with(func(z *Zone) { z.Symbol = "dnsbl_zen" }), []string{"UPPER_SNAKE"}},
		{"symbol without DNSBL", IPList, with(func(z *Zone) { z.Symbol = "SPAMHAUS" }), []string{"must contain DNSBL or DNSWL"}},
		{"URI symbol without URIBL", URIList, with(func(z *Zone) { z.Symbol = "DNSBL_DBL" }), []string{"must contain URIBL"}},
		{"block list with a negative score", IPList, with(func(z *Zone) { z.Score = -1 }), []string{"score: a block list scores zero or more"}},
		{"allow list with a positive score", IPList, Zone{Zone: "wl.test", Symbol: "DNSWL_X", Score: 1}, []string{"score: an allow list"}},
		{"allow list rejecting", IPList, Zone{Zone: "wl.test", Symbol: "DNSWL_X", Reject: true}, []string{"reject: an allow list cannot reject"}},
		{"allow list return symbol without DNSWL", IPList, Zone{Zone: "wl.test", Symbol: "DNSWL_X",
			Returns: []Return{{Bitmask: 1, Symbol: "DNSBL_X"}}}, []string{"returns[0].symbol:", "must contain DNSWL"}},
		{"return with two matchers", IPList, with(func(z *Zone) {
			z.Returns = []Return{{Address: a("127.0.0.2"), Bitmask: 4}}
		}), []string{"returns[0]: want exactly one of address, cidr and bitmask"}},
		{"return with no matcher", IPList, with(func(z *Zone) { z.Returns = []Return{{Score: 1}} }), []string{"returns[0]: want exactly one"}},
		{"return address outside 127/8", IPList, with(func(z *Zone) {
			z.Returns = []Return{{Address: a("10.0.0.2")}}
		}), []string{"returns[0].address: want an address in 127.0.0.0/8"}},
		{"return cidr with host bits", IPList, with(func(z *Zone) {
			z.Returns = []Return{{Prefix: p("127.0.0.5/30")}}
		}), []string{"returns[0].cidr: 127.0.0.5/30 has host bits set"}},
		{"return cidr too wide", IPList, with(func(z *Zone) {
			z.Returns = []Return{{Prefix: p("0.0.0.0/0")}}
		}), []string{"returns[0].cidr: want a range inside 127.0.0.0/8"}},
		{"negative return score on a block list", IPList, with(func(z *Zone) {
			z.Returns = []Return{{Bitmask: 2, Score: -3}}
		}), []string{"returns[0].score:"}},
		{"test point not an IP", IPList, with(func(z *Zone) { z.TestListed = "example.com" }), []string{"test_listed: want an IP address"}},
		{"URI test point not a domain", URIList, Zone{Zone: "dbl.test", Symbol: "URIBL_X", TestUnlisted: "no spaces"}, []string{"test_unlisted: want a domain name"}},
		{"every problem reported", IPList, Zone{Symbol: "x", Score: -1}, []string{"zone:", "symbol:", "score:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.zone.Validate(tt.kind)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tt.zone)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) || fe.Field == "" || fe.Message == "" {
					t.Errorf("%v is not a *FieldError", e)
				}
			}
		})
	}
}

func TestNewRejectsDuplicateZones(t *testing.T) {
	t.Parallel()
	_, res := startDNS(t)
	z := Zone{Zone: "bl.test", Symbol: "DNSBL_TEST"}
	if _, err := NewIPCheck(res, IPConfig{Zones: []Zone{z, z}}, nil); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("NewIPCheck with a zone twice: %v", err)
	}
	if _, err := NewIPCheck(nil, IPConfig{Zones: []Zone{z}}, nil); err == nil {
		t.Error("NewIPCheck without a resolver succeeded")
	}
}

func TestReturnMatches(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	tests := []struct {
		r    Return
		addr string
		want bool
	}{
		{Return{Address: a("127.0.0.2")}, "127.0.0.2", true},
		{Return{Address: a("127.0.0.2")}, "127.0.0.3", false},
		{Return{Prefix: netip.MustParsePrefix("127.0.0.4/30")}, "127.0.0.7", true},
		{Return{Prefix: netip.MustParsePrefix("127.0.0.4/30")}, "127.0.0.8", false},
		{Return{Bitmask: 8}, "127.0.0.72", true},
		{Return{Bitmask: 8}, "127.0.0.66", false},
		{Return{Bitmask: 0x81}, "127.0.0.128", true},
		{Return{}, "127.0.0.2", false},
	}
	for _, tt := range tests {
		if got := tt.r.matches(a(tt.addr)); got != tt.want {
			t.Errorf("%v matches %s = %v, want %v", tt.r, tt.addr, got, tt.want)
		}
	}
}
