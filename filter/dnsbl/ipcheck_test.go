package dnsbl

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

// testZones are the IP lists most tests use.
func testZones() []Zone {
	return []Zone{
		{
			Zone: "bl.test", Symbol: "DNSBL_TEST", Score: 1.5, Reject: true,
			Returns: []Return{
				{Address: netip.MustParseAddr("127.0.0.2"), Symbol: "DNSBL_TEST_SBL", Score: 4},
				{Prefix: netip.MustParsePrefix("127.0.0.4/30"), Symbol: "DNSBL_TEST_XBL", Score: 3},
				{Address: netip.MustParseAddr("127.0.0.11"), Symbol: "DNSBL_TEST_PBL", Score: 1},
			},
		},
		{
			Zone: "multi.test", Symbol: "DNSBL_MULTI", Score: 1, IPv4Only: true,
			Returns: []Return{
				{Bitmask: 2, Symbol: "DNSBL_MULTI_A", Score: 1},
				{Bitmask: 8, Symbol: "DNSBL_MULTI_B", Score: 2},
				{Bitmask: 64, Symbol: "DNSBL_MULTI_C", Score: 5},
			},
		},
		{
			Zone: "wl.test", Symbol: "DNSWL_TEST", Score: -1,
			Returns: []Return{{Prefix: netip.MustParsePrefix("127.0.10.0/24"), Symbol: "DNSWL_TEST_HI", Score: -5}},
		},
		{Zone: "dq.test", Key: "sekritkey", Symbol: "DNSBL_DQ", Score: 2},
	}
}

