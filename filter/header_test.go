package filter

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// wantField is the expected name and raw text of one parsed field.
type wantField struct {
	name string
	raw  string
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		fields  []wantField
		hdrLen  int // -1: the whole input
		wantErr error
	}{
		{
			name: "CRLF with body",
			in:   "From: a@b\r\nTo: c@d\r\n\r\nbody\r\n",
			fields: []wantField{
				{"From", "From: a@b\r\n"},
				{"To", "To: c@d\r\n"},
			},
			hdrLen: len("From: a@b\r\nTo: c@d\r\n\r\n"),
		},
		{
			name: "LF with body",
			in:   "From: a@b\nTo: c@d\n\nbody\n",
			fields: []wantField{
				{"From", "From: a@b\n"},
				{"To", "To: c@d\n"},
			},
			hdrLen: len("From: a@b\nTo: c@d\n\n"),
		},
		{
			name: "folded field keeps its continuation lines",
			in:   "Subject: one\r\n two\r\n\tthree\r\nTo: x\r\n\r\nb",
			fields: []wantField{
				{"Subject", "Subject: one\r\n two\r\n\tthree\r\n"},
				{"To", "To: x\r\n"},
			},
			hdrLen: len("Subject: one\r\n two\r\n\tthree\r\nTo: x\r\n\r\n"),
		},
		{
			name: "header with no body after the blank line",
			in:   "From: a@b\r\n\r\n",
			fields: []wantField{
				{"From", "From: a@b\r\n"},
			},
			hdrLen: -1,
		},
		{
			name: "no blank line: header runs to the end",
			in:   "From: a@b\r\nSubject: s",
			fields: []wantField{
				{"From", "From: a@b\r\n"},
				{"Subject", "Subject: s"},
			},
			hdrLen: -1,
		},
		{
			name:   "first line is not a field",
			in:     "this is not a header\r\nFrom: a@b\r\n\r\n",
			hdrLen: 0,
		},
		{
			name:   "mbox envelope line is not a field",
			in:     "From user@host  Thu Aug 22 12:36:23 2002\nFrom: a@b\n\n",
			hdrLen: 0,
		},
		{
			name:   "continuation at start is body",
			in:     " folded: x\r\nFrom: a@b\r\n\r\n",
			hdrLen: 0,
		},
		{
			name: "non-field line ends the header without a blank line",
			in:   "From: a@b\r\nnot a field\r\nTo: c\r\n",
			fields: []wantField{
				{"From", "From: a@b\r\n"},
			},
			hdrLen: len("From: a@b\r\n"),
		},
		{
			name: "space before colon is not a field name",
			in:   "From: a@b\r\nBad Name: x\r\n",
			fields: []wantField{
				{"From", "From: a@b\r\n"},
			},
			hdrLen: len("From: a@b\r\n"),
		},
		{
			name:   "empty field name",
			in:     ": x\r\n",
			hdrLen: 0,
		},
		{
			name: "empty value",
			in:   "X-Empty:\r\n\r\n",
			fields: []wantField{
				{"X-Empty", "X-Empty:\r\n"},
			},
			hdrLen: -1,
		},
		{
			name:   "empty input",
			in:     "",
			hdrLen: 0,
		},
		{
			name:   "blank line only",
			in:     "\r\nbody",
			hdrLen: 2,
		},
		{
			name: "NUL in a field value",
			in:   "From: a\x00b\r\n\r\nbody",
			fields: []wantField{
				{"From", "From: a\x00b\r\n"},
			},
			hdrLen:  len("From: a\x00b\r\n\r\n"),
			wantErr: ErrHeaderNUL,
		},
		{
			name: "NUL in a continuation line",
			in:   "Subject: a\r\n \x00\r\n\r\n",
			fields: []wantField{
				{"Subject", "Subject: a\r\n \x00\r\n"},
			},
			hdrLen:  -1,
			wantErr: ErrHeaderNUL,
		},
		{
			name: "NUL in the body is not a header error",
			in:   "From: a@b\r\n\r\nbo\x00dy",
			fields: []wantField{
				{"From", "From: a@b\r\n"},
			},
			hdrLen: len("From: a@b\r\n\r\n"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, n, err := ParseHeader([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			want := tt.hdrLen
			if want < 0 {
				want = len(tt.in)
			}
			if n != want {
				t.Errorf("HeaderLen = %d, want %d", n, want)
			}
			if len(h.Fields) != len(tt.fields) {
				t.Fatalf("got %d fields %q, want %d", len(h.Fields), h.Fields, len(tt.fields))
			}
			for i, f := range h.Fields {
				if f.Name != tt.fields[i].name || string(f.Raw) != tt.fields[i].raw {
					t.Errorf("field %d = %q %q, want %q %q", i, f.Name, f.Raw, tt.fields[i].name, tt.fields[i].raw)
				}
			}
		})
	}
}

func TestFieldValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"simple CRLF", "Subject: hello\r\n", "hello"},
		{"simple LF", "Subject: hello\n", "hello"},
		{"unterminated", "Subject: hello", "hello"},
		{"no space after colon", "Subject:hello\r\n", "hello"},
		{"surrounding space trimmed", "Subject: \t hello  \r\n", "hello"},
		{"folded CRLF", "Subject: one\r\n two\r\n", "one two"},
		{"folded LF", "Subject: one\n two\n", "one two"},
		{"folded with tab keeps the tab", "Subject: one\r\n\ttwo\r\n", "one\ttwo"},
		{"folded three lines", "Subject: a\r\n b\r\n c\r\n", "a b c"},
		{"empty", "Subject:\r\n", ""},
		{"encoded word is not decoded", "Subject: =?utf-8?q?caf=C3=A9?=\r\n", "=?utf-8?q?caf=C3=A9?="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _, err := ParseHeader([]byte(tt.raw))
			if err != nil || len(h.Fields) != 1 {
				t.Fatalf("ParseHeader(%q) = %d fields, %v", tt.raw, len(h.Fields), err)
			}
			if got := h.Fields[0].Value(); got != tt.want {
				t.Errorf("Value() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHeaderLookup(t *testing.T) {
	t.Parallel()
	h, _, err := ParseHeader([]byte("Received: one\r\nFROM: a@b\r\nreceived: two\r\n  continued\r\nSubject: s\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get("from"); got != "a@b" {
		t.Errorf("Get(from) = %q, want a@b (case-insensitive)", got)
	}
	if got := h.Get("X-Missing"); got != "" {
		t.Errorf("Get(X-Missing) = %q, want empty", got)
	}
	if got := h.Values("RECEIVED"); strings.Join(got, "|") != "one|two  continued" {
		t.Errorf("Values(RECEIVED) = %q", got)
	}
	if got := h.Values("X-Missing"); got != nil {
		t.Errorf("Values(X-Missing) = %q, want nil", got)
	}
	for name, want := range map[string]int{"received": 2, "From": 1, "x-missing": 0} {
		if got := h.Count(name); got != want {
			t.Errorf("Count(%s) = %d, want %d", name, got, want)
		}
	}
}

// TestParseHeaderRealMessage parses the committed corpus sample and checks
// the fields and body boundary against what the file holds.
func TestParseHeaderRealMessage(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/ham-00006.eml")
	if err != nil {
		t.Fatal(err)
	}
	h, n, err := ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	blank := strings.Index(string(raw), "\n\n")
	if n != blank+2 {
		t.Errorf("HeaderLen = %d, want %d", n, blank+2)
	}
	if len(h.Fields) != 30 {
		t.Errorf("got %d fields, want 30", len(h.Fields))
	}
	if got := h.Count("Received"); got != 9 {
		t.Errorf("Count(Received) = %d, want 9", got)
	}
	if got := h.Get("Message-Id"); got != "<E17ysKt-00048e-00@rhenium.btinternet.com>" {
		t.Errorf("Message-Id = %q", got)
	}
	if got := h.Get("Mailing-List"); got != "list zzzzteana@yahoogroups.com; contact    forteana-owner@yahoogroups.com" {
		t.Errorf("Mailing-List (folded) = %q", got)
	}
}

func TestParseHeaderNULInMalformedLine(t *testing.T) {
	t.Parallel()
	// "X\x00: y" is not a valid field, so it ends the header; the NUL must
	// still be refused rather than hide in the "body".
	for _, in := range []string{"From: a@b\r\nX\x00: y\r\n\r\nbody", "\x00bad\r\n\r\nbody", " \x00cont\r\n\r\n"} {
		if _, _, err := ParseHeader([]byte(in)); !errors.Is(err, ErrHeaderNUL) {
			t.Errorf("ParseHeader(%q) err = %v, want ErrHeaderNUL", in, err)
		}
	}
}
