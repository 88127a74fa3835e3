package content

import (
	"bytes"
	"mime"
	"strings"

	"github.com/moatmail/moat/filter"
)

// hfield is one raw header field of an entity.
type hfield struct {
	name string
	f    filter.Field
}

func (h hfield) value() string { return h.f.Value() }

// splitHeader parses the header block at the start of b and returns its
// fields and the body after it. Parsing is filter.ParseHeader's: lenient,
// and a NUL byte does not stop it.
func splitHeader(b []byte) ([]hfield, []byte) {
	h, n, _ := filter.ParseHeader(b)
	out := make([]hfield, len(h.Fields))
	for i, f := range h.Fields {
		out[i] = hfield{name: f.Name, f: f}
	}
	return out, b[n:]
}

// get returns the value of the first field named name.
func get(h []hfield, name string) string {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value()
		}
	}
	return ""
}

// mediaType is a parsed Content-Type or Content-Disposition value.
type mediaType struct {
	typ    string
	params map[string]string
}

// parseMedia parses a Content-Type or Content-Disposition value. When the
// standard parser refuses it (spam often carries malformed parameters), the
// type is the text before the first ";" and the parameters are read
// leniently.
func parseMedia(v string) mediaType {
	if v == "" {
		return mediaType{}
	}
	t, params, err := mime.ParseMediaType(v)
	if err == nil {
		return mediaType{typ: t, params: params}
	}
	mt := mediaType{params: map[string]string{}}
	typ, rest, _ := strings.Cut(v, ";")
	mt.typ = strings.ToLower(strings.TrimSpace(typ))
	for _, kv := range strings.Split(rest, ";") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' {
			if end := strings.IndexByte(val[1:], '"'); end >= 0 {
				val = val[1 : end+1]
			}
		}
		if _, dup := mt.params[k]; !dup && k != "" {
			mt.params[k] = val
		}
	}
	return mt
}

// entity handles one MIME entity: multipart entities are split and their
// parts visited, message/rfc822 entities are visited as nested messages,
// and leaf entities are recorded (text parts decoded into Text, zip
// archives opened for their names).
func (p *parser) entity(h []hfield, body []byte, depth int, defaultType string) {
	p.parts++
	if p.parts > p.lim.MaxParts {
		p.msg.Truncated = true
		return
	}
	ct := parseMedia(get(h, "Content-Type"))
	typ := ct.typ
	if typ == "" || !strings.Contains(typ, "/") {
		typ = defaultType
		if typ == "" {
			typ = "text/plain"
		}
	}
	switch {
	case strings.HasPrefix(typ, "multipart/"):
		if depth >= p.lim.MaxDepth {
			p.msg.Truncated = true
			return
		}
		boundary := ct.params["boundary"]
		if boundary == "" {
			// Not splittable: read it as text so its content is still seen.
			p.leaf(h, body, "text/plain", ct)
			return
		}
		child := ""
		if typ == "multipart/digest" {
			child = "message/rfc822"
		}
		for _, part := range splitMultipart(body, boundary) {
			ph, pb := splitHeader(part)
			p.entity(ph, pb, depth+1, child)
			if p.parts > p.lim.MaxParts {
				return
			}
		}
	case typ == "message/rfc822" && !isAttachment(h):
		if depth >= p.lim.MaxDepth {
			p.msg.Truncated = true
			return
		}
		inner := decodeTransfer(get(h, "Content-Transfer-Encoding"), body, p.lim.MaxBytes)
		ih, ib := splitHeader(inner)
		p.entity(ih, ib, depth+1, "")
	default:
		p.leaf(h, body, typ, ct)
	}
}

// isAttachment reports a Content-Disposition of attachment.
func isAttachment(h []hfield) bool {
	return parseMedia(get(h, "Content-Disposition")).typ == "attachment"
}

// leaf records a leaf entity and reads what rules need from it.
func (p *parser) leaf(h []hfield, body []byte, typ string, ct mediaType) {
	m := p.msg
	name := parseMedia(get(h, "Content-Disposition")).params["filename"]
	if name == "" {
		name = ct.params["name"]
	}
	name = p.words.decode(name)
	m.Parts = append(m.Parts, Part{Type: typ, Name: name, Size: len(body)})
	cte := get(h, "Content-Transfer-Encoding")
	switch {
	case typ == "text/plain" || typ == "text/enriched":
		m.HasPlain = true
		raw := decodeTransfer(cte, body, p.lim.MaxPartText)
		text := toUTF8(ct.params["charset"], raw)
		p.plainURIs(text)
		p.addText(collapseSpace(text, p.lim.MaxPartText))
	case typ == "text/html":
		m.HasHTML = true
		raw := decodeTransfer(cte, body, p.lim.MaxPartText*4)
		text := toUTF8(ct.params["charset"], raw)
		r := renderHTML(text, p.lim.MaxPartText, p.addURI)
		m.InvisibleChars += r.invisible
		p.plainURIs(r.text)
		p.addText(r.text)
	case isZip(typ, name):
		// Base64 grows data by 4/3: no point decoding a body whose decoded
		// form would be over the bound.
		if len(body)/4*3 > p.lim.MaxArchive {
			m.Truncated = true
			return
		}
		data := decodeTransfer(cte, body, p.lim.MaxArchive)
		names, cut := zipNames(data, p.lim.MaxArchiveNames)
		m.ArchiveNames = append(m.ArchiveNames, names...)
		m.Truncated = m.Truncated || cut
	}
}

// isZip reports whether a part is a zip archive, by type or by name.
func isZip(typ, name string) bool {
	switch typ {
	case "application/zip", "application/x-zip", "application/x-zip-compressed":
		return true
	}
	return len(name) > 4 && strings.EqualFold(name[len(name)-4:], ".zip")
}

// splitMultipart returns the bodies of the parts of a multipart body
// delimited by boundary: the text between delimiter lines ("--boundary" at
// the start of a line), without the line break before each delimiter. The
// preamble and the epilogue after the close delimiter are dropped. A body
// missing its close delimiter ends at the end of the data.
func splitMultipart(body []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1 // start of the current part's content
	pos := 0
	for pos < len(body) {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			break
		}
		at := pos + i
		pos = at + len(delim)
		if at > 0 && body[at-1] != '\n' {
			continue // not at the start of a line
		}
		closing := bytes.HasPrefix(body[pos:], []byte("--"))
		if start >= 0 {
			parts = append(parts, trimLineBreak(body[start:at]))
		}
		if closing {
			return parts
		}
		// The part's content starts after the rest of the delimiter line.
		nl := bytes.IndexByte(body[pos:], '\n')
		if nl < 0 {
			return parts
		}
		start = pos + nl + 1
		pos = start
	}
	if start >= 0 && start < len(body) {
		parts = append(parts, body[start:])
	}
	return parts
}

// trimLineBreak removes one trailing CRLF or LF: it belongs to the
// delimiter that follows.
func trimLineBreak(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}
