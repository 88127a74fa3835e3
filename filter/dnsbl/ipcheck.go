package dnsbl

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx"
)

// IPConfig configures the client IP list check.
type IPConfig struct {
	// Zones are the DNSBLs and DNSWLs to query.
	Zones []Zone
	// Timeout is the deadline for all the zones of one check run; a zone
	// that has not answered by then does not score. DefaultTimeout when 0.
	Timeout time.Duration
	// SelfTestInterval is how often Run self-tests the zones.
	// DefaultSelfTestInterval when 0.
	SelfTestInterval time.Duration
	// Now is the clock health timestamps use; time.Now when nil.
	Now func() time.Time
	// Observe, when not nil, is told the outcome of every zone lookup
	// (Listed, Unlisted, Error or Timeout), for metrics. It must be quick
	// and safe for concurrent use.
	Observe func(zone, outcome string)
}

// IPCheck is the "dnsbl" check: the client IP address in DNS block and
// allow lists. It is safe for concurrent use.
type IPCheck struct {
	ls *lists
}

var _ filter.Check = (*IPCheck)(nil)

// NewIPCheck returns the check for cfg. It fails when a zone is invalid
// (see Zone.Validate). log receives zone health changes and, at debug
// level, lookup failures; nil discards them.
func NewIPCheck(res Resolver, cfg IPConfig, log *slog.Logger) (*IPCheck, error) {
	ls, err := newLists(IPList, cfg.Zones, res, cfg.Timeout, cfg.SelfTestInterval, cfg.Now, log)
	if ls != nil {
		ls.observe = cfg.Observe
	}
	if err != nil {
		return nil, err
	}
	return &IPCheck{ls: ls}, nil
}

// Name returns "dnsbl".
func (c *IPCheck) Name() string { return "dnsbl" }

// Stages returns the connect stage.
func (c *IPCheck) Stages() []filter.Stage { return []filter.Stage{filter.StageConnect} }

// Check looks the client IP address up in every enabled zone at once and
// returns the symbols of the listings found by the deadline. It fails only
// when every lookup failed.
func (c *IPCheck) Check(ctx context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	ip := t.ClientIP.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() {
		return nil, nil
	}
	item := dnsx.ReverseIP(ip)
	subject := "client IP " + ip.String()
	var jobs []job
	for _, l := range c.ls.zones {
		if !l.usable() || (l.cfg.IPv4Only && !ip.Is4()) {
			continue
		}
		jobs = append(jobs, job{list: l, item: item, subject: subject})
	}
	found, err := c.ls.lookupAll(ctx, jobs)
	if err != nil {
		return nil, fmt.Errorf("dnsbl: %w", err)
	}
	return symbols(found), nil
}

// Run self-tests the zones now and then every SelfTestInterval, until ctx
// ends. Start it on its own goroutine when the server starts.
func (c *IPCheck) Run(ctx context.Context) { c.ls.run(ctx) }

// SelfTest self-tests every zone once and returns when done (each zone
// bounded by Timeout). One-shot commands call it before checking.
func (c *IPCheck) SelfTest(ctx context.Context) { c.ls.selfTest(ctx) }

// Health returns the state of every zone, in configuration order.
func (c *IPCheck) Health() []ZoneHealth { return c.ls.health() }

// RejectSymbols returns every symbol of the zones marked Reject, for the
// policy to force a rejection when one fires.
func (c *IPCheck) RejectSymbols() []string { return c.ls.rejectSymbols() }
