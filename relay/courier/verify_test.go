package courier

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

// verifyServer answers RCPT for known@ (250), unknown@ (550 5.1.1) and
// busy@ (451 4.3.0).
func verifyServer(t testing.TB, ext []string) *testServer {
	return startServer(t, serverConfig{Ext: ext, Rcpt: func(r string) string {
		switch strings.Split(r, "@")[0] {
		case "known":
			return "250 2.1.5 OK"
		case "busy":
			return "451 4.3.0 try again"
		default:
			return "550 5.1.1 no such user"
		}
	}})
}

// TestVerify checks the answers of a callout, the caching of definite
// answers with their TTLs (on the embedded store and on Redis), and that
// undetermined answers are not cached.
func TestVerify(t *testing.T) {
	t.Parallel()
	for _, be := range statetest.Backends(t) {
		for _, pipelining := range []bool{true, false} {
			name := be.Name + "/" + map[bool]string{true: "pipelining", false: "lockstep"}[pipelining]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var ext []string
				if !pipelining {
					ext = []string{"ENHANCEDSTATUSCODES"}
				}
				srv := verifyServer(t, ext)
				clock := statetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
				store := be.Open(t, clock.Now)
				c := newCourier(t, routes{"example.org": smtpRoute(srv)}, func(o *Options) {
					o.Cache = store
					o.Now = clock.Now
					o.VerifyPositiveTTL = 24 * time.Hour
					o.VerifyNegativeTTL = time.Hour
					o.IdleTimeout = 1000 * time.Hour
				})
				ctx := context.Background()
				check := func(rcpt string, want VerifyStatus, wantCode int, wantCached bool, wantRcpts int) {
					t.Helper()
					res, err := c.Verify(ctx, rcpt)
					if err != nil {
						t.Fatalf("Verify(%s): %v", rcpt, err)
					}
					if res.Status != want || res.Code != wantCode || res.Cached != wantCached {
						t.Fatalf("Verify(%s) = %+v, want %v %d cached=%v", rcpt, res, want, wantCode, wantCached)
					}
					if _, _, n := srv.stats(); n != wantRcpts {
						t.Fatalf("after Verify(%s) the server saw %d RCPTs, want %d", rcpt, n, wantRcpts)
					}
				}
				check("known@example.org", VerifyExists, 250, false, 1)
				check("known@example.org", VerifyExists, 250, true, 1)
				check("KNOWN@Example.ORG", VerifyUnknown, 550, false, 2) // local parts are case-sensitive
				check("unknown@example.org", VerifyUnknown, 550, false, 3)
				check("unknown@EXAMPLE.org", VerifyUnknown, 550, true, 3) // domains are not
				check("busy@example.org", VerifyUndetermined, 451, false, 4)
				check("busy@example.org", VerifyUndetermined, 451, false, 5)

				res, _ := c.Verify(ctx, "unknown@example.org")
				if res.Enhanced != "5.1.1" || res.Text != "no such user" {
					t.Errorf("cached negative answer = %+v, want the server's 5.1.1 reply", res)
				}

				// The negative entry expires after an hour, the positive one
				// after a day.
				clock.Advance(time.Hour + time.Second)
				check("unknown@example.org", VerifyUnknown, 550, false, 6)
				check("known@example.org", VerifyExists, 250, true, 6)
				clock.Advance(23 * time.Hour)
				check("known@example.org", VerifyExists, 250, false, 7)

				// One connection for every callout; each ends with RSET.
				cmds := srv.commands()
				if conns, _, _ := srv.stats(); conns != 1 {
					t.Errorf("%d connections, want 1", conns)
				}
				if got, want := countVerb(cmds, "RCPT"), 7; got != want {
					t.Errorf("%d RCPT, want %d", got, want)
				}
				if countVerb(cmds, "RSET") < 7 || cmds[len(cmds)-1] != "RSET" {
					t.Errorf("commands %v: want an RSET after every callout", cmds)
				}
				if countVerb(cmds, "DATA") != 0 {
					t.Errorf("a callout sent DATA: %v", cmds)
				}
				// A delivery then reuses the callout's connection.
				if _, err := deliver(t, c, "s@example.net", []string{"known@example.org"}, []byte(simpleMsg)); err != nil {
					t.Fatal(err)
				}
				if conns, _, _ := srv.stats(); conns != 1 {
					t.Errorf("%d connections after a delivery, want 1", conns)
				}
				got := srv.received()
				if len(got) != 1 || got[0].From != "s@example.net" {
					t.Errorf("server got %+v", got)
				}
			})
		}
	}
}

