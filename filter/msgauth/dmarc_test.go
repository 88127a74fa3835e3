package msgauth

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

const dmarcZone = `
_dmarc.reject.com.     IN TXT "v=DMARC1; p=reject; rua=mailto:d@reject.com"
_dmarc.quarantine.com. IN TXT "v=DMARC1; p=quarantine"
_dmarc.none.com.       IN TXT "v=DMARC1; p=none"
_dmarc.strict.com.     IN TXT "v=DMARC1; p=reject; aspf=s; adkim=s"
_dmarc.sub.com.        IN TXT "v=DMARC1; p=reject; sp=quarantine"
_dmarc.own.sub.com.    IN TXT "v=DMARC1; p=none"
_dmarc.nosp.com.       IN TXT "v=DMARC1; p=quarantine"
_dmarc.pct.com.        IN TXT "v=DMARC1; p=reject; pct=30"
_dmarc.pctq.com.       IN TXT "v=DMARC1; p=quarantine; pct=0"
_dmarc.broken.com.     IN TXT "v=DMARC1; p=bogus"
_dmarc.multi.com.      IN TXT "v=DMARC1; p=reject"
_dmarc.multi.com.      IN TXT "v=DMARC1; p=none"
_dmarc.other.com.      IN TXT "v=spf1 -all"
_dmarc.other.com.      IN TXT "v=DMARC2; p=reject"
`

func dmarcTestServer(t *testing.T) *dnstest.Server {
	t.Helper()
	srv := dnstest.Start(t)
	for _, z := range []string{soa("com.") + dmarcZone, soa("org.") + "_dmarc.fwd.org. IN TXT \"v=DMARC1; p=reject\"\n", soa("down.test."), soa(".")} {
		if err := srv.AddZone(z); err != nil {
			t.Fatal(err)
		}
	}
	srv.SetMode("down.test", dnstest.ServFail)
	return srv
}

