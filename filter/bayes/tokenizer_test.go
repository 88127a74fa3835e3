package bayes

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// msg builds a message from header lines and a body.
func msg(body string, headers ...string) []byte {
	return []byte(strings.Join(headers, "\n") + "\n\n" + body)
}

func TestTokenizerTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    TokenizerOptions
		raw     []byte
		want    []string
		notWant []string
	}{
		{
			name:    "words are case-folded and paired within the window",
			opts:    TokenizerOptions{Window: 3},
			raw:     msg("Hello Big World"),
			want:    []string{"hello", "big", "world", "hello big", "big world", "hello _ world"},
			notWant: []string{"Hello", "hello world"},
		},
		{
			name:    "window 1 gives single words only",
			opts:    TokenizerOptions{Window: 1},
			raw:     msg("hello big world"),
			want:    []string{"hello", "big", "world"},
			notWant: []string{"hello big"},
		},
		{
			name:    "numbers are folded, short ones kept",
			raw:     msg("call 1-800-555-1212 now for $1,000 or 42 in 2002"),
			want:    []string{"1-#3-#3-#4", "$1,#3", "42", "#4"},
			notWant: []string{"2002", "1212"},
		},
		{
			name:    "over-long words become skip tokens, single letters are dropped",
			raw:     msg("a supercalifragilisticexpialidociousness b"),
			want:    []string{"skip:s 30"},
			notWant: []string{"a", "b"},
		},
		{
			name:    "sentence punctuation ends words, inner punctuation joins",
			raw:     msg("it's e-mail. Done!"),
			want:    []string{"it's", "e-mail", "done", "p:!"},
			notWant: []string{"e-mail."},
		},
		{
			name: "header fields: names, subject words, sender",
			raw: msg("body",
				"From: \"Jane Doe\" <Jane@Example.COM>",
				"Subject: Cheap Watches",
				"Reply-To: other@spam.example",
				"X-Mailer: Mailer 4.2"),
			want: []string{
				"h:From", "h:Subject", "s:cheap", "s:watches", "s:cheap watches",
				"fn:jane", "fn:doe", "fa:jane@example.com", "fd:example.com",
				"rt:differs", "rt:spam.example", "xm:mailer", "h:!date", "h:!message-id",
			},
		},
		{
			name: "RFC 2047 subject is decoded",
			raw:  msg("x", "Subject: =?ISO-8859-1?Q?caf=E9_cr=E8me?="),
			want: []string{"s:café", "s:crème"},
		},
		{
			name: "received hops give hosts, networks and protocol, not dates",
			raw: msg("x", "Received: from mail.example.org (mail.example.org [192.0.2.10])\n"+
				"\tby mx.example.net (Postfix) with ESMTP id ABC; Mon, 2 Sep 2002 10:00:00 +0000"),
			want:    []string{"r:mail.example.org", "r:d:example.org", "r:ip:192.0", "r:ip:192.0.2", "r:with=esmtp", "r:hops=1"},
			notWant: []string{"H:received:sep", "H:received:mon"},
		},
		{
			name:    "date gives its zone, not its day",
			raw:     msg("x", "Date: Mon, 2 Sep 2002 10:00:00 -0700"),
			want:    []string{"date:zone=-0700"},
			notWant: []string{"H:date:sep", "H:date:mon"},
		},
		{
			name:    "verdict headers of filters are ignored",
			raw:     msg("x", "X-Spam-Status: Yes, score=20", "Received: from a by b (moat) with ESMTP id 1"),
			notWant: []string{"h:X-Spam-Status", "h:Received", "r:hops=1"},
			want:    []string{"r:hops=0"},
		},
		{
			name:    "mbox From line is not a header",
			raw:     []byte("From someone@example.com Mon Sep  2 10:00:00 2002\nSubject: hi\n\nbody"),
			want:    []string{"h:Subject", "s:hi", "body"},
			notWant: []string{"h:!subject"},
		},
		{
			name: "quoted-printable and latin-1 are decoded",
			raw: msg("caf=E9 cr=\n=E8me",
				"Content-Type: text/plain; charset=iso-8859-1",
				"Content-Transfer-Encoding: quoted-printable"),
			want: []string{"café", "crème", "cs:iso-8859-1", "cte:quoted-printable", "ct:text/plain"},
		},
		{
			name: "windows-1252 quotes and euro",
			raw:  msg("\x80100 \x93quoted\x94", "Content-Type: text/plain; charset=windows-1252"),
			want: []string{"quoted", "#3", "quoted"},
		},
		{
			name: "base64 is decoded",
			raw: msg("aGVsbG8gYmFzZTY0IHdvcmxk\n",
				"Content-Type: text/plain",
				"Content-Transfer-Encoding: base64"),
			want: []string{"hello", "base64", "world", "cte:base64"},
		},
		{
			name: "html: text joined across inline tags and comments, hidden text apart, links",
			raw: msg(`<html><body><p>Buy V<b>i</b>ag<!-- x -->ra now</p>`+
				`<div style="display: none">secret words</div>`+
				`<font color="#FFF">white text</font>`+
				`<a href="http://www.Example.com/offer/now.html">click</a>`+
				`<img src="https://img.example.net/x.gif" width="1" height="1">`+
				`<script>var hidden = "scripted";</script></body></html>`,
				"Content-Type: text/html"),
			want: []string{
				"viagra", "buy", "now", "hid:secret", "hid:words", "hid:white", "html:hidden-text", "html:comment",
				"url:www.example.com", "url:d:example.com", "u:offer", "proto:http", "url:img.example.net",
				"html:tiny-img", "html:img-src", "html:a", "attr:color=#ffffff", "click",
			},
			notWant: []string{"secret", "white", "scripted", "ag", "ra", "var"},
		},
		{
			name: "urls and addresses in text",
			raw:  msg("see https://shop.example.co.uk:8080/buy?id=1234567 or mail sales@Example.org."),
			want: []string{"url:shop.example.co.uk", "url:d:example.co.uk", "proto:https", "u:buy", "u:id", "u:#7", "email:example.org", "email:local:sales"},
		},
		{
			name:    "ip address hosts",
			raw:     msg("go to http://192.0.2.1/x now"),
			want:    []string{"url:ip", "url:ip:192.0"},
			notWant: []string{"url:192.0.2.1"},
		},
		{
			name: "chinese text gives character bigrams",
			raw:  msg("免费发票", "Content-Type: text/plain; charset=utf-8"),
			want: []string{"免费", "费发", "发票"},
		},
		{
			name: "legacy double-byte charset gives byte-pair bigrams",
			raw:  msg("\xc3\xe2\xb7\xd1\xb7\xa2", "Content-Type: text/plain; charset=gb2312"),
			want: []string{"\xc3\xe2\xb7\xd1", "\xb7\xd1\xb7\xa2", "cs:gb2312"},
		},
		{
			name: "full-width latin is folded to ascii",
			raw:  msg("ＦＲＥＥ offer"),
			want: []string{"free"},
		},
		{
			name: "multipart alternative and attachments",
			raw: msg("preamble\n--XX\nContent-Type: text/plain\n\nplain words\n--XX\n"+
				"Content-Type: text/html\n\n<p>html words</p>\n--XX\n"+
				"Content-Type: application/octet-stream; name=\"setup.EXE\"\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n--XX--\nepilogue",
				`Content-Type: multipart/mixed; boundary="XX"`),
			want:    []string{"ct0:multipart/mixed", "ct:text/plain", "ct:text/html", "plain", "html", "ct:application/octet-stream", "file:exe"},
			notWant: []string{"preamble", "epilogue"},
		},
		{
			name: "attached message",
			raw: msg("--B\nContent-Type: message/rfc822\n\nSubject: inner thing\n\ninner body\n--B--\n",
				"Content-Type: multipart/mixed; boundary=B"),
			want: []string{"is:inner", "is:thing", "inner", "body", "ct:message/rfc822"},
		},
		{
			name:    "multipart without boundary",
			raw:     msg("text", "Content-Type: multipart/mixed"),
			want:    []string{"mime:no-boundary"},
			notWant: []string{"text"},
		},
		{
			name: "nesting beyond MaxDepth stops",
			opts: TokenizerOptions{MaxDepth: 2},
			raw: msg("--A\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: multipart/mixed; boundary=C\n\n"+
				"--C\nContent-Type: text/plain\n\ndeepword\n--C--\n--B--\n--A--\n",
				"Content-Type: multipart/mixed; boundary=A"),
			want:    []string{"mime:too-deep"},
			notWant: []string{"deepword"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := NewTokenizer(tt.opts).Strings(tt.raw)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing token %q in %q", w, got)
				}
			}
			for _, w := range tt.notWant {
				if slices.Contains(got, w) {
					t.Errorf("unexpected token %q in %q", w, got)
				}
			}
		})
	}
}

