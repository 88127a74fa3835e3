package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric moat defines.
const Namespace = "moat"

// checkBuckets (seconds) span a cached lookup (well under a millisecond) to
// a check that runs into its deadline.
func checkBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// txnBuckets (seconds) span a rejected connection to a large message over a
// slow link.
func txnBuckets() []float64 {
	return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
}

// Metrics records moat's metrics in its own registry. The zero value is not
// usable; build one with New. A nil *Metrics is valid: every method is then
// a no-op.
type Metrics struct {
	reg *prometheus.Registry

	connTotal   *prometheus.CounterVec
	connActive  *prometheus.GaugeVec
	connRefused *prometheus.CounterVec

	txns        *prometheus.CounterVec
	txnDuration prometheus.Histogram
	symbols     *prometheus.CounterVec
	checkDur    *prometheus.HistogramVec
	checkFailed *prometheus.CounterVec
	greylist    *prometheus.CounterVec

	deliveries *prometheus.CounterVec
	dnsbl      *prometheus.CounterVec

	sessActive  *prometheus.GaugeVec
	sessTotal   *prometheus.CounterVec
	loginFailed *prometheus.CounterVec
	trained     *prometheus.CounterVec
	rateLimited *prometheus.CounterVec

	pull *pullCollector
}

// New returns metrics registered on a fresh registry together with the Go
// runtime and process collectors.
func New() *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),

		connTotal:   counter("connections_total", "Connections accepted, by listener.", "listener"),
		connActive:  gauge("connections_active", "Connections open now, by listener.", "listener"),
		connRefused: counter("connections_refused_total", "Connections refused before the dialogue, by listener and reason.", "listener", "reason"),

		txns: counter("transactions_total", "SMTP transactions decided, by policy action.", "action"),
		txnDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "transaction_duration_seconds",
			Help: "Time from the start of a transaction to its verdict.", Buckets: txnBuckets(),
		}),
		symbols: counter("symbols_total", "Symbols fired in decided transactions, by symbol.", "symbol"),
		checkDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "check_duration_seconds",
			Help: "Time each check took, by check and stage.", Buckets: checkBuckets(),
		}, []string{"check", "stage"}),
		checkFailed: counter("check_failures_total", "Checks that could not run (error, timeout, panic), by check and stage.", "check", "stage"),
		greylist:    counter("greylist_total", "Greylisting outcomes (new, early, pass, allowed, tempfail).", "outcome"),

		deliveries: counter("deliveries_total", "Delivery attempts, by route and result (delivered, deferred, bounced, failed).", "route", "result"),
		dnsbl:      counter("dnsbl_lookups_total", "DNS list lookups, by zone and outcome (listed, unlisted, error, timeout).", "zone", "outcome"),

		sessActive:  gauge("sessions_active", "IMAP and POP3 sessions open now, by protocol.", "proto"),
		sessTotal:   counter("sessions_total", "IMAP and POP3 sessions opened, by protocol.", "proto"),
		loginFailed: counter("login_failures_total", "Failed logins (IMAP, POP3, SMTP AUTH), by protocol.", "proto"),
		trained:     counter("training_events_total", "Bayes training events, by class (spam, ham) and source.", "class", "source"),
		rateLimited: counter("rate_limited_total", "Requests refused by a rate limit, by limit.", "limit"),

		pull: newPullCollector(),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.connTotal, m.connActive, m.connRefused,
		m.txns, m.txnDuration, m.symbols, m.checkDur, m.checkFailed, m.greylist,
		m.deliveries, m.dnsbl,
		m.sessActive, m.sessTotal, m.loginFailed, m.trained, m.rateLimited,
		m.pull,
	)
	return m
}

// Registry returns the registry the metrics live in, for a scrape handler
// of one's own or a test.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Register adds a collector of another component to the registry.
func (m *Metrics) Register(c prometheus.Collector) error {
	if m == nil {
		return nil
	}
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: register: %w", err)
	}
	return nil
}
