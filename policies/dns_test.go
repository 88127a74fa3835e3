package policies

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmail/moat/filter"
)

func TestDNSListErrorsHaveLines(t *testing.T) {
	t.Parallel()
	yaml := `dnsbl:
  zones:
    - zone: bl.example.org
      symbol: SPAM_LIST
      returns:
        - {address: 127.0.0.2, score: 1}
        - {cidr: 10.0.0.0/8, score: 1}
        - {address: 127.0.0.3, cidr: 127.0.0.4/30}
    - zone: wl.example.org
      symbol: DNSWL_GOOD
      score: 2
      reject: true
uribl:
  max_lookups: 0
dns:
  attempts: 0
helo:
  addresses: [not-an-ip]
`
	path := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load accepted bad DNS lists")
	}
	for _, want := range []string{
		":4: dnsbl.zones[0].symbol: ",
		":7: dnsbl.zones[0].returns[1].cidr: ",
		":8: dnsbl.zones[0].returns[2]: want exactly one of address, cidr and bitmask",
		":11: dnsbl.zones[1].score: ",
		":12: dnsbl.zones[1].reject: an allow list cannot reject",
		":14: uribl.max_lookups: must be positive",
		":16: dns.attempts: must be at least 1",
		":18: helo.addresses[0]: want an IP address",
	} {
		if !strings.Contains(err.Error(), path+want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestCompilePolicyForcesRejectZones(t *testing.T) {
	t.Parallel()
	c := Default()
	c.DNSBL.Zones = []ZoneConfig{
		{Zone: "hard.example.org", Symbol: "DNSBL_HARD", Score: 1, Reject: true, Returns: []ReturnConfig{{Address: "127.0.0.3", Symbol: "DNSBL_HARD_3", Score: 1}}},
		{Zone: "soft.example.org", Symbol: "DNSBL_SOFT", Score: 1},
	}
	c.Policy.ForceActions = map[string]string{"DNSBL_HARD_3": "junk"}
	p, err := c.CompilePolicy()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Action{"DNSBL_HARD": Reject, "DNSBL_HARD_3": Junk, "DNSBL_SOFT": Accept} {
		tx := &filter.Txn{}
		tx.Add(filter.Symbol{Name: name, Score: 1})
		if v := p.Evaluate(tx); v.Action != want {
			t.Errorf("%s: action %v, want %v", name, v.Action, want)
		}
	}
}
