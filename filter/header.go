package filter

import (
	"bytes"
	"errors"
	"strings"
)

// ErrHeaderNUL is returned by ParseHeader when the header block contains a
// NUL byte. Such messages are refused at the SMTP layer.
var ErrHeaderNUL = errors.New("NUL byte in message header")

// Field is one header field exactly as received.
type Field struct {
	// Name is the field name as written (case preserved).
	Name string
	// Raw is the whole field: name, colon, value and any folded
	// continuation lines, including the final line ending.
	Raw []byte
}

// Value returns the field's value unfolded (line breaks of folded lines
// removed) with surrounding white space trimmed. It does not decode RFC 2047
// encoded words.
func (f Field) Value() string {
	v := f.Raw[len(f.Name)+1:]
	if bytes.IndexByte(v, '\n') == len(v)-1 || bytes.IndexByte(v, '\n') < 0 {
		return strings.TrimSpace(string(v))
	}
	var b strings.Builder
	b.Grow(len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// Header is a message's header block as a list of fields in order.
type Header struct {
	Fields []Field
}

// Get returns the value of the first field with the given name (matched
// case-insensitively), or "" if there is none.
func (h *Header) Get(name string) string {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value()
		}
	}
	return ""
}

// Values returns the values of every field with the given name, in order.
func (h *Header) Values(name string) []string {
	var out []string
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value())
		}
	}
	return out
}

// Count returns how many fields have the given name.
func (h *Header) Count(name string) int {
	n := 0
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			n++
		}
	}
	return n
}

// ParseHeader splits the header block at the start of b into fields. It
// returns the header and the number of bytes the header block occupies,
// including the empty line that ends it. Parsing is lenient, as a filter's
// must be: the block ends at the first empty line, or at the first line that
// is neither a field ("name: value") nor a continuation (starting with space
// or tab); the body starts at that line. Line endings may be CRLF or LF.
// The only error is ErrHeaderNUL.
func ParseHeader(b []byte) (Header, int, error) {
	var h Header
	pos := 0
	malformed := false // the header ended at a line that is not a field
	for pos < len(b) {
		end := lineEnd(b, pos)
		line := b[pos:end]
		if isBlankLine(line) {
			pos = end
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(h.Fields) == 0 {
				malformed = true // a continuation with nothing to continue
				break
			}
			last := &h.Fields[len(h.Fields)-1]
			last.Raw = b[pos-len(last.Raw) : end]
			pos = end
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(line[:colon]) {
			malformed = true
			break
		}
		h.Fields = append(h.Fields, Field{Name: string(line[:colon]), Raw: line})
		pos = end
	}
	// NUL is refused up to the first empty line, also in a malformed line
	// that ended the header early (it would otherwise hide in the "body").
	scan := pos
	if malformed {
		scan = lineEnd(b, pos)
	}
	if bytes.IndexByte(b[:scan], 0) >= 0 {
		return h, pos, ErrHeaderNUL
	}
	return h, pos, nil
}

// lineEnd returns the index just past the LF ending the line that starts at
// pos, or len(b) for an unterminated last line.
func lineEnd(b []byte, pos int) int {
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		return len(b)
	}
	return pos + i + 1
}

func isBlankLine(line []byte) bool {
	return len(line) == 0 || line[0] == '\n' || (line[0] == '\r' && len(line) >= 2 && line[1] == '\n')
}

// validFieldName reports whether n is a valid RFC 5322 field name: printable
// US-ASCII except colon, no white space.
func validFieldName(n []byte) bool {
	for _, c := range n {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// SkipCFWS removes folding white space (spaces, tabs, line breaks) and
// nested RFC 5322 comments from the start of a header value. It reports
// false for an unterminated comment.
func SkipCFWS(v string) (string, bool) {
	for {
		v = strings.TrimLeft(v, " \t\r\n")
		if v == "" || v[0] != '(' {
			return v, true
		}
		depth, i := 0, 0
	comment:
		for ; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					break comment
				}
			}
		}
		if depth != 0 || i >= len(v) {
			return v, false
		}
		v = v[i+1:]
	}
}
