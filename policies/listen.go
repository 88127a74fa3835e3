package policies

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Listen holds the listeners. Each entry is "host:port" or a mapping with
// an address and options (see Listener).
type Listen struct {
	// SMTP listeners receive mail from the Internet (port 25).
	SMTP []Listener `yaml:"smtp"`
	// Submission listeners (port 587) require STARTTLS and AUTH; only
	// authenticated users send mail through them.
	Submission []Listener `yaml:"submission"`
	// Submissions listeners (port 465) are submission over implicit TLS.
	Submissions []Listener `yaml:"submissions"`
	// IMAP and POP3 serve the built-in store; IMAPS and POP3S are their
	// implicit-TLS forms (ports 993 and 995).
	IMAP  []Listener `yaml:"imap"`
	IMAPS []Listener `yaml:"imaps"`
	POP3  []Listener `yaml:"pop3"`
	POP3S []Listener `yaml:"pop3s"`
	// Metrics is the host:port of the Prometheus /metrics, /healthz and
	// /readyz endpoints; "" serves none.
	Metrics string `yaml:"metrics"`
}

// Listener is one listening address and its options.
type Listener struct {
	// Address is host:port; an empty host listens on every interface.
	Address string `yaml:"address"`
	// ProxyProtocol expects a PROXY protocol (v1 or v2) header from a
	// proxy in proxy.trusted on every connection; others are refused.
	ProxyProtocol bool `yaml:"proxy_protocol"`
	// AllowPlaintext allows passwords (IMAP LOGIN, POP3 USER/PASS, SASL
	// PLAIN, SMTP AUTH) without TLS on a non-loopback address.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// RateLimit, when set, replaces the global ratelimit section for
	// this listener ({} turns rate limits off here).
	RateLimit *RateLimitConfig `yaml:"ratelimit"`
}

// Addrs returns the listeners' addresses.
func Addrs(ls []Listener) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Address
	}
	return out
}

// Listeners makes plain listeners from addresses.
func Listeners(addrs ...string) []Listener {
	out := make([]Listener, len(addrs))
	for i, a := range addrs {
		out[i] = Listener{Address: a}
	}
	return out
}

// UnmarshalYAML decodes "host:port" or a mapping of address,
// proxy_protocol, allow_plaintext and ratelimit.
func (l *Listener) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		*l = Listener{Address: n.Value}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return nodeError(n, "want host:port or a mapping with address, got %s", kindName(n))
	}
	var errs []string
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if prev, ok := seen[k.Value]; ok {
			errs = append(errs, nodeErrorText(k, "already set at line %d", prev))
			continue
		}
		seen[k.Value] = k.Line
		var err error
		switch k.Value {
		case "address":
			err = v.Decode(&l.Address)
		case "proxy_protocol":
			err = v.Decode(&l.ProxyProtocol)
		case "allow_plaintext":
			err = v.Decode(&l.AllowPlaintext)
		case "ratelimit":
			rl := &RateLimitConfig{}
			err = rl.decodeStrict(v)
			l.RateLimit = rl
		default:
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type policies.Listener", k.Line, k.Value))
			continue
		}
		if err != nil {
			errs = append(errs, typeErrorTexts(err, v)...)
		}
	}
	if _, ok := seen["address"]; !ok {
		errs = append(errs, nodeErrorText(n, "address is required"))
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// typeErrorTexts returns the texts of a decoding error, positioned at v
// when the decoder gave none.
func typeErrorTexts(err error, v *yaml.Node) []string {
	if te, ok := err.(*yaml.TypeError); ok {
		return te.Errors
	}
	return []string{nodeErrorText(v, "%v", err)}
}

func (c *Config) checkListen(r *reporter) {
	rules := hostPortRules{anyHost: true, anyPort: true}
	for _, l := range c.Listen.all() {
		for i, li := range l.ls {
			p := keyPath{"listen", l.key}.index(i)
			if msg := checkHostPort(li.Address, rules); msg != "" {
				r.add(p, "%s", msg)
			}
			if li.ProxyProtocol && len(c.Proxy.Trusted) == 0 {
				r.add(p, "proxy_protocol needs proxy.trusted (the addresses of your proxies)")
			}
			if li.RateLimit != nil {
				li.RateLimit.check(r, p.with("ratelimit"))
			}
		}
	}
	if c.Listen.Metrics != "" {
		if msg := checkHostPort(c.Listen.Metrics, rules); msg != "" {
			r.add(keyPath{"listen", "metrics"}, "%s", msg)
		}
	}
	checkNetworks(r, keyPath{"proxy", "trusted"}, c.Proxy.Trusted)
	tlsNeeded := len(c.Listen.Submission)+len(c.Listen.Submissions)+len(c.Listen.IMAPS)+len(c.Listen.POP3S) > 0
	if tlsNeeded && c.TLS.Cert == "" && !c.TLS.SelfSigned {
		r.add(keyPath{"tls"}, "listen.submission, submissions, imaps and pop3s need a certificate: set tls.cert and tls.key, or tls.self_signed: true for a test setup")
	}
}

// namedListeners is one listen key and its listeners.
type namedListeners struct {
	key string
	ls  []Listener
}

func (l *Listen) all() []namedListeners {
	return []namedListeners{
		{"smtp", l.SMTP}, {"submission", l.Submission}, {"submissions", l.Submissions},
		{"imap", l.IMAP}, {"imaps", l.IMAPS}, {"pop3", l.POP3}, {"pop3s", l.POP3S},
	}
}

// Proxy configures the PROXY protocol.
type Proxy struct {
	// Trusted are the networks of the proxies (load balancers) allowed to
	// send PROXY headers to listeners with proxy_protocol: true.
	Trusted []string `yaml:"trusted"`
}
