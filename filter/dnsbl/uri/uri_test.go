package uri

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/filter"
)

func TestScanText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		html bool
		want []string
		ips  []string
	}{
		{"http URL", "see http://www.Example.COM/path?q=1 now", false, []string{"example.com"}, nil},
		{"https, port, userinfo", "go to https://user:pw@shop.example.co.uk:8443/x", false, []string{"example.co.uk"}, nil},
		{"scheme in upper case", "HTTP://WWW.SPAM-DOMAIN.COM", false, []string{"spam-domain.com"}, nil},
		{"ftp", "ftp://files.example.org/pub", false, []string{"example.org"}, nil},
		{"unknown scheme host still found bare", "gopher://gopher.example.net/", false, []string{"example.net"}, nil},
		{"bare www name", "visit www.example.com today", false, []string{"example.com"}, nil},
		{"bare name with path", "example.net/offer and more", false, []string{"example.net"}, nil},
		{"trailing punctuation", "(see example.org.)", false, []string{"example.org"}, nil},
		{"email address skipped", "write to bob@example.com", false, nil, nil},
		{"mailto skipped", "mailto:bob@example.com", false, nil, nil},
		{"userinfo host kept", "http://bob@evil.example.com/", false, []string{"example.com"}, nil},
		{"percent-encoded host", "http://%65vil.example.com/", false, []string{"example.com"}, nil},
		{"private suffix", "http://x.user.github.io/", false, []string{"user.github.io"}, nil},
		{"public suffix alone is nothing", "http://co.uk/ and github.io", false, nil, nil},
		{"unknown TLD", "http://host.invalidtld/ and a.b.notatld", false, nil, nil},
		{"file names", "open report.pdf and setup.exe or v1.2.3", false, nil, nil},
		{"IP literal URL", "http://192.0.2.7/login and http://[2001:db8::1]:8080/", false, nil, []string{"192.0.2.7", "2001:db8::1"}},
		{"bare IP ignored", "server 192.0.2.8 is down", false, nil, nil},
		{"IDN URL", "http://bücher.com/", false, []string{"xn--bcher-kva.com"}, nil},
		{"IDN ideographic dot", "http://bücher。com/", false, []string{"xn--bcher-kva.com"}, nil},
		{"name after CJK text", "请访问example.com获取", false, []string{"example.com"}, nil},
		{"word tail skipped", "Grüße.com", false, nil, nil},
		{"punycode as written", "http://xn--bcher-kva.com/", false, []string{"xn--bcher-kva.com"}, nil},
		{"repeats once, order kept", "b.example.org a.example.com b.example.org", false, []string{"example.org", "example.com"}, nil},
		{"HTML href", `<a href="http://click.example.com/r?u=1">here</a>`, true, []string{"example.com"}, nil},
		{"HTML entities", `<a href="http&#58;//evil&#46;example&#46;net/">x</a>`, true, []string{"example.net"}, nil},
		{"entities not decoded in plain text", `evil&#46;example&#46;net`, false, nil, nil},
		{"underscore in subdomain", "http://a_b.example.com/", false, []string{"example.com"}, nil},
		{"empty", "", false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Extract("", "", strings.NewReader(tt.text), Limits{})
			if tt.html {
				res = Extract("text/html", "", strings.NewReader(tt.text), Limits{})
			}
			if !slices.Equal(res.Domains, tt.want) {
				t.Errorf("domains %q, want %q", res.Domains, tt.want)
			}
			var ips []string
			for _, a := range res.IPs {
				ips = append(ips, a.String())
			}
			if !slices.Equal(ips, tt.ips) {
				t.Errorf("IPs %q, want %q", ips, tt.ips)
			}
		})
	}
}

const mimeMessage = "Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
	"preamble http://preamble.example.com/ is not a part\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"Click http://www.soft-break.inf=\r\no/ now =3D go\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\n" +
	// <a href="https://html.example.net/">x</a>
	"PGEgaHJlZj0iaHR0cHM6Ly9o\r\ndG1sLmV4YW1wbGUubmV0LyI+eDwvYT4=\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/octet-stream\r\n\r\n" +
	"http://attachment.example.org/ is not scanned\r\n" +
	"--outer\r\n" +
	"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"aHR0cDovL2ltYWdlLmV4YW1wbGUub3JnLw==\r\n" +
	"--outer\r\n\r\n" +
	"A part without a header is text: www.default-text.example.info\r\n" +
	"--outer--\r\n"

func TestExtractMIME(t *testing.T) {
	t.Parallel()
	msg, err := filter.NewMessage([]byte(mimeMessage))
	if err != nil {
		t.Fatal(err)
	}
	got := FromMessage(msg, Limits{})
	// Not preamble.example.com (preamble), not example.org (attachments).
	want := []string{"soft-break.info", "example.net", "example.info"}
	if !slices.Equal(got.Domains, want) {
		t.Errorf("domains %q, want %q", got.Domains, want)
	}
}

