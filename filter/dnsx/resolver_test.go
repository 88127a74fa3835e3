package dnsx

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestLookupAddresses(t *testing.T) {
	t.Parallel()
	r, _ := setup(t, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		lookup func(context.Context, string) ([]netip.Addr, error)
		query  string
		want   []netip.Addr
	}{
		{"A", r.LookupA, "www.example.test", addrs("192.0.2.10")},
		{"A upper case and trailing dot", r.LookupA, "WWW.Example.TEST.", addrs("192.0.2.10")},
		{"AAAA", r.LookupAAAA, "www.example.test", addrs("2001:db8::10")},
		{"A through CNAME", r.LookupA, "alias.example.test", addrs("192.0.2.10")},
		{"A from wildcard", r.LookupA, "anything.wild.example.test", addrs("192.0.2.99")},
		{"IP both families", r.LookupIP, "www.example.test", addrs("192.0.2.10", "2001:db8::10")},
		{"IP IPv4 only", r.LookupIP, "v4only.example.test", addrs("192.0.2.11")},
		{"IP IPv6 only", r.LookupIP, "v6only.example.test", addrs("2001:db8::11")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup(ctx, tt.query)
			if err != nil {
				t.Fatalf("lookup %s: %v", tt.query, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lookup %s = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
}

func TestLookupRecords(t *testing.T) {
	t.Parallel()
	r, _ := setup(t, nil)
	ctx := context.Background()

	t.Run("TXT joins strings and undoes escapes", func(t *testing.T) {
		for name, want := range map[string][]string{
			"example.test":         {"v=spf1 ip4:192.0.2.0/24 -all"},
			"split.example.test":   {"v=DKIM1; k=rsa; p=MIGfMA0"},
			"escaped.example.test": {"say \"hi\" \\ ok\n"},
		} {
			got, err := r.LookupTXT(ctx, name)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("LookupTXT(%s) = %q, %v; want %q", name, got, err, want)
			}
		}
	})
	t.Run("MX sorted by preference, hosts absolute", func(t *testing.T) {
		mxs, err := r.LookupMX(ctx, "example.test")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, mx := range mxs {
			got = append(got, mx.Host)
		}
		if want := []string{"mx1.example.test.", "mx2.example.test."}; !slices.Equal(got, want) || mxs[0].Pref != 10 {
			t.Errorf("LookupMX = %v (first pref %d), want %v", got, mxs[0].Pref, want)
		}
	})
	t.Run("PTR IPv4, lower case", func(t *testing.T) {
		got, err := r.LookupPTR(ctx, netip.MustParseAddr("192.0.2.11"))
		slices.Sort(got)
		if want := []string{"second.example.test", "v4only.example.test"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("LookupPTR = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("PTR IPv6 nibbles", func(t *testing.T) {
		got, err := r.LookupPTR(ctx, netip.MustParseAddr("2001:db8::10"))
		if want := []string{"www.example.test"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("LookupPTR = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("PTR IPv4-mapped", func(t *testing.T) {
		got, err := r.LookupPTR(ctx, netip.MustParseAddr("::ffff:192.0.2.10"))
		if want := []string{"www.example.test"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("LookupPTR = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("LookupAddr names are absolute", func(t *testing.T) {
		got, err := r.LookupAddr(ctx, "192.0.2.10")
		if want := []string{"www.example.test."}; err != nil || !slices.Equal(got, want) {
			t.Errorf("LookupAddr = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("LookupIPAddr", func(t *testing.T) {
		got, err := r.LookupIPAddr(ctx, "www.example.test")
		if err != nil || len(got) != 2 || !got[0].IP.Equal(net.ParseIP("192.0.2.10")) {
			t.Errorf("LookupIPAddr = %v, %v", got, err)
		}
		lit, err := r.LookupIPAddr(ctx, "198.51.100.7")
		if err != nil || len(lit) != 1 || !lit[0].IP.Equal(net.ParseIP("198.51.100.7")) {
			t.Errorf("LookupIPAddr(literal) = %v, %v", lit, err)
		}
	})
	t.Run("TXTFunc", func(t *testing.T) {
		got, err := r.TXTFunc(ctx)("split.example.test")
		if err != nil || len(got) != 1 {
			t.Errorf("TXTFunc lookup = %q, %v", got, err)
		}
	})
}

func TestLookupErrors(t *testing.T) {
	t.Parallel()
	r, srv := setup(t, func(c *Config) { c.Timeout = 200 * time.Millisecond; c.Attempts = 1 })
	srv.SetMode("broken.test", dnstest.ServFail)
	srv2 := dnstest.Start(t, "testdata/broken.test.zone")
	srv2.SetMode("broken.test", dnstest.Drop)
	r2, err := New(Config{Servers: []string{srv2.Addr()}, Timeout: 100 * time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Close() })
	ctx := context.Background()

	tests := []struct {
		name                          string
		res                           *Resolver
		lookup                        string
		want                          error
		notFound, temporary, timedOut bool
	}{
		{"NXDOMAIN", r, "nope.example.test", ErrNXDOMAIN, true, false, false},
		{"NODATA", r, "v6only.example.test", ErrNoData, true, false, false},
		{"empty non-terminal is NODATA", r, "deep.example.test", ErrNoData, true, false, false},
		{"SERVFAIL", r, "a.broken.test", ErrServFail, false, true, false},
		{"REFUSED outside the server's zones", r, "www.elsewhere.invalid", ErrRefused, false, true, false},
		{"timeout", r2, "a.broken.test", ErrTimeout, false, true, true},
		{"bad name", r, "two..dots.example.test", ErrBadName, false, false, false},
		{"bad name space", r, "a b.example.test", ErrBadName, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.res.LookupA(ctx, tt.lookup)
			if !errors.Is(err, tt.want) {
				t.Fatalf("LookupA(%s) error = %v, want %v", tt.lookup, err, tt.want)
			}
			if Kind(err) != tt.want {
				t.Errorf("Kind = %v, want %v", Kind(err), tt.want)
			}
			// Libraries written against net.Resolver assert the type.
			de, ok := err.(*net.DNSError)
			if !ok {
				t.Fatalf("error is %T, want *net.DNSError", err)
			}
			if de.IsNotFound != tt.notFound || de.Temporary() != tt.temporary || de.Timeout() != tt.timedOut {
				t.Errorf("IsNotFound=%v Temporary=%v Timeout=%v, want %v %v %v", de.IsNotFound, de.Temporary(), de.Timeout(), tt.notFound, tt.temporary, tt.timedOut)
			}
			if IsNotFound(err) != tt.notFound || IsTemporary(err) != tt.temporary {
				t.Errorf("IsNotFound=%v IsTemporary=%v, want %v %v", IsNotFound(err), IsTemporary(err), tt.notFound, tt.temporary)
			}
		})
	}
	t.Run("LookupIP prefers a failure to NODATA", func(t *testing.T) {
		_, err := r.LookupIP(ctx, "a.broken.test")
		if !errors.Is(err, ErrServFail) {
			t.Errorf("LookupIP error = %v, want SERVFAIL", err)
		}
	})
	t.Run("LookupAddr rejects a non-address", func(t *testing.T) {
		_, err := r.LookupAddr(ctx, "not-an-ip")
		if !errors.Is(err, ErrBadName) {
			t.Errorf("LookupAddr error = %v", err)
		}
	})
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		record  string
		records int
		tcp     bool
	}{
		{"fits the EDNS0 buffer", "medium.example.test", 15, false},
		{"too big for UDP", "big.example.test", 50, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, srv := setup(t, nil)
			got, err := r.LookupTXT(context.Background(), tt.record)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.records {
				t.Errorf("got %d records, want %d", len(got), tt.records)
			}
			var nets []string
			for _, q := range srv.Queries() {
				nets = append(nets, q.Net)
			}
			want := []string{"udp"}
			if tt.tcp {
				want = []string{"udp", "tcp"}
			}
			if !slices.Equal(nets, want) {
				t.Errorf("server saw %v, want %v", nets, want)
			}
			if tcp := r.Stats().TCPFallbacks; (tcp == 1) != tt.tcp {
				t.Errorf("TCPFallbacks = %d", tcp)
			}
		})
	}
	t.Run("server truncates every UDP answer", func(t *testing.T) {
		t.Parallel()
		r, srv := setup(t, nil)
		srv.SetMode("broken.test", dnstest.TruncateUDP)
		got, err := r.LookupA(context.Background(), "a.broken.test")
		if err != nil || !slices.Equal(got, addrs("192.0.2.1")) {
			t.Errorf("LookupA = %v, %v", got, err)
		}
	})
}

func TestRetriesAcrossServers(t *testing.T) {
	t.Parallel()
	good := dnstest.Start(t, zoneFiles...)
	failing := dnstest.Start(t, zoneFiles...)
	failing.SetMode("example.test", dnstest.ServFail)
	silent := dnstest.Start(t, zoneFiles...)
	silent.SetMode("example.test", dnstest.Drop)

	tests := []struct {
		name    string
		servers []*dnstest.Server
	}{
		{"after SERVFAIL", []*dnstest.Server{failing, good}},
		{"after a timeout", []*dnstest.Server{silent, good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var servers []string
			for _, s := range tt.servers {
				servers = append(servers, s.Addr())
			}
			r, err := New(Config{Servers: servers, Timeout: 150 * time.Millisecond, CacheSize: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := r.LookupA(context.Background(), "www.example.test")
			if err != nil || !slices.Equal(got, addrs("192.0.2.10")) {
				t.Errorf("LookupA = %v, %v", got, err)
			}
		})
	}
	t.Run("a SERVFAIL server is asked once per lookup, a silent one every round", func(t *testing.T) {
		srvA := dnstest.Start(t, zoneFiles...)
		srvA.SetMode("broken.test", dnstest.ServFail)
		srvB := dnstest.Start(t, zoneFiles...)
		srvB.SetMode("broken.test", dnstest.Drop)
		r, err := New(Config{Servers: []string{srvA.Addr(), srvB.Addr()}, Timeout: 100 * time.Millisecond, Attempts: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = r.LookupA(context.Background(), "a.broken.test")
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("error = %v, want the last failure, a timeout", err)
		}
		if a, b := srvA.Count("a.broken.test", "A"), srvB.Count("a.broken.test", "A"); a != 1 || b != 3 {
			t.Errorf("queries: SERVFAIL server %d (want 1), silent server %d (want 3)", a, b)
		}
	})
}

func TestCacheHonoursTTLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		lookup string
		fresh  time.Duration // still cached this long after the first lookup
		stale  time.Duration // queried again this long after
	}{
		{"positive answer TTL", "short.example.test", 4 * time.Second, 6 * time.Second},
		{"NXDOMAIN: SOA minimum", "nope.example.test", 59 * time.Second, 61 * time.Second},
		{"NODATA: SOA minimum", "v6only.example.test", 59 * time.Second, 61 * time.Second},
		{"positive answer zone TTL", "www.example.test", 299 * time.Second, 301 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			r, srv := setup(t, func(c *Config) { c.Now = clk.Now })
			ctx := context.Background()
			lookup := func() { _, _ = r.LookupA(ctx, tt.lookup) }
			start := clk.Now()
			lookup()
			clk.Advance(tt.fresh)
			lookup()
			if n := srv.Count(tt.lookup, "A"); n != 1 {
				t.Fatalf("after %v: %d queries, want 1 (cached)", tt.fresh, n)
			}
			clk.Advance(start.Add(tt.stale).Sub(clk.Now()))
			lookup()
			if n := srv.Count(tt.lookup, "A"); n != 2 {
				t.Fatalf("after %v: %d queries, want 2 (expired)", tt.stale, n)
			}
		})
	}
	t.Run("MaxTTL caps, MinTTL raises", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		r, srv := setup(t, func(c *Config) { c.Now = clk.Now; c.MaxTTL = 10 * time.Second; c.MinTTL = 8 * time.Second })
		ctx := context.Background()
		_, _ = r.LookupA(ctx, "www.example.test")   // TTL 300 → 10
		_, _ = r.LookupA(ctx, "short.example.test") // TTL 5 → 8
		clk.Advance(7 * time.Second)
		_, _ = r.LookupA(ctx, "short.example.test")
		clk.Advance(4 * time.Second)
		_, _ = r.LookupA(ctx, "www.example.test")
		if a, b := srv.Count("www.example.test", "A"), srv.Count("short.example.test", "A"); a != 2 || b != 1 {
			t.Errorf("queries www=%d (want 2), short=%d (want 1)", a, b)
		}
	})
	t.Run("failures are not cached", func(t *testing.T) {
		t.Parallel()
		r, srv := setup(t, nil)
		srv.SetMode("broken.test", dnstest.ServFail)
		for range 2 {
			_, _ = r.LookupA(context.Background(), "a.broken.test")
		}
		if n := srv.Count("a.broken.test", "A"); n != 2 {
			t.Errorf("%d queries, want 2", n)
		}
	})
}

func TestCoalescesIdenticalQueries(t *testing.T) {
	t.Parallel()
	r, srv := setup(t, nil)
	joined := make(chan struct{}, 100)
	r.joined = func() { joined <- struct{}{} }
	arrived, release := srv.Hold("broken.test")
	defer release()

	const n = 8
	type result struct {
		addrs []netip.Addr
		err   error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			a, err := r.LookupA(context.Background(), "a.broken.test")
			results <- result{a, err}
		}()
	}
	<-arrived
	for range n - 1 {
		<-joined
	}
	release()
	for range n {
		res := <-results
		if res.err != nil || !slices.Equal(res.addrs, addrs("192.0.2.1")) {
			t.Errorf("LookupA = %v, %v", res.addrs, res.err)
		}
	}
	if c := srv.Count("a.broken.test", "A"); c != 1 {
		t.Errorf("server got %d queries, want 1", c)
	}
	if s := r.Stats(); s.Coalesced != n-1 || s.Queries != 1 {
		t.Errorf("stats: coalesced %d (want %d), queries %d (want 1)", s.Coalesced, n-1, s.Queries)
	}
}

func TestCallerContextEndsWaitOnly(t *testing.T) {
	t.Parallel()
	r, srv := setup(t, nil)
	arrived, release := srv.Hold("broken.test")
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.LookupA(ctx, "a.broken.test")
		done <- err
	}()
	<-arrived
	cancel()
	err := <-done
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want a timeout wrapping context.Canceled", err)
	}
	// The query itself goes on and its answer is cached for the next caller.
	release()
	got, err := r.LookupA(context.Background(), "a.broken.test")
	if err != nil || !slices.Equal(got, addrs("192.0.2.1")) {
		t.Fatalf("LookupA = %v, %v", got, err)
	}
	if c := srv.Count("a.broken.test", "A"); c != 1 {
		t.Errorf("server got %d queries, want 1", c)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	r, _ := setup(t, nil)
	r.Close()
	_, err := r.LookupA(context.Background(), "www.example.test")
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("lookup after Close: %v, want a timeout", err)
	}
}

func TestCacheBoundAndLRU(t *testing.T) {
	t.Parallel()
	t.Run("bounded", func(t *testing.T) {
		c := newCache(64)
		exp := time.Now().Add(time.Hour)
		for i := range 1000 {
			c.put(cacheKey{name: strings.Repeat("x", i%50) + string(rune('a'+i%26)), qtype: uint16(i)}, &entry{expires: exp})
		}
		if n := c.len(); n > 64 {
			t.Errorf("cache holds %d entries, bound 64", n)
		}
	})
	t.Run("least recently used goes first", func(t *testing.T) {
		c := newCache(2 * cacheShards) // two entries per shard
		// Find three keys that land in one shard.
		var keys []cacheKey
		first := c.shard(cacheKey{name: "k0", qtype: 1})
		for i := 0; len(keys) < 3; i++ {
			k := cacheKey{name: "k" + string(rune('0'+i%10)) + strings.Repeat("y", i/10), qtype: 1}
			if c.shard(k) == first {
				keys = append(keys, k)
			}
		}
		now := time.Now()
		e := &entry{expires: now.Add(time.Hour)}
		c.put(keys[0], e)
		c.put(keys[1], e)
		c.get(keys[0], now) // keys[1] is now the least recently used
		c.put(keys[2], e)
		if c.get(keys[1], now) != nil || c.get(keys[0], now) == nil || c.get(keys[2], now) == nil {
			t.Error("wrong entry evicted")
		}
	})
	t.Run("expired entries are misses", func(t *testing.T) {
		c := newCache(10)
		now := time.Now()
		k := cacheKey{name: "a", qtype: 1}
		c.put(k, &entry{expires: now.Add(time.Second)})
		if c.get(k, now.Add(time.Second)) != nil || c.len() != 0 {
			t.Error("expired entry returned or kept")
		}
	})
}

func TestResolvConf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# comment\nsearch example.test\nnameserver 192.0.2.1\nnameserver 2001:db8::1\noptions timeout:1 attempts:3\n")
	empty := write("empty", "search example.test\n")

	got, err := ReadResolvConf(good)
	if want := []string{"192.0.2.1:53", "[2001:db8::1]:53"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ReadResolvConf = %q, %v; want %q", got, err, want)
	}
	if _, err := ReadResolvConf(empty); err == nil {
		t.Error("ReadResolvConf(no nameserver) succeeded")
	}
	if _, err := ReadResolvConf(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadResolvConf(missing) succeeded")
	}
	r, err := New(Config{ResolvConf: good})
	if err != nil || !slices.Equal(r.Servers(), got) {
		t.Errorf("New from resolv.conf: servers %q, %v", r.Servers(), err)
	}
	if _, err := New(Config{ResolvConf: empty}); err == nil {
		t.Error("New with no server succeeded")
	}
	if _, err := New(Config{Servers: []string{"192.0.2.1"}}); err == nil {
		t.Error("New accepted a server without a port")
	}
}

func TestReverseIP(t *testing.T) {
	t.Parallel()
	tests := []struct{ ip, rev, name string }{
		{"127.0.0.2", "2.0.0.127", "2.0.0.127.in-addr.arpa"},
		{"192.0.2.10", "10.2.0.192", "10.2.0.192.in-addr.arpa"},
		{"::ffff:1.2.3.4", "4.3.2.1", "4.3.2.1.in-addr.arpa"},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			a := netip.MustParseAddr(tt.ip)
			if got := ReverseIP(a); got != tt.rev {
				t.Errorf("ReverseIP = %s, want %s", got, tt.rev)
			}
			if got := ReverseName(a); got != tt.name {
				t.Errorf("ReverseName = %s, want %s", got, tt.name)
			}
		})
	}
}

func TestJoinTXT(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"plain"}, "plain"},
		{[]string{"a", "b"}, "ab"},
		{[]string{`q\"q`}, `q"q`},
		{[]string{`b\\s`}, `b\s`},
		{[]string{`\255\000x`}, "\xff\x00x"},
		{[]string{`trailing\`}, `trailing\`},
		{[]string{`\999`}, "999"},
	}
	for _, tt := range tests {
		if got := joinTXT(tt.in); got != tt.want {
			t.Errorf("joinTXT(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestConcurrentLookups(t *testing.T) {
	t.Parallel()
	r, _ := setup(t, nil)
	names := []string{"www.example.test", "nope.example.test", "alias.example.test", "v6only.example.test"}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			_, err := r.LookupA(context.Background(), names[i%len(names)])
			if err != nil && !IsNotFound(err) {
				t.Errorf("LookupA: %v", err)
			}
		})
	}
	wg.Wait()
}
