package dnsbl

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/dnsbl/uri"
	"github.com/moatmail/moat/filter/dnsx"
	"github.com/moatmail/moat/filter/dnsx/dnstest"
)

// startDNS serves every zone under testdata and returns a resolver pointed
// at it. The resolver's per-attempt timeout is long (30 s), so a check that
// returns promptly against a silent zone does so because of its own
// deadline.
func startDNS(t testing.TB) (*dnstest.Server, *dnsx.Resolver) {
	t.Helper()
	files, err := filepath.Glob("testdata/*.zone")
	if err != nil || len(files) == 0 {
		t.Fatalf("no zone files: %v", err)
	}
	srv := dnstest.Start(t, files...)
	res, err := dnsx.New(dnsx.Config{Servers: []string{srv.Addr()}, Timeout: 30 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	return srv, res
}

// logBuffer is a slog.Logger writing every level to a buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// chanHandler sends the message of every log record to a channel.
type chanHandler struct{ ch chan string }

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	h.ch <- r.Message
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }

// txn returns a transaction from the client ip.
func txn(ip string) *filter.Txn {
	return &filter.Txn{ID: "test", ClientIP: netip.MustParseAddr(ip)}
}

// names returns the names of syms, sorted.
func names(syms []filter.Symbol) []string {
	out := make([]string, 0, len(syms))
	for _, s := range syms {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// scores maps the symbols' names to their scores.
func scores(syms []filter.Symbol) map[string]float64 {
	out := map[string]float64{}
	for _, s := range syms {
		out[s.Name] = s.Score
	}
	return out
}

// uriLimits returns extraction limits keeping n domains.
func uriLimits(n int) uri.Limits { return uri.Limits{Domains: n} }
