package metrics

import (
	"strings"
	"time"

	"github.com/moatmail/moat/filter"
)

// Delivery results, for Delivery.
const (
	DeliveryDelivered = "delivered"
	DeliveryDeferred  = "deferred"
	DeliveryBounced   = "bounced"
	DeliveryFailed    = "failed"
)

// DNS list lookup outcomes, for DNSListResult.
const (
	ListListed   = "listed"
	ListUnlisted = "unlisted"
	ListError    = "error"
	ListTimeout  = "timeout"
)

// greylistPrefix starts the greylist check's symbols (GREYLIST_NEW, …).
const greylistPrefix = "GREYLIST_"

// ConnOpened counts a connection accepted on listener ("smtp",
// "submission", "imap", …) and adds it to the open connections.
func (m *Metrics) ConnOpened(listener string) {
	if m == nil {
		return
	}
	m.connTotal.WithLabelValues(listener).Inc()
	m.connActive.WithLabelValues(listener).Inc()
}

// ConnClosed removes a connection opened with ConnOpened from the open
// connections.
func (m *Metrics) ConnClosed(listener string) {
	if m == nil {
		return
	}
	m.connActive.WithLabelValues(listener).Dec()
}

// ConnRefused counts a connection turned away before the dialogue, with a
// short reason ("rate_limit", "blocklist", "proxy_untrusted", "shutdown").
// A refused connection is not counted by ConnOpened.
func (m *Metrics) ConnRefused(listener, reason string) {
	if m == nil {
		return
	}
	m.connRefused.WithLabelValues(listener, reason).Inc()
}

// Transaction records a decided SMTP transaction: its policy action
// ("accept", "reject", …), the symbols it fired, the timings of the checks
// that ran (filter.Txn.Timings) and its duration up to the verdict. Symbols
// named GREYLIST_<OUTCOME> also count as greylisting outcomes.
func (m *Metrics) Transaction(action string, symbols []filter.Symbol, timings []filter.Timing, duration time.Duration) {
	if m == nil {
		return
	}
	m.txns.WithLabelValues(action).Inc()
	m.txnDuration.Observe(duration.Seconds())
	for _, s := range symbols {
		m.symbols.WithLabelValues(s.Name).Inc()
		if outcome, ok := strings.CutPrefix(s.Name, greylistPrefix); ok && outcome != "" {
			m.greylist.WithLabelValues(greylistOutcome(outcome)).Inc()
		}
	}
	for _, t := range timings {
		stage := t.Stage.String()
		m.checkDur.WithLabelValues(t.Check, stage).Observe(t.Duration.Seconds())
		if t.Failed {
			m.checkFailed.WithLabelValues(t.Check, stage).Inc()
		}
	}
}

// greylistOutcome returns the label for the part of a greylist symbol after
// GREYLIST_, without allocating for the known outcomes.
func greylistOutcome(s string) string {
	switch s {
	case "NEW":
		return "new"
	case "EARLY":
		return "early"
	case "PASS":
		return "pass"
	case "ALLOWED":
		return "allowed"
	case "TEMPFAIL":
		return "tempfail"
	}
	return strings.ToLower(s)
}

// Delivery counts one delivery attempt on route ("local", "downstream", …)
// with its result (DeliveryDelivered, DeliveryDeferred, DeliveryBounced,
// DeliveryFailed).
func (m *Metrics) Delivery(route, result string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(route, result).Inc()
}

// DNSListResult counts one lookup in a DNS list zone with its outcome
// (ListListed, ListUnlisted, ListError, ListTimeout). Pass the zone's name,
// never a query name holding an access key.
func (m *Metrics) DNSListResult(zone, outcome string) {
	if m == nil {
		return
	}
	m.dnsbl.WithLabelValues(zone, outcome).Inc()
}

// SessionOpened counts a mail access session ("imap", "pop3") and adds it
// to the open sessions.
func (m *Metrics) SessionOpened(proto string) {
	if m == nil {
		return
	}
	m.sessTotal.WithLabelValues(proto).Inc()
	m.sessActive.WithLabelValues(proto).Inc()
}

// SessionClosed removes a session opened with SessionOpened.
func (m *Metrics) SessionClosed(proto string) {
	if m == nil {
		return
	}
	m.sessActive.WithLabelValues(proto).Dec()
}

// LoginFailed counts a failed login ("imap", "pop3", "smtp").
func (m *Metrics) LoginFailed(proto string) {
	if m == nil {
		return
	}
	m.loginFailed.WithLabelValues(proto).Inc()
}

// Trained counts a Bayes training event: class "spam" or "ham", source
// "imap" (a move or flag), "cli" (moat train), …
func (m *Metrics) Trained(class, source string) {
	if m == nil {
		return
	}
	m.trained.WithLabelValues(class, source).Inc()
}

// RateLimited counts a request refused by the named rate limit
// ("conn_ip", "msg_net", "auth_user", …).
func (m *Metrics) RateLimited(limit string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(limit).Inc()
}
