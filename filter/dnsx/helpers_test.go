package dnsx

import (
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

// clock is a settable clock for TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// zoneFiles are the zones every test server serves.
var zoneFiles = []string{
	"testdata/example.test.zone",
	"testdata/2.0.192.in-addr.arpa.zone",
	"testdata/8.b.d.0.1.0.0.2.ip6.arpa.zone",
	"testdata/broken.test.zone",
}

// setup starts a test server and a resolver pointed at it. mod may adjust
// the resolver's configuration.
func setup(t testing.TB, mod func(*Config)) (*Resolver, *dnstest.Server) {
	t.Helper()
	srv := dnstest.Start(t, zoneFiles...)
	cfg := Config{Servers: []string{srv.Addr()}, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, srv
}
