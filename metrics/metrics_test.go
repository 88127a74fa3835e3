package metrics_test

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsbl"
	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/metrics"
)

// record plays a fixed load on m: what a short SMTP/IMAP run would record.
func record(m *metrics.Metrics) {
	for range 3 {
		m.ConnOpened("smtp")
	}
	m.ConnClosed("smtp")
	m.ConnOpened("submission")
	m.ConnRefused("smtp", "rate_limit")
	m.ConnRefused("smtp", "rate_limit")

	timings := []filter.Timing{
		{Check: "dnsbl", Stage: filter.StageConnect, Duration: 2 * time.Millisecond},
		{Check: "spf", Stage: filter.StageMail, Duration: 30 * time.Millisecond, Failed: true},
		{Check: "rules", Stage: filter.StageData, Duration: 500 * time.Microsecond},
	}
	m.Transaction("accept", []filter.Symbol{{Name: "SPF_PASS"}, {Name: "GREYLIST_PASS"}}, timings, 120*time.Millisecond)
	m.Transaction("accept", []filter.Symbol{{Name: "SPF_PASS"}}, timings[:1], 80*time.Millisecond)
	m.Transaction("greylist", []filter.Symbol{{Name: "GREYLIST_NEW"}, {Name: "SPF_FAIL", Score: 3}}, timings[:2], time.Second)
	m.Transaction("reject", []filter.Symbol{{Name: "DNSBL_ZEN_SBL", Score: 10}}, nil, 5*time.Millisecond)

	m.Delivery("local", metrics.DeliveryDelivered)
	m.Delivery("local", metrics.DeliveryDelivered)
	m.Delivery("downstream", metrics.DeliveryDeferred)
	m.DNSListResult("zen.spamhaus.org", metrics.ListListed)
	m.DNSListResult("zen.spamhaus.org", metrics.ListUnlisted)
	m.DNSListResult("zen.spamhaus.org", metrics.ListUnlisted)
	m.DNSListResult("bl.example", metrics.ListTimeout)

	m.SessionOpened("imap")
	m.SessionOpened("imap")
	m.SessionClosed("imap")
	m.SessionOpened("pop3")
	m.LoginFailed("imap")
	m.Trained("spam", "imap")
	m.Trained("spam", "imap")
	m.Trained("ham", "cli")
	m.RateLimited("conn_ip")
}

