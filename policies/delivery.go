package policies

import (
	"slices"
	"time"
)

// Route modes of a relayed domain.
const (
	// ModeQueue accepts the message into the durable queue (250 once it is
	// on disk) and delivers it afterwards, with retries and bounces.
	ModeQueue = "queue"
	// ModeProxy relays inside the client's transaction (before-queue):
	// the downstream's answer is the client's.
	ModeProxy = "proxy"
)

// RelayMX in a domain's relay key delivers to the domain's MX hosts.
const RelayMX = "mx"

// TLS modes of a downstream route.
const (
	TLSNone          = "none"
	TLSOpportunistic = "opportunistic"
	TLSRequired      = "required"
)

// Domain is one domain moat accepts mail for.
type Domain struct {
	// Deliver is "local" (built-in store) or "relay" (downstream MTA).
	Deliver string `yaml:"deliver"`
	// Relay is the downstream "host:port", or mx to look up the domain's
	// MX hosts, for deliver: relay.
	Relay string `yaml:"relay"`
	// Mode is queue (default) or proxy, for deliver: relay.
	Mode string `yaml:"mode"`
	// LMTP speaks LMTP instead of SMTP to the relay.
	LMTP bool `yaml:"lmtp"`
	// TLS is none, opportunistic (default) or required, for the
	// connection to the relay.
	TLS string `yaml:"tls"`
	// TLSVerify verifies the relay's certificate (name and chain); with
	// tls: opportunistic an unverified certificate still encrypts.
	TLSVerify bool `yaml:"tls_verify"`
	// TLSServerName is the name to verify; default the relay's host.
	TLSServerName string `yaml:"tls_server_name"`
	// Username and Password authenticate to a smarthost (AUTH PLAIN,
	// only over TLS).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// VerifyRecipients asks the relay at RCPT time whether it accepts the
	// recipient (a callout, cached; see callout), so unknown users get
	// 550 from moat and nothing bounces later.
	VerifyRecipients bool `yaml:"verify_recipients"`
}

