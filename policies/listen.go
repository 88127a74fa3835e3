package policies

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

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
				checkListenerRateLimit(r, p.with("ratelimit"), li.RateLimit)
			}
		}
	}
	if c.Listen.Metrics != "" {
		if msg := checkHostPort(c.Listen.Metrics, rules); msg != "" {
			r.add(keyPath{"listen", "metrics"}, "%s", msg)
		}
	}
	// A file whose listeners a decoding error (reported already) lost is
	// not told it has none; without such an error the rule always holds.
	lost := len(r.probs) > 0 && smtpListenersUndecoded(r.root)
	if len(c.Listen.SMTP)+len(c.Listen.Submission)+len(c.Listen.Submissions) == 0 && !lost {
		r.add(keyPath{"listen"}, "at least one of listen.smtp, listen.submission, listen.submissions is needed")
	}
	c.Listen.checkOverlaps(r)
	checkNetworks(r, keyPath{"proxy", "trusted"}, c.Proxy.Trusted)
	tlsNeeded := len(c.Listen.Submission)+len(c.Listen.Submissions)+len(c.Listen.IMAPS)+len(c.Listen.POP3S) > 0
	if tlsNeeded && c.TLS.Cert == "" && !c.TLS.SelfSigned {
		r.add(keyPath{"tls"}, "listen.submission, submissions, imaps and pop3s need a certificate: set tls.cert and tls.key, or tls.self_signed: true for a test setup")
	}
}

// smtpListenersUndecoded reports whether the document at root (nil for a
// Config built in code) is not a mapping or writes an SMTP listener the
// Config lacks: a decoding error, reported already, lost it.
func smtpListenersUndecoded(root *yaml.Node) bool {
	if root == nil {
		return false
	}
	if root.Kind != yaml.MappingNode {
		return true
	}
	listen := mappingValue(root, "listen")
	if listen == nil || listen.ShortTag() == "!!null" {
		return false
	}
	if listen.Kind != yaml.MappingNode {
		return true
	}
	for _, key := range []string{"smtp", "submission", "submissions"} {
		v := mappingValue(listen, key)
		if v != nil && !(v.Kind == yaml.SequenceNode && len(v.Content) == 0) && v.ShortTag() != "!!null" {
			return true
		}
	}
	return false
}

// mappingValue returns the value of key in the mapping n, following
// aliases, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

// checkListenerRateLimit reports the limits a listener's own ratelimit
// section cannot set: the failed-login guard is shared by every listener.
func checkListenerRateLimit(r *reporter, p keyPath, rl *RateLimitConfig) {
	for _, f := range []struct {
		key string
		set bool
	}{{"auth_failures_per_ip", rl.AuthFailuresPerIP != nil}, {"auth_failures_per_user", rl.AuthFailuresPerUser != nil}} {
		if f.set {
			r.add(p.with(f.key), "set auth_failures_* in the global ratelimit section; they apply to every listener")
		}
	}
}

// boundAddr is a listening address as the kernel sees it: an IP address
// (unmapped) or a host name, and a port.
type boundAddr struct {
	path keyPath
	text string
	// host is "" for every address: Go listens on both families
	// (dual-stack) for an empty host, 0.0.0.0 and [::] alike.
	host string
	port uint64
}

// parseBoundAddr splits a listening address; ok is false for one that is
// invalid (reported by checkHostPort) or has port 0 (any free port, which
// never collides).
func parseBoundAddr(p keyPath, s string) (b boundAddr, ok bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return boundAddr{}, false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return boundAddr{}, false
	}
	b = boundAddr{path: p, text: s, host: strings.ToLower(host), port: n}
	if ip, err := netip.ParseAddr(host); err == nil {
		b.host = ip.Unmap().String()
		if ip.IsUnspecified() {
			b.host = ""
		}
	}
	return b, true
}

// checkOverlaps reports a listener whose address is taken by an earlier
// one, listen.metrics included: the same host and port, or the same port
// where either listens on every address (the second could not be bound).
func (l *Listen) checkOverlaps(r *reporter) {
	var seen []boundAddr
	visit := func(p keyPath, s string) {
		b, ok := parseBoundAddr(p, s)
		if !ok {
			return
		}
		for _, prev := range seen {
			switch {
			case prev.port != b.port:
				continue
			case prev.host == b.host && b.host != "" || prev.text == s:
				r.add(p, "%q already used by %s", s, prev.path)
			case prev.host == "":
				r.add(p, "%q already used by %s (%q listens on every address, IPv4 and IPv6)", s, prev.path, prev.text)
			case b.host == "":
				r.add(p, "%q listens on every address, IPv4 and IPv6, including that of %s (%q)", s, prev.path, prev.text)
			default:
				continue
			}
			return
		}
		seen = append(seen, b)
	}
	for _, nl := range l.all() {
		for i, li := range nl.ls {
			visit(keyPath{"listen", nl.key}.index(i), li.Address)
		}
	}
	if l.Metrics != "" {
		visit(keyPath{"listen", "metrics"}, l.Metrics)
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
