package greylist

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

// TestCheckInPipeline runs the greylist check the way the front end does:
// the rcpt stage once per recipient, then Take for the 451 text.
func TestCheckInPipeline(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	g := newGreylist(t, statetest.Embedded(), clock, nil)
	p := filter.NewPipeline([]filter.Check{g}, 5*time.Second, nil)
	ctx := context.Background()

	txn := msg{}.txn()
	txn.Rcpts = nil
	for _, rcpt := range []string{"bob@example.net", "carol@example.net"} {
		txn.Rcpts = append(txn.Rcpts, rcpt)
		p.Run(ctx, txn, filter.StageRcpt)
		r, ok := g.Take(txn, rcpt)
		if !ok || !r.Greylisted() || r.Rcpt != rcpt {
			t.Fatalf("Take(%s) = %+v, %v; want a greylisted result", rcpt, r, ok)
		}
		if got, want := r.ReplyText(clock.Now()), "Greylisted, please try again in 5 minutes"; got != want {
			t.Fatalf("ReplyText = %q, want %q", got, want)
		}
		if _, ok := g.Take(txn, rcpt); ok {
			t.Fatal("a result was taken twice")
		}
	}
	if !txn.Has(SymbolNew) {
		t.Fatalf("symbols %v, want %s", txn.Symbols(), SymbolNew)
	}

	clock.Advance(5 * time.Minute)
	again := msg{}.txn()
	p.Run(ctx, again, filter.StageRcpt)
	if r, ok := g.Take(again, "bob@example.net"); !ok || r.Status != StatusPass || !again.Has(SymbolPass) || again.Has(SymbolNew) {
		t.Fatalf("retry: %+v %v, symbols %v", r, ok, again.Symbols())
	}

	trusted := msg{trusted: true}.txn()
	p.Run(ctx, trusted, filter.StageRcpt)
	if trusted.SymbolCount() != 0 {
		t.Fatalf("trusted client got symbols %v", trusted.Symbols())
	}
	if r, ok := g.Take(trusted, "bob@example.net"); !ok || r.Status != StatusSkipped || r.Reason != "trusted client" {
		t.Fatalf("trusted: %+v, %v", r, ok)
	}
	if syms, err := g.Check(ctx, msg{}.txn(), filter.StageData); syms != nil || err != nil {
		t.Fatalf("Check at the data stage = %v, %v", syms, err)
	}
	if g.memo.pending() != 0 {
		t.Fatalf("%d results left in the memo", g.memo.pending())
	}
}

func TestStagesByMode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		mode Mode
		want int
	}{{Always, 1}, {Score, 0}} {
		o := DefaultOptions()
		o.Mode = tt.mode
		g, err := New(state.NewMemory(nil), o)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Stages(); len(got) != tt.want || (tt.want == 1 && got[0] != filter.StageRcpt) {
			t.Errorf("mode %v: stages %v", tt.mode, got)
		}
		if g.Name() != "greylist" {
			t.Errorf("Name = %q", g.Name())
		}
	}
}

// TestFailOpen closes the store under the check: decisions become
// GREYLIST_TEMPFAIL, the mail is not greylisted, the check reports no
// error, and one warning is logged for a burst of failures.
func TestFailOpen(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	var logs bytes.Buffer
	st := state.NewMemory(clock.Now)
	o := DefaultOptions()
	o.Now, o.Log = clock.Now, slog.New(slog.NewTextHandler(&logs, nil))
	g, err := New(st, o)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for i := range 5 {
		txn := msg{}.txn()
		syms, err := g.Check(context.Background(), txn, filter.StageRcpt)
		if err != nil || len(syms) != 1 || syms[0].Name != SymbolTempfail {
			t.Fatalf("Check %d = %v, %v; want %s and no error", i, syms, err, SymbolTempfail)
		}
		if r, _ := g.Take(txn, "bob@example.net"); r.Greylisted() || r.Status != StatusTempfail {
			t.Fatalf("result %+v", r)
		}
	}
	if _, err := g.Decide(context.Background(), msg{}.txn(), "bob@example.net"); err == nil {
		t.Fatal("Decide on a closed store returned no error")
	}
	if n := strings.Count(logs.String(), "fail open"); n != 1 {
		t.Fatalf("%d warnings for a burst of failures, want 1:\n%s", n, logs.String())
	}
	clock.Advance(time.Second)
	_, _ = g.Decide(context.Background(), msg{}.txn(), "bob@example.net")
	if !strings.Contains(logs.String(), "also_failed=5") {
		t.Fatalf("second warning does not count the suppressed ones:\n%s", logs.String())
	}
	if c := g.Counts(); c.Tempfail != 7 {
		t.Fatalf("Counts().Tempfail = %d, want 7", c.Tempfail)
	}
}

