package headers

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
)

// testNow is the clock of every test: shortly after the newest message of
// the committed corpus sample.
var testNow = time.Date(2003, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestCheck() *Check {
	return New(WithClock(func() time.Time { return testNow }))
}

// run checks a message made of the given header lines (joined with CRLF)
// and a short body, and returns the symbols.
func run(t *testing.T, c *Check, lines ...string) []filter.Symbol {
	t.Helper()
	raw := strings.Join(lines, "\r\n") + "\r\n\r\nHello.\r\n"
	return runRaw(t, c, []byte(raw))
}

func runRaw(t *testing.T, c *Check, raw []byte) []filter.Symbol {
	t.Helper()
	m, err := filter.NewMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := c.Check(t.Context(), &filter.Txn{Msg: m}, filter.StageData)
	if err != nil {
		t.Fatal(err)
	}
	return syms
}

func names(syms []filter.Symbol) []string {
	out := []string{}
	for _, s := range syms {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

const (
	okDate  = "Date: Tue, 08 Oct 2002 12:14:41 +0100"
	okID    = "Message-ID: <E17ysKt-00048e-00@rhenium.btinternet.com>"
	okFrom  = `From: "Tim Chapman" <timc@2ubh.com>`
	subject = "Subject: test"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"all good", []string{okDate, okID, okFrom, subject}, nil},
		{"no fields we check", []string{subject}, []string{MissingDate, MissingFrom, MissingMessageID}},

		// Date.
		{"missing date", []string{okID, okFrom}, []string{MissingDate}},
		{"empty date", []string{"Date:", okID, okFrom}, []string{InvalidDate}},
		{"garbage date", []string{"Date: yesterday", okID, okFrom}, []string{InvalidDate}},
		{"date without zone", []string{"Date: Sun, 19 May 2002 17:50:51", okID, okFrom}, []string{InvalidDate}},
		{"date with AM/PM", []string{"Date: 28 Jun 01 10:05:15 PM", okID, okFrom}, []string{InvalidDate}},
		{"date with a long zone name", []string{"Date: Mon, 20 May 02 21:54:28 Eastern Daylight Time", okID, okFrom}, []string{InvalidDate}},
		{"date without day of week, obsolete zone", []string{"Date: 8 Oct 2002 12:14:41 GMT", okID, okFrom}, nil},
		{"date with two-digit year, no seconds, comment", []string{"Date: Tue, 8 Oct 02 12:14 +0100 (IST)", okID, okFrom}, nil},
		{"date with US zone name", []string{"Date: Tue, 08 Oct 2002 12:14:41 EDT", okID, okFrom}, nil},
		{"folded date", []string{"Date: Tue, 08 Oct 2002", "   12:14:41 +0100", okID, okFrom}, nil},
		{"lower-case field name", []string{"date: Tue, 08 Oct 2002 12:14:41 +0100", okID, okFrom}, nil},
		{"two dates", []string{okDate, okDate, okID, okFrom}, []string{MultipleDate}},
		{"two dates, second invalid", []string{okDate, "Date: soon", okID, okFrom}, []string{InvalidDate, MultipleDate}},
		{"date 25h ahead", []string{"Date: Sun, 02 Mar 2003 13:00:00 +0000", okID, okFrom}, []string{DateInFuture}},
		{"date 25h ahead in another zone", []string{"Date: Sun, 02 Mar 2003 08:00:00 -0500", okID, okFrom}, []string{DateInFuture}},
		{"date exactly 24h ahead", []string{"Date: Sun, 02 Mar 2003 12:00:00 +0000", okID, okFrom}, nil},
		{"date 23h ahead", []string{"Date: Sun, 02 Mar 2003 11:00:00 +0000", okID, okFrom}, nil},
		{"date in the far past", []string{"Date: Wed, 30 Jul 1980 18:25:49 +0000", okID, okFrom}, nil},

		// Message-ID.
		{"missing message-id", []string{okDate, okFrom}, []string{MissingMessageID}},
		{"message-id case-insensitive name", []string{okDate, "Message-Id: <a@b>", okFrom}, nil},
		{"message-id with dots and specials", []string{okDate, "Message-ID: <20020828.1$x+y=z@mail.example.co.uk>", okFrom}, nil},
		{"message-id with a quoted left part", []string{okDate, `Message-Id: <"020828081752Z.WT24519.  6*/PN=Robin.Hill/O=BAe MAA/"@MHS>`, okFrom}, nil},
		{"message-id with trailing comment", []string{okDate, "Message-ID: <3D401766@mx.example.net> (added by postmaster@example.net)", okFrom}, nil},
		{"message-id with leading comment", []string{okDate, "Message-ID: (id) <a@b>", okFrom}, nil},
		{"message-id with a domain literal", []string{okDate, "Message-ID: <x1@[192.0.2.1]>", okFrom}, nil},
		{"message-id in UTF-8", []string{okDate, "Message-ID: <grüße@exämple.de>", okFrom}, nil},
		{"message-id without brackets", []string{okDate, "Message-ID: abc@example.net", okFrom}, []string{InvalidMessageID}},
		{"message-id without @", []string{okDate, "Message-ID: <3DlzeX5SbSIeEh0>", okFrom}, []string{InvalidMessageID}},
		{"message-id with empty right", []string{okDate, "Message-ID: <0000104257bd$00001f24$00007177@>", okFrom}, []string{InvalidMessageID}},
		{"message-id with empty left", []string{okDate, "Message-ID: <@example.net>", okFrom}, []string{InvalidMessageID}},
		{"message-id with space", []string{okDate, "Message-ID: <x@Life 300(113.2.2.1) Life1>", okFrom}, []string{InvalidMessageID}},
		{"message-id with two @", []string{okDate, "Message-ID: <a@b@c>", okFrom}, []string{InvalidMessageID}},
		{"message-id with nested brackets", []string{okDate, `Message-ID: <a."b"<s@x.com>>`, okFrom}, []string{InvalidMessageID}},
		{"message-id empty brackets", []string{okDate, "Message-ID: <>", okFrom}, []string{InvalidMessageID}},
		{"message-id empty", []string{okDate, "Message-ID:", okFrom}, []string{InvalidMessageID}},
		{"message-id with text after", []string{okDate, "Message-ID: <a@b> c", okFrom}, []string{InvalidMessageID}},
		{"message-id with unclosed comment", []string{okDate, "Message-ID: <a@b> (oops", okFrom}, []string{InvalidMessageID}},
		{"message-id folded mid-id", []string{okDate, "Message-Id: <0000@mindspring", "    (user-3qt5hn.example.com[192.0.2.55]) by smtp6>", okFrom}, []string{InvalidMessageID}},
		{"two message-ids", []string{okDate, okID, okID, okFrom}, []string{MultipleMessageID}},
		{"two message-ids, second invalid", []string{okDate, okID, "Message-ID: junk", okFrom}, []string{InvalidMessageID, MultipleMessageID}},

		// From.
		{"missing from", []string{okDate, okID}, []string{MissingFrom}},
		{"bare address", []string{okDate, okID, "From: timc@2ubh.com"}, nil},
		{"angle address", []string{okDate, okID, "From: <timc@2ubh.com>"}, nil},
		{"old-style comment name", []string{okDate, okID, "From: timc@2ubh.com (Tim Chapman)"}, nil},
		{"encoded latin-1 name", []string{okDate, okID, "From: Ville =?ISO-8859-1?Q?Skytt=E4?= <ville.skytta@iki.fi>"}, nil},
		{"encoded UTF-8 name", []string{okDate, okID, "From: =?utf-8?b?w4lsb2lzZQ==?= <e@example.fr>"}, nil},
		{"encoded name in a charset the stdlib lacks", []string{okDate, okID, "From: =?gb2312?B?0MXPorT6wO0=?= <x@example.cn>"}, nil},
		{"encoded name in a quoted string", []string{okDate, okID, `From: "=?iso-8859-1?q?Mich=E8l?=" <m@example.ie>`}, nil},
		{"raw latin-1 name", []string{okDate, okID, "From: \"Nils O. Sel\xe5sdal\" <noselasd@Utel.no>"}, nil},
		{"raw UTF-8 name", []string{okDate, okID, "From: Jürgen Groß <jg@example.de>"}, nil},
		{"group with one mailbox", []string{okDate, okID, "From: Team: a@example.org;"}, nil},
		{"folded from", []string{okDate, okID, `From: "A Long Name"`, "  <long@example.org>"}, nil},
		{"empty from", []string{okDate, okID, "From:"}, []string{InvalidFrom}},
		{"from without address", []string{okDate, okID, "From: just a name"}, []string{InvalidFrom}},
		{"from with two @", []string{okDate, okID, "From: ndtuftrzzsglsvnz@uksyz@21cn.com"}, []string{InvalidFrom}},
		{"from null address", []string{okDate, okID, `From: "" <>`}, []string{InvalidFrom}},
		{"from empty group", []string{okDate, okID, "From: undisclosed-recipients:;"}, []string{InvalidFrom}},
		{"two addresses", []string{okDate, okID, "From: a@example.org, b@example.org"}, []string{MultipleFrom}},
		{"group with two mailboxes", []string{okDate, okID, "From: Team: a@example.org, b@example.org;"}, []string{MultipleFrom}},
		{"two from fields", []string{okDate, okID, okFrom, "From: other@example.org"}, []string{MultipleFrom}},
		{"two from fields, one invalid", []string{okDate, okID, okFrom, "From: nobody"}, []string{InvalidFrom, MultipleFrom}},
	}
	c := newTestCheck()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tt.want
			if want == nil {
				want = []string{}
			}
			syms := run(t, c, tt.lines...)
			if got := names(syms); !slices.Equal(got, want) {
				t.Fatalf("symbols = %q, want %q\nreasons: %+v", got, want, syms)
			}
			for _, s := range syms {
				score, ok := DefaultScore(s.Name)
				if !ok || s.Score != score || s.Score <= 0 || s.Reason == "" {
					t.Errorf("symbol %+v: want score %v (known: %v) and a reason", s, score, ok)
				}
			}
		})
	}
}

