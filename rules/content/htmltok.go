package content

import (
	"bytes"
	"html"

	"golang.org/x/net/html/atom"
)

// htmlToken is the kind of token htmlScanner returns.
type htmlToken uint8

const (
	htmlEOF   htmlToken = iota
	htmlText            // text between tags (entities not yet decoded)
	htmlStart           // a start tag (possibly self-closing)
	htmlEnd             // an end tag
)

// htmlScanner is a small, lenient HTML tokenizer: enough to render mail
// HTML as text. It never fails: a stray "<" is text, an unterminated tag or
// comment runs to the end. Every step moves forward, so it is linear in
// the input. Comments, doctypes and processing instructions are skipped,
// as is the content of script and style elements.
type htmlScanner struct {
	src   []byte
	pos   int
	text  []byte    // htmlText: the raw text
	tag   atom.Atom // htmlStart, htmlEnd: the element (0 if unknown)
	attrs []byte    // htmlStart: the raw attribute text
	raw   atom.Atom // after <script> or <style>: skip to its end tag
	name  [24]byte  // scratch for lower-casing tag and attribute names
}

// next returns the next token.
func (z *htmlScanner) next() htmlToken {
	if z.raw != 0 {
		z.skipRawText()
	}
	src := z.src
	for z.pos < len(src) {
		start := z.pos
		if src[start] != '<' {
			end := len(src)
			if i := bytes.IndexByte(src[start:], '<'); i >= 0 {
				end = start + i
			}
			z.text, z.pos = src[start:end], end
			return htmlText
		}
		// src[start] == '<'
		if start+1 >= len(src) {
			z.text, z.pos = src[start:], len(src)
			return htmlText
		}
		switch c := src[start+1]; {
		case c == '!':
			if bytes.HasPrefix(src[start:], []byte("<!--")) {
				z.pos = skipPast(src, start+4, "-->")
			} else {
				z.pos = skipPast(src, start+2, ">")
			}
		case c == '?':
			z.pos = skipPast(src, start+2, ">")
		case c == '/':
			if start+2 < len(src) && isLetter(src[start+2]) {
				nameEnd := tagNameEnd(src, start+2)
				z.tag = z.lookup(src[start+2 : nameEnd])
				z.pos = skipPast(src, nameEnd, ">")
				return htmlEnd
			}
			z.pos = skipPast(src, start+2, ">") // a bogus comment
		case isLetter(c):
			nameEnd := tagNameEnd(src, start+1)
			z.tag = z.lookup(src[start+1 : nameEnd])
			end := tagEnd(src, nameEnd)
			z.attrs = src[nameEnd:end]
			z.pos = min(end+1, len(src))
			if z.tag == atom.Script || z.tag == atom.Style {
				z.raw = z.tag
			}
			return htmlStart
		default: // "<" followed by anything else is text
			end := len(src)
			if i := bytes.IndexByte(src[start+1:], '<'); i >= 0 {
				end = start + 1 + i
			}
			z.text, z.pos = src[start:end], end
			return htmlText
		}
	}
	return htmlEOF
}

// skipRawText moves past the content of a script or style element, to its
// end tag.
func (z *htmlScanner) skipRawText() {
	name := z.raw.String()
	z.raw = 0
	for {
		i := bytes.Index(z.src[z.pos:], []byte("</"))
		if i < 0 {
			z.pos = len(z.src)
			return
		}
		at := z.pos + i
		rest := z.src[at+2:]
		if len(rest) >= len(name) && bytes.EqualFold(rest[:len(name)], []byte(name)) {
			z.pos = at
			return
		}
		z.pos = at + 2
	}
}

// lookup returns the atom of a tag name, in any case.
func (z *htmlScanner) lookup(name []byte) atom.Atom {
	if len(name) > len(z.name) {
		return 0
	}
	low := z.name[:len(name)]
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	return atom.Lookup(low)
}

// attr returns the next attribute of the current start tag: its name in
// lower case (valid until the next call) and its value with entities
// decoded. ok is false when there are no more.
func (z *htmlScanner) attr() (name []byte, val string, ok bool) {
	a := z.attrs
	i := 0
	for i < len(a) && (isHTMLSpace(a[i]) || a[i] == '/') {
		i++
	}
	if i >= len(a) {
		z.attrs = nil
		return nil, "", false
	}
	start := i
	for i < len(a) && !isHTMLSpace(a[i]) && a[i] != '=' && a[i] != '/' {
		i++
	}
	raw := a[start:i]
	if len(raw) > len(z.name) {
		raw = raw[:len(z.name)]
	}
	name = z.name[:len(raw)]
	for k, c := range raw {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		name[k] = c
	}
	for i < len(a) && isHTMLSpace(a[i]) {
		i++
	}
	if i >= len(a) || a[i] != '=' {
		z.attrs = a[i:]
		return name, "", true
	}
	i++
	for i < len(a) && isHTMLSpace(a[i]) {
		i++
	}
	var v []byte
	if i < len(a) && (a[i] == '"' || a[i] == '\'') {
		q := a[i]
		end := bytes.IndexByte(a[i+1:], q)
		if end < 0 {
			v, i = a[i+1:], len(a)
		} else {
			v, i = a[i+1:i+1+end], i+2+end
		}
	} else {
		s := i
		for i < len(a) && !isHTMLSpace(a[i]) {
			i++
		}
		v = a[s:i]
	}
	z.attrs = a[i:]
	return name, unescape(v), true
}

// unescape decodes character references, when there are any.
func unescape(b []byte) string {
	if bytes.IndexByte(b, '&') < 0 {
		return string(b)
	}
	return html.UnescapeString(string(b))
}

// tagNameEnd returns the end of the tag name starting at i.
func tagNameEnd(src []byte, i int) int {
	for i < len(src) && !isHTMLSpace(src[i]) && src[i] != '>' && src[i] != '/' {
		i++
	}
	return i
}

// tagEnd returns the index of the ">" ending the tag whose attributes start
// at i (len(src) when there is none). A ">" inside a quoted attribute value
// does not end the tag.
func tagEnd(src []byte, i int) int {
	for i < len(src) {
		switch src[i] {
		case '>':
			return i
		case '=':
			j := i + 1
			for j < len(src) && isHTMLSpace(src[j]) {
				j++
			}
			if j < len(src) && (src[j] == '"' || src[j] == '\'') {
				end := bytes.IndexByte(src[j+1:], src[j])
				if end < 0 {
					return len(src)
				}
				i = j + 1 + end + 1
				continue
			}
		}
		i++
	}
	return len(src)
}

// skipPast returns the index just past the first sep at or after i, or
// len(src).
func skipPast(src []byte, i int, sep string) int {
	if i >= len(src) {
		return len(src)
	}
	j := bytes.Index(src[i:], []byte(sep))
	if j < 0 {
		return len(src)
	}
	return i + j + len(sep)
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}
