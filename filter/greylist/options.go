package greylist

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/moatmail/moat/filter"
)

// Mode says when greylisting decides.
type Mode int

// The modes.
const (
	// Always decides at RCPT for every recipient: an unknown triplet is
	// greylisted whatever the message looks like. The default.
	Always Mode = iota
	// Score decides only for messages whose score after DATA reaches the
	// policy's greylist threshold: the front end calls Decide/DecideAll
	// after the verdict.
	Score
)

// String returns the config name of the mode.
func (m Mode) String() string {
	if m == Score {
		return "score"
	}
	return "always"
}

// ParseMode parses "always" or "score".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "always":
		return Always, nil
	case "score":
		return Score, nil
	}
	return 0, fmt.Errorf("greylist: unknown mode %q (want always or score)", s)
}

// Defaults of Options.
const (
	DefaultDelay      = 5 * time.Minute
	DefaultWindow     = 48 * time.Hour
	DefaultPassTTL    = 35 * 24 * time.Hour
	DefaultAutoAllow  = 5
	DefaultIPv4Prefix = 24
	DefaultIPv6Prefix = 64
)

// Options configure greylisting. Start from DefaultOptions.
type Options struct {
	// Mode is Always or Score.
	Mode Mode
	// Delay is how long a new triplet must wait before a retry passes.
	Delay time.Duration
	// Window is how long after first being seen a triplet may pass; a
	// retry after that starts over.
	Window time.Duration
	// PassTTL is how long a passed triplet (and an auto-allowed client) is
	// remembered, counted from its last message.
	PassTTL time.Duration
	// AutoAllow is the number of passed triplets after which a client
	// network (or SPF domain) is allowed for every sender and recipient;
	// 0 turns auto-allowing off.
	AutoAllow int
	// IPv4Prefix and IPv6Prefix are the client network sizes (24 and 64).
	IPv4Prefix int
	IPv6Prefix int
	// OptOutDomains are recipient domains (and their subdomains) that are
	// never greylisted.
	OptOutDomains []string
	// SPFDomain returns the SPF-authenticated domain of a transaction,
	// which then replaces the client network in the triplet. Default:
	// DefaultSPFDomain. Return false when SPF did not pass.
	SPFDomain func(t *filter.Txn) (string, bool)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Log receives fail-open warnings. Default: discarded.
	Log *slog.Logger
}

// DefaultOptions returns the defaults: mode always, delay 5m, window 48h,
// pass TTL 35 days, auto-allow after 5 passed triplets, /24 and /64.
func DefaultOptions() Options {
	return Options{
		Mode: Always, Delay: DefaultDelay, Window: DefaultWindow, PassTTL: DefaultPassTTL,
		AutoAllow: DefaultAutoAllow, IPv4Prefix: DefaultIPv4Prefix, IPv6Prefix: DefaultIPv6Prefix,
	}
}

// Validate reports what is wrong with the options (config keys in the
// messages are the greylist.* keys the options come from).
func (o Options) Validate() error {
	var errs []string
	if o.Mode != Always && o.Mode != Score {
		errs = append(errs, "mode: want always or score")
	}
	if o.Delay < 0 {
		errs = append(errs, "delay: must not be negative")
	}
	if o.Window <= o.Delay {
		errs = append(errs, "retry_window: must be longer than delay")
	}
	if o.PassTTL < time.Minute {
		errs = append(errs, "pass_ttl: must be at least 1m")
	}
	if o.AutoAllow < 0 {
		errs = append(errs, "auto_allow: must not be negative (0 turns it off)")
	}
	if o.IPv4Prefix < 8 || o.IPv4Prefix > 32 {
		errs = append(errs, "ipv4_prefix: want 8 to 32")
	}
	if o.IPv6Prefix < 16 || o.IPv6Prefix > 128 {
		errs = append(errs, "ipv6_prefix: want 16 to 128")
	}
	for _, d := range o.OptOutDomains {
		if !validDomain(strings.ToLower(d)) {
			errs = append(errs, fmt.Sprintf("opt_out: %q is not a domain", d))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("greylist: %s", strings.Join(errs, "; "))
	}
	return nil
}

// DefaultSPFDomain reads the SPF result from the transaction's symbols:
// when SPF_PASS is present, the authenticated domain is the envelope
// sender's domain (the HELO name for the null sender, whose SPF identity
// is the HELO).
func DefaultSPFDomain(t *filter.Txn) (string, bool) {
	if !t.Has("SPF_PASS") {
		return "", false
	}
	d := strings.ToLower(t.Helo)
	if t.MailFrom != "" {
		d = domainOf(strings.ToLower(t.MailFrom))
	}
	d = strings.TrimSuffix(d, ".")
	return d, validDomain(d)
}