func TestDefaultScore(t *testing.T) {
	t.Parallel()
	want := map[string]float64{
		"MISSING_DATE": 1.0, "INVALID_DATE": 1.0, "DATE_IN_FUTURE": 1.5, "MULTIPLE_DATE": 1.0,
		"MISSING_MESSAGE_ID": 1.0, "INVALID_MESSAGE_ID": 0.5, "MULTIPLE_MESSAGE_ID": 1.0,
		"MISSING_FROM": 2.0, "INVALID_FROM": 2.0, "MULTIPLE_FROM": 2.0,
	}
	for name, w := range want {
		if got, ok := DefaultScore(name); !ok || got != w {
			t.Errorf("DefaultScore(%s) = %v, %v; want %v", name, got, ok, w)
		}
	}
	if _, ok := DefaultScore("SPF_FAIL"); ok {
		t.Error("DefaultScore(SPF_FAIL) claims a symbol of another check")
	}
}

func TestReasonIsShort(t *testing.T) {
	t.Parallel()
	syms := run(t, newTestCheck(), okDate, okFrom, "Message-ID: "+strings.Repeat("x", 5000))
	if len(syms) != 1 || len(syms[0].Reason) > 200 {
		t.Fatalf("symbols %+v: want one with a reason of at most 200 bytes", syms)
	}
}

