// Package content turns a raw message into what content rules match
// against: the top-level header fields with RFC 2047 encoded words decoded,
// the visible text of the text parts (text/plain, and text/html rendered as
// text), the URIs the message links to, its leaf MIME parts with their
// types and file names (and the names of the files inside zip archives),
// and a few numeric properties (HTML-only, visible and invisible text
// length, a From display name spoofing an address).
//
// Parsing is lenient, as a filter's must be: a malformed message yields what
// could be read. All work is bounded by Limits: bytes of the message
// considered, decoded text per part and in total, parts, nesting depth,
// URIs, archive bytes and names. A cut is recorded in Message.Truncated.
package content

import (
	"bytes"
	"unicode/utf8"
)

// Limits bounds the work Parse does on one message. A zero field takes its
// default from DefaultLimits.
type Limits struct {
	// MaxBytes is how much of the raw message is read (default 2 MiB).
	MaxBytes int
	// MaxPartText is the decoded text kept per text part (default 256 KiB).
	MaxPartText int
	// MaxText is the decoded text kept over all parts (default 1 MiB).
	MaxText int
	// MaxParts is the number of MIME entities visited (default 256).
	MaxParts int
	// MaxDepth is the deepest multipart / message/rfc822 nesting followed
	// (default 8).
	MaxDepth int
	// MaxURIs is the number of distinct URIs kept (default 256).
	MaxURIs int
	// MaxArchive is the largest decoded zip attachment whose names are read
	// (default 2 MiB); larger ones are not opened. An archive is read only
	// when it ends within MaxBytes of the message, since its directory is
	// at its end.
	MaxArchive int
	// MaxArchiveNames is the number of names read per archive (default
	// 1000).
	MaxArchiveNames int
}

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:        2 << 20,
		MaxPartText:     256 << 10,
		MaxText:         1 << 20,
		MaxParts:        256,
		MaxDepth:        8,
		MaxURIs:         256,
		MaxArchive:      2 << 20,
		MaxArchiveNames: 1000,
	}
}

// withDefaults fills zero fields.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	set(&l.MaxBytes, d.MaxBytes)
	set(&l.MaxPartText, d.MaxPartText)
	set(&l.MaxText, d.MaxText)
	set(&l.MaxParts, d.MaxParts)
	set(&l.MaxDepth, d.MaxDepth)
	set(&l.MaxURIs, d.MaxURIs)
	set(&l.MaxArchive, d.MaxArchive)
	set(&l.MaxArchiveNames, d.MaxArchiveNames)
	return l
}

// Field is one top-level header field, decoded.
type Field struct {
	// Name is the field name as written.
	Name string
	// Value is the unfolded value with RFC 2047 encoded words decoded
	// (ISO-8859-1, Windows-1252 and UTF-8 are converted to UTF-8; other
	// charsets are left as their bytes).
	Value string
}

// Part is one leaf MIME entity (not multipart, not message/rfc822).
type Part struct {
	// Type is the lower-case media type ("text/plain", "application/zip");
	// "text/plain" when the entity declares none.
	Type string
	// Name is the file name from Content-Disposition or Content-Type,
	// decoded; empty when there is none.
	Name string
	// Size is the encoded size of the entity's body in bytes.
	Size int
}

// Message is what rules see of one message.
type Message struct {
	// Raw is the start of the raw message, at most Limits.MaxBytes.
	Raw []byte
	// Size is the size of the whole raw message as given to Parse.
	Size int
	// Header holds the top-level header fields in order.
	Header []Field
	// Text is the visible text of every text part, in order: white space
	// runs collapsed to one space, parts separated by a line break.
	Text []byte
	// URIs are the distinct URIs found in links, image sources, form
	// actions and text, in order of appearance.
	URIs []string
	// Parts are the leaf entities, in order.
	Parts []Part
	// ArchiveNames are the names of the files inside zip attachments.
	ArchiveNames []string
	// HasPlain and HasHTML report text/plain and text/html parts.
	HasPlain, HasHTML bool
	// TextChars counts the visible characters (not white space) of Text.
	TextChars int
	// InvisibleChars counts the characters (not white space) of HTML text
	// hidden from the reader: display:none, visibility:hidden, a font size
	// of 0 or 1, or a text colour equal to the background colour.
	InvisibleChars int
	// Truncated reports that a limit cut the work short.
	Truncated bool
}

// parser holds the state of one Parse call.
type parser struct {
	lim   Limits
	msg   *Message
	parts int
	uris  map[string]struct{}
	words *wordDecoder
}

// Parse reads raw (a whole message, header and body) within lim.
func Parse(raw []byte, lim Limits) *Message {
	lim = lim.withDefaults()
	m := &Message{Size: len(raw)}
	if len(raw) > lim.MaxBytes {
		raw = raw[:lim.MaxBytes]
		m.Truncated = true
	}
	m.Raw = raw
	p := &parser{lim: lim, msg: m, words: newWordDecoder()}
	h, body := splitHeader(raw)
	m.Header = make([]Field, 0, len(h))
	for _, f := range h {
		m.Header = append(m.Header, Field{Name: f.name, Value: p.words.decode(f.value())})
	}
	p.entity(h, body, 0, "")
	m.TextChars = countVisible(m.Text)
	return m
}

// addText appends one part's text to Text within MaxText.
func (p *parser) addText(t []byte) {
	t = bytes.TrimSpace(t)
	if len(t) == 0 {
		return
	}
	m := p.msg
	room := p.lim.MaxText - len(m.Text)
	if room <= 1 {
		m.Truncated = true
		return
	}
	if len(m.Text) > 0 {
		m.Text = append(m.Text, '\n')
		room--
	}
	if len(t) > room {
		t = t[:room]
		m.Truncated = true
	}
	m.Text = append(m.Text, t...)
}

// addURI records u once, within MaxURIs.
func (p *parser) addURI(u string) {
	if u == "" {
		return
	}
	if p.uris == nil {
		p.uris = map[string]struct{}{}
	}
	if _, ok := p.uris[u]; ok {
		return
	}
	if len(p.msg.URIs) >= p.lim.MaxURIs {
		p.msg.Truncated = true
		return
	}
	p.uris[u] = struct{}{}
	p.msg.URIs = append(p.msg.URIs, u)
}

// countVisible counts the characters of t that are not white space (space
// or line break; other white space is already collapsed into them).
func countVisible(t []byte) int {
	return utf8.RuneCount(t) - bytes.Count(t, []byte{' '}) - bytes.Count(t, []byte{'\n'})
}