func TestTokensMatchStrings(t *testing.T) {
	t.Parallel()
	ham, spam := corpusMessages(t)
	tok := NewTokenizer(DefaultTokenizerOptions())
	for i, raw := range append(ham[:10], spam[:10]...) {
		ids := tok.Tokens(nil, raw)
		strs := tok.Strings(raw)
		if len(ids) != len(strs) {
			t.Fatalf("message %d: %d ids but %d strings", i, len(ids), len(strs))
		}
		if len(sortedIDs(ids)) != len(ids) {
			t.Errorf("message %d: Tokens returned duplicates", i)
		}
		again := tok.Tokens(nil, raw)
		if !slices.Equal(ids, again) {
			t.Errorf("message %d: tokenizing twice differs", i)
		}
	}
}

func TestTokenizerLimits(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "word%c%c%c ", 'a'+i%26, 'a'+i/26%26, 'a'+i/676%26)
	}
	body := b.String()
	t.Run("MaxTokens", func(t *testing.T) {
		t.Parallel()
		got := NewTokenizer(TokenizerOptions{MaxTokens: 100}).Tokens(nil, msg(body))
		if len(got) != 100 {
			t.Errorf("got %d tokens, want 100", len(got))
		}
	})
	t.Run("MaxPartBytes", func(t *testing.T) {
		t.Parallel()
		got := NewTokenizer(TokenizerOptions{MaxPartBytes: 100, Window: 1}).Strings(msg(body))
		if slices.Contains(got, "wordzzd") || len(got) > 40 {
			t.Errorf("read past MaxPartBytes: %d tokens", len(got))
		}
	})
	t.Run("MaxParts", func(t *testing.T) {
		t.Parallel()
		var m strings.Builder
		for i := range 20 {
			fmt.Fprintf(&m, "--X\nContent-Type: text/plain\n\npart%c\n", 'a'+i)
		}
		m.WriteString("--X--\n")
		got := NewTokenizer(TokenizerOptions{MaxParts: 5}).Strings(msg(m.String(), "Content-Type: multipart/mixed; boundary=X"))
		if !slices.Contains(got, "mime:too-many-parts") || slices.Contains(got, "partt") {
			t.Errorf("MaxParts not applied: %q", got)
		}
	})
	t.Run("MaxURLs", func(t *testing.T) {
		t.Parallel()
		var m strings.Builder
		for i := range 10 {
			fmt.Fprintf(&m, "http://h%c.example.com/ ", 'a'+i)
		}
		got := NewTokenizer(TokenizerOptions{MaxURLs: 3}).Strings(msg(m.String()))
		if !slices.Contains(got, "url:hc.example.com") || slices.Contains(got, "url:hd.example.com") {
			t.Errorf("MaxURLs not applied: %q", got)
		}
	})
}