func TestClockDefault(t *testing.T) {
	t.Parallel()
	// With the real clock, a date a year ahead of now is in the future and
	// one a year back is not.
	c := New()
	for _, tc := range []struct {
		date time.Time
		want []string
	}{
		{time.Now().AddDate(1, 0, 0), []string{DateInFuture}},
		{time.Now().AddDate(-1, 0, 0), []string{}},
	} {
		got := names(run(t, c, "Date: "+tc.date.Format(time.RFC1123Z), okID, okFrom))
		if !slices.Equal(got, tc.want) {
			t.Errorf("date %v: symbols %q, want %q", tc.date, got, tc.want)
		}
	}
}

func TestCheckInterface(t *testing.T) {
	t.Parallel()
	c := New()
	if c.Name() != "headers" {
		t.Errorf("Name = %q", c.Name())
	}
	if got := c.Stages(); !slices.Equal(got, []filter.Stage{filter.StageData}) {
		t.Errorf("Stages = %v, want [data]", got)
	}
	if _, err := c.Check(t.Context(), &filter.Txn{}, filter.StageData); err == nil {
		t.Error("Check without a message: want an error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	m, err := filter.NewMessage([]byte(okFrom + "\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(ctx, &filter.Txn{Msg: m}, filter.StageData); !errors.Is(err, context.Canceled) {
		t.Errorf("Check with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// TestInPipeline runs the check the way the gateway does.
func TestInPipeline(t *testing.T) {
	t.Parallel()
	m, err := filter.NewMessage([]byte("From: a@example.org, b@example.org\r\nSubject: x\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	txn := &filter.Txn{ID: "p1", Msg: m}
	p := filter.NewPipeline([]filter.Check{newTestCheck()}, time.Second, slog.New(slog.DiscardHandler))
	p.RunAll(t.Context(), txn)
	if got, want := names(txn.Symbols()), []string{MissingDate, MissingMessageID, MultipleFrom}; !slices.Equal(got, want) {
		t.Fatalf("symbols = %q, want %q", got, want)
	}
}

// TestCorpusHam runs the check over real ham from the development corpus
// (testdata/ham, see testdata/README.md). None of these messages is
// malformed, so none may get a symbol — in particular none of the From
// symbols, which weigh the most. The sample includes an RFC 2047 encoded
// display name, a raw 8-bit one and an X.400-style Message-ID.
func TestCorpusHam(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/ham/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("only %d sample messages in testdata/ham", len(files))
	}
	c := newTestCheck()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := filter.NewMessage(raw)
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.Count("From") == 0 || len(m.Header.Fields) < 5 {
				t.Fatalf("header not parsed: %d fields", len(m.Header.Fields))
			}
			syms := runRaw(t, c, raw)
			for _, s := range syms {
				switch s.Name {
				case MissingFrom, InvalidFrom, MultipleFrom:
					t.Errorf("ham got %s: %s", s.Name, s.Reason)
				default:
					t.Errorf("ham got %s (%s)", s.Name, s.Reason)
				}
			}
		})
	}
}

// BenchmarkCheck runs the check over one real ham message.
func BenchmarkCheck(b *testing.B) {
	raw, err := os.ReadFile("testdata/ham/00039.eml")
	if err != nil {
		b.Fatal(err)
	}
	m, err := filter.NewMessage(raw)
	if err != nil {
		b.Fatal(err)
	}
	c := New(WithClock(func() time.Time { return testNow }))
	txn := &filter.Txn{Msg: m}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if syms, err := c.Check(ctx, txn, filter.StageData); err != nil || len(syms) != 0 {
			b.Fatalf("Check = %v, %v", syms, err)
		}
	}
}
