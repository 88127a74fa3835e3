package msgauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/moatmail/moat/filter"
)

// Resolver is the DNS resolver the checks use: moat's *dnsx.Resolver. Its
// method set is blitiri.com.ar/go/spf's DNSResolver; DKIM keys and DMARC
// records are TXT lookups. Errors must be *net.DNSError values that report
// IsNotFound for NXDOMAIN/NODATA and Temporary() for failures worth a retry.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxSignatures = 5
	DefaultResultTTL     = 30 * time.Minute
	DefaultMaxResults    = 100000
)

// Config configures the checks.
type Config struct {
	// AuthservID is the authserv-id of the Authentication-Results moat
	// writes (and removes when it arrives from outside): moat's hostname.
	AuthservID string
	// SPF, DKIM and DMARC enable the checks. DMARC needs the other two.
	SPF, DKIM, DMARC bool
	// MaxSignatures bounds the DKIM signatures verified per message
	// (DefaultMaxSignatures when 0); the rest are ignored.
	MaxSignatures int
	// Forwarders are the trusted forwarders (mailing lists, forwarding
	// services) whose DMARC failures are not punished.
	Forwarders Forwarders
	// ResultTTL is how long a transaction's results are kept when the front
	// end does not call Forget (DefaultResultTTL when 0).
	ResultTTL time.Duration
	// MaxResults bounds the transactions whose results are kept
	// (DefaultMaxResults when 0).
	MaxResults int
}

// Forwarders identify trusted forwarders: a transaction is from one when
// the client address is in one of Networks, or when the envelope sender's
// domain is one of Domains (or a subdomain of one) and authenticated (SPF
// pass for it, or a valid DKIM signature by it), so a sender domain cannot
// simply be claimed.
type Forwarders struct {
	Networks []netip.Prefix
	Domains  []string
}

// Option adjusts an Auth for tests.
type Option func(*Auth)

// WithClock sets the clock results expire by (time.Now by default).
func WithClock(now func() time.Time) Option { return func(a *Auth) { a.now = now } }

// WithRand sets the source DMARC pct sampling draws from: it returns a
// number in [0, n). math/rand/v2's IntN by default.
func WithRand(intn func(n int) int) Option { return func(a *Auth) { a.intn = intn } }

// WithLogger sets the logger for debug lines about failed lookups (none by
// default).
func WithLogger(log *slog.Logger) Option { return func(a *Auth) { a.log = log } }

// Auth holds the SPF, DKIM and DMARC checks and their results per
// transaction. It is safe for concurrent use.
type Auth struct {
	cfg        Config
	res        Resolver
	now        func() time.Time
	intn       func(n int) int
	log        *slog.Logger
	fwdDomains []string // lower case, no trailing dot
	results    *store
}

// New returns the checks configured by cfg, asking res every DNS question.
func New(cfg Config, res Resolver, opts ...Option) (*Auth, error) {
	if res == nil {
		return nil, errors.New("msgauth: no resolver")
	}
	if cfg.DMARC && (!cfg.SPF || !cfg.DKIM) {
		return nil, errors.New("msgauth: DMARC needs SPF and DKIM enabled")
	}
	if cfg.MaxSignatures < 0 {
		return nil, fmt.Errorf("msgauth: max signatures %d is negative", cfg.MaxSignatures)
	}
	if cfg.MaxSignatures == 0 {
		cfg.MaxSignatures = DefaultMaxSignatures
	}
	if cfg.ResultTTL <= 0 {
		cfg.ResultTTL = DefaultResultTTL
	}
	if cfg.MaxResults <= 0 {
		cfg.MaxResults = DefaultMaxResults
	}
	a := &Auth{cfg: cfg, res: res, now: time.Now, intn: rand.IntN, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(a)
	}
	for _, d := range cfg.Forwarders.Domains {
		n := normDomain(d)
		if !validDomain(n) {
			return nil, fmt.Errorf("msgauth: trusted forwarder domain %q is not a domain name", d)
		}
		a.fwdDomains = append(a.fwdDomains, n)
	}
	for _, p := range cfg.Forwarders.Networks {
		if !p.IsValid() {
			return nil, errors.New("msgauth: invalid trusted forwarder network")
		}
	}
	a.results = newStore(cfg.ResultTTL, cfg.MaxResults, a.now)
	return a, nil
}

// Checks returns the enabled checks, for the pipeline: "spf" at the mail
// stage, "dkim" at the data stage and "dmarc" late at the data stage
// (after DKIM has finished).
func (a *Auth) Checks() []filter.Check {
	var out []filter.Check
	if a.cfg.SPF {
		out = append(out, &spfCheck{a: a})
	}
	if a.cfg.DKIM {
		out = append(out, &dkimCheck{a: a})
	}
	if a.cfg.DMARC {
		out = append(out, &dmarcCheck{a: a})
	}
	return out
}

// Results returns what the checks found for transaction t so far.
func (a *Auth) Results(t *filter.Txn) Results { return a.results.get(t.ID) }

// Forget drops the results of the transaction with the given id. The
// front end calls it when the transaction ends (delivered, rejected,
// reset or the connection closed).
func (a *Auth) Forget(id string) { a.results.forget(id) }

// AuthservID returns the authserv-id moat writes.
func (a *Auth) AuthservID() string { return a.cfg.AuthservID }

// normDomain lower-cases d and removes one trailing dot.
func normDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
}

// validDomain reports whether d (normalised) is a multi-label DNS name
// that can be looked up: labels of 1 to 63 bytes, at most 253 bytes, no
// white space, control or non-ASCII bytes, and none of the characters that
// have no place in a host name query ("\\", `"`, "[", "]", "@").
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 {
		return false
	}
	label, labels := 0, 1
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			labels++
			continue
		case c <= ' ' || c >= 0x7f || strings.IndexByte(`\"[]@`, c) >= 0:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0 && labels >= 2
}

// isSubdomain reports whether d is parent or a subdomain of it (both
// normalised).
func isSubdomain(d, parent string) bool {
	return d == parent || strings.HasSuffix(d, "."+parent)
}
