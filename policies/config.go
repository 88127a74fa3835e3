package policies

import (
	"time"
)

// Config is the whole of moat.yaml. Every key is documented in README.md and
// deploy/moat.example.yaml. Unknown keys are errors.
type Config struct {
	// Hostname is moat's own name: SMTP greeting, Received headers,
	// authserv-id. Default "localhost".
	Hostname string `yaml:"hostname"`
	// DataDir holds the store, queue, embedded state and control socket.
	// Default "./moat-data". Relative paths are relative to the working
	// directory of the process.
	DataDir string `yaml:"data_dir"`
	Listen  Listen `yaml:"listen"`
	// Proxy lists the proxies allowed to send PROXY protocol headers.
	Proxy Proxy `yaml:"proxy"`
	TLS   TLS   `yaml:"tls"`
	DNS   DNS   `yaml:"dns"`
	State State `yaml:"state"`
	// Domains are the domains moat accepts mail for, by lower-case name.
	// Mail to any other domain is refused with 550 5.7.1 (never an open
	// relay).
	Domains map[string]Domain `yaml:"domains"`
	Limits  Limits            `yaml:"limits"`
	// RateLimit holds the rate limits shared across instances.
	RateLimit RateLimitConfig `yaml:"ratelimit"`
	// Queue configures the durable relay queue; Callout recipient
	// verification; Store the built-in mail store.
	Queue    Queue          `yaml:"queue"`
	Callout  Callout        `yaml:"callout"`
	Store    StoreConfig    `yaml:"store"`
	Greylist GreylistConfig `yaml:"greylist"`
	// DNSBL and URIBL are the DNS block and allow lists; FCrDNS and HELO
	// the client checks.
	DNSBL  DNSLists     `yaml:"dnsbl"`
	URIBL  URILists     `yaml:"uribl"`
	FCrDNS FCrDNSConfig `yaml:"fcrdns"`
	Helo   HeloChecks   `yaml:"helo"`
	// SPF, DKIM and DMARC configure sender authentication.
	SPF   SPFConfig   `yaml:"spf"`
	DKIM  DKIMConfig  `yaml:"dkim"`
	DMARC DMARCConfig `yaml:"dmarc"`
	// Rules are the content rules.
	Rules RulesConfig `yaml:"rules"`
	// Bayes is the Bayesian content scorer.
	Bayes  BayesConfig  `yaml:"bayes"`
	Log    Log          `yaml:"log"`
	Policy PolicyConfig `yaml:"policy"`

	// File is the path the configuration was loaded from ("" for the
	// built-in defaults). Not a YAML key.
	File string `yaml:"-"`
}

// TLS names the certificate and key files. STARTTLS is offered when both
// are set (or self_signed is on). They are read again on SIGHUP.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// SelfSigned makes moat generate a self-signed certificate on first
	// start (at cert and key, or in data_dir/tls when those are empty), for
	// test setups only; it is logged as such.
	SelfSigned bool `yaml:"self_signed"`
}

// State configures the shared state backend.
type State struct {
	// Redis is the Redis URL (redis://, rediss://, redis-sentinel://,
	// redis-cluster://; see filter/state); empty means the embedded store
	// in data_dir.
	Redis string `yaml:"redis"`
	// Prefix is put before every Redis key. Default "moat:". Instances
	// sharing a Redis share state only with the same prefix.
	Prefix string `yaml:"prefix"`
}

// Delivery modes for a domain.
const (
	DeliverLocal = "local"
	DeliverRelay = "relay"
)

// Limits bound what one client can make moat do.
type Limits struct {
	// MessageSize is the largest message accepted, in bytes (SIZE). 552.
	MessageSize int64 `yaml:"message_size"`
	// Recipients is the most recipients per message. 452.
	Recipients int `yaml:"recipients"`
	// LineLength is the longest command or message line, in bytes. 500.
	LineLength int `yaml:"line_length"`
	// CommandTimeout is how long moat waits for the next command. 421.
	CommandTimeout Duration `yaml:"command_timeout"`
	// DataTimeout is how long moat waits for the whole message after DATA
	// or between BDAT chunks. 421.
	DataTimeout Duration `yaml:"data_timeout"`
	// Connections is the most simultaneous SMTP connections in total. 421.
	Connections int `yaml:"connections"`
	// ConnectionsPerIP is the most simultaneous connections from one client
	// IP address. 421.
	ConnectionsPerIP int `yaml:"connections_per_ip"`
	// CheckTimeout is the deadline of each check at each stage.
	CheckTimeout Duration `yaml:"check_timeout"`
	// MemorySpool is how many bytes of a message are kept in memory before
	// the rest goes to a spool file in data_dir.
	MemorySpool int `yaml:"memory_spool"`
	// RelayTimeout bounds one downstream SMTP exchange (connect, each
	// command, the data transfer).
	RelayTimeout Duration `yaml:"relay_timeout"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// Duration is a time.Duration written in YAML as a Go duration string
// ("30s", "5m", "48h").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }
