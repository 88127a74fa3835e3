package content

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// msg joins header lines and a body into a CRLF message.
func msg(body string, header ...string) []byte {
	return []byte(strings.Join(header, "\r\n") + "\r\n\r\n" + body)
}

func TestParseText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		raw       []byte
		text      string
		plain     bool
		html      bool
		textChars int
	}{
		{
			name: "plain, white space collapsed", raw: msg("Hello,\r\n\r\n   world\tagain.\r\n", "Subject: x"),
			text: "Hello, world again.", plain: true, textChars: 17,
		},
		{
			name: "no content type is text/plain", raw: msg("just text", "From: a@b"),
			text: "just text", plain: true, textChars: 8,
		},
		{
			name: "quoted-printable with soft breaks and escapes",
			raw:  msg("caf=C3=A9 au=\r\n lait =3D good=\r\n", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"),
			text: "café au lait = good", plain: true, textChars: 15,
		},
		{
			name: "base64 with line breaks",
			raw:  msg("SGVsbG8g\r\nd29ybGQ=\r\n", "Content-Type: text/plain", "Content-Transfer-Encoding: BASE64"),
			text: "Hello world", plain: true, textChars: 10,
		},
		{
			name: "latin-1 converted to UTF-8",
			raw:  msg("na\xefve \x93quoted\x94", "Content-Type: text/plain; charset=\"iso-8859-1\""),
			text: "naïve “quoted”", plain: true, textChars: 13,
		},
		{
			name: "unknown charset left as is",
			raw:  msg("\xc1\xc2", "Content-Type: text/plain; charset=koi8-r"),
			text: "\xc1\xc2", plain: true, textChars: 2,
		},
		{
			name: "html rendered, inline tags joined, blocks separated",
			raw:  msg("<html><head><title>T</title><style>p{}</style></head><body><p>V<b>i</b>agra</p><p>now&nbsp;&amp; <!-- x -->then</p><script>var a='<p>no</p>';</script></body></html>", "Content-Type: text/html"),
			text: "Viagra now & then", html: true, textChars: 14,
		},
		{
			name: "alternative parts both read",
			raw: msg("--b\r\nContent-Type: text/plain\r\n\r\nplain part\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html part</p>\r\n--b--\r\n",
				"Content-Type: multipart/alternative; boundary=b"),
			text: "plain part\nhtml part", plain: true, html: true, textChars: 17,
		},
		{
			name: "nested multipart and message/rfc822",
			raw: msg("preamble\r\n--outer\r\nContent-Type: multipart/related; boundary=\"in ner\"\r\n\r\n--in ner\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--in ner--\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nforwarded text\r\n--outer--\r\nepilogue\r\n",
				"Content-Type: multipart/mixed; boundary=outer"),
			text: "first\nforwarded text", plain: true, textChars: 18,
		},
		{
			name: "multipart without its close delimiter",
			raw:  msg("--b\r\nContent-Type: text/plain\r\n\r\nunterminated\r\n", "Content-Type: multipart/mixed; boundary=b"),
			text: "unterminated", plain: true, textChars: 12,
		},
		{
			name: "boundary-like text inside a line is not a delimiter",
			raw:  msg("--b\r\n\r\nsee x--b here\r\n--b--\r\n", "Content-Type: multipart/mixed; boundary=b"),
			text: "see x--b here", plain: true, textChars: 11,
		},
		{
			name: "multipart without a boundary read as text",
			raw:  msg("body", "Content-Type: multipart/mixed"),
			text: "body", plain: true, textChars: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := Parse(tt.raw, Limits{})
			if string(m.Text) != tt.text {
				t.Errorf("Text = %q, want %q", m.Text, tt.text)
			}
			if m.HasPlain != tt.plain || m.HasHTML != tt.html {
				t.Errorf("HasPlain, HasHTML = %v, %v; want %v, %v", m.HasPlain, m.HasHTML, tt.plain, tt.html)
			}
			if m.TextChars != tt.textChars {
				t.Errorf("TextChars = %d, want %d", m.TextChars, tt.textChars)
			}
			if m.Size != len(tt.raw) || m.Truncated {
				t.Errorf("Size = %d (want %d), Truncated = %v", m.Size, len(tt.raw), m.Truncated)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	raw := msg("b",
		"Subject: =?utf-8?q?caf=C3=A9?= =?iso-8859-1?B?4A==?= plain",
		"From: =?windows-1252?q?=93Bob=94?= <bob@example.org>",
		"X-Folded: one",
		"  two",
		"X-Bad: =?utf-8?x?broken?=")
	m := Parse(raw, Limits{})
	want := []Field{
		{"Subject", "caféà plain"},
		{"From", "“Bob” <bob@example.org>"},
		{"X-Folded", "one  two"},
		{"X-Bad", "=?utf-8?x?broken?="},
	}
	if !slices.Equal(m.Header, want) {
		t.Errorf("Header = %q, want %q", m.Header, want)
	}
}

// zipArchive returns a zip file holding empty files with the given names.
func zipArchive(t *testing.T, names ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, n := range names {
		if _, err := w.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseParts(t *testing.T) {
	t.Parallel()
	archive := base64.StdEncoding.EncodeToString(zipArchive(t, "readme.txt", "dir/invoice.pdf.exe"))
	raw := msg("--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"+
		"--b\r\nContent-Type: application/octet-stream; name=\"=?utf-8?q?r=C3=A9sum=C3=A9.exe?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVo=\r\n"+
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''na%C3%AFve.pdf\r\n\r\n%PDF\r\n"+
		"--b\r\nContent-Type: application/x-zip-compressed; name=files.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"+archive+"\r\n"+
		"--b\r\nContent-Type: application/octet-stream; name=notazip.zip\r\n\r\ngarbage\r\n"+
		"--b--\r\n",
		"Content-Type: multipart/mixed; boundary=\"b\"")
	m := Parse(raw, Limits{})
	var got []string
	for _, p := range m.Parts {
		got = append(got, p.Type+" "+p.Name)
	}
	want := []string{"text/plain ", "application/octet-stream résumé.exe", "application/pdf naïve.pdf", "application/x-zip-compressed files.zip", "application/octet-stream notazip.zip"}
	if !slices.Equal(got, want) {
		t.Errorf("Parts = %q, want %q", got, want)
	}
	if want := []string{"readme.txt", "dir/invoice.pdf.exe"}; !slices.Equal(m.ArchiveNames, want) {
		t.Errorf("ArchiveNames = %q, want %q", m.ArchiveNames, want)
	}
	if string(m.Text) != "see attached" {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	many := func(n int) []byte {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "--b\r\nContent-Type: text/plain\r\n\r\npart%d\r\n", i)
		}
		b.WriteString("--b--\r\n")
		return msg(b.String(), "Content-Type: multipart/mixed; boundary=b")
	}
	nested := func(depth int) []byte { // depth multiparts around a text part
		body, ctype := "deep", "text/plain"
		for i := depth - 1; i >= 0; i-- {
			body = fmt.Sprintf("--b%d\r\nContent-Type: %s\r\n\r\n%s\r\n--b%d--\r\n", i, ctype, body, i)
			ctype = fmt.Sprintf("multipart/mixed; boundary=b%d", i)
		}
		return msg(body, "Content-Type: "+ctype)
	}
	zipMsg := func(names int) []byte {
		list := make([]string, names)
		for i := range list {
			list[i] = fmt.Sprintf("f%d.txt", i)
		}
		return msg(base64.StdEncoding.EncodeToString(zipArchive(t, list...)), "Content-Type: application/zip", "Content-Transfer-Encoding: base64")
	}
	tests := []struct {
		name  string
		raw   []byte
		lim   Limits
		check func(*Message) error
	}{
		{"message cut at MaxBytes", msg(strings.Repeat("word ", 100), "Subject: s"), Limits{MaxBytes: 50}, func(m *Message) error {
			if len(m.Raw) != 50 || m.Size != len("Subject: s\r\n\r\n")+500 || len(m.Text) > 50 || !m.Truncated {
				return fmt.Errorf("Raw %d bytes, Size %d, Text %d bytes", len(m.Raw), m.Size, len(m.Text))
			}
			return nil
		}},
		{"text cut at MaxPartText", msg(strings.Repeat("word ", 100), "Subject: s"), Limits{MaxPartText: 20}, func(m *Message) error {
			if string(m.Text) != "word word word word" {
				return fmt.Errorf("Text %q", m.Text)
			}
			return nil
		}},
		{"total text cut at MaxText", many(10), Limits{MaxText: 20}, func(m *Message) error {
			if len(m.Text) > 20 || !m.Truncated {
				return fmt.Errorf("Text %q, Truncated %v", m.Text, m.Truncated)
			}
			return nil
		}},
		{"parts cut at MaxParts", many(10), Limits{MaxParts: 4}, func(m *Message) error {
			if len(m.Parts) != 3 || !m.Truncated { // the multipart itself is one
				return fmt.Errorf("%d parts, Truncated %v", len(m.Parts), m.Truncated)
			}
			return nil
		}},
		{"nesting cut at MaxDepth", nested(6), Limits{MaxDepth: 3}, func(m *Message) error {
			if len(m.Text) != 0 || !m.Truncated {
				return fmt.Errorf("Text %q, Truncated %v", m.Text, m.Truncated)
			}
			return nil
		}},
		{"nesting within MaxDepth", nested(6), Limits{MaxDepth: 8}, func(m *Message) error {
			if string(m.Text) != "deep" || m.Truncated {
				return fmt.Errorf("Text %q, Truncated %v", m.Text, m.Truncated)
			}
			return nil
		}},
		{"archive names cut at MaxArchiveNames", zipMsg(10), Limits{MaxArchiveNames: 3}, func(m *Message) error {
			if len(m.ArchiveNames) != 3 || !m.Truncated {
				return fmt.Errorf("%d names, Truncated %v", len(m.ArchiveNames), m.Truncated)
			}
			return nil
		}},
		{"archive over MaxArchive not opened", zipMsg(10), Limits{MaxArchive: 100}, func(m *Message) error {
			if len(m.ArchiveNames) != 0 || !m.Truncated {
				return fmt.Errorf("%d names, Truncated %v", len(m.ArchiveNames), m.Truncated)
			}
			return nil
		}},
		{"URIs cut at MaxURIs", msg("http://a.example/1 http://a.example/2 http://a.example/3"), Limits{MaxURIs: 2}, func(m *Message) error {
			if len(m.URIs) != 2 || !m.Truncated {
				return fmt.Errorf("URIs %q, Truncated %v", m.URIs, m.Truncated)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.check(Parse(tt.raw, tt.lim)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestURIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  []byte
		want []string
	}{
		{
			name: "text URIs, trailing punctuation trimmed, www. prefixed",
			raw:  msg("See HTTP://Example.COM/Path?q=1. Or www.shop.example, or (https://x.example/a)! ftp://f.example/file mail me: a@b.example xhttp://no.example"),
			want: []string{"http://example.com/Path?q=1", "http://www.shop.example", "https://x.example/a", "ftp://f.example/file"},
		},
		{
			name: "html links, images, forms; entities decoded; relative and cid dropped",
			raw: msg(`<a href="http://A.example/x?a=1&amp;b=2">x</a><img SRC='https://img.example/i.gif'><form action=http://f.example/post>`+
				`<a href="#top">t</a><img src="cid:part1"><a href="mailto:Bob@Example.org">m</a><a href=" www.w.example ">w</a><body background="http://bg.example/b.jpg">`+
				`text link http://t.example/`, "Content-Type: text/html"),
			want: []string{"http://a.example/x?a=1&b=2", "https://img.example/i.gif", "http://f.example/post", "mailto:bob@example.org", "http://www.w.example", "http://bg.example/b.jpg", "http://t.example/"},
		},
		{
			name: "duplicates kept once",
			raw:  msg("http://d.example/ and http://d.example/ again"),
			want: []string{"http://d.example/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Parse(tt.raw, Limits{}).URIs; !slices.Equal(got, tt.want) {
				t.Errorf("URIs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInvisibleText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		html      string
		text      string
		invisible int
	}{
		{"visible", `<p style="color: red">shown</p>`, "shown", 0},
		{"display none", `<div style="display:none">hidden words</div>shown`, "shown", 11},
		{"visibility hidden", `<span style="VISIBILITY: hidden !important">xyz</span>`, "", 3},
		{"font-size 0", `<span style="font-size:0px">abc</span>ok`, "ok", 3},
		{"font-size 1pt", `<span style="font-size: 1pt">abc</span>`, "", 3},
		{"font-size 2px is visible", `<span style="font-size:2px">abc</span>`, "abc", 0},
		{"white font on default background", `<font color="#FFFFFF">abcd</font>`, "", 4},
		{"white font on dark table", `<table bgcolor="black"><tr><td><font color=white>abcd</font></td></tr></table>`, "abcd", 0},
		{"text colour of the background", `<body bgcolor="#f0f0f0"><span style="color:#F0F0F0">ab</span>cd</body>`, "cd", 2},
		{"rgb colours", `<div style="background-color: rgb(0,0,0)"><p style="color: rgb(0, 0, 0)">ab</p></div>`, "", 2},
		{"hidden attribute", `<p hidden>secret</p>`, "", 6},
		{"opacity 0", `<p style="opacity:0">secret</p>`, "", 6},
		{"hidden ends with its element", `<div style="display:none"><p>a</p></div><p>b</p>`, "b", 1},
		{"unclosed p does not leak", `<p style="display:none">a<p>b`, "b", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := Parse(msg(tt.html, "Content-Type: text/html"), Limits{})
			if string(m.Text) != tt.text || m.InvisibleChars != tt.invisible {
				t.Errorf("Text %q, InvisibleChars %d; want %q, %d", m.Text, m.InvisibleChars, tt.text, tt.invisible)
			}
		})
	}
}

func TestFromNameSpoof(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from string
		want bool
	}{
		{`"support@bank.example" <x@elsewhere.example>`, true},
		{`"Bank (service@bank.example)" <random123@mailer.example>`, true},
		{`=?utf-8?q?paypal=40paypal=2Ecom?= <a@b.example>`, true},
		{`"bob@example.org" <Bob@Example.org>`, false},
		{`Bob Smith <bob@example.org>`, false},
		{`bob@example.org`, false},
		{`bob@example.org (Bob)`, false},
		{`"at @ sign" <a@b.example>`, false},
		{``, false},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			t.Parallel()
			m := Parse(msg("b", "From: "+tt.from), Limits{})
			if got := m.FromNameSpoof(); got != tt.want {
				t.Errorf("FromNameSpoof(%q) = %v, want %v", tt.from, got, tt.want)
			}
		})
	}
}
