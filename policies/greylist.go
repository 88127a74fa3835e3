package policies

import (
	"time"

	"github.com/moatmail/moat/filter/greylist"
)

// GreylistConfig configures triplet greylisting (the `greylist:` section).
type GreylistConfig struct {
	// Enabled turns greylisting on. Default false.
	Enabled bool `yaml:"enabled"`
	// Mode is "always" (every unknown triplet is greylisted at RCPT) or
	// "score" (only messages whose score reaches policy.thresholds.greylist).
	// Default always.
	Mode string `yaml:"mode"`
	// Delay is how long a new triplet waits before a retry passes. 5m.
	Delay Duration `yaml:"delay"`
	// RetryWindow is how long after first being seen a retry may pass. 48h.
	RetryWindow Duration `yaml:"retry_window"`
	// PassTTL is how long a passed triplet is remembered, refreshed on each
	// message. 840h (35 days).
	PassTTL Duration `yaml:"pass_ttl"`
	// AutoAllow allows a client network for every sender and recipient
	// after this many passed triplets; 0 turns it off. 5.
	AutoAllow int `yaml:"auto_allow"`
	// IPv4Prefix and IPv6Prefix size the client network of a triplet. 24, 64.
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// OptOut lists recipient domains (and subdomains) never greylisted.
	OptOut []string `yaml:"opt_out"`
}

func (g *GreylistConfig) setDefaults() {
	*g = GreylistConfig{
		Mode:        "always",
		Delay:       Duration(greylist.DefaultDelay),
		RetryWindow: Duration(greylist.DefaultWindow),
		PassTTL:     Duration(greylist.DefaultPassTTL),
		AutoAllow:   greylist.DefaultAutoAllow,
		IPv4Prefix:  greylist.DefaultIPv4Prefix,
		IPv6Prefix:  greylist.DefaultIPv6Prefix,
	}
}

// Options returns the greylist package's options for this section (clock
// and logger left for the caller).
func (g *GreylistConfig) Options() greylist.Options {
	o := greylist.DefaultOptions()
	o.Mode, _ = greylist.ParseMode(g.Mode) // validated
	o.Delay = g.Delay.D()
	o.Window = g.RetryWindow.D()
	o.PassTTL = g.PassTTL.D()
	o.AutoAllow = g.AutoAllow
	o.IPv4Prefix = g.IPv4Prefix
	o.IPv6Prefix = g.IPv6Prefix
	o.OptOutDomains = g.OptOut
	return o
}

func (g *GreylistConfig) check(r *reporter, p keyPath) {
	if _, err := greylist.ParseMode(g.Mode); err != nil {
		r.add(p.with("mode"), "want always or score, got %q", g.Mode)
	}
	if g.Delay < 0 {
		r.add(p.with("delay"), "must not be negative")
	}
	if g.RetryWindow <= g.Delay {
		r.add(p.with("retry_window"), "must be longer than greylist.delay (%s)", g.Delay)
	}
	if g.PassTTL.D() < time.Minute {
		r.add(p.with("pass_ttl"), "must be at least 1m")
	}
	if g.AutoAllow < 0 {
		r.add(p.with("auto_allow"), "must not be negative (0 turns it off)")
	}
	if g.IPv4Prefix < 8 || g.IPv4Prefix > 32 {
		r.add(p.with("ipv4_prefix"), "want 8 to 32, got %d", g.IPv4Prefix)
	}
	if g.IPv6Prefix < 16 || g.IPv6Prefix > 128 {
		r.add(p.with("ipv6_prefix"), "want 16 to 128, got %d", g.IPv6Prefix)
	}
	for i, d := range g.OptOut {
		if !validDomain(d) {
			r.add(p.with("opt_out").index(i), "not a valid domain name: %q", d)
		}
	}
}
