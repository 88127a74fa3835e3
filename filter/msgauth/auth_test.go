package msgauth

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
)

// pipelineAuth serves the RFC 8463 vector's keys, an SPF record for
// football.example.com (192.0.2.0/24) and a reject DMARC policy, and
// returns all three checks.
func pipelineAuth(t *testing.T) *Auth {
	t.Helper()
	zones := vectorZones(t)
	zones[0] += "football.example.com. IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n" +
		"_dmarc.football.example.com. IN TXT \"v=DMARC1; p=reject\"\n"
	_, res := startDNS(t, zones...)
	a, err := New(Config{AuthservID: "mx.moat.test", SPF: true, DKIM: true, DMARC: true}, res)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPipeline runs the three checks through filter.Pipeline as the front
// end does, then writes Authentication-Results.
func TestPipeline(t *testing.T) {
	t.Parallel()
	a := pipelineAuth(t)
	raw := string(readFile(t, "testdata/dkim/rfc8463/appendix-a3-signed.eml"))
	tests := []struct {
		name, ip, raw string
		want          []string
		ar            []string // lines of Authentication-Results after the first
	}{
		{"authentic", "192.0.2.1", raw, []string{DKIMValid, DKIMValidAuthor, DMARCPass, SPFPass}, []string{
			"spf=pass smtp.mailfrom=joe@football.example.com;",
			"dkim=pass header.a=ed25519-sha256 header.b=/gCrinpc header.d=football.example.com header.i=@football.example.com header.s=brisbane;",
			"dkim=pass header.a=rsa-sha256 header.b=F45dVWDf header.d=football.example.com header.i=@football.example.com header.s=test;",
			"dmarc=pass (p=reject) header.from=football.example.com",
		}},
		{"forged", "198.51.100.1", edit(t, raw, "Are you hungry yet?", "Please wire money."), []string{DKIMInvalid, DMARCFailReject, SPFFail}, []string{
			"spf=fail smtp.mailfrom=joe@football.example.com;",
			"dkim=fail reason=\"body hash did not verify\" header.a=ed25519-sha256 header.b=/gCrinpc header.d=football.example.com header.i=@football.example.com header.s=brisbane;",
			"dkim=fail reason=\"body hash did not verify\" header.a=rsa-sha256 header.b=F45dVWDf header.d=football.example.com header.i=@football.example.com header.s=test;",
			"dmarc=fail (p=reject dis=reject) header.from=football.example.com",
		}},
	}
	p := filter.NewPipeline(a.Checks(), 10*time.Second, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			txn := withMessage(t, newTxn(tt.ip, "mail.football.example.com", "joe@football.example.com"), tt.raw)
			p.RunAll(context.Background(), txn)
			if got := names(txn.Symbols()); !slices.Equal(got, tt.want) {
				t.Errorf("symbols %v, want %v", got, tt.want)
			}
			field := a.HeaderField(txn)
			want := "Authentication-Results: mx.moat.test;\r\n\t" + strings.Join(tt.ar, "\r\n\t") + "\r\n"
			if field != want {
				t.Errorf("got\n%s\nwant\n%s", field, want)
			}
			a.Forget(txn.ID)
			if r := a.Results(txn); r.SPF != nil || r.DKIM != nil || r.DMARC != nil {
				t.Errorf("results after Forget: %+v", r)
			}
			if got := a.AuthResults(txn); got != "mx.moat.test; none" {
				t.Errorf("Authentication-Results after Forget: %q", got)
			}
		})
	}
}

func TestChecksShape(t *testing.T) {
	t.Parallel()
	a := pipelineAuth(t)
	want := map[string][]filter.Stage{"spf": {filter.StageMail}, "dkim": {filter.StageData}, "dmarc": {filter.StageData}}
	cs := a.Checks()
	if len(cs) != 3 {
		t.Fatalf("%d checks", len(cs))
	}
	for _, c := range cs {
		if !slices.Equal(c.Stages(), want[c.Name()]) {
			t.Errorf("%s stages %v", c.Name(), c.Stages())
		}
		l, late := c.(filter.Late)
		if isLate := late && l.Late(); isLate != (c.Name() == "dmarc") {
			t.Errorf("%s late=%v", c.Name(), isLate)
		}
	}
	b, err := New(Config{SPF: true}, resolverStub{})
	if err != nil || len(b.Checks()) != 1 || b.Checks()[0].Name() != "spf" {
		t.Errorf("SPF only: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"DMARC without DKIM":    {SPF: true, DMARC: true},
		"DMARC without SPF":     {DKIM: true, DMARC: true},
		"negative signatures":   {DKIM: true, MaxSignatures: -1},
		"bad forwarder domain":  {Forwarders: Forwarders{Domains: []string{"not a domain"}}},
		"invalid forwarder net": {Forwarders: Forwarders{Networks: []netip.Prefix{{}}}},
	} {
		if _, err := New(cfg, resolverStub{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("no resolver: no error")
	}
	a, err := New(Config{DKIM: true}, resolverStub{})
	if err != nil || a.cfg.MaxSignatures != DefaultMaxSignatures {
		t.Errorf("default max signatures: %v %d", err, a.cfg.MaxSignatures)
	}
}

func TestSymbolsHaveScores(t *testing.T) {
	t.Parallel()
	all := Symbols()
	if len(all) != 21 || len(slices.Compact(slices.Sorted(slices.Values(all)))) != len(all) {
		t.Errorf("%d symbols listed, want 21 different ones", len(all))
	}
	for _, s := range all {
		if _, ok := DefaultScore(s); !ok {
			t.Errorf("%s has no default score", s)
		}
		if filter.SymbolName(s) != s {
			t.Errorf("%s is not an UPPER_SNAKE name", s)
		}
	}
	if _, ok := DefaultScore("SPF_TEMPFAIL"); ok {
		t.Error("a symbol that is not ours has a score")
	}
	if s, _ := DefaultScore(SPFPass); s >= 0 {
		t.Error("SPF_PASS does not lower the score")
	}
	if s, _ := DefaultScore(DMARCFailForwarder); s != 0 {
		t.Error("a trusted forwarder's failure is punished")
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := newStore(time.Minute, 16, clock)
	s.update("a", func(r *Results) { r.SPF = &SPFResult{Result: ResultPass} })
	s.update("a", func(r *Results) { r.DKIM = &DKIMResult{} })
	if r := s.get("a"); r.SPF == nil || r.DKIM == nil {
		t.Fatalf("results %+v", r)
	}
	advance(time.Minute)
	if r := s.get("a"); r.SPF != nil {
		t.Error("expired results returned")
	}
	// Expired entries are swept on insert.
	s.update("b", func(*Results) {})
	if n := s.len(); n != 1 {
		t.Errorf("%d entries after the sweep, want 1", n)
	}
	// Full of live entries: the oldest go, the store stays bounded.
	for i := range 100 {
		advance(time.Millisecond)
		id := string(rune('c' + i))
		s.update(id, func(r *Results) { r.SPF = &SPFResult{Domain: id} })
		if n := s.len(); n > 16 {
			t.Fatalf("%d entries, bound 16", n)
		}
	}
	if r := s.get(string(rune('c' + 99))); r.SPF == nil || r.SPF.Domain != string(rune('c'+99)) {
		t.Error("newest entry missing")
	}
	if r := s.get("c"); r.SPF != nil {
		t.Error("oldest entry kept past the bound")
	}
	s.forget(string(rune('c' + 99)))
	if n := s.len(); n > 15 {
		t.Errorf("forget left %d entries", n)
	}
}

// resolverStub answers nothing; for tests that never look anything up.
type resolverStub struct{ Resolver }
