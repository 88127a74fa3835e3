// Package uri finds the hosts a message links to, for URI block lists: the
// URLs (http, https, ftp) and bare host names (www.example.com,
// example.com/path) in its text/plain and text/html parts, reduced to their
// registered domains with the public suffix list (golang.org/x/net/
// publicsuffix), plus the IP addresses of URLs written with an IP literal.
//
// Everything is bounded, since the input is whatever a sender chose: the
// MIME tree is walked to a fixed depth and part count, only the first
// Limits.PartBytes decoded bytes of each text part are scanned, and scanning
// stops at Limits.Domains domains. Decoding uses the standard library
// (mime, mime/multipart, mime/quotedprintable, encoding/base64, html).
package uri

import (
	"bufio"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/netip"
	"strings"

	"github.com/moatmail/moat/filter"
)

// Default limits.
const (
	DefaultPartBytes = 64 << 10
	DefaultParts     = 16
	DefaultDomains   = 20
	DefaultIPs       = 10
	DefaultDepth     = 5
)

// Limits bound the work of one extraction.
type Limits struct {
	// PartBytes is how many decoded bytes of each text part are scanned.
	PartBytes int
	// Parts is how many text parts are scanned; at most four times as many
	// parts of any kind are walked.
	Parts int
	// Domains is how many distinct registered domains are kept; scanning
	// stops there.
	Domains int
	// IPs is how many distinct IP literals are kept.
	IPs int
	// Depth is how deeply multiparts may nest.
	Depth int
}

func (l Limits) withDefaults() Limits {
	if l.PartBytes <= 0 {
		l.PartBytes = DefaultPartBytes
	}
	if l.Parts <= 0 {
		l.Parts = DefaultParts
	}
	if l.Domains <= 0 {
		l.Domains = DefaultDomains
	}
	if l.IPs <= 0 {
		l.IPs = DefaultIPs
	}
	if l.Depth <= 0 {
		l.Depth = DefaultDepth
	}
	return l
}

// Result is what a message links to.
type Result struct {
	// Domains are registered domains (lower-case ASCII, IDNs in punycode),
	// in order of first appearance, without repeats.
	Domains []string
	// IPs are the addresses of URLs with an IP literal host, in order of
	// first appearance, without repeats.
	IPs []netip.Addr
}

// FromMessage extracts the hosts m's body links to.
func FromMessage(m *filter.Message, lim Limits) Result {
	if m == nil {
		return Result{}
	}
	return Extract(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.BodyReader(), lim)
}

// Extract extracts the hosts linked to from a body with the given
// Content-Type and Content-Transfer-Encoding (either may be empty: plain
// text, 7bit).
func Extract(contentType, transferEncoding string, body io.Reader, lim Limits) Result {
	x := &extractor{lim: lim.withDefaults(), seen: map[string]bool{}}
	x.walk(contentType, transferEncoding, body, 0)
	return x.res
}

// extractor holds the state of one extraction.
type extractor struct {
	lim    Limits
	res    Result
	seen   map[string]bool
	text   int // text parts scanned
	walked int // parts of any kind walked
	buf    []byte
}

// full reports whether the extraction should stop.
func (x *extractor) full() bool {
	return len(x.res.Domains) >= x.lim.Domains || x.text >= x.lim.Parts || x.walked >= 4*x.lim.Parts
}

// walk handles one entity: recurses into multiparts, scans text parts and
// skips the rest.
func (x *extractor) walk(contentType, transferEncoding string, r io.Reader, depth int) {
	if x.full() {
		return
	}
	x.walked++
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || contentType == "" {
		mediaType = "text/plain"
	}
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		boundary := params["boundary"]
		if boundary == "" || depth >= x.lim.Depth {
			return
		}
		mr := multipart.NewReader(r, boundary)
		for !x.full() {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			x.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1)
		}
	case mediaType == "text/plain", mediaType == "text/html":
		x.text++
		n := x.read(decoder(transferEncoding, r))
		scan(x.buf[:n], mediaType == "text/html", x.add)
	}
}

// read reads up to PartBytes from r into x.buf and returns how many bytes
// it read. A decoding error ends the part; what was decoded before counts.
func (x *extractor) read(r io.Reader) int {
	if cap(x.buf) < x.lim.PartBytes {
		x.buf = make([]byte, x.lim.PartBytes)
	}
	x.buf = x.buf[:x.lim.PartBytes]
	n, _ := io.ReadFull(r, x.buf)
	return n
}

// decoder returns a reader decoding a Content-Transfer-Encoding.
func decoder(transferEncoding string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(transferEncoding)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: bufio.NewReader(r)})
	}
	return r
}

// base64Cleaner drops what a base64 body may hold besides the alphabet:
// line breaks (which base64.NewDecoder would skip anyway), white space and
// stray characters, so one bad byte does not end the part.
type base64Cleaner struct{ r *bufio.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		b, err := c.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=' {
			p[n] = b
			n++
		}
	}
	return n, nil
}

// add records one host name or IP literal found in the text. It returns
// false when the extraction is full.
func (x *extractor) add(host string, fromURL bool) bool {
	if len(x.res.Domains) >= x.lim.Domains {
		return false
	}
	if fromURL {
		if a, ok := ipLiteral(host); ok {
			key := "ip:" + a.String()
			if !x.seen[key] && len(x.res.IPs) < x.lim.IPs {
				x.seen[key] = true
				x.res.IPs = append(x.res.IPs, a)
			}
			return true
		}
	}
	d, ok := RegisteredDomain(host)
	if !ok || x.seen[d] {
		return true
	}
	x.seen[d] = true
	x.res.Domains = append(x.res.Domains, d)
	return len(x.res.Domains) < x.lim.Domains
}