// Queue configures the durable relay queue in data_dir/queue.
type Queue struct {
	// MaxAge is how long a message is retried before it bounces. 120h.
	MaxAge Duration `yaml:"max_age"`
	// MinBackoff and MaxBackoff bound the exponential retry delay (with
	// jitter). 1m and 1h.
	MinBackoff Duration `yaml:"min_backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
	// Workers is the most deliveries at once. 32.
	Workers int `yaml:"workers"`
	// PerRoute is the most deliveries at once to one destination. 8.
	PerRoute int `yaml:"per_route"`
}

// Callout configures recipient verification (domains with
// verify_recipients: true).
type Callout struct {
	// PositiveTTL and NegativeTTL are how long an answer is remembered
	// (in the shared state). 24h and 1h.
	PositiveTTL Duration `yaml:"positive_ttl"`
	NegativeTTL Duration `yaml:"negative_ttl"`
	// OnError is what a recipient gets when the relay cannot be asked:
	// tempfail (451 4.4.3, default) or accept.
	OnError string `yaml:"on_error"`
}

// StoreConfig configures the built-in mail store in data_dir/store.
type StoreConfig struct {
	// Quota is each user's default quota in bytes; 0 is unlimited.
	Quota int64 `yaml:"quota"`
}

// Built-in delivery defaults.
const (
	DefaultQueueMaxAge     = 120 * time.Hour
	DefaultQueueMinBackoff = time.Minute
	DefaultQueueMaxBackoff = time.Hour
	DefaultQueueWorkers    = 32
	DefaultQueuePerRoute   = 8
	DefaultCalloutPositive = 24 * time.Hour
	DefaultCalloutNegative = time.Hour
	CalloutTempfail        = "tempfail"
	CalloutAccept          = "accept"
)

func (c *Config) setDeliveryDefaults() {
	c.Queue = Queue{
		MaxAge:     Duration(DefaultQueueMaxAge),
		MinBackoff: Duration(DefaultQueueMinBackoff),
		MaxBackoff: Duration(DefaultQueueMaxBackoff),
		Workers:    DefaultQueueWorkers,
		PerRoute:   DefaultQueuePerRoute,
	}
	c.Callout = Callout{
		PositiveTTL: Duration(DefaultCalloutPositive),
		NegativeTTL: Duration(DefaultCalloutNegative),
		OnError:     CalloutTempfail,
	}
	c.RateLimit.setDefaults()
}

// normalizeDomain fills a domain's implicit values.
func (d *Domain) normalize() {
	if d.Deliver == "" {
		d.Deliver = DeliverLocal
	}
	if d.Deliver == DeliverRelay {
		if d.Mode == "" {
			d.Mode = ModeQueue
		}
		if d.TLS == "" {
			d.TLS = TLSOpportunistic
		}
	}
}

func (c *Config) checkDelivery(r *reporter) {
	q, p := c.Queue, keyPath{"queue"}
	for _, f := range []struct {
		key string
		v   Duration
	}{{"max_age", q.MaxAge}, {"min_backoff", q.MinBackoff}, {"max_backoff", q.MaxBackoff}} {
		if f.v <= 0 {
			r.add(p.with(f.key), "must be positive, got %s", f.v)
		}
	}
	if q.MaxBackoff < q.MinBackoff {
		r.add(p.with("max_backoff"), "must not be less than min_backoff (%s)", q.MinBackoff)
	}
	if q.Workers <= 0 {
		r.add(p.with("workers"), "must be positive, got %d", q.Workers)
	}
	if q.PerRoute <= 0 {
		r.add(p.with("per_route"), "must be positive, got %d", q.PerRoute)
	}
	cp := keyPath{"callout"}
	if c.Callout.PositiveTTL <= 0 {
		r.add(cp.with("positive_ttl"), "must be positive, got %s", c.Callout.PositiveTTL)
	}
	if c.Callout.NegativeTTL <= 0 {
		r.add(cp.with("negative_ttl"), "must be positive, got %s", c.Callout.NegativeTTL)
	}
	if !slices.Contains([]string{CalloutTempfail, CalloutAccept}, c.Callout.OnError) {
		r.add(cp.with("on_error"), "want tempfail or accept, got %q", c.Callout.OnError)
	}
	if c.Store.Quota < 0 {
		r.add(keyPath{"store", "quota"}, "must not be negative, got %d", c.Store.Quota)
	}
	c.RateLimit.check(r, keyPath{"ratelimit"})
}

// checkRelayDomain reports problems with the relay options of a domain.
func checkRelayDomain(r *reporter, p keyPath, d Domain) {
	if d.Relay == "" {
		r.add(p, "deliver: relay needs relay: HOST:PORT (or relay: mx)")
	} else if d.Relay != RelayMX {
		if msg := checkHostPort(d.Relay, hostPortRules{}); msg != "" {
			r.add(p.with("relay"), "%s (or mx)", msg)
		}
	}
	if !slices.Contains([]string{ModeQueue, ModeProxy}, d.Mode) {
		r.add(p.with("mode"), "want queue or proxy, got %q", d.Mode)
	}
	if !slices.Contains([]string{TLSNone, TLSOpportunistic, TLSRequired}, d.TLS) {
		r.add(p.with("tls"), "want none, opportunistic or required, got %q", d.TLS)
	}
	if (d.Username == "") != (d.Password == "") {
		r.add(p.with("username"), "username and password go together")
	}
	if d.Username != "" && d.TLS == TLSNone {
		r.add(p.with("tls"), "AUTH to the relay needs TLS: set tls: required (or opportunistic)")
	}
	if d.LMTP && d.Relay == RelayMX {
		r.add(p.with("lmtp"), "LMTP needs a relay host, not mx")
	}
	if d.Mode == ModeProxy && d.LMTP {
		r.add(p.with("lmtp"), "mode: proxy speaks SMTP; LMTP needs mode: queue")
	}
	if d.Mode == ModeProxy {
		checkProxyDomain(r, p, d)
	}
}

// checkProxyDomain reports the options mode: proxy would ignore: it relays
// over plain SMTP, without AUTH, to one fixed host. tls: opportunistic (the
// default) and none are accepted, as plain SMTP is what they allow.
func checkProxyDomain(r *reporter, p keyPath, d Domain) {
	for _, f := range []struct {
		key string
		set bool
	}{
		{"relay", d.Relay == RelayMX}, {"tls", d.TLS == TLSRequired}, {"tls_verify", d.TLSVerify},
		{"tls_server_name", d.TLSServerName != ""}, {"username", d.Username != ""}, {"password", d.Password != ""},
	} {
		if f.set {
			r.add(p.with(f.key), "mode: proxy speaks plain SMTP to the relay; TLS, AUTH and mx need mode: queue")
		}
	}
}

// checkLocalDomain reports relay options set on a local domain.
func checkLocalDomain(r *reporter, p keyPath, d Domain) {
	for _, f := range []struct {
		key string
		set bool
	}{
		{"relay", d.Relay != ""}, {"mode", d.Mode != ""}, {"lmtp", d.LMTP}, {"tls", d.TLS != ""},
		{"tls_verify", d.TLSVerify}, {"tls_server_name", d.TLSServerName != ""},
		{"username", d.Username != ""}, {"password", d.Password != ""}, {"verify_recipients", d.VerifyRecipients},
	} {
		if f.set {
			r.add(p.with(f.key), "only for deliver: relay (this domain is delivered locally)")
		}
	}
}