func TestExtractLimits(t *testing.T) {
	t.Parallel()
	var many strings.Builder
	for i := range 50 {
		many.WriteString("http://host.domain" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".com/ ")
	}
	tests := []struct {
		name    string
		ct      string
		body    string
		lim     Limits
		domains int
	}{
		{"domains bound", "", many.String(), Limits{Domains: 5}, 5},
		{"default domains bound", "", many.String(), Limits{}, DefaultDomains},
		{"part bytes bound", "", strings.Repeat(" ", 100) + "http://late.example.com/", Limits{PartBytes: 50}, 0},
		{"part bytes reached", "", strings.Repeat(" ", 10) + "http://early.example.com/", Limits{PartBytes: 50}, 1},
		{"depth bound", "multipart/mixed; boundary=a", "--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhttp://deep.example.com/\r\n--b--\r\n--a--\r\n", Limits{Depth: 1}, 0},
		{"depth allowed", "multipart/mixed; boundary=a", "--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhttp://deep.example.com/\r\n--b--\r\n--a--\r\n", Limits{Depth: 2}, 1},
		{"parts bound", "multipart/mixed; boundary=a", "--a\r\n\r\nhttp://one.example.com/\r\n--a\r\n\r\nhttp://two.example.org/\r\n--a--\r\n", Limits{Parts: 1}, 1},
		{"multipart without boundary", "multipart/mixed", "http://x.example.com/", Limits{}, 0},
		{"broken content type is text", "text/html; charset=\"", "http://x.example.com/", Limits{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Extract(tt.ct, "", strings.NewReader(tt.body), tt.lim)
			if len(got.Domains) != tt.domains {
				t.Errorf("%d domains %q, want %d", len(got.Domains), got.Domains, tt.domains)
			}
		})
	}
	t.Run("IPs bound", func(t *testing.T) {
		got := Extract("", "", strings.NewReader("http://192.0.2.1/ http://192.0.2.2/ http://192.0.2.3/"), Limits{IPs: 2})
		if want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}; !slices.Equal(got.IPs, want) {
			t.Errorf("IPs %v, want %v", got.IPs, want)
		}
	})
}

// TestSpamCorpus runs the extractor on two messages of the SpamAssassin
// public corpus (testdata/README.md): a base64 HTML part inside nested
// multiparts, and a quoted-printable HTML message.
func TestSpamCorpus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string
	}{
		// no-ip.org, hopto.org and sytes.net are public suffixes (private
		// section of the list): their customers' names are registered
		// domains.
		{"testdata/spam-00085.eml", []string{"hlc.no-ip.org", "dns2go.com", "brinkster.com", "exam.hopto.org", "tripod.com", "tktk.sytes.net"}},
		{"testdata/spam-00003.eml", []string{"anythinggoeshere.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := filter.NewMessage(raw)
			if err != nil {
				t.Fatal(err)
			}
			got := FromMessage(msg, Limits{})
			for _, w := range tt.want {
				if !slices.Contains(got.Domains, w) {
					t.Errorf("%s not found in %q", w, got.Domains)
				}
			}
		})
	}
}

func TestRegisteredDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host, want string
		ok         bool
	}{
		{"www.example.com", "example.com", true},
		{"WWW.EXAMPLE.COM.", "example.com", true},
		{"a.b.example.co.uk", "example.co.uk", true},
		{"x.user.github.io", "user.github.io", true},
		{"example.com", "example.com", true},
		{"com", "", false},
		{"co.uk", "", false},
		{"github.io", "", false},
		{"host.unknowntld", "", false},
		{"192.0.2.1", "", false},
		{"bad host.com", "", false},
		{"-bad.example.com", "", false},
		{"münchen.de", "xn--mnchen-3ya.de", true},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := RegisteredDomain(tt.host)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RegisteredDomain(%q) = %q, %v; want %q, %v", tt.host, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPunycode(t *testing.T) {
	t.Parallel()
	// Samples from RFC 3492 section 7.1 and well-known names.
	tests := []struct{ in, want string }{
		{"bücher", "bcher-kva"},
		{"münchen", "mnchen-3ya"},
		{"他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"},
		{"почемужеонинеговорятпорусски", "b1abfaaepdrnnbgefbadotcwatmq2g4l"},
		{"3年b組金八先生", "3b-ww4c5e180e575a65lsy2b"},
		{"ü", "tda"},
	}
	for _, tt := range tests {
		got, err := punycode(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("punycode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := toASCII("bad\xffutf8.com"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
}
