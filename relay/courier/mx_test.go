package courier

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

// TestDeliverMX checks MX routes against an in-process DNS server:
// preference order, the next MX when one is down, the fallback to the
// domain's address, null MX and domains that cannot receive mail.
func TestDeliverMX(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, "testdata/courier.test.zone")
	resolver, err := dnsx.New(dnsx.Config{Servers: []string{dns.Addr()}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resolver.Close() })

	tests := []struct {
		name      string
		domain    string
		up        []string // addresses (port 25) served by a test server
		wantTries []string
		wantAt    string // the address that got the message
		wantErr   string // enhanced code of a DeliveryError
		wantPerm  bool
	}{
		{"preference-order", "pref.courier.test", []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"},
			[]string{"127.0.0.21:25"}, "127.0.0.21", "", false},
		{"first-mx-down", "pref.courier.test", []string{"127.0.0.22", "127.0.0.23"},
			[]string{"127.0.0.21:25", "127.0.0.22:25"}, "127.0.0.22", "", false},
		{"two-mx-down", "pref.courier.test", []string{"127.0.0.23"},
			[]string{"127.0.0.21:25", "127.0.0.22:25", "127.0.0.23:25"}, "127.0.0.23", "", false},
		{"all-mx-down", "pref.courier.test", nil,
			[]string{"127.0.0.21:25", "127.0.0.22:25", "127.0.0.23:25"}, "", "4.4.1", false},
		{"no-mx-uses-address", "nomx.courier.test", []string{"127.0.0.24"},
			[]string{"127.0.0.24:25"}, "127.0.0.24", "", false},
		{"null-mx", "nullmx.courier.test", []string{"127.0.0.25"}, nil, "", "5.1.10", true},
		{"mx-without-address", "dangling.courier.test", []string{"127.0.0.26"},
			[]string{"127.0.0.26:25"}, "127.0.0.26", "", false},
		{"no-mx-no-address", "empty.courier.test", nil, nil, "", "5.1.2", true},
		{"no-such-domain", "gone.courier.test", nil, nil, "", "5.1.2", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dialer := &mapDialer{to: map[string]string{}}
			servers := map[string]*testServer{}
			for _, a := range tc.up {
				s := startServer(t, serverConfig{})
				servers[a] = s
				dialer.to[a+":25"] = s.addr
			}
			c := newCourier(t, nil, func(o *Options) {
				o.Routes = nil
				o.Default = &Route{MX: true}
				o.Resolver = resolver
				o.Dialer = dialer
			})
			rcpt := "user@" + tc.domain
			name, err := c.Route(rcpt)
			if err != nil || name != "mx:"+tc.domain {
				t.Fatalf("Route = %q, %v; want mx:%s", name, err, tc.domain)
			}
			res, err := deliver(t, c, "s@example.net", []string{rcpt}, []byte(simpleMsg))
			if tries := dialer.attempts(); !slices.Equal(tries, tc.wantTries) {
				t.Errorf("connection attempts = %v, want %v", tries, tc.wantTries)
			}
			if tc.wantErr != "" {
				var de *DeliveryError
				if !errors.As(err, &de) || de.Enhanced != tc.wantErr || de.Permanent() != tc.wantPerm {
					t.Fatalf("Deliver = %v, %v; want a DeliveryError %s (permanent %v)", res, err, tc.wantErr, tc.wantPerm)
				}
				return
			}
			if err != nil || len(res) != 1 || res[0].Code != 250 {
				t.Fatalf("Deliver = %v, %v", res, err)
			}
			for a, s := range servers {
				want := 0
				if a == tc.wantAt {
					want = 1
				}
				if got := len(s.received()); got != want {
					t.Errorf("server %s got %d messages, want %d", a, got, want)
				}
			}
		})
	}
}

// TestMXRoutePort checks that an MX route's port applies to every MX host
// and shows in the destination name.
func TestMXRoutePort(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, "testdata/courier.test.zone")
	resolver, err := dnsx.New(dnsx.Config{Servers: []string{dns.Addr()}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resolver.Close() })
	srv := startServer(t, serverConfig{})
	dialer := &mapDialer{to: map[string]string{"127.0.0.21:2525": srv.addr}}
	c := newCourier(t, routes{"example.org": {MX: true, Host: "pref.courier.test", Port: 2525}}, func(o *Options) {
		o.Resolver = resolver
		o.Dialer = dialer
	})
	name, err := c.Route("r@example.org")
	if err != nil || name != "mx:pref.courier.test:2525" {
		t.Fatalf("Route = %q, %v", name, err)
	}
	if _, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg)); err != nil {
		t.Fatal(err)
	}
	if len(srv.received()) != 1 {
		t.Fatal("message not delivered to the MX host on port 2525")
	}
}

// TestFixedRouteUnresolvable checks that a configured host name that does
// not resolve defers the mail instead of bouncing it, and that a host name
// that resolves is used.
func TestFixedRouteUnresolvable(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, "testdata/courier.test.zone")
	resolver, err := dnsx.New(dnsx.Config{Servers: []string{dns.Addr()}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resolver.Close() })
	srv := startServer(t, serverConfig{})
	dialer := &mapDialer{to: map[string]string{"127.0.0.24:25": srv.addr}}
	c := newCourier(t, routes{
		"gone.org": {Host: "gone.courier.test"},
		"ok.org":   {Host: "nomx.courier.test"},
	}, func(o *Options) { o.Resolver = resolver; o.Dialer = dialer })
	_, err = deliver(t, c, "s@example.net", []string{"r@gone.org"}, []byte(simpleMsg))
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Temporary() || de.Enhanced != "4.4.4" {
		t.Fatalf("Deliver via an unresolvable host = %v, want a temporary 4.4.4", err)
	}
	if _, err := deliver(t, c, "s@example.net", []string{"r@ok.org"}, []byte(simpleMsg)); err != nil {
		t.Fatalf("Deliver via a host name: %v", err)
	}
	if len(srv.received()) != 1 {
		t.Fatal("message not delivered")
	}
}
