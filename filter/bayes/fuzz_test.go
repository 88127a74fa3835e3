package bayes

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzTokenize feeds arbitrary bytes to the tokenizer: it must not panic,
// must stay within its token bound, and Tokens and Strings must agree.
// Seeds are in testdata/fuzz/FuzzTokenize (malformed MIME, deep nesting,
// broken encodings, HTML, legacy charsets).
func FuzzTokenize(f *testing.F) {
	f.Add([]byte("Subject: hi\n\nhello world"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: text/html\n\n<p>x</p>\n--a--"))
	f.Add([]byte(strings.Repeat("Content-Type: multipart/mixed; boundary=z\n\n--z\n", 50)))
	small := NewTokenizer(TokenizerOptions{MaxTokens: 500, MaxPartBytes: 4096, MaxParts: 8, MaxDepth: 3, Window: 5})
	def := NewTokenizer(DefaultTokenizerOptions())
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, tok := range []*Tokenizer{small, def} {
			ids := tok.Tokens(nil, raw)
			if len(ids) > tok.Options().MaxTokens {
				t.Fatalf("%d tokens, bound %d", len(ids), tok.Options().MaxTokens)
			}
			if n := len(tok.Strings(raw)); n != len(ids) {
				t.Fatalf("Tokens gave %d, Strings %d", len(ids), n)
			}
		}
		_ = MessageDigest(raw)
	})
}

// FuzzReadMessages feeds arbitrary bytes to the mbox reader: no panic,
// and every message it returns is a part of the input.
func FuzzReadMessages(f *testing.F) {
	f.Add([]byte("From a@b Mon Sep 2 10:00:00 2002\nSubject: x\n\n>From here\n\nFrom c@d Tue Sep 3 10:00:00 2002\n\nbody\n"))
	f.Add([]byte("Subject: single\n\nbody"))
	f.Fuzz(func(t *testing.T, in []byte) {
		total := 0
		err := ReadMessages(bytes.NewReader(in), func(_ int, raw []byte) error {
			total += len(raw)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if total > len(in) {
			t.Fatalf("messages hold %d bytes of a %d-byte input", total, len(in))
		}
	})
}
