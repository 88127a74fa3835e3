package uri

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// FuzzExtract feeds arbitrary bodies, content types and transfer encodings
// to the extractor: it must not panic, must stay within its limits, and
// must only return registered domains in canonical form.
func FuzzExtract(f *testing.F) {
	f.Add("", "", []byte("see http://www.example.com/ and example.net/x or bob@example.org"))
	f.Add("text/html", "", []byte(`<a href="http&#58;//evil&#46;example&#46;net/">x</a> http://[2001:db8::1]/`))
	f.Add("text/plain", "quoted-printable", []byte("http://www.soft-break.inf=\r\no/ =3D"))
	f.Add("text/html", "base64", []byte("PGEgaHJlZj0iaHR0cHM6Ly9o\r\ndG1sLmV4YW1wbGUubmV0LyI+eDwvYT4=\r\n"))
	f.Add("multipart/mixed; boundary=a", "", []byte("--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nhttp://bücher.com/\r\n--b--\r\n--a--\r\n"))
	for _, name := range []string{"testdata/spam-00085.eml", "testdata/spam-00003.eml"} {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if i := bytes.Index(raw, []byte("\n\n")); i > 0 {
			ct := ""
			for _, line := range strings.Split(string(raw[:i]), "\n") {
				if strings.HasPrefix(strings.ToLower(line), "content-type:") {
					ct = strings.TrimSpace(line[len("content-type:"):])
				}
			}
			f.Add(ct, "", raw[i+2:])
		}
	}
	lim := Limits{PartBytes: 4096, Parts: 4, Domains: 8, IPs: 4, Depth: 3}
	f.Fuzz(func(t *testing.T, contentType, transferEncoding string, body []byte) {
		res := Extract(contentType, transferEncoding, bytes.NewReader(body), lim)
		if len(res.Domains) > lim.Domains || len(res.IPs) > lim.IPs {
			t.Fatalf("limits exceeded: %d domains, %d IPs", len(res.Domains), len(res.IPs))
		}
		seen := map[string]bool{}
		for _, d := range res.Domains {
			if seen[d] {
				t.Fatalf("domain %q returned twice", d)
			}
			seen[d] = true
			if again, ok := RegisteredDomain(d); !ok || again != d {
				t.Fatalf("domain %q is not a canonical registered domain (%q, %v)", d, again, ok)
			}
		}
		for _, a := range res.IPs {
			if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
				t.Fatalf("bad IP %v", a)
			}
		}
	})
}
