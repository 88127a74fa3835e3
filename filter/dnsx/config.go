package dnsx

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/miekg/dns"
)

// DefaultResolvConf is the file the nameservers are read from when
// Config.Servers is empty.
const DefaultResolvConf = "/etc/resolv.conf"

// Defaults applied by New to the zero fields of a Config.
const (
	DefaultTimeout   = 2 * time.Second
	DefaultAttempts  = 2
	DefaultCacheSize = 10000
	DefaultMaxTTL    = time.Hour
	DefaultUDPSize   = 1232
)

// Config configures a Resolver. The zero value is usable: the nameservers of
// /etc/resolv.conf and the defaults above.
type Config struct {
	// Servers are the recursive resolvers to ask, "host:port" (dns.servers
	// in moat.yaml). Empty: the nameservers listed in ResolvConf.
	Servers []string
	// ResolvConf is read when Servers is empty; DefaultResolvConf when "".
	ResolvConf string
	// Timeout bounds one attempt (one query to one server, including a TCP
	// retry after a truncated UDP answer). DefaultTimeout when 0.
	Timeout time.Duration
	// Attempts is how many rounds through Servers a lookup may take before
	// it gives up. A server that answered SERVFAIL or REFUSED is not asked
	// again for that lookup; one that timed out is. DefaultAttempts when 0.
	Attempts int
	// CacheSize bounds the number of cached answers (positive and
	// negative). DefaultCacheSize when 0; a negative value disables the
	// cache.
	CacheSize int
	// MinTTL raises shorter TTLs of answers that are cached (0: no floor).
	MinTTL time.Duration
	// MaxTTL caps how long any answer is cached. DefaultMaxTTL when 0.
	MaxTTL time.Duration
	// UDPSize is the EDNS0 UDP payload size advertised. DefaultUDPSize
	// (1232, the DNS flag day 2020 value) when 0.
	UDPSize uint16
	// Now is the clock TTLs are measured with; time.Now when nil.
	Now func() time.Time
	// Log receives debug lines about failed queries; nil discards them.
	Log *slog.Logger
}

// ReadResolvConf returns the nameservers of a resolv.conf file as
// "host:port" addresses.
func ReadResolvConf(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(cc.Servers) == 0 {
		return nil, fmt.Errorf("%s lists no nameserver", path)
	}
	port := cc.Port
	if port == "" {
		port = "53"
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, port))
	}
	return out, nil
}

// withDefaults returns c with its zero fields set and Servers resolved.
func (c Config) withDefaults() (Config, error) {
	if len(c.Servers) == 0 {
		path := c.ResolvConf
		if path == "" {
			path = DefaultResolvConf
		}
		servers, err := ReadResolvConf(path)
		if err != nil {
			return c, fmt.Errorf("dnsx: no servers configured: %w", err)
		}
		c.Servers = servers
	}
	for _, s := range c.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return c, fmt.Errorf("dnsx: server %q: want host:port: %w", s, err)
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.UDPSize == 0 {
		c.UDPSize = DefaultUDPSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