// TestVerifySharedCache checks that two Couriers on one store (two moat
// instances) share results.
func TestVerifySharedCache(t *testing.T) {
	t.Parallel()
	srv := verifyServer(t, nil)
	store := state.NewMemory(time.Now)
	t.Cleanup(func() { _ = store.Close() })
	mk := func() *Courier {
		return newCourier(t, routes{"example.org": smtpRoute(srv)}, func(o *Options) { o.Cache = store })
	}
	a, b := mk(), mk()
	if res, err := a.Verify(context.Background(), "known@example.org"); err != nil || res.Status != VerifyExists || res.Cached {
		t.Fatalf("first Verify = %+v, %v", res, err)
	}
	if res, err := b.Verify(context.Background(), "known@example.org"); err != nil || res.Status != VerifyExists || !res.Cached {
		t.Fatalf("Verify on the second courier = %+v, %v; want a cached answer", res, err)
	}
	if _, _, n := srv.stats(); n != 1 {
		t.Errorf("server saw %d RCPTs, want 1", n)
	}
}

// TestVerifyConcurrent checks that simultaneous callouts for one
// recipient make one RCPT.
func TestVerifyConcurrent(t *testing.T) {
	t.Parallel()
	srv := verifyServer(t, nil)
	c := newCourier(t, routes{"example.org": smtpRoute(srv)}, nil) // no cache
	var wg sync.WaitGroup
	results := make([]VerifyResult, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = c.Verify(context.Background(), "known@example.org")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Status != VerifyExists {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	if _, _, n := srv.stats(); n < 1 || n > len(results) {
		t.Errorf("server saw %d RCPTs", n)
	}
}

// TestVerifyUndetermined checks callouts that get no answer about the
// recipient: no server, a refused null sender, no route.
func TestVerifyUndetermined(t *testing.T) {
	t.Parallel()
	down := startServer(t, serverConfig{})
	downRoute := smtpRoute(down)
	down.close()
	noNull := startServer(t, serverConfig{Mail: func(string) string { return "550 5.7.1 no bounces here" }})
	store := state.NewMemory(time.Now)
	t.Cleanup(func() { _ = store.Close() })
	c := newCourier(t, routes{"down.org": downRoute, "nonull.org": smtpRoute(noNull)}, func(o *Options) { o.Cache = store })

	res, err := c.Verify(context.Background(), "x@down.org")
	if err != nil || res.Status != VerifyUndetermined || res.Err == nil || res.Code/100 != 4 {
		t.Errorf("Verify with the server down = %+v, %v; want undetermined with a 4xx and the cause", res, err)
	}
	res, err = c.Verify(context.Background(), "x@nonull.org")
	if err != nil || res.Status != VerifyUndetermined || res.Code != 451 {
		t.Errorf("Verify with the null sender refused = %+v, %v; want undetermined", res, err)
	}
	var keys []string
	_ = store.Scan(context.Background(), VerifyKeyPrefix, func(k string) error { keys = append(keys, k); return nil })
	if len(keys) != 0 {
		t.Errorf("undetermined answers cached: %v", keys)
	}
	if _, err := c.Verify(context.Background(), "x@elsewhere.org"); !errors.Is(err, ErrNoRoute) {
		t.Errorf("Verify without a route = %v, want ErrNoRoute", err)
	}
	if _, err := c.Verify(context.Background(), "no-at-sign"); !errors.Is(err, ErrBadAddress) {
		t.Errorf("Verify of a bad address = %v, want ErrBadAddress", err)
	}
}
