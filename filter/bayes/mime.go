package bayes

import (
	"bytes"
	"path"
	"strings"

	"github.com/moatmail/moat/filter"
)

// Token prefixes of MIME structure.
var (
	pCT   = mkPrefix("ct:")
	pCS   = mkPrefix("cs:")
	pCTE  = mkPrefix("cte:")
	pFile = mkPrefix("file:")
	pMIME = mkPrefix("mime:")
)

// entity tokenizes one MIME entity: its structure (type, charset,
// transfer encoding, file name) and its content when it is text, or its
// parts when it is a multipart or an attached message.
func (z *tz) entity(hdr []filter.Field, body []byte, depth int) {
	if z.full {
		return
	}
	if z.parts >= z.o.MaxParts {
		z.addString(pMIME, "too-many-parts")
		return
	}
	z.parts++
	mt := parseMediaType(fieldValue(hdr, "Content-Type"))
	cte := strings.ToLower(strings.TrimSpace(fieldValue(hdr, "Content-Transfer-Encoding")))
	z.addString(pCT, mt.typ)
	if mt.charset != "" {
		z.addString(pCS, mt.charset)
	}
	switch cte {
	case "", "7bit", "8bit", "binary":
	default:
		z.addString(pCTE, foldNumbers0(cte))
	}
	name := mt.name
	if d := fieldValue(hdr, "Content-Disposition"); d != "" {
		if dm := parseMediaType(d); dm.filename != "" {
			name = dm.filename
		}
	}
	if name != "" {
		name, _ = decodeHeader(name)
		ext := strings.ToLower(path.Ext(name))
		if len(ext) > 1 && len(ext) <= 8 {
			z.addString(pFile, ext[1:])
		} else {
			z.addString(pFile, "noext")
		}
	}
	switch {
	case strings.HasPrefix(mt.typ, "multipart/"):
		if depth >= z.o.MaxDepth {
			z.addString(pMIME, "too-deep")
			return
		}
		if mt.boundary == "" {
			z.addString(pMIME, "no-boundary")
			return
		}
		z.multipart(body, mt.boundary, depth)
	case mt.typ == "message/rfc822":
		if depth >= z.o.MaxDepth {
			z.addString(pMIME, "too-deep")
			return
		}
		h, n, _ := filter.ParseHeader(body)
		if s := fieldValue(h.Fields, "Subject"); s != "" {
			z.subject(pInnerSubj, s)
		}
		z.entity(h.Fields, body[n:], depth+1)
	case strings.HasPrefix(mt.typ, "text/"):
		data := z.decodeCTE(body, cte)
		k := charsetOf(mt.charset)
		mode := textPlain
		if k == csDBCS {
			mode = textDBCS
		} else if conv, ok := toUTF8(z.buf2, data, k); ok {
			z.buf2 = conv
			data = conv
		} else if k == csUTF8 {
			mode = guessMode(data)
		}
		switch {
		case mt.typ == "text/html":
			z.html(data, mode)
		case looksHTML(data):
			z.addString(pMIME, "html-in-plain")
			z.html(data, mode)
		default:
			z.text(pBody, data, mode)
		}
	}
}

// multipart tokenizes the parts of a multipart body.
func (z *tz) multipart(body []byte, boundary string, depth int) {
	delim := []byte("--" + boundary)
	pos := indexDelim(body, delim, 0)
	if pos < 0 {
		z.addString(pMIME, "no-parts")
		return
	}
	for !z.full {
		if z.parts >= z.o.MaxParts {
			z.addString(pMIME, "too-many-parts")
			return
		}
		after := body[pos+len(delim):]
		if bytes.HasPrefix(after, []byte("--")) {
			return // the closing delimiter
		}
		nl := bytes.IndexByte(after, '\n')
		if nl < 0 {
			return
		}
		start := pos + len(delim) + nl + 1
		next := indexDelim(body, delim, start)
		var part []byte
		if next < 0 {
			part = body[start:]
			z.addString(pMIME, "unterminated")
		} else {
			part = body[start:next]
		}
		h, n, _ := filter.ParseHeader(part)
		z.entity(h.Fields, part[n:], depth+1)
		if next < 0 {
			return
		}
		pos = next
	}
}

// indexDelim finds the next boundary delimiter at the start of a line, at
// or after from.
func indexDelim(b, delim []byte, from int) int {
	for from < len(b) {
		i := bytes.Index(b[from:], delim)
		if i < 0 {
			return -1
		}
		at := from + i
		if at == 0 || b[at-1] == '\n' {
			return at
		}
		from = at + 1
	}
	return -1
}

// decodeCTE undoes the transfer encoding of at most MaxPartBytes of
// output. Unknown encodings are read as they are.
func (z *tz) decodeCTE(body []byte, cte string) []byte {
	limit := z.o.MaxPartBytes
	switch cte {
	case "base64":
		z.buf = decodeBase64(z.buf[:0], body, limit)
		return z.buf
	case "quoted-printable":
		z.buf = decodeQP(z.buf[:0], body, limit)
		return z.buf
	}
	if len(body) > limit {
		body = body[:limit]
	}
	return body
}

// b64 maps base64 (standard and URL alphabets) to values; 0xff: not one.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	t['-'], t['_'] = 62, 63
	return t
}()

