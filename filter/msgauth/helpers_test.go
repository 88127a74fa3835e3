package msgauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

// The resolver satisfies this package's Resolver (and so blitiri's
// DNSResolver, whose method set it is).
var _ Resolver = (*dnsx.Resolver)(nil)

// soa returns the head of a zone file for origin (with its trailing dot).
func soa(origin string) string {
	sub := origin
	if sub == "." {
		sub = ""
	}
	return fmt.Sprintf("$TTL 300\n%s IN SOA ns.%s hostmaster.%s 1 3600 600 86400 300\n", origin, sub, sub)
}

// startDNS starts a test DNS server with the given zones (zone file text)
// and returns it with a resolver pointed at it.
func startDNS(t testing.TB, zones ...string) (*dnstest.Server, *dnsx.Resolver) {
	t.Helper()
	srv := dnstest.Start(t)
	for _, z := range zones {
		if err := srv.AddZone(z); err != nil {
			t.Fatalf("zone: %v\n%s", err, z)
		}
	}
	return srv, resolverFor(t, srv)
}

// resolverFor returns a resolver (with its own cache) pointed at srv.
func resolverFor(t testing.TB, srv *dnstest.Server) *dnsx.Resolver {
	t.Helper()
	res, err := dnsx.New(dnsx.Config{Servers: []string{srv.Addr()}, Timeout: 10 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	return res
}

// txnSeq makes transaction ids unique across parallel tests.
var txnSeq atomic.Int64

// newTxn returns a transaction from ip with the given HELO name and sender.
func newTxn(ip, helo, from string) *filter.Txn {
	t := &filter.Txn{ID: fmt.Sprintf("t%d", txnSeq.Add(1)), Helo: helo, MailFrom: from, Rcpts: []string{"rcpt@moat.test"}}
	if ip != "" {
		t.ClientIP = netip.MustParseAddr(ip)
	}
	return t
}

// withMessage sets t's message to raw (LF line endings become CRLF).
func withMessage(tb testing.TB, t *filter.Txn, raw string) *filter.Txn {
	tb.Helper()
	if !strings.Contains(raw, "\r\n") {
		raw = strings.ReplaceAll(raw, "\n", "\r\n")
	}
	m, err := filter.NewMessage([]byte(raw))
	if err != nil {
		tb.Fatal(err)
	}
	t.Msg = m
	return t
}

// readFile reads a test file.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkByName returns the check of a with the given name.
func checkByName(t testing.TB, a *Auth, name string) filter.Check {
	t.Helper()
	for _, c := range a.Checks() {
		if c.Name() == name {
			return c
		}
	}
	t.Fatalf("no check %q", name)
	return nil
}

// run runs the named check of a on t at stage s, adds its symbols to t and
// returns their names.
func run(t testing.TB, a *Auth, name string, txn *filter.Txn, s filter.Stage) []string {
	t.Helper()
	syms, err := checkByName(t, a, name).Check(context.Background(), txn, s)
	if err != nil {
		t.Fatalf("%s check: %v", name, err)
	}
	txn.Add(syms...)
	return names(syms)
}

// names returns the symbol names, sorted.
func names(syms []filter.Symbol) []string {
	out := make([]string, len(syms))
	for i, s := range syms {
		out[i] = s.Name
		if want, ok := DefaultScore(s.Name); !ok || want != s.Score {
			panic(fmt.Sprintf("symbol %s has score %v, not its default", s.Name, s.Score))
		}
	}
	slices.Sort(out)
	return out
}

// isNotFoundDNS reports whether err is a *net.DNSError with IsNotFound.
func isNotFoundDNS(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
