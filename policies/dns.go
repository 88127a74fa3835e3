package policies

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/moatmail/moat/filter/dnsbl"
	"github.com/moatmail/moat/filter/dnsbl/uri"
	"github.com/moatmail/moat/filter/dnsx"
)

// DNS configures the shared resolver every check uses (`dns:`).
type DNS struct {
	// Servers are "host:port" addresses; empty means /etc/resolv.conf.
	Servers []string `yaml:"servers"`
	// Timeout bounds one query to one server. 2s.
	Timeout Duration `yaml:"timeout"`
	// Attempts is how many rounds through the servers a lookup may take. 2.
	Attempts int `yaml:"attempts"`
	// CacheSize bounds the cached answers; 0 turns the cache off. 10000.
	CacheSize int `yaml:"cache_size"`
	// MaxTTL caps how long an answer is cached. 1h.
	MaxTTL Duration `yaml:"max_ttl"`
	// MinTTL raises shorter TTLs of cached answers (a floor for records
	// published with TTL 0). Default 0s: TTLs are honoured as given.
	MinTTL Duration `yaml:"min_ttl"`
}

// ResolverConfig returns the dnsx configuration (clock and logger left to
// the caller).
func (d *DNS) ResolverConfig() dnsx.Config {
	size := d.CacheSize
	if size == 0 {
		size = -1 // dnsx: negative turns the cache off
	}
	return dnsx.Config{Servers: d.Servers, Timeout: d.Timeout.D(), Attempts: d.Attempts, CacheSize: size, MinTTL: d.MinTTL.D(), MaxTTL: d.MaxTTL.D()}
}

// DNSLists configures IP lists (`dnsbl:`): DNSBLs and DNSWLs.
type DNSLists struct {
	// Timeout is one deadline for all the zones of a check. 2s.
	Timeout Duration `yaml:"timeout"`
	// SelfTestInterval is how often the zones are self-tested (RFC 5782).
	// 10m.
	SelfTestInterval Duration `yaml:"self_test_interval"`
	// Zones are the lists. Default: none.
	Zones []ZoneConfig `yaml:"zones"`
}

// URILists configures URI lists (`uribl:`).
type URILists struct {
	// Timeout is one deadline for all the lookups of a message. 2s.
	Timeout Duration `yaml:"timeout"`
	// SelfTestInterval is how often the zones are self-tested. 10m.
	SelfTestInterval Duration `yaml:"self_test_interval"`
	// Zones are the lists. Default: none.
	Zones []ZoneConfig `yaml:"zones"`
	// MaxLookups bounds the lookups per message, all zones together. 40.
	MaxLookups int `yaml:"max_lookups"`
	// MaxDomains is how many registered domains of a message are kept. 20.
	MaxDomains int `yaml:"max_domains"`
	// PartBytes is how many decoded bytes of each text part are scanned.
	// 65536.
	PartBytes int `yaml:"part_bytes"`
	// Skip lists registered domains never looked up (besides moat's own
	// domains and hostname).
	Skip []string `yaml:"skip"`
}

// lists returns the part of u shared with IP lists.
func (u *URILists) lists() *DNSLists {
	return &DNSLists{Timeout: u.Timeout, SelfTestInterval: u.SelfTestInterval, Zones: u.Zones}
}

// ZoneConfig is one DNS list.
type ZoneConfig struct {
	Zone         string         `yaml:"zone"`
	Key          string         `yaml:"key"`
	Symbol       string         `yaml:"symbol"`
	Score        float64        `yaml:"score"`
	Reject       bool           `yaml:"reject"`
	IPv4Only     bool           `yaml:"ipv4_only"`
	QueryIPs     bool           `yaml:"query_ips"`
	NoSelfTest   bool           `yaml:"no_self_test"`
	TestListed   string         `yaml:"test_listed"`
	TestUnlisted string         `yaml:"test_unlisted"`
	Returns      []ReturnConfig `yaml:"returns"`
}

// ReturnConfig scores one return code of a list: exactly one of Address,
// CIDR and Bitmask.
type ReturnConfig struct {
	Address string  `yaml:"address"`
	CIDR    string  `yaml:"cidr"`
	Bitmask int     `yaml:"bitmask"`
	Symbol  string  `yaml:"symbol"`
	Score   float64 `yaml:"score"`
}

