package dnsbl

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

func uriZones() []Zone {
	a := netip.MustParseAddr
	return []Zone{
		{
			Zone: "dbl.uri.test", Symbol: "URIBL_DBL", Score: 2,
			Returns: []Return{
				{Address: a("127.0.1.2"), Symbol: "URIBL_DBL_SPAM", Score: 4},
				{Address: a("127.0.1.4"), Symbol: "URIBL_DBL_PHISH", Score: 5},
				{Prefix: netip.MustParsePrefix("127.0.1.96/27"), Symbol: "URIBL_DBL_ABUSED", Score: 1},
			},
		},
		{
			Zone: "multi.uri.test", Symbol: "URIBL_MULTI", Score: 1, QueryIPs: true,
			Returns: []Return{
				{Bitmask: 8, Symbol: "URIBL_MULTI_PH", Score: 4},
				{Bitmask: 16, Symbol: "URIBL_MULTI_MW", Score: 5},
				{Bitmask: 64, Symbol: "URIBL_MULTI_ABUSE", Score: 3},
			},
		},
		{Zone: "dq.test", Key: "sekritkey", Symbol: "URIBL_DQ", Score: 2},
	}
}

func message(t testing.TB, body string) *filter.Txn {
	t.Helper()
	m, err := filter.NewMessage([]byte("Subject: offer\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body))
	if err != nil {
		t.Fatal(err)
	}
	return &filter.Txn{ID: "test", Msg: m}
}

const linkBody = `<p>Buy at <a href="http://www.spam-domain.com/buy">here</a>,
log in at https://login.phish-site.co.uk/, see abused.github.io/page and
http://bücher.com/ or http://malware.net/x and http://1.2.3.4/ or
http://www.example.org/ (clean).</p>`

func TestURICheck(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	c, err := NewURICheck(res, URIConfig{Zones: uriZones(), Timeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := c.Check(context.Background(), message(t, linkBody), filter.StageData)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"URIBL_DBL_SPAM": 4, "URIBL_DBL_PHISH": 5, "URIBL_DBL_ABUSED": 1,
		"URIBL_MULTI_PH": 4, "URIBL_MULTI_ABUSE": 3, "URIBL_MULTI_MW": 5, "URIBL_DQ": 2,
	}
	if got := scores(syms); !maps.Equal(got, want) {
		t.Errorf("symbols %v, want %v", got, want)
	}
	reasons := map[string]string{}
	for _, s := range syms {
		reasons[s.Name] = s.Reason
		if strings.Contains(s.Reason, "sekritkey") {
			t.Errorf("key in reason %q", s.Reason)
		}
	}
	if r := reasons["URIBL_DBL_SPAM"]; r != "spam-domain.com, xn--bcher-kva.com listed in dbl.uri.test (127.0.1.2)" {
		t.Errorf("URIBL_DBL_SPAM reason %q", r)
	}
	if r := reasons["URIBL_MULTI_ABUSE"]; r != "spam-domain.com, 1.2.3.4 listed in multi.uri.test (127.0.0.72, 127.0.0.64)" {
		t.Errorf("URIBL_MULTI_ABUSE reason %q", r)
	}
	// IPs only go to zones that take them.
	if srv.Count("4.3.2.1.dbl.uri.test", "A") != 0 || srv.Count("4.3.2.1.multi.uri.test", "A") != 1 {
		t.Error("IP lookups went to the wrong zones")
	}
	if srv.Count("example.org.dbl.uri.test", "A") != 1 {
		t.Error("the clean domain was not looked up")
	}
}

func TestURICheckBounds(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	zones := uriZones()[:2]
	t.Run("lookups bound", func(t *testing.T) {
		c, err := NewURICheck(res, URIConfig{Zones: zones, MaxLookups: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv.ResetQueries()
		syms, err := c.Check(context.Background(), message(t, linkBody), filter.StageData)
		if err != nil {
			t.Fatal(err)
		}
		// spam-domain.com in both zones, phish-site.co.uk in the first.
		want := map[string]float64{"URIBL_DBL_SPAM": 4, "URIBL_MULTI_PH": 4, "URIBL_MULTI_ABUSE": 3, "URIBL_DBL_PHISH": 5}
		if got := scores(syms); !maps.Equal(got, want) {
			t.Errorf("symbols %v, want %v", got, want)
		}
		if n := len(srv.Queries()); n != 3 {
			t.Errorf("%d queries, want 3", n)
		}
	})
	t.Run("skipped domains", func(t *testing.T) {
		c, err := NewURICheck(res, URIConfig{Zones: zones, Skip: []string{"Spam-Domain.com."}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		syms, err := c.Check(context.Background(), message(t, "http://spam-domain.com/"), filter.StageData)
		if err != nil || len(syms) != 0 {
			t.Errorf("Check = %v, %v; want nothing", names(syms), err)
		}
	})
	t.Run("domain limit", func(t *testing.T) {
		c, err := NewURICheck(res, URIConfig{Zones: zones[:1], Limits: uriLimits(1)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		syms, err := c.Check(context.Background(), message(t, "http://www.example.org/ http://spam-domain.com/"), filter.StageData)
		if err != nil || len(syms) != 0 {
			t.Errorf("Check = %v, %v; want nothing (only the first domain looked up)", names(syms), err)
		}
	})
	t.Run("no message", func(t *testing.T) {
		c, err := NewURICheck(res, URIConfig{Zones: zones}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if syms, err := c.Check(context.Background(), &filter.Txn{}, filter.StageData); syms != nil || err != nil {
			t.Errorf("Check = %v, %v", syms, err)
		}
	})
}

func TestURICheckFailures(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	srv.SetMode("uri.test", dnstest.Drop)
	c, err := NewURICheck(res, URIConfig{Zones: uriZones()[:2], Timeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Check(context.Background(), message(t, linkBody), filter.StageData)
	if !errors.Is(err, dnsx.ErrTimeout) {
		t.Errorf("error %v, want a timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Check took %v with a 200ms deadline", elapsed)
	}
}

func TestURISelfTest(t *testing.T) {
	t.Parallel()
	_, res := startDNS(t)
	zones := append(uriZones(), Zone{Zone: "bl.test", Symbol: "URIBL_NOT_A_URI_LIST", Score: 1})
	c, err := NewURICheck(res, URIConfig{Zones: zones, Timeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SelfTest(context.Background())
	for _, h := range c.Health() {
		wantEnabled := h.Zone != "bl.test"
		if h.Enabled != wantEnabled || h.Kind != URIList {
			t.Errorf("%s: %+v, want enabled=%v", h.Zone, h, wantEnabled)
		}
		if h.Zone == "bl.test" && !strings.Contains(h.Reason, "test point test is not listed") {
			t.Errorf("reason %q", h.Reason)
		}
	}
}