func TestParseMediaType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want mediaType
	}{
		{"text/plain", mediaType{typ: "text/plain"}},
		{"", mediaType{typ: "text/plain"}},
		{"garbage", mediaType{typ: "text/plain"}},
		{`Multipart/Mixed; boundary="a b;c"; charset=UTF-8`, mediaType{typ: "multipart/mixed", boundary: "a b;c", charset: "utf-8"}},
		{`text/html;charset=iso-8859-1;charset=utf-8`, mediaType{typ: "text/html", charset: "iso-8859-1"}},
		{`attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`, mediaType{typ: "attachment", filename: "r%C3%A9sum%C3%A9.pdf"}},
		{`application/pdf; name="a \"b\".pdf"`, mediaType{typ: "application/pdf", name: `a "b".pdf`}},
		{`text/plain; boundary`, mediaType{typ: "text/plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := parseMediaType(tt.in); got != tt.want {
				t.Errorf("parseMediaType(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecoders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fn    func([]byte, []byte, int) []byte
		in    string
		limit int
		want  string
	}{
		{"base64", decodeBase64, "aGVs\r\nbG8=", 100, "hello"},
		{"base64 junk skipped", decodeBase64, "aG!!Vs bG8", 100, "hello"},
		{"base64 padding mid-stream", decodeBase64, "aGk=aGk=", 100, "hihi"},
		{"base64 limit", decodeBase64, "aGVsbG8gd29ybGQ=", 4, "hell"},
		{"qp", decodeQP, "a=3Db=\nc", 100, "a=bc"},
		{"qp crlf soft break", decodeQP, "a=\r\nb", 100, "ab"},
		{"qp malformed kept", decodeQP, "100=%zz =4", 100, "100=%zz =4"},
		{"qp limit", decodeQP, "abcdef", 3, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(tt.fn(nil, []byte(tt.in), tt.limit)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGuessMode(t *testing.T) {
	t.Parallel()
	if m := guessMode([]byte("plain ascii text")); m != textPlain {
		t.Errorf("ascii: got %v", m)
	}
	if m := guessMode([]byte("caf\xe9 na\xefve r\xe9sum\xe9")); m != textPlain {
		t.Errorf("latin-1: got %v", m)
	}
	if m := guessMode([]byte("\xc3\xe2\xb7\xd1\xb7\xa2\xc6\xb1 abc")); m != textDBCS {
		t.Errorf("gb2312: got %v", m)
	}
	if m := guessMode([]byte("日本語のテキスト")); m != textPlain {
		t.Errorf("utf-8: got %v", m)
	}
}

// sortedIDs returns ids sorted, without duplicates (for tests).
func sortedIDs(ids []uint64) []uint64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
