package policies

import (
	"fmt"
	"github.com/moatmail/moat/filter/dnsbl"
	"github.com/moatmail/moat/filter/state"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
)

// Validate checks a configuration built in code (such as Default()) the way
// Load checks a file. Problems are reported one per line as "key: message";
// the error is nil when there are none.
func (c *Config) Validate() error {
	r := &reporter{}
	c.check(r)
	return r.err()
}

// check reports every problem with c.
func (c *Config) check(r *reporter) {
	if !validDomain(c.Hostname) {
		r.add(keyPath{"hostname"}, "want a host name such as mx.example.com, got %q", c.Hostname)
	}
	if c.DataDir == "" {
		r.add(keyPath{"data_dir"}, "must not be empty")
	}
	c.checkListen(r)
	c.checkTLS(r)
	c.DNS.check(r, keyPath{"dns"})
	c.DNSBL.check(r, keyPath{"dnsbl"}, dnsbl.IPList)
	c.URIBL.check(r, keyPath{"uribl"})
	c.Helo.check(r, keyPath{"helo"})
	c.checkAuth(r)
	c.Rules.check(r, keyPath{"rules"})
	c.Bayes.check(r, keyPath{"bayes"})
	if c.State.Redis != "" {
		if msg := checkRedisURL(c.State.Redis); msg != "" {
			r.add(keyPath{"state", "redis"}, "%s", msg)
		}
	}
	c.checkDomains(r)
	c.checkDelivery(r)
	if c.State.Prefix == "" {
		r.add(keyPath{"state", "prefix"}, "must not be empty")
	}
	c.Limits.check(r, keyPath{"limits"})
	c.Greylist.check(r, keyPath{"greylist"})
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		r.add(keyPath{"log", "level"}, "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		r.add(keyPath{"log", "format"}, "want text or json, got %q", c.Log.Format)
	}
	c.Policy.check(r, keyPath{"policy"})
}

func (c *Config) checkTLS(r *reporter) {
	switch {
	case c.TLS.Cert == "" && c.TLS.Key == "":
		return
	case c.TLS.SelfSigned:
		return // generated at first start when missing
	case c.TLS.Key == "":
		r.add(keyPath{"tls", "cert"}, "tls.key must be set too (both or neither)")
		return
	case c.TLS.Cert == "":
		r.add(keyPath{"tls", "key"}, "tls.cert must be set too (both or neither)")
		return
	}
	for _, f := range []struct{ key, path string }{{"cert", c.TLS.Cert}, {"key", c.TLS.Key}} {
		if msg := checkReadable(f.path); msg != "" {
			r.add(keyPath{"tls", f.key}, "%s", msg)
		}
	}
}

// checkReadable returns why the file at path cannot be read, or "". Only
// regular files are opened, so a FIFO cannot block validation.
func checkReadable(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Sprintf("cannot read: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Sprintf("%q is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("cannot read: %v", err)
	}
	f.Close()
	return ""
}

// checkRedisURL returns what is wrong with a state.redis URL, or "".
func checkRedisURL(s string) string {
	if err := state.ValidateRedisURL(s); err != nil {
		return strings.TrimPrefix(err.Error(), "state: ")
	}
	return ""
}

func (c *Config) checkDomains(r *reporter) {
	for _, name := range sortedKeys(c.Domains) {
		d := c.Domains[name]
		p := keyPath{"domains", name}
		switch {
		case !validDomain(name):
			r.add(p, "not a valid domain name")
		case name != strings.ToLower(name):
			r.add(p, "domain names must be lower-case (write %q)", strings.ToLower(name))
		}
		switch d.Deliver {
		case DeliverLocal:
			checkLocalDomain(r, p, d)
		case DeliverRelay:
			checkRelayDomain(r, p, d)
		default:
			r.add(p.with("deliver"), "want local or relay, got %q", d.Deliver)
		}
	}
}

