package courier

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/state/statetest"
)

// TestConnectionReuse checks that consecutive deliveries share one
// connection (with RSET between transactions when pipelining), that a
// connection the server dropped is replaced once, and that an idle
// connection is not used past IdleTimeout.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	for _, pipelining := range []bool{true, false} {
		t.Run(map[bool]string{true: "pipelining", false: "lockstep"}[pipelining], func(t *testing.T) {
			t.Parallel()
			cfg := serverConfig{}
			if !pipelining {
				cfg.Ext = []string{"8BITMIME"}
			}
			srv := startServer(t, cfg)
			clock := statetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			c := newCourier(t, routes{"example.org": smtpRoute(srv)}, func(o *Options) {
				o.Now = clock.Now
				o.IdleTimeout = time.Minute
			})
			send := func() {
				t.Helper()
				res, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg))
				if err != nil || len(res) != 1 || res[0].Code != 250 {
					t.Fatalf("Deliver = %v, %v", res, err)
				}
			}
			for range 5 {
				send()
			}
			if conns, _, _ := srv.stats(); conns != 1 {
				t.Fatalf("%d connections for 5 messages, want 1", conns)
			}
			resets := countVerb(srv.commands(), "RSET")
			if pipelining && resets != 4 {
				t.Errorf("%d RSETs between 5 transactions, want 4", resets)
			}
			if !pipelining && resets != 0 {
				t.Errorf("%d RSETs after clean transactions without pipelining, want 0", resets)
			}

			// The server drops the pooled connection: one new connection.
			srv.dropAll()
			srv.waitIdle()
			send()
			if conns, _, _ := srv.stats(); conns != 2 {
				t.Fatalf("%d connections after the drop, want 2", conns)
			}

			// Idle past IdleTimeout: not reused.
			clock.Advance(59 * time.Second)
			send()
			if conns, _, _ := srv.stats(); conns != 2 {
				t.Fatalf("%d connections after 59s idle, want 2", conns)
			}
			clock.Advance(61 * time.Second)
			send()
			if conns, _, _ := srv.stats(); conns != 3 {
				t.Fatalf("%d connections after 61s idle, want 3", conns)
			}
			if got := len(srv.received()); got != 8 {
				t.Fatalf("server got %d messages, want 8", got)
			}
		})
	}
}

func countVerb(cmds []string, verb string) int {
	n := 0
	for _, c := range cmds {
		if c == verb {
			n++
		}
	}
	return n
}

// TestBrokenConnectionNotRetriedTwice checks that when the new connection
// fails as well, Deliver gives up with a temporary error.
func TestBrokenConnectionNotRetriedTwice(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverConfig{})
	c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil)
	if _, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg)); err != nil {
		t.Fatal(err)
	}
	srv.close() // drops the pooled connection and stops listening
	_, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg))
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Temporary() {
		t.Fatalf("Deliver error = %v, want a temporary DeliveryError", err)
	}
}

// TestPerDestinationLimit checks that no more than PerDestination
// connections are open to a destination, that callers wait for one, and
// that a waiting caller gives up when its context ends.
func TestPerDestinationLimit(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	arrived := make(chan struct{}, 16)
	srv := startServer(t, serverConfig{Hold: hold, Arrived: arrived})
	other := startServer(t, serverConfig{})
	c := newCourier(t, routes{"example.org": smtpRoute(srv), "other.org": smtpRoute(other)}, func(o *Options) {
		o.PerDestination = 2
	})
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := deliver(t, c, "s@example.net", []string{"r" + itoa(i) + "@example.org"}, []byte(simpleMsg))
			if err == nil && (len(res) != 1 || res[0].Code != 250) {
				err = errors.New("result " + res[0].String())
			}
			errs <- err
		}()
	}
	// Two messages reach the server and are held there.
	<-arrived
	<-arrived

	// A caller that cannot wait gives up without connecting.
	name, _ := c.Route("x@example.org")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := c.Deliver(ctx, name, "s@example.net", []string{"x@example.org"}, strings.NewReader(simpleMsg))
	cancel()
	var de *DeliveryError
	if !errors.As(err, &de) || de.Enhanced != "4.4.5" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver while the destination is full = %v, want a 4.4.5 error", err)
	}
	// Another destination is not held up.
	if _, err := deliver(t, c, "s@example.net", []string{"y@other.org"}, []byte(simpleMsg)); err != nil {
		t.Fatalf("delivery to another destination: %v", err)
	}

	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	conns, maxActive, _ := srv.stats()
	if maxActive != 2 || conns != 2 {
		t.Errorf("server saw %d connections, %d at once; want 2 and 2", conns, maxActive)
	}
	if got := len(srv.received()); got != n {
		t.Errorf("server got %d messages, want %d", got, n)
	}
}

// TestCloseIdle checks that Close quits the idle connections and that the
// Courier refuses work afterwards.
func TestCloseIdle(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverConfig{})
	c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil)
	if _, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	srv.waitIdle()
	if cmds := srv.commands(); cmds[len(cmds)-1] != "QUIT" {
		t.Errorf("last command = %q, want QUIT", cmds[len(cmds)-1])
	}
	if _, err := deliver(t, c, "s@example.net", []string{"r@example.org"}, []byte(simpleMsg)); !errors.Is(err, ErrClosed) {
		t.Errorf("Deliver after Close = %v, want ErrClosed", err)
	}
	if _, err := c.Verify(context.Background(), "r@example.org"); !errors.Is(err, ErrClosed) {
		t.Errorf("Verify after Close = %v, want ErrClosed", err)
	}
}
