package courier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/relay/queue"
)

// Defaults applied by New to the zero fields of Options.
const (
	DefaultTimeout           = 2 * time.Minute
	DefaultPerDestination    = 10
	DefaultIdleTimeout       = 10 * time.Second
	DefaultVerifyPositiveTTL = 24 * time.Hour
	DefaultVerifyNegativeTTL = time.Hour
)

// maxDestinations bounds the destinations remembered by name.
const maxDestinations = 10000

// MXResolver is the DNS the courier needs; moat's filter/dnsx.Resolver
// has these methods.
type MXResolver interface {
	// LookupMX returns the MX records of name (hosts ending in a dot).
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	// LookupIPAddr returns the addresses of host.
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Dialer opens connections; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Options configure a Courier.
type Options struct {
	// Hostname is the name said in EHLO and LHLO. Required.
	Hostname string
	// Routes returns the route of a recipient domain (lower case, no
	// trailing dot), false when it has none.
	Routes func(domain string) (Route, bool)
	// Default is the route of domains Routes does not know (bounces to
	// foreign senders); normally {MX: true}. Nil: such recipients have no
	// route (ErrNoRoute).
	Default *Route
	// Resolver looks up MX records and host addresses. Required for MX
	// routes; when nil, host names of fixed routes are left to Dialer.
	Resolver MXResolver
	// Timeout bounds each wait for the server (connecting, one reply, one
	// write). DefaultTimeout when 0.
	Timeout time.Duration
	// PerDestination is the most connections open at once to one
	// destination. DefaultPerDestination when 0.
	PerDestination int
	// IdleTimeout is how long an unused connection is kept for reuse.
	// DefaultIdleTimeout when 0; negative disables reuse.
	IdleTimeout time.Duration
	// Cache holds verification results, shared by moat instances. Nil
	// disables caching.
	Cache state.Store
	// VerifyPositiveTTL is how long an existing recipient is remembered.
	// DefaultVerifyPositiveTTL when 0.
	VerifyPositiveTTL time.Duration
	// VerifyNegativeTTL is how long an unknown recipient is remembered.
	// DefaultVerifyNegativeTTL when 0.
	VerifyNegativeTTL time.Duration
	// Log receives connection and verification events; nil discards them.
	Log *slog.Logger
	// Dialer opens connections; a net.Dialer when nil.
	Dialer Dialer
	// Now is the clock of idle timeouts and cache expiry; time.Now when
	// nil.
	Now func() time.Time
}

// Courier delivers messages to routes and makes verification callouts. It
// is safe for concurrent use.
type Courier struct {
	opts     Options
	log      *slog.Logger
	resolver MXResolver

	mu     sync.Mutex
	closed bool
	pools  map[string]*destPool
	dests  map[string]*destination // by name, as handed out by Route

	readers     readers
	verifying   sync.Map // verify cache key -> *flight
	done        chan struct{}
	janitorDone chan struct{}
}

// New returns a Courier. Close it to release its connections.
func New(opts Options) (*Courier, error) {
	if opts.Hostname == "" || strings.ContainsAny(opts.Hostname, " \t\r\n") {
		return nil, fmt.Errorf("courier: Options.Hostname %q is not a host name", opts.Hostname)
	}
	if opts.Default != nil {
		if _, err := newDestination(*opts.Default, "example.org"); err != nil {
			return nil, fmt.Errorf("courier: default route: %w", err)
		}
		if opts.Default.MX && opts.Resolver == nil {
			return nil, errors.New("courier: the default route uses MX but there is no resolver")
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.PerDestination <= 0 {
		opts.PerDestination = DefaultPerDestination
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.VerifyPositiveTTL <= 0 {
		opts.VerifyPositiveTTL = DefaultVerifyPositiveTTL
	}
	if opts.VerifyNegativeTTL <= 0 {
		opts.VerifyNegativeTTL = DefaultVerifyNegativeTTL
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Courier{
		opts: opts, log: log, resolver: opts.Resolver,
		pools: make(map[string]*destPool), dests: make(map[string]*destination),
		done: make(chan struct{}), janitorDone: make(chan struct{}),
	}
	interval := min(max(opts.IdleTimeout/2, time.Second), 30*time.Second)
	if opts.IdleTimeout < 0 {
		interval = 30 * time.Second
	}
	go c.janitor(interval)
	return c, nil
}

// Close closes the idle connections and makes later calls fail with
// ErrClosed; connections in use are closed when their call ends.
func (c *Courier) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.done)
	<-c.janitorDone
	c.closeIdle()
	return nil
}

// Route returns the name of the destination rcpt's mail goes to:
// "smtp:HOST:PORT", "lmtp:HOST:PORT", "lmtp:/SOCKET" or "mx:DOMAIN" (with
// ":PORT" when not 25), followed by "#" and a hash of the connection
// settings when they are not the defaults. Recipients with the same name
// can be delivered in one transaction.
//
// A recipient address that cannot be routed at all (no domain, no route
// and no default) fails for good: the error is a 5xx *queue.DeliveryError,
// so the queue bounces it at once instead of retrying until max_age.
func (c *Courier) Route(rcpt string) (string, error) {
	d, err := c.destinationOf(rcpt)
	switch {
	case errors.Is(err, ErrBadAddress):
		return "", &queue.DeliveryError{Code: 553, Enhanced: "5.1.3", Text: "bad recipient address syntax", Err: err}
	case errors.Is(err, ErrNoRoute):
		return "", &queue.DeliveryError{Code: 550, Enhanced: "5.4.4", Text: "unable to route", Err: err}
	case err != nil:
		return "", err
	}
	return d.name, nil
}

// destinationOf resolves rcpt's route and remembers it under its name.
func (c *Courier) destinationOf(rcpt string) (*destination, error) {
	_, domain, err := splitAddress(rcpt)
	if err != nil {
		return nil, err
	}
	var r Route
	ok := false
	if c.opts.Routes != nil {
		r, ok = c.opts.Routes(domain)
	}
	if !ok {
		if c.opts.Default == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoRoute, domain)
		}
		r = *c.opts.Default
	}
	d, err := newDestination(r, domain)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if have := c.dests[d.name]; have != nil && have.route == d.route {
		d = have
	} else {
		if len(c.dests) >= maxDestinations {
			clear(c.dests) // names are found again through the recipients
		}
		c.dests[d.name] = d
	}
	c.mu.Unlock()
	return d, nil
}

// lookupDestination returns the destination named name: the one Route
// handed out, else the route of one of rcpts that has that name, else one
// rebuilt from the name with default settings (a name recorded before a
// restart whose route is gone).
func (c *Courier) lookupDestination(name string, rcpts []string) (*destination, error) {
	c.mu.Lock()
	d := c.dests[name]
	c.mu.Unlock()
	if d != nil {
		return d, nil
	}
	for _, r := range rcpts {
		if d, err := c.destinationOf(r); err == nil && d.name == name {
			return d, nil
		}
	}
	d, err := parseDestination(name)
	if err != nil {
		return nil, err
	}
	if d.route.MX && c.resolver == nil {
		return nil, fmt.Errorf("%w: %s needs a resolver", ErrNoRoute, name)
	}
	c.log.Warn("courier: destination no longer configured; using default settings", "destination", name)
	return d, nil
}

// shuffle puts MX hosts of equal preference in random order.
func (c *Courier) shuffle(hosts []string) {
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
}
