package content

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"
)

// decodeTransfer decodes a body by its Content-Transfer-Encoding, keeping at
// most max bytes of output. Both decoders are lenient: malformed input is
// decoded as far as it makes sense, never refused. Other encodings (7bit,
// 8bit, binary, unknown) are returned as they are, cut at max.
func decodeTransfer(cte string, body []byte, max int) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return decodeBase64(body, max)
	case "quoted-printable":
		return decodeQP(body, max)
	}
	if len(body) > max {
		return body[:max]
	}
	return body
}

// b64 maps a base64 alphabet byte to its value, and other bytes to 0xFF.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeBase64 decodes base64, skipping every byte outside the alphabet
// (line breaks, white space, garbage) and stopping at the first "=".
func decodeBase64(in []byte, max int) []byte {
	out := make([]byte, 0, min(len(in)/4*3+3, max))
	var acc uint32
	n := 0
	for _, c := range in {
		if c == '=' {
			break
		}
		v := b64[c]
		if v == 0xFF {
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			if len(out)+3 > max {
				return out
			}
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		out = append(out, byte(acc>>4))
	case 3:
		out = append(out, byte(acc>>10), byte(acc>>2))
	}
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// decodeQP decodes quoted-printable: "=XX" hex escapes (either case), soft
// line breaks ("=" at the end of a line, trailing white space allowed), and
// any other "=" kept as it is.
func decodeQP(in []byte, max int) []byte {
	out := make([]byte, 0, min(len(in), max))
	for i := 0; i < len(in) && len(out) < max; i++ {
		c := in[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+2 < len(in) && unhex(in[i+1]) < 16 && unhex(in[i+2]) < 16 {
			out = append(out, unhex(in[i+1])<<4|unhex(in[i+2]))
			i += 2
			continue
		}
		// A soft line break: "=" then optional white space then the end of
		// the line.
		j := i + 1
		for j < len(in) && (in[j] == ' ' || in[j] == '\t') {
			j++
		}
		switch {
		case j < len(in) && in[j] == '\n':
			i = j
		case j+1 < len(in) && in[j] == '\r' && in[j+1] == '\n':
			i = j + 1
		case j == len(in):
			i = j
		default:
			out = append(out, '=')
		}
	}
	return out
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0xFF
}

// cp1252 holds the characters Windows-1252 puts at 0x80–0x9F, where
// ISO-8859-1 has control characters (0 where Windows-1252 has none either).
var cp1252 = [32]rune{
	'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
	0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
}

// isLatin1 reports charsets read as Windows-1252 (a superset of ISO-8859-1
// in practice: mail labelled ISO-8859-1 often holds its quotes).
func isLatin1(charset string) bool {
	switch strings.ToLower(strings.Trim(charset, `" `)) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1", "windows-1252", "cp1252",
		"iso-8859-15", "iso8859-15", "latin-9", "x-user-defined":
		return true
	}
	return false
}

// toUTF8 converts text in charset to UTF-8 when the charset is a Latin-1
// variant; text in any other charset (or in none) is returned unchanged.
// Text that is already valid UTF-8 is never converted.
func toUTF8(charset string, b []byte) []byte {
	if !isLatin1(charset) || isASCII(b) || utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/8)
	for _, c := range b {
		switch {
		case c < 0x80:
			out = append(out, c)
		case c < 0xA0 && cp1252[c-0x80] != 0:
			out = utf8.AppendRune(out, cp1252[c-0x80])
		default:
			out = utf8.AppendRune(out, rune(c))
		}
	}
	return out
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// spaceByte marks the bytes collapseSpace treats as white space; breakByte
// marks those and 0xC2, the first byte of U+00A0 (no-break space).
var (
	spaceByte = [256]bool{' ': true, '\t': true, '\r': true, '\n': true, '\f': true, '\v': true}
	breakByte = [256]bool{' ': true, '\t': true, '\r': true, '\n': true, '\f': true, '\v': true, 0xC2: true}
)

// collapseSpace returns b with every run of white space (space, tab, CR,
// LF, form feed, vertical tab, and no-break space) turned into one space,
// cut at max bytes.
func collapseSpace(b []byte, max int) []byte {
	out := make([]byte, 0, min(len(b), max))
	out, _ = appendCollapsed(out, b, false, max)
	return out
}

// appendCollapsed appends t to out with white space runs collapsed, within
// max bytes of out. space says a separator is due first; the returned space
// says whether t ended in white space. Stretches that need no change
// (words separated by single spaces) are copied whole.
func appendCollapsed(out, t []byte, space bool, max int) ([]byte, bool) {
	i := 0
	for i < len(t) && len(out) < max {
		c := t[i]
		if spaceByte[c] {
			space = true
			i++
			continue
		}
		if c == 0xC2 && i+1 < len(t) && t[i+1] == 0xA0 {
			space = true
			i += 2
			continue
		}
		if space && len(out) > 0 {
			out = append(out, ' ')
		}
		space = false
		// Extend the run over single spaces between other bytes.
		j := i + 1
		for j < len(t) {
			if b := t[j]; !breakByte[b] {
				j++
				continue
			}
			if t[j] == ' ' && j+1 < len(t) && !breakByte[t[j+1]] {
				j += 2
				continue
			}
			if t[j] == 0xC2 && (j+1 >= len(t) || t[j+1] != 0xA0) {
				j++ // 0xC2 starting some other character
				continue
			}
			break
		}
		j = min(j, i+max-len(out))
		out = append(out, t[i:j]...)
		i = j
	}
	return out, space
}

// wordDecoder decodes RFC 2047 encoded words in header values.
type wordDecoder struct {
	d mime.WordDecoder
}

func newWordDecoder() *wordDecoder {
	w := &wordDecoder{}
	w.d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(io.LimitReader(input, 64<<10))
		if err != nil {
			return nil, err
		}
		if isLatin1(charset) {
			return bytes.NewReader(toUTF8(charset, b)), nil
		}
		return bytes.NewReader(b), nil
	}
	return w
}

// decode returns v with its encoded words decoded, or v unchanged when it
// holds none or they do not decode.
func (w *wordDecoder) decode(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := w.d.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}
