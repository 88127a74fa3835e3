package dnsbl

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsbl/uri"
	"github.com/moatmail/moat/filter/dnsx"
)

// DefaultMaxLookups bounds the URI list lookups of one message.
const DefaultMaxLookups = 40

// URIConfig configures the URI list check.
type URIConfig struct {
	// Zones are the URI lists to query.
	Zones []Zone
	// Timeout is the deadline for all the lookups of one message.
	// DefaultTimeout when 0.
	Timeout time.Duration
	// SelfTestInterval is how often Run self-tests the zones.
	// DefaultSelfTestInterval when 0.
	SelfTestInterval time.Duration
	// Limits bound the extraction of domains from the message (bytes per
	// part, parts, domains); uri's defaults for zero fields.
	Limits uri.Limits
	// MaxLookups bounds the lookups per message, all zones together
	// (domains are taken in order of appearance, each in every zone).
	// DefaultMaxLookups when 0.
	MaxLookups int
	// Skip lists registered domains never looked up: our own, and ones
	// every message links to.
	Skip []string
	// Now is the clock health timestamps use; time.Now when nil.
	Now func() time.Time
	// Observe is as in IPConfig.
	Observe func(zone, outcome string)
}

// URICheck is the "uribl" check: the registered domains a message links to,
// in URI block lists. It is safe for concurrent use.
type URICheck struct {
	ls         *lists
	lim        uri.Limits
	maxLookups int
	skip       map[string]bool
}

var _ filter.Check = (*URICheck)(nil)

// NewURICheck returns the check for cfg. It fails when a zone is invalid
// (see Zone.Validate). log receives zone health changes and, at debug
// level, lookup failures; nil discards them.
func NewURICheck(res Resolver, cfg URIConfig, log *slog.Logger) (*URICheck, error) {
	ls, err := newLists(URIList, cfg.Zones, res, cfg.Timeout, cfg.SelfTestInterval, cfg.Now, log)
	if ls != nil {
		ls.observe = cfg.Observe
	}
	if err != nil {
		return nil, err
	}
	c := &URICheck{ls: ls, lim: cfg.Limits, maxLookups: cfg.MaxLookups, skip: map[string]bool{}}
	if c.maxLookups <= 0 {
		c.maxLookups = DefaultMaxLookups
	}
	for _, d := range cfg.Skip {
		c.skip[strings.ToLower(strings.TrimSuffix(d, "."))] = true
	}
	return c, nil
}

// Name returns "uribl".
func (c *URICheck) Name() string { return "uribl" }

// Stages returns the data stage.
func (c *URICheck) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// Check extracts the domains the message links to and looks them up in
// every enabled zone at once, at most MaxLookups lookups, under the
// deadline. It fails only when every lookup failed.
func (c *URICheck) Check(ctx context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	if t.Msg == nil || len(c.ls.zones) == 0 {
		return nil, nil
	}
	found := uri.FromMessage(t.Msg, c.lim)
	var jobs []job
	add := func(l *list, item, subject string) bool {
		if len(jobs) >= c.maxLookups {
			return false
		}
		jobs = append(jobs, job{list: l, item: item, subject: subject})
		return true
	}
	zones := make([]*list, 0, len(c.ls.zones))
	for _, l := range c.ls.zones {
		if l.usable() {
			zones = append(zones, l)
		}
	}
domains:
	for _, d := range found.Domains {
		if c.skip[d] {
			continue
		}
		for _, l := range zones {
			if !add(l, d, d) {
				break domains
			}
		}
	}
ips:
	for _, a := range found.IPs {
		for _, l := range zones {
			if l.cfg.QueryIPs && !add(l, dnsx.ReverseIP(a), a.String()) {
				break ips
			}
		}
	}
	hits, err := c.ls.lookupAll(ctx, jobs)
	if err != nil {
		return nil, fmt.Errorf("uribl: %w", err)
	}
	return symbols(hits), nil
}

// Run self-tests the zones now and then every SelfTestInterval, until ctx
// ends. Start it on its own goroutine when the server starts.
func (c *URICheck) Run(ctx context.Context) { c.ls.run(ctx) }

// SelfTest self-tests every zone once and returns when done.
func (c *URICheck) SelfTest(ctx context.Context) { c.ls.selfTest(ctx) }

// Health returns the state of every zone, in configuration order.
func (c *URICheck) Health() []ZoneHealth { return c.ls.health() }

// RejectSymbols returns every symbol of the zones marked Reject.
func (c *URICheck) RejectSymbols() []string { return c.ls.rejectSymbols() }