func (l *Limits) check(r *reporter, p keyPath) {
	ints := []struct {
		key string
		v   int64
	}{
		{"message_size", l.MessageSize},
		{"recipients", int64(l.Recipients)},
		{"line_length", int64(l.LineLength)},
		{"connections", int64(l.Connections)},
		{"connections_per_ip", int64(l.ConnectionsPerIP)},
		{"memory_spool", int64(l.MemorySpool)},
	}
	for _, f := range ints {
		if f.v <= 0 {
			r.add(p.with(f.key), "must be positive, got %d", f.v)
		}
	}
	durs := []struct {
		key string
		v   Duration
	}{
		{"command_timeout", l.CommandTimeout},
		{"data_timeout", l.DataTimeout},
		{"check_timeout", l.CheckTimeout},
		{"relay_timeout", l.RelayTimeout},
	}
	for _, f := range durs {
		if f.v <= 0 {
			r.add(p.with(f.key), "must be positive, got %s", f.v)
		}
	}
}

// check reports every problem with the policy section at p.
func (pc *PolicyConfig) check(r *reporter, p keyPath) {
	pc.Thresholds.check(r, p.with("thresholds"))
	checkScores(r, p.with("scores"), pc.Scores)
	for _, name := range sortedKeys(pc.ForceActions) {
		kp := p.with("force_actions", name)
		if !validSymbolName(name) {
			r.add(kp, "symbol names are UPPER_SNAKE (A-Z, 0-9, _), got %q", name)
		}
		if _, err := ParseAction(pc.ForceActions[name]); err != nil {
			r.add(kp, "%v", err)
		}
	}
	checkNetworks(r, p.with("trusted_networks"), pc.TrustedNetworks)
	pc.Allow.check(r, p.with("allow"))
	pc.Block.check(r, p.with("block"))
	lower := make(map[string]string, len(pc.Recipients))
	for _, key := range sortedKeys(pc.Recipients) {
		kp := p.with("recipients", key)
		if !validAddress(key) && !validDomain(key) {
			r.add(kp, "want an address (user@example.com) or a domain (example.com)")
		}
		if other, ok := lower[strings.ToLower(key)]; ok {
			r.add(kp, "same recipient as %q (keys are case-insensitive)", other)
		}
		lower[strings.ToLower(key)] = key
		o := pc.Recipients[key]
		o.Thresholds.check(r, kp.with("thresholds"))
		checkScores(r, kp.with("scores"), o.Scores)
	}
}

func (t *Thresholds) check(r *reporter, p keyPath) {
	for _, s := range []struct {
		key string
		v   *float64
	}{{"add_header", t.AddHeader}, {"junk", t.Junk}, {"greylist", t.Greylist}, {"reject", t.Reject}} {
		if s.v != nil && math.IsNaN(*s.v) {
			r.add(p.with(s.key), "want a number, null or off, got NaN")
		}
	}
}

func checkScores(r *reporter, p keyPath, scores map[string]float64) {
	for _, name := range sortedKeys(scores) {
		if !validSymbolName(name) {
			r.add(p.with(name), "symbol names are UPPER_SNAKE (A-Z, 0-9, _), got %q", name)
		}
		if v := scores[name]; math.IsNaN(v) || math.IsInf(v, 0) {
			r.add(p.with(name), "want a finite number, got %v", v)
		}
	}
}

func checkNetworks(r *reporter, p keyPath, nets []string) {
	for i, s := range nets {
		if _, err := parseNetwork(s); err != nil {
			r.add(p.index(i), "%v", err)
		}
	}
}

func (l *Lists) check(r *reporter, p keyPath) {
	checkNetworks(r, p.with("networks"), l.Networks)
	for i, s := range l.Senders {
		if !validAddress(s) && !validDomain(s) {
			r.add(p.with("senders").index(i), "want an address (user@example.com) or a domain (example.com), got %q", s)
		}
	}
	for i, s := range l.Helos {
		if s == "" || strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			r.add(p.with("helos").index(i), "want a HELO name without spaces, got %q", s)
		}
	}
}

// sortedKeys returns m's keys in order, so problems come out in a stable
// order when there are no lines to sort them by.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