// decodeBase64 decodes leniently: characters outside the alphabet are
// skipped, padding ends a group, and decoding stops at limit bytes.
func decodeBase64(dst, src []byte, limit int) []byte {
	var acc uint32
	n := 0
	for _, c := range src {
		if len(dst) >= limit {
			break
		}
		if c == '=' {
			switch n {
			case 2:
				dst = append(dst, byte(acc>>4))
			case 3:
				dst = append(dst, byte(acc>>10), byte(acc>>2))
			}
			acc, n = 0, 0
			continue
		}
		v := b64[c]
		if v == 0xff {
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			dst = append(dst, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n { // an unpadded tail
	case 2:
		dst = append(dst, byte(acc>>4))
	case 3:
		dst = append(dst, byte(acc>>10), byte(acc>>2))
	}
	if len(dst) > limit {
		dst = dst[:limit]
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// decodeQP decodes quoted-printable leniently: a malformed escape is kept
// as it is; decoding stops at limit bytes.
func decodeQP(dst, src []byte, limit int) []byte {
	for i := 0; i < len(src) && len(dst) < limit; i++ {
		c := src[i]
		if c != '=' {
			dst = append(dst, c)
			continue
		}
		switch {
		case i+1 < len(src) && src[i+1] == '\n':
			i++ // soft line break
		case i+2 < len(src) && src[i+1] == '\r' && src[i+2] == '\n':
			i += 2
		case i+2 < len(src):
			hi, ok1 := unhex(src[i+1])
			lo, ok2 := unhex(src[i+2])
			if ok1 && ok2 {
				dst = append(dst, hi<<4|lo)
				i += 2
			} else {
				dst = append(dst, c)
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// mediaType is what the tokenizer needs of a Content-Type or
// Content-Disposition value.
type mediaType struct {
	typ      string // lower case; "text/plain" when missing or invalid
	boundary string
	charset  string // lower case
	name     string
	filename string
}

// parseMediaType parses leniently: parameters may be unquoted, quoted,
// repeated (the first wins) or RFC 2231-encoded (name*=…, charset and
// language dropped).
func parseMediaType(v string) mediaType {
	var m mediaType
	typ, params, _ := strings.Cut(v, ";")
	m.typ = strings.ToLower(strings.TrimSpace(typ))
	if strings.IndexByte(m.typ, '/') <= 0 || len(m.typ) > 100 {
		if !strings.Contains(m.typ, "attachment") && !strings.Contains(m.typ, "inline") {
			m.typ = "text/plain"
		}
	}
	for n := 0; params != "" && n < 32; n++ {
		params = strings.TrimLeft(params, " \t\r\n;")
		eq := strings.IndexByte(params, '=')
		if eq < 0 {
			break
		}
		key := strings.ToLower(strings.TrimSpace(params[:eq]))
		rest := strings.TrimLeft(params[eq+1:], " \t\r\n")
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			val = strings.ReplaceAll(rest[1:min(end, len(rest))], `\`, "")
			rest = rest[min(end+1, len(rest)):]
			if k := strings.IndexByte(rest, ';'); k >= 0 {
				rest = rest[k:]
			} else {
				rest = ""
			}
		} else {
			k := strings.IndexByte(rest, ';')
			if k < 0 {
				k = len(rest)
			}
			val = strings.TrimSpace(rest[:k])
			rest = rest[k:]
		}
		params = rest
		if base, ok := strings.CutSuffix(key, "*"); ok {
			key = base
			if parts := strings.SplitN(val, "'", 3); len(parts) == 3 {
				val = parts[2]
			}
		}
		key, _, _ = strings.Cut(key, "*") // name*0, name*1: the first piece
		switch key {
		case "boundary":
			if m.boundary == "" {
				m.boundary = val
			}
		case "charset":
			if m.charset == "" {
				m.charset = strings.ToLower(val)
			}
		case "name":
			if m.name == "" {
				m.name = val
			}
		case "filename":
			if m.filename == "" {
				m.filename = val
			}
		}
	}
	return m
}

// fieldValue returns the unfolded value of the first field named name.
func fieldValue(fields []filter.Field, name string) string {
	for _, f := range fields {
		if len(f.Name) == len(name) && strings.EqualFold(f.Name, name) {
			return f.Value()
		}
	}
	return ""
}

// foldNumbers0 is foldNumbers for strings.
func foldNumbers0(s string) string {
	var scratch []byte
	return string(foldNumbers([]byte(s), &scratch))
}

// looksHTML reports whether text labelled plain is HTML: it has an html
// or body tag, or at least five of <br, <p>, <font, <a href near the
// start. Spam often mislabels its HTML; read as words, its markup would
// make tokens no HTML part gives.
func looksHTML(b []byte) bool {
	head := b[:min(len(b), 2048)]
	var low []byte
	low = lowerASCII(head, &low)
	return bytes.Contains(low, []byte("<html")) || bytes.Contains(low, []byte("<body")) ||
		(bytes.Count(low, []byte("<br"))+bytes.Count(low, []byte("<p>"))+bytes.Count(low, []byte("<font"))+bytes.Count(low, []byte("<a href"))) >= 5
}
