package msgauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
	"github.com/moatmail/moat/filter/greylist"
)

const spfZone = `
example.org.        IN TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"
soft.example.org.   IN TXT "v=spf1 ip4:192.0.2.1 ~all"
neutral.example.org. IN TXT "v=spf1 ?all"
nospf.example.org.  IN TXT "just some text"
broken.example.org. IN TXT "v=spf1 ip4:192.0.2.1 -all junk"
limit.example.org.  IN TXT "v=spf1 include:l1.example.org include:l2.example.org include:l3.example.org include:l4.example.org include:l5.example.org include:l6.example.org include:l7.example.org include:l8.example.org include:l9.example.org include:l10.example.org include:l11.example.org -all"
mx.example.org.     IN A 192.0.2.25
`

// lRecords returns l1 … l11.example.org, each a record that does not
// match, so "limit" needs 11 lookups.
func lRecords() string {
	var b strings.Builder
	for i := 1; i <= 11; i++ {
		fmt.Fprintf(&b, "l%d.example.org. IN TXT \"v=spf1 -all\"\n", i)
	}
	return b.String()
}

func spfTestAuth(t *testing.T) (*Auth, *dnstest.Server) {
	t.Helper()
	srv, res := startDNS(t, soa("org.")+spfZone+lRecords(), soa("fail.test."), soa("."))
	srv.SetMode("fail.test", dnstest.ServFail)
	a, err := New(Config{SPF: true}, res)
	if err != nil {
		t.Fatal(err)
	}
	return a, srv
}

func TestSPFCheck(t *testing.T) {
	t.Parallel()
	a, _ := spfTestAuth(t)
	tests := []struct {
		name, ip, helo, from string
		want                 []string // symbols
		domain               string
		isHelo               bool
		reason               string
	}{
		{"pass", "192.0.2.7", "mx.example.org", "alice@example.org", []string{SPFPass}, "example.org", false, ""},
		{"pass IPv6", "2001:db8::25", "mx.example.org", "alice@Example.ORG", []string{SPFPass}, "example.org", false, ""},
		{"pass IPv4-mapped client", "::ffff:192.0.2.7", "mx.example.org", "alice@example.org", []string{SPFPass}, "example.org", false, ""},
		{"fail", "198.51.100.1", "mx.example.org", "alice@example.org", []string{SPFFail}, "example.org", false, ""},
		{"softfail", "198.51.100.1", "x", "bob@soft.example.org", []string{SPFSoftFail}, "soft.example.org", false, ""},
		{"neutral", "198.51.100.1", "x", "bob@neutral.example.org", []string{SPFNeutral}, "neutral.example.org", false, ""},
		{"none: no SPF record", "198.51.100.1", "x", "bob@nospf.example.org", []string{SPFNone}, "nospf.example.org", false, ""},
		{"none: NXDOMAIN", "198.51.100.1", "x", "bob@nowhere.example.org", []string{SPFNone}, "nowhere.example.org", false, ""},
		{"none: single-label domain", "198.51.100.1", "x", "bob@localhost", []string{SPFNone}, "localhost", false, ""},
		{"none: address literal", "198.51.100.1", "x", "bob@[192.0.2.1]", []string{SPFNone}, "[192.0.2.1]", false, ""},
		{"temperror: SERVFAIL", "198.51.100.1", "x", "bob@fail.test", []string{SPFTempError}, "fail.test", false, ""},
		{"permerror: junk after the match", "192.0.2.1", "x", "bob@broken.example.org", []string{SPFPermError}, "broken.example.org", false, "unknown mechanism"},
		{"permerror: too many lookups", "192.0.2.1", "x", "bob@limit.example.org", []string{SPFPermError}, "limit.example.org", false, "lookup limit reached"},
		{"null sender: HELO identity passes", "192.0.2.7", "Example.org.", "", []string{SPFPass}, "example.org", true, ""},
		{"null sender: HELO identity fails", "198.51.100.1", "example.org", "", []string{SPFFail}, "example.org", true, ""},
		{"null sender: bare IP HELO is none", "198.51.100.1", "[198.51.100.1]", "", []string{SPFNone}, "[198.51.100.1]", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			txn := newTxn(tt.ip, tt.helo, tt.from)
			got := run(t, a, "spf", txn, filter.StageMail)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("symbols %v, want %v", got, tt.want)
			}
			r := a.Results(txn).SPF
			if r == nil || r.Domain != tt.domain || r.Helo != tt.isHelo || r.Sender != tt.from {
				t.Fatalf("result %+v, want domain %q helo %v", r, tt.domain, tt.isHelo)
			}
			if tt.reason != "" && !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("reason %q does not say %q", r.Reason, tt.reason)
			}
			if spfSymbol(r.Result) != tt.want[0] {
				t.Errorf("result %s does not match symbol %s", r.Result, tt.want[0])
			}
		})
	}
}

