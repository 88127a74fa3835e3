package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moatmail/moat/filter/dnsbl"
	"github.com/moatmail/moat/filter/dnsx"
)

// pullCollector reports values owned by other components, read through the
// registered functions at scrape time. An unregistered function reports
// nothing.
type pullCollector struct {
	queue atomic.Pointer[func() map[string]int]
	dns   atomic.Pointer[func() dnsx.Stats]
	zones atomic.Pointer[[]func() []dnsbl.ZoneHealth]

	queueSize *prometheus.Desc

	dnsLookups, dnsHits, dnsMisses, dnsCoalesced *prometheus.Desc
	dnsQueries, dnsTCP, dnsResults               *prometheus.Desc
	dnsEntries, dnsHitRatio                      *prometheus.Desc

	zoneEnabled, zoneLastTest *prometheus.Desc
}

func newPullCollector() *pullCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	return &pullCollector{
		queueSize: desc("queue_messages", "Messages in the delivery queue, by state.", "state"),

		dnsLookups:   desc("dns_lookups_total", "Lookups asked of the DNS resolver."),
		dnsHits:      desc("dns_cache_hits_total", "Lookups answered from the DNS cache."),
		dnsMisses:    desc("dns_cache_misses_total", "Lookups not answered from the DNS cache."),
		dnsCoalesced: desc("dns_coalesced_total", "Lookups that joined an identical query in flight."),
		dnsQueries:   desc("dns_queries_total", "Queries sent to DNS servers (every attempt)."),
		dnsTCP:       desc("dns_tcp_fallbacks_total", "Queries retried over TCP after a truncated answer."),
		dnsResults: desc("dns_query_failures_total",
			"Queries sent that returned no records, by result (nxdomain, nodata, servfail, refused, timeout, network).", "result"),
		dnsEntries:  desc("dns_cache_entries", "Answers in the DNS cache now."),
		dnsHitRatio: desc("dns_cache_hit_ratio", "DNS cache hits over lookups since start (0 before any lookup)."),

		zoneEnabled:  desc("dnsbl_zone_enabled", "1 when a DNS list zone may score, 0 when its self-test failed.", "zone", "kind"),
		zoneLastTest: desc("dnsbl_zone_last_test_timestamp_seconds", "When a DNS list zone's last self-test completed.", "zone", "kind"),
	}
}

// Describe sends every descriptor the collector may report.
func (p *pullCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		p.queueSize,
		p.dnsLookups, p.dnsHits, p.dnsMisses, p.dnsCoalesced, p.dnsQueries, p.dnsTCP, p.dnsResults,
		p.dnsEntries, p.dnsHitRatio,
		p.zoneEnabled, p.zoneLastTest,
	} {
		ch <- d
	}
}

// Collect calls the registered functions and reports their values.
func (p *pullCollector) Collect(ch chan<- prometheus.Metric) {
	if f := p.queue.Load(); f != nil {
		for state, n := range (*f)() {
			ch <- prometheus.MustNewConstMetric(p.queueSize, prometheus.GaugeValue, float64(n), state)
		}
	}
	if f := p.dns.Load(); f != nil {
		p.collectDNS(ch, (*f)())
	}
	if fs := p.zones.Load(); fs != nil {
		seen := make(map[[2]string]bool)
		for _, f := range *fs {
			for _, z := range f() {
				kind := z.Kind.String()
				if seen[[2]string{z.Zone, kind}] {
					continue // the same zone in two lists: report it once
				}
				seen[[2]string{z.Zone, kind}] = true
				ch <- prometheus.MustNewConstMetric(p.zoneEnabled, prometheus.GaugeValue, boolValue(z.Enabled), z.Zone, kind)
				if !z.LastTest.IsZero() {
					ch <- prometheus.MustNewConstMetric(p.zoneLastTest, prometheus.GaugeValue,
						float64(z.LastTest.UnixNano())/1e9, z.Zone, kind)
				}
			}
		}
	}
}

func (p *pullCollector) collectDNS(ch chan<- prometheus.Metric, s dnsx.Stats) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(p.dnsLookups, s.Lookups)
	counter(p.dnsHits, s.CacheHits)
	misses := uint64(0)
	if s.Lookups > s.CacheHits {
		misses = s.Lookups - s.CacheHits
	}
	counter(p.dnsMisses, misses)
	counter(p.dnsCoalesced, s.Coalesced)
	counter(p.dnsQueries, s.Queries)
	counter(p.dnsTCP, s.TCPFallbacks)
	counter(p.dnsResults, s.NXDOMAIN, "nxdomain")
	counter(p.dnsResults, s.NoData, "nodata")
	counter(p.dnsResults, s.ServFail, "servfail")
	counter(p.dnsResults, s.Refused, "refused")
	counter(p.dnsResults, s.Timeouts, "timeout")
	counter(p.dnsResults, s.NetworkErrors, "network")
	ch <- prometheus.MustNewConstMetric(p.dnsEntries, prometheus.GaugeValue, float64(s.CacheEntries))
	ratio := 0.0
	if s.Lookups > 0 {
		ratio = float64(s.CacheHits) / float64(s.Lookups)
	}
	ch <- prometheus.MustNewConstMetric(p.dnsHitRatio, prometheus.GaugeValue, ratio)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// RegisterQueue makes every scrape report moat_queue_messages{state} from
// sizes (messages by state: "queued", "deferred", …). sizes must be safe
// for concurrent use and quick; nil stops the reporting.
func (m *Metrics) RegisterQueue(sizes func() map[string]int) {
	if m == nil {
		return
	}
	if sizes == nil {
		m.pull.queue.Store(nil)
		return
	}
	m.pull.queue.Store(&sizes)
}

// RegisterDNS makes every scrape report the resolver's counters
// (moat_dns_*), normally from (*dnsx.Resolver).Stats; nil stops the
// reporting.
func (m *Metrics) RegisterDNS(stats func() dnsx.Stats) {
	if m == nil {
		return
	}
	if stats == nil {
		m.pull.dns.Store(nil)
		return
	}
	m.pull.dns.Store(&stats)
}

// RegisterDNSBL makes every scrape report the health of the DNS list zones
// (moat_dnsbl_zone_enabled, moat_dnsbl_zone_last_test_timestamp_seconds),
// normally from (*dnsbl.IPCheck).Health and (*dnsbl.URICheck).Health. It
// replaces the functions registered before; no function stops the
// reporting.
func (m *Metrics) RegisterDNSBL(health ...func() []dnsbl.ZoneHealth) {
	if m == nil {
		return
	}
	var fs []func() []dnsbl.ZoneHealth
	for _, f := range health {
		if f != nil {
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		m.pull.zones.Store(nil)
		return
	}
	m.pull.zones.Store(&fs)
}
