package courier

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// routes maps recipient domains to routes for tests.
type routes map[string]Route

func (r routes) lookup(domain string) (Route, bool) {
	rt, ok := r[domain]
	return rt, ok
}

// hostPort splits a test server's address into a route.
func smtpRoute(s *testServer) Route {
	return Route{Host: "127.0.0.1", Port: s.port()}
}

// newCourier returns a Courier closed when the test ends; mod adjusts the
// options (Routes defaults to rt).
func newCourier(t testing.TB, rt routes, mod func(*Options)) *Courier {
	t.Helper()
	opts := Options{
		Hostname: "moat.test",
		Routes:   rt.lookup,
		Timeout:  5 * time.Second,
		Log:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// deliver routes rcpts (which must share a route) and delivers msg.
func deliver(t testing.TB, c *Courier, from string, rcpts []string, msg []byte) ([]Result, error) {
	t.Helper()
	name, err := c.Route(rcpts[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Deliver(ctx, name, from, rcpts, bytes.NewReader(msg))
}

// codes returns the codes of results.
func codes(res []Result) []int {
	out := make([]int, len(res))
	for i, r := range res {
		out[i] = r.Code
	}
	return out
}

// crlf converts LF line endings to CRLF.
func crlf(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// readFixture reads a file under testdata.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const simpleMsg = "From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"

// nilResolver answers nothing; for tests that only name routes.
type nilResolver struct{}

func (nilResolver) LookupMX(context.Context, string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

func (nilResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