func newIPCheck(t *testing.T, res Resolver, zones []Zone, timeout time.Duration) *IPCheck {
	t.Helper()
	c, err := NewIPCheck(res, IPConfig{Zones: zones, Timeout: timeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIPCheckScores(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	c := newIPCheck(t, res, testZones(), time.Second)
	tests := []struct {
		name string
		ip   string
		want map[string]float64
	}{
		{"test point listed everywhere", "127.0.0.2", map[string]float64{
			"DNSBL_TEST_SBL": 4, "DNSBL_MULTI_A": 1, "DNSWL_TEST": -1, "DNSBL_DQ": 2}},
		{"RFC 5782 unlisted point", "127.0.0.1", map[string]float64{}},
		{"two answers, two symbols", "192.0.2.10", map[string]float64{
			"DNSBL_TEST_SBL": 4, "DNSBL_TEST_XBL": 3, "DNSBL_DQ": 2}},
		{"exact address", "192.0.2.11", map[string]float64{"DNSBL_TEST_PBL": 1}},
		{"unmatched code scores the zone symbol", "192.0.2.12", map[string]float64{"DNSBL_TEST": 1.5}},
		{"answer outside 127/8 ignored", "192.0.2.13", map[string]float64{}},
		{"bitmask: two bits of three", "192.0.2.20", map[string]float64{"DNSBL_MULTI_A": 1, "DNSBL_MULTI_B": 2}},
		{"allow list, negative score", "192.0.2.30", map[string]float64{"DNSWL_TEST_HI": -5}},
		{"IPv6 nibbles", "2001:db8::bad", map[string]float64{"DNSBL_TEST_SBL": 4}},
		{"IPv4-mapped IPv6 is IPv4", "::ffff:192.0.2.11", map[string]float64{"DNSBL_TEST_PBL": 1}},
		{"not listed", "192.0.2.99", map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syms, err := c.Check(context.Background(), txn(tt.ip), 0)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := scores(syms); !maps.Equal(got, tt.want) {
				t.Errorf("symbols %v, want %v", got, tt.want)
			}
			for _, s := range syms {
				ip := netip.MustParseAddr(tt.ip).Unmap().String()
				if !strings.Contains(s.Reason, ip) || !strings.Contains(s.Reason, " listed in ") {
					t.Errorf("reason %q does not name the client %s and the zone", s.Reason, ip)
				}
			}
		})
	}
	t.Run("IPv4-only zone not asked about IPv6 clients", func(t *testing.T) {
		if n := srv.Count("d.a.b.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.multi.test", "A"); n != 0 {
			t.Errorf("multi.test got %d IPv6 queries", n)
		}
	})
	t.Run("reason text", func(t *testing.T) {
		syms, _ := c.Check(context.Background(), txn("192.0.2.10"), 0)
		for _, s := range syms {
			if s.Name == "DNSBL_TEST_XBL" && s.Reason != "client IP 192.0.2.10 listed in bl.test (127.0.0.4)" {
				t.Errorf("reason %q", s.Reason)
			}
		}
	})
}

// TestKeyNeverShown: the access key is in the queries but nowhere a person
// or a client could read it: symbols, reasons, errors, health, logs.
func TestKeyNeverShown(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	const key = "sekritkey"
	var logs logBuffer
	zones := []Zone{{Zone: "dq.test", Key: key, Symbol: "DNSBL_DQ", Score: 2}}
	c, err := NewIPCheck(res, IPConfig{Zones: zones, Timeout: time.Second}, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var shown []string
	c.SelfTest(ctx)
	syms, err := c.Check(ctx, txn("192.0.2.10"), 0)
	if err != nil || len(syms) != 1 {
		t.Fatalf("Check = %v, %v; want one symbol", syms, err)
	}
	if srv.Count("10.2.0.192."+key+".dq.test", "A") != 1 {
		t.Error("the query did not carry the key")
	}
	shown = append(shown, syms[0].Name, syms[0].Reason)

	// Failures: SERVFAIL, then a wrong key (refusal code).
	srv.SetMode("dq.test", dnstest.ServFail)
	_, err = c.Check(ctx, txn("192.0.2.77"), 0)
	if err == nil {
		t.Fatal("Check with the only zone failing succeeded")
	}
	shown = append(shown, err.Error())
	c.SelfTest(ctx)
	srv.SetMode("dq.test", dnstest.Normal)
	wrong, err := NewIPCheck(res, IPConfig{Zones: []Zone{{Zone: "dq.test", Key: "wrongkey", Symbol: "DNSBL_DQ", Score: 2}}}, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	if syms, _ := wrong.Check(ctx, txn("192.0.2.10"), 0); len(syms) != 0 {
		t.Errorf("refused query scored: %v", syms)
	}
	for _, h := range append(c.Health(), wrong.Health()...) {
		shown = append(shown, h.Zone, h.Reason)
	}
	if h := wrong.Health()[0]; h.Enabled || !strings.Contains(h.Reason, "127.255.255.252") {
		t.Errorf("wrong key: health %+v, want disabled by 127.255.255.252", h)
	}
	shown = append(shown, logs.String())
	if _, err := NewIPCheck(res, IPConfig{Zones: []Zone{{Zone: "dq.test", Key: "bad key!", Symbol: "DNSBL_DQ"}}}, nil); err == nil {
		t.Error("a key with a space was accepted")
	} else {
		shown = append(shown, err.Error())
	}
	for _, s := range shown {
		if strings.Contains(s, key) || strings.Contains(s, "wrongkey") || strings.Contains(s, "bad key!") {
			t.Errorf("key shown in %q", s)
		}
	}
	if !strings.Contains(logs.String(), "dns list zone disabled") {
		t.Errorf("no log line for the disabled zone in:\n%s", logs.String())
	}
}

func TestIPCheckDeadline(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	srv.SetMode("slow.test", dnstest.Drop)
	const timeout = 300 * time.Millisecond

	t.Run("a silent zone does not hold the others", func(t *testing.T) {
		zones := []Zone{{Zone: "slow.test", Symbol: "DNSBL_SLOW", Score: 9}, {Zone: "bl.test", Symbol: "DNSBL_TEST", Score: 1}}
		c := newIPCheck(t, res, zones, timeout)
		start := time.Now()
		syms, err := c.Check(context.Background(), txn("192.0.2.10"), 0)
		elapsed := time.Since(start)
		if err != nil || !slices.Equal(names(syms), []string{"DNSBL_TEST"}) {
			t.Errorf("Check = %v, %v; want DNSBL_TEST only", names(syms), err)
		}
		// The resolver would wait 30 s; only the check's deadline ends it.
		if elapsed > 10*timeout {
			t.Errorf("Check took %v with a %v deadline", elapsed, timeout)
		}
		if srv.Count("10.2.0.192.slow.test", "A") != 1 {
			t.Error("slow.test was not asked")
		}
	})
	t.Run("every zone silent is an error", func(t *testing.T) {
		c := newIPCheck(t, res, []Zone{{Zone: "slow.test", Symbol: "DNSBL_SLOW", Score: 9}}, timeout)
		start := time.Now()
		_, err := c.Check(context.Background(), txn("192.0.2.11"), 0)
		if !errors.Is(err, dnsx.ErrTimeout) {
			t.Errorf("error = %v, want a timeout", err)
		}
		if elapsed := time.Since(start); elapsed > 10*timeout {
			t.Errorf("Check took %v with a %v deadline", elapsed, timeout)
		}
	})
	t.Run("the caller's deadline holds too", func(t *testing.T) {
		c := newIPCheck(t, res, []Zone{{Zone: "slow.test", Symbol: "DNSBL_SLOW", Score: 9}}, time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		if _, err := c.Check(ctx, txn("192.0.2.12"), 0); err == nil {
			t.Error("Check succeeded")
		}
		if elapsed := time.Since(start); elapsed > 10*timeout {
			t.Errorf("Check took %v with a %v deadline", elapsed, timeout)
		}
	})
}

func TestIPCheckFailingZone(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	srv.SetMode("fail.test", dnstest.ServFail)
	both := newIPCheck(t, res, []Zone{{Zone: "fail.test", Symbol: "DNSBL_FAIL", Score: 9}, {Zone: "bl.test", Symbol: "DNSBL_TEST", Score: 1}}, time.Second)
	syms, err := both.Check(context.Background(), txn("192.0.2.10"), 0)
	if err != nil || !slices.Equal(names(syms), []string{"DNSBL_TEST"}) {
		t.Errorf("Check = %v, %v; want DNSBL_TEST and no error", names(syms), err)
	}
	only := newIPCheck(t, res, []Zone{{Zone: "fail.test", Symbol: "DNSBL_FAIL", Score: 9}}, time.Second)
	if _, err := only.Check(context.Background(), txn("192.0.2.10"), 0); !errors.Is(err, dnsx.ErrServFail) {
		t.Errorf("error = %v, want SERVFAIL", err)
	}
	if h := only.Health()[0]; !h.Enabled {
		t.Errorf("a SERVFAIL disabled the zone: %+v", h)
	}
}

func TestRefusalDisablesZone(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	zones := []Zone{{Zone: "blocked.test", Symbol: "DNSBL_BLOCKED", Score: 9}, {Zone: "bl.test", Symbol: "DNSBL_TEST", Score: 1}}
	var logs logBuffer
	c, err := NewIPCheck(res, IPConfig{Zones: zones, Timeout: time.Second}, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	syms, err := c.Check(ctx, txn("127.0.0.2"), 0)
	if err != nil || !slices.Equal(names(syms), []string{"DNSBL_TEST"}) {
		t.Fatalf("Check = %v, %v; want DNSBL_TEST only", names(syms), err)
	}
	h := c.Health()[0]
	if h.Enabled || !strings.Contains(h.Reason, "127.255.255.254") || h.Since.IsZero() {
		t.Errorf("blocked.test health %+v, want disabled by 127.255.255.254", h)
	}
	if !c.Health()[1].Enabled {
		t.Error("bl.test disabled")
	}
	if !strings.Contains(logs.String(), "zone=blocked.test") {
		t.Errorf("no log line naming the zone:\n%s", logs.String())
	}
	// A disabled zone is not asked any more.
	before := srv.Count("2.0.0.127.blocked.test", "A") + srv.Count("3.2.0.192.blocked.test", "A")
	if _, err := c.Check(ctx, txn("192.0.2.3"), 0); err != nil {
		t.Fatal(err)
	}
	if after := srv.Count("2.0.0.127.blocked.test", "A") + srv.Count("3.2.0.192.blocked.test", "A"); after != before {
		t.Error("disabled zone queried")
	}
	// The self-test sees the refusal too: it stays disabled.
	c.SelfTest(ctx)
	if h := c.Health()[0]; h.Enabled || !h.Tested || h.Passed {
		t.Errorf("after self-test: %+v", h)
	}
}

func TestSelfTest(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	srv.SetMode("fail.test", dnstest.ServFail)
	srv.SetMode("slow.test", dnstest.Drop)
	zones := []Zone{
		{Zone: "bl.test", Symbol: "DNSBL_TEST", Score: 1},
		{Zone: "everything.test", Symbol: "DNSBL_EVERYTHING", Score: 9},
		{Zone: "empty.test", Symbol: "DNSBL_EMPTY", Score: 9},
		{Zone: "fail.test", Symbol: "DNSBL_FAIL", Score: 9},
		{Zone: "slow.test", Symbol: "DNSBL_SLOW", Score: 9},
		{Zone: "empty.test", Key: "x", Symbol: "DNSBL_UNTESTED", Score: 9, NoSelfTest: true},
		{Zone: "wl.test", Symbol: "DNSWL_TEST", Score: -1, TestListed: "192.0.2.30", TestUnlisted: "192.0.2.31"},
	}
	clock := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	c, err := NewIPCheck(res, IPConfig{Zones: zones, Timeout: 300 * time.Millisecond, Now: func() time.Time { return clock }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Before any self-test, everything.test scores anything.
	if syms, _ := c.Check(ctx, txn("192.0.2.99"), 0); !slices.Contains(names(syms), "DNSBL_EVERYTHING") {
		t.Fatalf("untested zone did not score: %v", names(syms))
	}
	c.SelfTest(ctx)
	want := []struct {
		enabled bool
		reason  string
	}{
		{true, ""},
		{false, "127.0.0.1 is listed"},
		{false, "test point 127.0.0.2 is not listed"},
		{false, "server failure"},
		{false, "timed out"},
		{true, ""},
		{true, ""},
	}
	for i, h := range c.Health() {
		w := want[i]
		if h.Enabled != w.enabled || !strings.Contains(h.Reason, w.reason) || (w.reason == "") != (h.Reason == "") {
			t.Errorf("%s: enabled=%v reason=%q; want %v %q", h.Zone, h.Enabled, h.Reason, w.enabled, w.reason)
		}
		if zones[i].NoSelfTest == h.Tested || (h.Tested && !h.LastTest.Equal(clock)) {
			t.Errorf("%s: tested=%v at %v", h.Zone, h.Tested, h.LastTest)
		}
	}
	// A zone that failed its self-test never scores.
	if syms, _ := c.Check(ctx, txn("192.0.2.99"), 0); len(syms) != 0 {
		t.Errorf("disabled zones scored: %v", names(syms))
	}
	// A zone that heals is enabled by the next self-test.
	srv.SetMode("fail.test", dnstest.Normal)
	clock = clock.Add(time.Hour)
	c.SelfTest(ctx)
	if h := c.Health()[3]; !h.Enabled || !h.Passed || !h.Since.Equal(clock) {
		t.Errorf("healed zone: %+v", h)
	}
	if syms, _ := c.Check(ctx, txn("192.0.2.10"), 0); !slices.Contains(names(syms), "DNSBL_FAIL") {
		t.Errorf("healed zone did not score: %v", names(syms))
	}
}

func TestRunSelfTestsAtStart(t *testing.T) {
	t.Parallel()
	_, res := startDNS(t)
	logs := make(chan string, 10)
	c, err := NewIPCheck(res, IPConfig{Zones: []Zone{{Zone: "empty.test", Symbol: "DNSBL_EMPTY", Score: 1}}, SelfTestInterval: time.Hour}, slog.New(chanHandler{logs}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	for msg := range logs {
		if msg == "dns list zone disabled" {
			break
		}
	}
	cancel()
	<-done
	if h := c.Health()[0]; h.Enabled || !h.Tested {
		t.Errorf("health after Run: %+v", h)
	}
}

func TestRejectSymbols(t *testing.T) {
	t.Parallel()
	_, res := startDNS(t)
	c := newIPCheck(t, res, testZones(), time.Second)
	got := c.RejectSymbols()
	want := []string{"DNSBL_TEST", "DNSBL_TEST_SBL", "DNSBL_TEST_XBL", "DNSBL_TEST_PBL"}
	if !slices.Equal(got, want) {
		t.Errorf("RejectSymbols = %v, want %v", got, want)
	}
}

// TestObserve: the observer hears every zone lookup's outcome.
func TestObserve(t *testing.T) {
	t.Parallel()
	srv, res := startDNS(t)
	srv.SetMode("slow.test", dnstest.Drop)
	srv.SetMode("fail.test", dnstest.ServFail)
	var mu sync.Mutex
	got := map[string]int{}
	c, err := NewIPCheck(res, IPConfig{
		Zones: []Zone{
			{Zone: "bl.test", Symbol: "DNSBL_TEST", Score: 1},
			{Zone: "slow.test", Symbol: "DNSBL_SLOW", Score: 1},
			{Zone: "fail.test", Symbol: "DNSBL_FAIL", Score: 1},
		},
		Timeout: 300 * time.Millisecond,
		Observe: func(zone, outcome string) {
			mu.Lock()
			got[zone+" "+outcome]++
			mu.Unlock()
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"192.0.2.10", "192.0.2.200"} {
		if _, err := c.Check(context.Background(), txn(ip), 0); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{
		"bl.test " + Listed: 1, "bl.test " + Unlisted: 1,
		"slow.test " + Timeout: 2, "fail.test " + Error: 2,
	}
	if !maps.Equal(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}