func TestMemoPrunes(t *testing.T) {
	t.Parallel()
	var m memo
	m.m = make(map[memoKey]memoEntry)
	m.put("t1", "a", Result{}, epoch)
	m.put("t2", "a", Result{}, epoch.Add(memoTTL/2))
	m.put("t3", "a", Result{}, epoch.Add(memoTTL))
	if n := m.pending(); n != 2 {
		t.Fatalf("%d entries after pruning, want 2 (t2, t3)", n)
	}
	if _, ok := m.take("t1", "a"); ok {
		t.Fatal("t1 survived pruning")
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Options)
		want string // "" for valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"zero delay", func(o *Options) { o.Delay = 0 }, ""},
		{"negative delay", func(o *Options) { o.Delay = -time.Second }, "delay"},
		{"window not after delay", func(o *Options) { o.Window = o.Delay }, "retry_window"},
		{"short pass ttl", func(o *Options) { o.PassTTL = time.Second }, "pass_ttl"},
		{"negative auto-allow", func(o *Options) { o.AutoAllow = -1 }, "auto_allow"},
		{"IPv4 prefix", func(o *Options) { o.IPv4Prefix = 33 }, "ipv4_prefix"},
		{"IPv6 prefix", func(o *Options) { o.IPv6Prefix = 8 }, "ipv6_prefix"},
		{"bad opt-out", func(o *Options) { o.OptOutDomains = []string{"no spaces"} }, "opt_out"},
		{"mode", func(o *Options) { o.Mode = Mode(7) }, "mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := DefaultOptions()
			tt.edit(&o)
			err := o.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want it to mention %q", err, tt.want)
			}
			if _, err := New(state.NewMemory(nil), o); err == nil {
				t.Fatal("New accepted invalid options")
			}
		})
	}
	if _, err := New(nil, DefaultOptions()); err == nil {
		t.Error("New accepted a nil store")
	}
	for s, want := range map[string]Mode{"always": Always, "score": Score} {
		if m, err := ParseMode(s); err != nil || m != want || m.String() != s {
			t.Errorf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMode("sometimes"); err == nil {
		t.Error("ParseMode accepted sometimes")
	}
}

func TestReplyText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		left time.Duration
		want string
	}{
		{5 * time.Minute, "5 minutes"},
		{4*time.Minute + time.Second, "5 minutes"},
		{61 * time.Second, "2 minutes"},
		{time.Minute, "1 minute"},
		{59*time.Second + time.Millisecond, "1 minute"}, {59 * time.Second, "59 seconds"},
		{30 * time.Second, "30 seconds"},
		{time.Millisecond, "1 second"},
		{0, "1 second"},
		{-time.Minute, "1 second"},
	}
	for _, tt := range tests {
		r := Result{Status: StatusEarly, RetryAt: epoch.Add(tt.left)}
		if got := r.ReplyText(epoch); got != "Greylisted, please try again in "+tt.want {
			t.Errorf("%v left: %q, want %q", tt.left, got, tt.want)
		}
	}
	if got := (Result{RetryAt: epoch.Add(1500 * time.Millisecond)}).RetryIn(epoch); got != 2*time.Second {
		t.Errorf("RetryIn rounds %v, want 2s", got)
	}
	if _, ok := LatestRetry([]Result{{Status: StatusPass}}); ok {
		t.Error("LatestRetry found a greylisted result among passes")
	}
	if s := Status(42).String(); s != "status(42)" {
		t.Errorf("unknown status: %q", s)
	}
}

func TestDefaultSPFDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		txn    *filter.Txn
		want   string
		wantOK bool
	}{
		{"no SPF symbol", &filter.Txn{MailFrom: "a@example.org"}, "", false},
		{"sender domain", spfTxn("a@Example.ORG", "mx.other.example"), "example.org", true},
		{"null sender uses HELO", spfTxn("", "MX.Example.org."), "mx.example.org", true},
		{"unusable domain", spfTxn("", "[192.0.2.1]"), "", false},
	}
	for _, tt := range tests {
		got, ok := DefaultSPFDomain(tt.txn)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("%s: %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func spfTxn(from, helo string) *filter.Txn {
	t := &filter.Txn{MailFrom: from, Helo: helo}
	t.Add(filter.Symbol{Name: "SPF_PASS"})
	return t
}