// FCrDNSConfig switches the forward-confirmed reverse DNS check (`fcrdns:`).
type FCrDNSConfig struct {
	// Enabled runs the check. true.
	Enabled bool `yaml:"enabled"`
}

// HeloChecks configures the HELO sanity check (`helo:`).
type HeloChecks struct {
	// Enabled runs the check. true.
	Enabled bool `yaml:"enabled"`
	// Names are our other host names (hostname is always included).
	Names []string `yaml:"names"`
	// Addresses are our public IP addresses.
	Addresses []string `yaml:"addresses"`
}

func (d *DNS) setDefaults() {
	d.Timeout = Duration(dnsx.DefaultTimeout)
	d.Attempts = dnsx.DefaultAttempts
	d.CacheSize = dnsx.DefaultCacheSize
	d.MaxTTL = Duration(dnsx.DefaultMaxTTL)
}

func (l *DNSLists) setDefaults() {
	l.Timeout = Duration(dnsbl.DefaultTimeout)
	l.SelfTestInterval = Duration(dnsbl.DefaultSelfTestInterval)
}

func (u *URILists) setDefaults() {
	u.Timeout = Duration(dnsbl.DefaultTimeout)
	u.SelfTestInterval = Duration(dnsbl.DefaultSelfTestInterval)
	u.MaxLookups = 40
	u.MaxDomains = 20
	u.PartBytes = 64 << 10
}

// Zones converts the configured zones (validated) for the dnsbl package.
func (l *DNSLists) zones() []dnsbl.Zone {
	out := make([]dnsbl.Zone, 0, len(l.Zones))
	for _, z := range l.Zones {
		dz, _ := z.zone()
		out = append(out, dz)
	}
	return out
}

// IPConfig returns the dnsbl IP-list check configuration.
func (l *DNSLists) IPConfig() dnsbl.IPConfig {
	return dnsbl.IPConfig{Zones: l.zones(), Timeout: l.Timeout.D(), SelfTestInterval: l.SelfTestInterval.D()}
}

// URIConfig returns the dnsbl URI-list check configuration; skip adds
// domains never looked up (moat's own).
func (u *URILists) URIConfig(skip []string) dnsbl.URIConfig {
	return dnsbl.URIConfig{
		Zones: u.lists().zones(), Timeout: u.Timeout.D(), SelfTestInterval: u.SelfTestInterval.D(),
		MaxLookups: u.MaxLookups, Limits: uri.Limits{Domains: u.MaxDomains, PartBytes: u.PartBytes},
		Skip: append(append([]string(nil), u.Skip...), skip...),
	}
}

// HeloConfig returns the HELO check configuration with our hostname.
func (c *HeloChecks) HeloConfig(hostname string) dnsbl.HeloConfig {
	hc := dnsbl.HeloConfig{Names: append([]string{hostname}, c.Names...)}
	for _, a := range c.Addresses {
		if ip, err := netip.ParseAddr(a); err == nil {
			hc.Addrs = append(hc.Addrs, ip)
		}
	}
	return hc
}

// zone converts one zone; the error lists field problems of the return
// codes that do not parse.
func (z ZoneConfig) zone() (dnsbl.Zone, []*dnsbl.FieldError) {
	dz := dnsbl.Zone{
		Zone: strings.ToLower(strings.TrimSuffix(z.Zone, ".")), Key: z.Key, Symbol: z.Symbol, Score: z.Score,
		Reject: z.Reject, IPv4Only: z.IPv4Only, QueryIPs: z.QueryIPs, NoSelfTest: z.NoSelfTest,
		TestListed: z.TestListed, TestUnlisted: z.TestUnlisted,
	}
	var errs []*dnsbl.FieldError
	for i, r := range z.Returns {
		dr := dnsbl.Return{Symbol: r.Symbol, Score: r.Score}
		f := fmt.Sprintf("returns[%d]", i)
		if r.Address != "" {
			a, err := netip.ParseAddr(r.Address)
			if err != nil {
				errs = append(errs, &dnsbl.FieldError{Field: f + ".address", Message: fmt.Sprintf("want an IP address, got %q", r.Address)})
			}
			dr.Address = a
		}
		if r.CIDR != "" {
			p, err := netip.ParsePrefix(r.CIDR)
			if err != nil {
				errs = append(errs, &dnsbl.FieldError{Field: f + ".cidr", Message: fmt.Sprintf("want a CIDR range such as 127.0.0.4/30, got %q", r.CIDR)})
			}
			dr.Prefix = p
		}
		if r.Bitmask < 0 || r.Bitmask > 255 {
			errs = append(errs, &dnsbl.FieldError{Field: f + ".bitmask", Message: fmt.Sprintf("want 1 to 255, got %d", r.Bitmask)})
		} else {
			dr.Bitmask = uint8(r.Bitmask)
		}
		dz.Returns = append(dz.Returns, dr)
	}
	return dz, errs
}

