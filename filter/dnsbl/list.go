package dnsbl

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmail/moat/filter"
)

// list is one configured zone, ready to query, with its health.
type list struct {
	cfg   Zone
	kind  ListKind
	allow bool
	// suffix is appended to the item looked up: "." + [key "."] + zone. It
	// holds the key: never log it or put it in a message.
	suffix string

	disabled atomic.Bool
	mu       sync.Mutex
	h        ZoneHealth
}

// ZoneHealth is the state of one zone, for logs and metrics.
type ZoneHealth struct {
	// Zone is the list's DNS suffix (never its key).
	Zone string
	// Kind says whether it is an IP or a URI list.
	Kind ListKind
	// Enabled reports whether the zone may score. A zone is enabled until a
	// self-test fails or it answers in 127.255.255.0/24.
	Enabled bool
	// Tested reports whether a self-test has completed; Passed whether the
	// last one passed.
	Tested, Passed bool
	// Reason says why the zone is disabled (empty when enabled).
	Reason string
	// Since is when Enabled last changed (zero if never).
	Since time.Time
	// LastTest is when the last self-test completed (zero if none).
	LastTest time.Time
}

func newList(z Zone, k ListKind) *list {
	z.Zone = strings.ToLower(strings.TrimSuffix(z.Zone, "."))
	suffix := "." + z.Zone
	if z.Key != "" {
		suffix = "." + z.Key + suffix
	}
	l := &list{cfg: z, kind: k, allow: strings.Contains(z.Symbol, MarkAllow), suffix: suffix}
	l.h = ZoneHealth{Zone: z.Zone, Kind: k, Enabled: true}
	return l
}

// usable reports whether the zone may be queried and score.
func (l *list) usable() bool { return !l.disabled.Load() }

// health returns a copy of the zone's health.
func (l *list) health() ZoneHealth {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h
}

// setEnabled records a change of state, with a log line when it changes.
func (l *list) setEnabled(enabled bool, reason string, now time.Time, log *slog.Logger) {
	l.mu.Lock()
	changed := l.h.Enabled != enabled
	l.h.Enabled = enabled
	if enabled {
		reason = ""
	}
	l.h.Reason = reason
	if changed {
		l.h.Since = now
	}
	l.disabled.Store(!enabled)
	l.mu.Unlock()
	if !changed {
		return
	}
	if enabled {
		log.Info("dns list zone enabled", "zone", l.cfg.Zone)
	} else {
		log.Warn("dns list zone disabled", "zone", l.cfg.Zone, "reason", reason)
	}
}

// tested records the outcome of a self-test; reason is empty when it passed.
func (l *list) tested(reason string, now time.Time, log *slog.Logger) {
	l.mu.Lock()
	l.h.Tested, l.h.Passed, l.h.LastTest = true, reason == "", now
	l.mu.Unlock()
	l.setEnabled(reason == "", reason, now, log)
}

// refusal returns the first answer in 127.255.255.0/24, if any.
func refusal(answers []netip.Addr) (netip.Addr, bool) {
	for _, a := range answers {
		if refusedNet.Contains(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// refusalReason explains a 127.255.255.0/24 answer.
func refusalReason(a netip.Addr) string {
	return fmt.Sprintf("answered %s: the list refuses our queries (public or shared resolver, over quota, or a bad key)", a)
}

// hit is one symbol a listing earned, before hits for several items are
// merged.
type hit struct {
	name  string
	score float64
	code  netip.Addr
}

// match returns the symbols a listing with these answers earns. Answers
// outside 127.0.0.0/8 are ignored (RFC 5782 section 2.3). The caller has
// checked for refusals.
func (l *list) match(answers []netip.Addr) []hit {
	var hits []hit
	add := func(name string, score float64, code netip.Addr) {
		for _, h := range hits {
			if h.name == name {
				return
			}
		}
		hits = append(hits, hit{name, score, code})
	}
	var first netip.Addr
	for _, a := range answers {
		if !a.Is4() || !loopback8.Contains(a) {
			continue
		}
		if !first.IsValid() {
			first = a
		}
		for _, r := range l.cfg.Returns {
			if r.matches(a) {
				name := r.Symbol
				if name == "" {
					name = l.cfg.Symbol
				}
				add(name, r.Score, a)
			}
		}
	}
	if len(hits) == 0 && first.IsValid() {
		add(l.cfg.Symbol, l.cfg.Score, first)
	}
	return hits
}

// symbols turns the hits of every item into symbols, one per name: the
// reason names the items (up to three) and the zone, never the key.
func symbols(found []found) []filter.Symbol {
	type agg struct {
		sym   filter.Symbol
		zone  string
		items []string
		codes []string
	}
	var out []*agg
	byName := map[string]*agg{}
	for _, f := range found {
		for _, h := range f.hits {
			a := byName[h.name]
			if a == nil {
				a = &agg{sym: filter.Symbol{Name: h.name, Score: h.score}, zone: f.list.cfg.Zone}
				byName[h.name] = a
				out = append(out, a)
			}
			if len(a.items) < 3 && !slices.Contains(a.items, f.subject) {
				a.items = append(a.items, f.subject)
			}
			if c := h.code.String(); len(a.codes) < 3 && !slices.Contains(a.codes, c) {
				a.codes = append(a.codes, c)
			}
		}
	}
	syms := make([]filter.Symbol, len(out))
	for i, a := range out {
		a.sym.Reason = fmt.Sprintf("%s listed in %s (%s)", strings.Join(a.items, ", "), a.zone, strings.Join(a.codes, ", "))
		syms[i] = a.sym
	}
	return syms
}
