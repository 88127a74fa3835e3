package content

import (
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary messages to Parse under small limits. It must
// never panic and must keep within the limits: text, URIs, parts and
// archive names bounded; counts consistent with the text.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Subject: hi\r\n\r\nbody http://x.example/\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p style=\"display:none\">x</p><a href=www.y.example>y</a>\r\n--b--\r\n",
		"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9t=E9=\r\n",
		"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body",
		"Content-Type: text/html\r\n\r\n<script>x</scr<style>y</style><!-- <p> --><a href='",
		"Content-Type: application/zip; name=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==",
		"From: \"a@b.example\" <c@d.example>\r\nSubject: =?utf-8?b?w6k=?=\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxBytes: 4096, MaxPartText: 512, MaxText: 1024, MaxParts: 16, MaxDepth: 4, MaxURIs: 8, MaxArchive: 1024, MaxArchiveNames: 4}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Parse(raw, lim)
		switch {
		case len(m.Raw) > lim.MaxBytes:
			t.Fatalf("Raw holds %d bytes", len(m.Raw))
		case len(m.Text) > lim.MaxText:
			t.Fatalf("Text holds %d bytes", len(m.Text))
		case len(m.URIs) > lim.MaxURIs:
			t.Fatalf("%d URIs", len(m.URIs))
		case len(m.Parts) > lim.MaxParts:
			t.Fatalf("%d parts", len(m.Parts))
		case len(m.ArchiveNames) > lim.MaxArchiveNames*lim.MaxParts:
			t.Fatalf("%d archive names", len(m.ArchiveNames))
		case m.TextChars < 0 || m.TextChars > utf8.RuneCount(m.Text):
			t.Fatalf("TextChars %d for %d runes", m.TextChars, utf8.RuneCount(m.Text))
		case m.InvisibleChars < 0:
			t.Fatalf("InvisibleChars %d", m.InvisibleChars)
		}
		for _, u := range m.URIs {
			if len(u) > maxURILen+len("http://") {
				t.Fatalf("URI of %d bytes", len(u))
			}
		}
		_ = m.FromNameSpoof()
	})
}
