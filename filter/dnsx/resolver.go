package dnsx

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Resolver answers DNS lookups through the configured servers, with a
// cache. It is safe for concurrent use. Close releases it.
type Resolver struct {
	servers  []string
	timeout  time.Duration
	attempts int
	udpSize  uint16
	minTTL   time.Duration
	maxTTL   time.Duration
	now      func() time.Time
	log      *slog.Logger
	udp, tcp *dns.Client
	cache    *cache // nil when caching is disabled

	// ctx bounds every query sent; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	inflight map[cacheKey]*call

	stats counters
	// joined, when set (tests), is called each time a lookup joins a query
	// already in flight.
	joined func()
}

// call is one query in flight, shared by every lookup of the same question.
type call struct {
	done chan struct{}
	ent  *entry
	err  error
}

// counters are the resolver's statistics.
type counters struct {
	lookups, hits, coalesced, queries, tcp atomic.Uint64
	nxdomain, nodata, servfail, refused    atomic.Uint64
	timeouts, network                      atomic.Uint64
}

// Stats is a snapshot of a resolver's counters since it was created, for
// metrics.
type Stats struct {
	// Lookups is the number of lookups asked of the resolver.
	Lookups uint64
	// CacheHits were answered from the cache.
	CacheHits uint64
	// Coalesced joined an identical query already in flight.
	Coalesced uint64
	// Queries is the number of queries sent to servers (every attempt,
	// UDP or TCP); TCPFallbacks of them were TCP retries after a
	// truncated UDP answer.
	Queries      uint64
	TCPFallbacks uint64
	// Results of the queries sent that did not return records.
	NXDOMAIN, NoData, ServFail, Refused, Timeouts, NetworkErrors uint64
	// CacheEntries is the number of answers cached now.
	CacheEntries int
}

// New returns a resolver for cfg. It fails when no server is configured
// and none can be read from the resolv.conf file, or when a server address
// is not host:port.
func New(cfg Config) (*Resolver, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Resolver{
		servers:  append([]string(nil), c.Servers...),
		timeout:  c.Timeout,
		attempts: c.Attempts,
		udpSize:  c.UDPSize,
		minTTL:   c.MinTTL,
		maxTTL:   c.MaxTTL,
		now:      c.Now,
		log:      c.Log,
		udp:      &dns.Client{Net: "udp", Timeout: c.Timeout, UDPSize: c.UDPSize},
		tcp:      &dns.Client{Net: "tcp", Timeout: c.Timeout},
		inflight: make(map[cacheKey]*call),
	}
	if c.CacheSize > 0 {
		r.cache = newCache(c.CacheSize)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Servers returns the addresses of the servers the resolver asks, in order.
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }

// Close ends the queries in flight; lookups made after Close fail.
func (r *Resolver) Close() error {
	r.cancel()
	return nil
}

// Stats returns a snapshot of the resolver's counters.
func (r *Resolver) Stats() Stats {
	s := Stats{
		Lookups:       r.stats.lookups.Load(),
		CacheHits:     r.stats.hits.Load(),
		Coalesced:     r.stats.coalesced.Load(),
		Queries:       r.stats.queries.Load(),
		TCPFallbacks:  r.stats.tcp.Load(),
		NXDOMAIN:      r.stats.nxdomain.Load(),
		NoData:        r.stats.nodata.Load(),
		ServFail:      r.stats.servfail.Load(),
		Refused:       r.stats.refused.Load(),
		Timeouts:      r.stats.timeouts.Load(),
		NetworkErrors: r.stats.network.Load(),
	}
	if r.cache != nil {
		s.CacheEntries = r.cache.len()
	}
	return s
}

// normalize returns name in lower case without its trailing dot, or false
// when it cannot be a query name.
func normalize(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return "", false
	}
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case c <= ' ' || c >= 0x7f || c == '\\' || c == '"':
			return "", false
		}
		label++
		if label > 63 {
			return "", false
		}
	}
	return strings.ToLower(name), true
}

// lookup answers the question (name, qtype) from the cache, from a query
// already in flight, or by querying the servers. The error is a
// *net.DNSError.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (*entry, error) {
	r.stats.lookups.Add(1)
	n, ok := normalize(name)
	if !ok {
		return nil, lookupError(name, "", ErrBadName, nil)
	}
	k := cacheKey{name: n, qtype: qtype}
	if r.cache != nil {
		if e := r.cache.get(k, r.now()); e != nil {
			r.stats.hits.Add(1)
			return e, e.err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, lookupError(name, "", ErrTimeout, err)
	}

	r.mu.Lock()
	c, ok := r.inflight[k]
	if ok {
		r.mu.Unlock()
		r.stats.coalesced.Add(1)
		if r.joined != nil {
			r.joined()
		}
	} else {
		c = &call{done: make(chan struct{})}
		r.inflight[k] = c
		r.mu.Unlock()
		go r.run(k, c)
	}

	select {
	case <-c.done:
		return c.ent, c.err
	case <-ctx.Done():
		return nil, lookupError(name, "", ErrTimeout, ctx.Err())
	}
}

// run queries the servers for k on behalf of every lookup waiting on c. It
// runs on its own goroutine under the resolver's context, so a caller that
// gives up does not cancel the query for the others; (Attempts × servers + 1)
// × Timeout bounds it (the extra Timeout leaves room for a TCP retry).
func (r *Resolver) run(k cacheKey, c *call) {
	budget := time.Duration(r.attempts*len(r.servers)+1) * r.timeout
	ctx, cancel := context.WithTimeout(r.ctx, budget)
	defer cancel()
	c.ent, c.err = r.query(ctx, k)
	if c.ent != nil {
		c.err = c.ent.err
	}
	if c.ent != nil && c.ent.ttl > 0 && r.cache != nil {
		c.ent.expires = r.now().Add(c.ent.ttl)
		r.cache.put(k, c.ent)
	}
	r.mu.Lock()
	delete(r.inflight, k)
	r.mu.Unlock()
	close(c.done)
}