// TestScrapeMatchesRecorded scrapes a real listener after a fixed load and
// checks every series against what was recorded.
func TestScrapeMatchesRecorded(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	record(m)
	s := scrapeURL(t, serve(t, m.Handler(nil)))

	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
	}{
		{"connections", "moat_connections_total", []string{"listener", "smtp"}, 3},
		{"active connections", "moat_connections_active", []string{"listener", "smtp"}, 2},
		{"other listener", "moat_connections_active", []string{"listener", "submission"}, 1},
		{"refused", "moat_connections_refused_total", []string{"listener", "smtp", "reason", "rate_limit"}, 2},
		{"accepted", "moat_transactions_total", []string{"action", "accept"}, 2},
		{"greylisted", "moat_transactions_total", []string{"action", "greylist"}, 1},
		{"rejected", "moat_transactions_total", []string{"action", "reject"}, 1},
		{"symbol twice", "moat_symbols_total", []string{"symbol", "SPF_PASS"}, 2},
		{"symbol once", "moat_symbols_total", []string{"symbol", "DNSBL_ZEN_SBL"}, 1},
		{"greylist symbol counted", "moat_symbols_total", []string{"symbol", "GREYLIST_NEW"}, 1},
		{"greylist new", "moat_greylist_total", []string{"outcome", "new"}, 1},
		{"greylist pass", "moat_greylist_total", []string{"outcome", "pass"}, 1},
		{"check failures", "moat_check_failures_total", []string{"check", "spf", "stage", "mail"}, 2},
		{"delivered", "moat_deliveries_total", []string{"route", "local", "result", "delivered"}, 2},
		{"deferred", "moat_deliveries_total", []string{"route", "downstream", "result", "deferred"}, 1},
		{"listed", "moat_dnsbl_lookups_total", []string{"zone", "zen.spamhaus.org", "outcome", "listed"}, 1},
		{"unlisted", "moat_dnsbl_lookups_total", []string{"zone", "zen.spamhaus.org", "outcome", "unlisted"}, 2},
		{"zone timeout", "moat_dnsbl_lookups_total", []string{"zone", "bl.example", "outcome", "timeout"}, 1},
		{"imap sessions", "moat_sessions_total", []string{"proto", "imap"}, 2},
		{"imap active", "moat_sessions_active", []string{"proto", "imap"}, 1},
		{"pop3 active", "moat_sessions_active", []string{"proto", "pop3"}, 1},
		{"login failures", "moat_login_failures_total", []string{"proto", "imap"}, 1},
		{"spam trained", "moat_training_events_total", []string{"class", "spam", "source", "imap"}, 2},
		{"ham trained", "moat_training_events_total", []string{"class", "ham", "source", "cli"}, 1},
		{"rate limited", "moat_rate_limited_total", []string{"limit", "conn_ip"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.value(t, tt.metric, tt.labels...); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}

	t.Run("greylist outcomes only from GREYLIST symbols", func(t *testing.T) {
		if n := s.series("moat_greylist_total"); n != 2 {
			t.Errorf("%d greylist outcomes, want 2 (new, pass)", n)
		}
	})
	t.Run("check latency histogram", func(t *testing.T) {
		for _, h := range []struct {
			check, stage string
			count        uint64
			sum          float64
		}{
			{"dnsbl", "connect", 3, 3 * 0.002},
			{"spf", "mail", 2, 2 * 0.030},
			{"rules", "data", 1, 0.0005},
		} {
			count, sum := s.histogram(t, "moat_check_duration_seconds", "check", h.check, "stage", h.stage)
			if count != h.count || math.Abs(sum-h.sum) > 1e-9 {
				t.Errorf("check %s/%s: count %d sum %v, want %d and %v", h.check, h.stage, count, sum, h.count, h.sum)
			}
		}
	})
	t.Run("transaction duration histogram", func(t *testing.T) {
		count, sum := s.histogram(t, "moat_transaction_duration_seconds")
		if count != 4 || math.Abs(sum-1.205) > 1e-9 {
			t.Errorf("count %d sum %v, want 4 and 1.205", count, sum)
		}
	})
	t.Run("runtime and process collectors", func(t *testing.T) {
		for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
			if _, ok := s[name]; !ok {
				t.Errorf("no %s in the scrape", name)
			}
		}
	})
}