// TestSPFPassFeedsGreylist checks that the symbol greylisting reads for its
// SPF-aware key is the one this check emits, for a sender and for the null
// sender.
func TestSPFPassFeedsGreylist(t *testing.T) {
	t.Parallel()
	a, _ := spfTestAuth(t)
	for _, tc := range []struct{ helo, from string }{{"mx.example.org", "alice@example.org"}, {"example.org", ""}} {
		txn := newTxn("192.0.2.7", tc.helo, tc.from)
		run(t, a, "spf", txn, filter.StageMail)
		d, ok := greylist.DefaultSPFDomain(txn)
		if !ok || d != "example.org" {
			t.Errorf("from %q: greylist SPF domain %q %v, want example.org", tc.from, d, ok)
		}
	}
	txn := newTxn("198.51.100.1", "x", "alice@example.org")
	run(t, a, "spf", txn, filter.StageMail)
	if _, ok := greylist.DefaultSPFDomain(txn); ok {
		t.Error("greylist sees an SPF domain for a failing sender")
	}
}

// TestSPFTimeout checks that a DNS server that never answers gives
// SPF_TEMPERROR once the resolver gives up, not an error of the check.
func TestSPFTimeout(t *testing.T) {
	t.Parallel()
	srv := dnstest.Start(t)
	if err := srv.AddZone(soa("slow.test.") + "slow.test. IN TXT \"v=spf1 -all\"\n"); err != nil {
		t.Fatal(err)
	}
	srv.SetMode("slow.test", dnstest.Drop)
	res, err := dnsx.New(dnsx.Config{Servers: []string{srv.Addr()}, Timeout: 50 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	a, err := New(Config{SPF: true}, res)
	if err != nil {
		t.Fatal(err)
	}
	txn := newTxn("192.0.2.1", "x", "a@slow.test")
	if got := run(t, a, "spf", txn, filter.StageMail); !slices.Equal(got, []string{SPFTempError}) {
		t.Fatalf("symbols %v, want SPF_TEMPERROR", got)
	}
	if srv.Count("slow.test", "TXT") == 0 {
		t.Error("the query never reached the server")
	}
}

// TestSPFCancelled checks that the check ends with its context: a
// cancelled context is a temperror.
func TestSPFCancelled(t *testing.T) {
	t.Parallel()
	a, srv := spfTestAuth(t)
	arrived, release := srv.Hold("org.")
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []filter.Symbol, 1)
	txn := newTxn("192.0.2.7", "x", "alice@example.org")
	go func() {
		syms, _ := checkByName(t, a, "spf").Check(ctx, txn, filter.StageMail)
		done <- syms
	}()
	<-arrived
	cancel()
	syms := <-done
	if got := names(syms); !slices.Equal(got, []string{SPFTempError}) {
		t.Fatalf("symbols %v, want SPF_TEMPERROR", got)
	}
}

func TestSPFNoClientIP(t *testing.T) {
	t.Parallel()
	a, _ := spfTestAuth(t)
	txn := newTxn("", "x", "alice@example.org")
	if got := run(t, a, "spf", txn, filter.StageMail); len(got) != 0 {
		t.Fatalf("symbols %v, want none without a client address", got)
	}
	if r := a.Results(txn).SPF; r == nil || r.Result != ResultNone {
		t.Fatalf("result %+v, want none", r)
	}
}

func TestBadNameNotFound(t *testing.T) {
	t.Parallel()
	_, res := startDNS(t, soa("."))
	_, err := spfResolver{res}.LookupIPAddr(context.Background(), "a..b.example")
	if !isNotFoundDNS(err) {
		t.Fatalf("bad name: %v, want a not-found *net.DNSError", err)
	}
	if !errors.Is(err, dnsx.ErrBadName) {
		t.Errorf("the error no longer unwraps to ErrBadName: %v", err)
	}
	_, err = spfResolver{res}.LookupTXT(context.Background(), "nope.example")
	if !dnsx.IsNotFound(err) {
		t.Errorf("NXDOMAIN: %v", err)
	}
}