// query asks the servers in turn until one gives a definite answer. It
// returns an entry for answers and for NXDOMAIN/NODATA (entry.err set), and
// a nil entry with the error of the last failure otherwise.
func (r *Resolver) query(ctx context.Context, k cacheKey) (*entry, error) {
	m := new(dns.Msg)
	m.SetQuestion(k.name+".", k.qtype)
	m.SetEdns0(r.udpSize, false)

	var (
		lastKind    = ErrTimeout
		lastCause   error
		lastServer  string
		givenUp     = make([]bool, len(r.servers))
		qtypeString = dns.TypeToString[k.qtype]
	)
	for range r.attempts {
		for i, srv := range r.servers {
			if givenUp[i] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, lookupError(k.name, lastServer, ErrTimeout, err)
			}
			m.Id = dns.Id()
			resp, err := r.exchange(ctx, m, srv)
			lastServer = srv
			if err != nil {
				lastKind, lastCause = ErrNetwork, err
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
					lastKind, lastCause = ErrTimeout, nil
					r.stats.timeouts.Add(1)
				} else {
					r.stats.network.Add(1)
				}
				r.log.Debug("dns query failed", "name", k.name, "type", qtypeString, "server", srv, "err", err)
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess:
				return r.answer(k, resp, srv), nil
			case dns.RcodeNameError:
				r.stats.nxdomain.Add(1)
				return r.negative(k, resp, srv, ErrNXDOMAIN), nil
			case dns.RcodeServerFailure:
				lastKind, lastCause = ErrServFail, nil
				r.stats.servfail.Add(1)
			default:
				lastKind, lastCause = ErrRefused, nil
				r.stats.refused.Add(1)
			}
			givenUp[i] = true
			r.log.Debug("dns query failed", "name", k.name, "type", qtypeString, "server", srv, "rcode", dns.RcodeToString[resp.Rcode])
		}
	}
	return nil, lookupError(k.name, lastServer, lastKind, lastCause)
}

// errMismatch reports an answer that does not answer the question asked.
var errMismatch = errors.New("answer does not match the question")

// exchange sends m to one server over UDP, and again over TCP when the UDP
// answer is truncated.
func (r *Resolver) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	r.stats.queries.Add(1)
	resp, _, err := r.udp.ExchangeContext(ctx, m, server)
	if resp != nil && resp.Truncated {
		r.stats.queries.Add(1)
		r.stats.tcp.Add(1)
		resp, _, err = r.tcp.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, err
	}
	q := m.Question[0]
	if len(resp.Question) != 1 || resp.Question[0].Qtype != q.Qtype || !strings.EqualFold(resp.Question[0].Name, q.Name) {
		return nil, errMismatch
	}
	return resp, nil
}

// answer builds the entry of a NOERROR answer: the records of the type
// asked for at the name, following CNAMEs inside the answer section. No such
// record makes it a NODATA answer.
func (r *Resolver) answer(k cacheKey, resp *dns.Msg, server string) *entry {
	target := k.name + "."
	var rrs []dns.RR
	minTTL := ^uint32(0)
	for hop := 0; hop < 8 && len(rrs) == 0; hop++ {
		next := ""
		for _, rr := range resp.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, target) {
				continue
			}
			switch {
			case h.Rrtype == k.qtype:
				rrs = append(rrs, rr)
				minTTL = min(minTTL, h.Ttl)
			case h.Rrtype == dns.TypeCNAME && next == "":
				next = rr.(*dns.CNAME).Target
				minTTL = min(minTTL, h.Ttl)
			}
		}
		if next == "" {
			break
		}
		target = next
	}
	if len(rrs) == 0 {
		r.stats.nodata.Add(1)
		return r.negative(k, resp, server, ErrNoData)
	}
	e := &entry{ttl: r.clampTTL(time.Duration(minTTL) * time.Second)}
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netipFrom(v.A); ok {
				e.addrs = append(e.addrs, a)
			}
		case *dns.AAAA:
			if a, ok := netipFrom(v.AAAA); ok {
				e.addrs = append(e.addrs, a)
			}
		case *dns.PTR:
			e.names = append(e.names, strings.ToLower(strings.TrimSuffix(v.Ptr, ".")))
		case *dns.TXT:
			e.txts = append(e.txts, joinTXT(v.Txt))
		case *dns.MX:
			e.mxs = append(e.mxs, net.MX{Host: dns.Fqdn(strings.ToLower(v.Mx)), Pref: v.Preference})
		}
	}
	return e
}

// negative builds the entry of an NXDOMAIN or NODATA answer, cached for the
// SOA's negative TTL (RFC 2308: the smaller of the SOA record's TTL and its
// MINIMUM field). Without a SOA the answer is not cached.
func (r *Resolver) negative(k cacheKey, resp *dns.Msg, server string, kind error) *entry {
	e := &entry{err: lookupError(k.name, server, kind, nil)}
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			e.ttl = r.clampTTL(time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second)
			break
		}
	}
	return e
}

func (r *Resolver) clampTTL(d time.Duration) time.Duration {
	return min(max(d, r.minTTL), r.maxTTL)
}
