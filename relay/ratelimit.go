package relay

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/policies"
)

// rateTimeout bounds one rate-limit round trip: the limits fail open.
const rateTimeout = 500 * time.Millisecond

// limit takes one event against each rule that is set, all or nothing; it
// returns the first rule over its limit and how long to wait, or "".
func (ss *session) limit(rules ...limitRule) (string, time.Duration) {
	l := ss.srv.limiter
	if l == nil || ss.rates == nil || ss.txn.Trusted {
		return "", 0
	}
	reqs := make([]LimitRequest, 0, len(rules))
	for _, r := range rules {
		if r.rate != nil && r.key != "" {
			reqs = append(reqs, LimitRequest{Rule: r.name, Rate: *r.rate, Key: r.key})
		}
	}
	if len(reqs) == 0 {
		return "", 0
	}
	ctx, cancel := context.WithTimeout(ss.srv.ctx, rateTimeout)
	defer cancel()
	denied, retry, err := l.TakeAll(ctx, reqs)
	if err != nil {
		ss.srv.log.Warn("rate limit backend failed; allowing", "limits", len(reqs), "err", err)
		return "", 0
	}
	if denied < 0 {
		return "", 0
	}
	r := reqs[denied]
	ss.srv.metrics.RateLimited(r.Rule)
	ss.srv.log.Info("rate limited", "txn", ss.txn.ID, "ip", ss.txn.ClientIP.String(), "limit", r.Rule, "key", r.Key, "retry_after", retry.Round(time.Second))
	return r.Rule, retry
}

// limitRule is one rule to take an event against.
type limitRule struct {
	name string
	rate *policies.Rate
	key  string
}

// ipKey and netKey are the rate-limit keys of a client address: the
// address, and its /24 (IPv4) or /64 (IPv6).
func ipKey(ip netip.Addr) string { return "ip:" + ip.String() }

func netKey(ip netip.Addr) string {
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ""
	}
	return "net:" + p.String()
}

// senderDomainKey is the key of an envelope sender's domain ("" for the
// null sender).
func senderDomainKey(from string) string {
	_, d, ok := strings.Cut(from, "@")
	if !ok || d == "" {
		return ""
	}
	return "dom:" + strings.ToLower(d)
}

func replyRateLimited(id string, retry time.Duration) *smtp.SMTPError {
	text := "Too many messages from your address, try again later"
	if retry > 0 {
		text = "Rate limit reached, try again in " + retry.Round(time.Second).String()
	}
	return reply(451, smtp.EnhancedCode{4, 7, 1}, id, text)
}