func (d *DNS) check(r *reporter, p keyPath) {
	for i, s := range d.Servers {
		if msg := checkHostPort(s, hostPortRules{}); msg != "" {
			r.add(p.with("servers").index(i), "%s", msg)
		}
	}
	if d.Timeout <= 0 {
		r.add(p.with("timeout"), "must be positive")
	}
	if d.Attempts < 1 {
		r.add(p.with("attempts"), "must be at least 1")
	}
	if d.CacheSize < 0 {
		r.add(p.with("cache_size"), "must not be negative (0 turns the cache off)")
	}
	if d.MaxTTL <= 0 {
		r.add(p.with("max_ttl"), "must be positive")
	}
	if d.MinTTL < 0 || d.MinTTL > d.MaxTTL {
		r.add(p.with("min_ttl"), "want 0 to dns.max_ttl (%s)", d.MaxTTL)
	}
}

func (l *DNSLists) check(r *reporter, p keyPath, kind dnsbl.ListKind) {
	if l.Timeout <= 0 {
		r.add(p.with("timeout"), "must be positive")
	}
	if l.SelfTestInterval.D() < time.Minute {
		r.add(p.with("self_test_interval"), "must be at least 1m")
	}
	seen := map[string]bool{}
	for i, z := range l.Zones {
		zp := p.with("zones").index(i)
		dz, errs := z.zone()
		for _, fe := range errs {
			r.add(zp.with(fieldPath(fe.Field)...), "%s", fe.Message)
		}
		if len(errs) == 0 {
			var all interface{ Unwrap() []error }
			if err := dz.Validate(kind); errors.As(err, &all) {
				for _, e := range all.Unwrap() {
					var fe *dnsbl.FieldError
					if errors.As(e, &fe) {
						r.add(zp.with(fieldPath(fe.Field)...), "%s", fe.Message)
					}
				}
			}
		}
		id := dz.Zone + "\x00" + dz.Key
		if seen[id] {
			r.add(zp.with("zone"), "zone %s is listed twice", dz.Zone)
		}
		seen[id] = true
	}
}

func (u *URILists) check(r *reporter, p keyPath) {
	u.lists().check(r, p, dnsbl.URIList)
	for _, f := range []struct {
		key string
		v   int
	}{{"max_lookups", u.MaxLookups}, {"max_domains", u.MaxDomains}, {"part_bytes", u.PartBytes}} {
		if f.v < 1 {
			r.add(p.with(f.key), "must be positive")
		}
	}
	for i, d := range u.Skip {
		if !validDomain(strings.ToLower(d)) {
			r.add(p.with("skip").index(i), "not a valid domain name: %q", d)
		}
	}
}

func (c *HeloChecks) check(r *reporter, p keyPath) {
	for i, n := range c.Names {
		if !validDomain(strings.ToLower(n)) {
			r.add(p.with("names").index(i), "not a valid host name: %q", n)
		}
	}
	for i, a := range c.Addresses {
		if _, err := netip.ParseAddr(a); err != nil {
			r.add(p.with("addresses").index(i), "want an IP address, got %q", a)
		}
	}
}

// fieldPath splits a dnsbl field name such as "returns[1].cidr" into key
// path elements.
func fieldPath(f string) []string {
	var out []string
	for _, part := range strings.Split(f, ".") {
		if i := strings.IndexByte(part, '['); i > 0 {
			out = append(out, part[:i], part[i:])
			continue
		}
		out = append(out, part)
	}
	return out
}

// rejectSymbols returns the symbols of the zones that set reject: true.
func (l *DNSLists) rejectSymbols() []string {
	var out []string
	for _, z := range l.Zones {
		if !z.Reject {
			continue
		}
		out = append(out, z.Symbol)
		for _, r := range z.Returns {
			if r.Symbol != "" {
				out = append(out, r.Symbol)
			}
		}
	}
	return out
}