// TestPulledValues checks the values read at scrape time from the
// registered functions, and that registering again replaces them.
func TestPulledValues(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	base := serve(t, m.Handler(nil))

	t.Run("nothing registered", func(t *testing.T) {
		s := scrapeURL(t, base)
		for _, name := range []string{"moat_queue_messages", "moat_dns_lookups_total", "moat_dnsbl_zone_enabled"} {
			if n := s.series(name); n != 0 {
				t.Errorf("%s has %d series before any registration", name, n)
			}
		}
	})

	queue := map[string]int{"queued": 4, "deferred": 2}
	var mu sync.Mutex
	m.RegisterQueue(func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return map[string]int{"queued": queue["queued"], "deferred": queue["deferred"]}
	})
	m.RegisterDNS(func() dnsx.Stats {
		return dnsx.Stats{Lookups: 10, CacheHits: 6, Coalesced: 1, Queries: 5, TCPFallbacks: 1,
			NXDOMAIN: 2, ServFail: 1, Timeouts: 1, CacheEntries: 7}
	})
	tested := time.Unix(1700000000, 0)
	m.RegisterDNSBL(func() []dnsbl.ZoneHealth {
		return []dnsbl.ZoneHealth{
			{Zone: "zen.spamhaus.org", Kind: dnsbl.IPList, Enabled: true, Tested: true, Passed: true, LastTest: tested},
			{Zone: "broken.example", Kind: dnsbl.IPList, Enabled: false, Reason: "self-test failed"},
		}
	}, func() []dnsbl.ZoneHealth {
		return []dnsbl.ZoneHealth{{Zone: "dbl.spamhaus.org", Kind: dnsbl.URIList, Enabled: true}}
	})

	s := scrapeURL(t, base)
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
	}{
		{"queued", "moat_queue_messages", []string{"state", "queued"}, 4},
		{"deferred", "moat_queue_messages", []string{"state", "deferred"}, 2},
		{"lookups", "moat_dns_lookups_total", nil, 10},
		{"hits", "moat_dns_cache_hits_total", nil, 6},
		{"misses", "moat_dns_cache_misses_total", nil, 4},
		{"queries", "moat_dns_queries_total", nil, 5},
		{"nxdomain", "moat_dns_query_failures_total", []string{"result", "nxdomain"}, 2},
		{"timeouts", "moat_dns_query_failures_total", []string{"result", "timeout"}, 1},
		{"entries", "moat_dns_cache_entries", nil, 7},
		{"hit ratio", "moat_dns_cache_hit_ratio", nil, 0.6},
		{"zone up", "moat_dnsbl_zone_enabled", []string{"zone", "zen.spamhaus.org", "kind", "ip"}, 1},
		{"zone down", "moat_dnsbl_zone_enabled", []string{"zone", "broken.example", "kind", "ip"}, 0},
		{"uri zone", "moat_dnsbl_zone_enabled", []string{"zone", "dbl.spamhaus.org", "kind", "uri"}, 1},
		{"last test", "moat_dnsbl_zone_last_test_timestamp_seconds", []string{"zone", "zen.spamhaus.org", "kind", "ip"}, 1700000000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.value(t, tt.metric, tt.labels...); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}

	t.Run("read at scrape time", func(t *testing.T) {
		mu.Lock()
		queue["queued"] = 9
		mu.Unlock()
		if got := scrapeURL(t, base).value(t, "moat_queue_messages", "state", "queued"); got != 9 {
			t.Errorf("queued = %v after the queue grew, want 9", got)
		}
	})
	t.Run("register again replaces", func(t *testing.T) {
		m.RegisterQueue(func() map[string]int { return map[string]int{"held": 1} })
		m.RegisterDNS(nil)
		m.RegisterDNSBL()
		s := scrapeURL(t, base)
		if n := s.series("moat_queue_messages"); n != 1 {
			t.Errorf("%d queue series, want only the new function's", n)
		}
		if n := s.series("moat_dns_lookups_total") + s.series("moat_dnsbl_zone_enabled"); n != 0 {
			t.Errorf("DNS series still reported after unregistering")
		}
	})
}

// TestConcurrentRecording records from many goroutines (run with -race)
// and checks no event is lost.
func TestConcurrentRecording(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				m.ConnOpened("smtp")
				m.Transaction("accept", []filter.Symbol{{Name: "GREYLIST_ALLOWED"}},
					[]filter.Timing{{Check: "greylist", Stage: filter.StageRcpt, Duration: time.Millisecond}}, time.Millisecond)
				m.ConnClosed("smtp")
			}
		})
	}
	wg.Wait()
	s := scrapeURL(t, serve(t, m.Handler(nil)))
	const n = workers * each
	if got := s.value(t, "moat_transactions_total", "action", "accept"); got != n {
		t.Errorf("transactions = %v, want %d", got, n)
	}
	if got := s.value(t, "moat_greylist_total", "outcome", "allowed"); got != n {
		t.Errorf("greylist allowed = %v, want %d", got, n)
	}
	if got := s.value(t, "moat_connections_active", "listener", "smtp"); got != 0 {
		t.Errorf("active connections = %v, want 0", got)
	}
	if count, _ := s.histogram(t, "moat_check_duration_seconds", "check", "greylist", "stage", "rcpt"); count != n {
		t.Errorf("greylist timings = %d, want %d", count, n)
	}
}

// TestNilMetrics checks a nil *Metrics records nothing and does not panic,
// and its handler still answers the health endpoints.
func TestNilMetrics(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	record(m)
	m.RegisterQueue(func() map[string]int { return nil })
	m.RegisterDNS(func() dnsx.Stats { return dnsx.Stats{} })
	m.RegisterDNSBL(func() []dnsbl.ZoneHealth { return nil })
	if err := m.Register(nil); err != nil {
		t.Errorf("Register on nil: %v", err)
	}
	if m.Registry() != nil {
		t.Errorf("Registry on nil is not nil")
	}
	base := serve(t, m.Handler(nil))
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/healthz", 200},
		{"/readyz", 200},
		{"/metrics", 404},
	} {
		t.Run(tt.path, func(t *testing.T) {
			if code, body := get(t, base+tt.path); code != tt.want {
				t.Errorf("GET %s = %d %q, want %d", tt.path, code, body, tt.want)
			}
		})
	}
}