func TestDMARC(t *testing.T) {
	t.Parallel()
	srv := dmarcTestServer(t)
	pass := func(d string) *SPFResult { return &SPFResult{Result: ResultPass, Domain: d, Sender: "b@" + d} }
	spfFail := func(d string) *SPFResult { return &SPFResult{Result: ResultFail, Domain: d, Sender: "b@" + d} }
	sigs := func(s ...DKIMSignature) *DKIMResult { return &DKIMResult{Signatures: s} }
	valid := func(d string) DKIMSignature { return DKIMSignature{Result: ResultPass, Domain: d} }
	bad := func(d string) DKIMSignature { return DKIMSignature{Result: ResultFail, Domain: d} }
	tempSig := func(d string) DKIMSignature { return DKIMSignature{Result: ResultTempError, Domain: d} }
	noDKIM := sigs()

	tests := []struct {
		name     string
		header   string // the message header
		ip, from string // client and envelope sender
		spf      *SPFResult
		dkim     *DKIMResult
		draw     int // what the pct sampling draws
		want     string
		policy   string
		disp     string
	}{
		{name: "SPF aligned (relaxed)", header: "From: a@mail.reject.com", spf: pass("bounce.reject.com"), dkim: noDKIM, want: DMARCPass, policy: "reject"},
		{name: "DKIM aligned (relaxed)", header: "From: a@news.reject.com", spf: spfFail("x.net"), dkim: sigs(valid("reject.com")), want: DMARCPass, policy: "reject"},
		{name: "null sender: HELO identity aligned", header: "From: a@reject.com", spf: &SPFResult{Result: ResultPass, Helo: true, Domain: "mx.reject.com"}, dkim: noDKIM, want: DMARCPass},
		{name: "unaligned SPF and DKIM passes", header: "From: a@reject.com", spf: pass("other.net"), dkim: sigs(valid("other.net")), want: DMARCFailReject, policy: "reject", disp: "reject"},
		{name: "aligned DKIM signature that fails", header: "From: a@reject.com", spf: spfFail("reject.com"), dkim: sigs(bad("reject.com")), want: DMARCFailReject, policy: "reject", disp: "reject"},
		{name: "strict SPF: subdomain not aligned", header: "From: a@strict.com", spf: pass("mail.strict.com"), dkim: noDKIM, want: DMARCFailReject, policy: "reject", disp: "reject"},
		{name: "strict DKIM: subdomain not aligned", header: "From: a@strict.com", spf: spfFail("x.net"), dkim: sigs(valid("mail.strict.com")), want: DMARCFailReject},
		{name: "strict: exact domains align", header: "From: a@strict.com", spf: pass("strict.com"), dkim: sigs(valid("strict.com")), want: DMARCPass},
		{name: "quarantine", header: "From: a@quarantine.com", spf: spfFail("quarantine.com"), dkim: noDKIM, want: DMARCFailQuarantine, policy: "quarantine", disp: "quarantine"},
		{name: "none", header: "From: a@none.com", spf: spfFail("none.com"), dkim: noDKIM, want: DMARCFailNone, policy: "none", disp: "none"},
		{name: "subdomain policy sp", header: "From: a@x.sub.com", spf: spfFail("x.sub.com"), dkim: noDKIM, want: DMARCFailQuarantine, policy: "quarantine", disp: "quarantine"},
		{name: "organisational domain itself uses p", header: "From: a@sub.com", spf: spfFail("sub.com"), dkim: noDKIM, want: DMARCFailReject, policy: "reject"},
		{name: "subdomain without sp inherits p", header: "From: a@deep.x.nosp.com", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCFailQuarantine, policy: "quarantine"},
		{name: "subdomain with its own record", header: "From: a@own.sub.com", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCFailNone, policy: "none"},
		{name: "pct=30 selected", header: "From: a@pct.com", spf: spfFail("x.net"), dkim: noDKIM, draw: 29, want: DMARCFailReject, policy: "reject", disp: "reject"},
		{name: "pct=30 sampled out: reject becomes quarantine", header: "From: a@pct.com", spf: spfFail("x.net"), dkim: noDKIM, draw: 30, want: DMARCFailQuarantine, policy: "reject", disp: "quarantine"},
		{name: "pct=0: quarantine becomes none", header: "From: a@pctq.com", spf: spfFail("x.net"), dkim: noDKIM, draw: 0, want: DMARCFailNone, policy: "quarantine", disp: "none"},
		{name: "no record", header: "From: a@nodmarc.com", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCNone},
		{name: "no record at a subdomain or its organisational domain", header: "From: a@a.b.nodmarc.com", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCNone},
		{name: "several records: none applies", header: "From: a@multi.com", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCNone},
		{name: "no DMARC1 record among the TXT", header: "From: a@other.com", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCNone},
		{name: "invalid record", header: "From: a@broken.com", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCPermError},
		{name: "DNS failure", header: "From: a@down.test", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCTempError},
		{name: "aligned SPF temperror", header: "From: a@reject.com", spf: &SPFResult{Result: ResultTempError, Domain: "reject.com"}, dkim: noDKIM, want: DMARCTempError},
		{name: "unaligned SPF temperror does not matter", header: "From: a@reject.com", spf: &SPFResult{Result: ResultTempError, Domain: "x.net"}, dkim: noDKIM, want: DMARCFailReject},
		{name: "aligned DKIM temperror", header: "From: a@reject.com", spf: spfFail("x.net"), dkim: sigs(tempSig("reject.com")), want: DMARCTempError},
		{name: "aligned pass wins over a temperror", header: "From: a@reject.com", spf: pass("reject.com"), dkim: sigs(tempSig("reject.com")), want: DMARCPass},
		{name: "SPF check did not finish", header: "From: a@reject.com", spf: nil, dkim: noDKIM, want: DMARCTempError},
		{name: "DKIM check did not finish, aligned signature", header: "From: a@reject.com\nDKIM-Signature: v=1; d=reject.com; s=x; b=abc", spf: spfFail("x.net"), dkim: nil, want: DMARCTempError},
		{name: "DKIM check did not finish, unsigned", header: "From: a@reject.com", spf: spfFail("x.net"), dkim: nil, want: DMARCFailReject},
		{name: "two From fields", header: "From: a@reject.com\nFrom: b@reject.com", spf: pass("reject.com"), dkim: noDKIM, want: DMARCBadFrom},
		{name: "two From addresses", header: "From: a@reject.com, b@evil.example", spf: pass("reject.com"), dkim: noDKIM, want: DMARCBadFrom},
		{name: "no From", header: "Subject: x", spf: pass("reject.com"), dkim: noDKIM, want: DMARCBadFrom},
		{name: "unparsable From", header: "From: <<a@reject.com", spf: pass("reject.com"), dkim: noDKIM, want: DMARCBadFrom},
		{name: "group without addresses", header: "From: undisclosed:;", spf: pass("reject.com"), dkim: noDKIM, want: DMARCBadFrom},
		{name: "From without domain", header: "From: alice", spf: pass("reject.com"), dkim: noDKIM, want: DMARCBadFrom},
		{name: "lenient From: display name with @", header: "From: a@reject.com <a@reject.com>", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCFailReject},
		{name: "encoded display name, unknown charset", header: "From: =?x-unknown?q?Caf=E9?= <A@Reject.COM.>", spf: pass("reject.com"), dkim: noDKIM, want: DMARCPass},
		{name: "single-label From domain", header: "From: root@localhost", spf: pass("reject.com"), dkim: noDKIM, want: DMARCNone},
		{name: "forwarder by client network", header: "From: a@reject.com", ip: "203.0.113.9", spf: spfFail("x.net"), dkim: noDKIM, want: DMARCFailForwarder, disp: "reject"},
		{name: "forwarder by sender domain with SPF pass", header: "From: a@reject.com", from: "list-bounces@lists.fwd.org", spf: pass("lists.fwd.org"), dkim: noDKIM, want: DMARCFailForwarder},
		{name: "forwarder by sender domain with its DKIM signature", header: "From: a@reject.com", from: "list-bounces@fwd.org", spf: spfFail("fwd.org"), dkim: sigs(valid("fwd.org")), want: DMARCFailForwarder},
		{name: "forwarder domain claimed, not authenticated", header: "From: a@reject.com", from: "list-bounces@fwd.org", spf: spfFail("fwd.org"), dkim: sigs(bad("fwd.org")), want: DMARCFailReject},
		{name: "forwarder passes DMARC like anyone", header: "From: a@fwd.org", ip: "203.0.113.9", from: "b@fwd.org", spf: pass("fwd.org"), dkim: noDKIM, want: DMARCPass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := New(Config{SPF: true, DKIM: true, DMARC: true, Forwarders: Forwarders{
				Networks: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
				Domains:  []string{"FWD.org."},
			}}, resolverFor(t, srv), WithRand(func(n int) int {
				if n != 100 {
					t.Errorf("pct draw over [0,%d), want [0,100)", n)
				}
				return tt.draw
			}))
			if err != nil {
				t.Fatal(err)
			}
			ip, from := tt.ip, tt.from
			if ip == "" {
				ip = "192.0.2.1"
			}
			if from == "" {
				from = "b@x.net"
			}
			txn := withMessage(t, newTxn(ip, "mx.x.net", from), tt.header+"\n\nbody\n")
			a.results.update(txn.ID, func(r *Results) { r.SPF, r.DKIM = tt.spf, tt.dkim })
			got := run(t, a, "dmarc", txn, filter.StageData)
			if !slices.Equal(got, []string{tt.want}) {
				t.Fatalf("symbols %v, want %s (%+v)", got, tt.want, a.Results(txn).DMARC)
			}
			r := a.Results(txn).DMARC
			if tt.policy != "" && r.Policy != tt.policy {
				t.Errorf("policy %q, want %q", r.Policy, tt.policy)
			}
			if tt.disp != "" && r.Disposition != tt.disp {
				t.Errorf("disposition %q, want %q", r.Disposition, tt.disp)
			}
			if r.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}
