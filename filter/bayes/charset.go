package bayes

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"
)

// charsetKind says how text in a charset is turned into UTF-8.
type charsetKind uint8

const (
	csUTF8   charsetKind = iota // UTF-8, US-ASCII, or unknown: bytes as they are
	csLatin1                    // ISO-8859-1 (and -15): byte = code point
	csCP1252                    // Windows-1252: Latin-1 with 0x80–0x9F remapped
	csDBCS                      // legacy double-byte CJK: kept, read as textDBCS
)

// charsetOf classifies a charset name. Charsets we do not convert
// (KOI8-R, ISO-8859-5, …) keep their bytes, which the word scanner reads
// as letters: their words still make consistent tokens.
func charsetOf(name string) charsetKind {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.Trim(n, `"'`)
	switch n {
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "iso-8859-15", "iso8859-15", "latin-9":
		return csLatin1
	case "windows-1252", "cp1252", "x-cp1252", "win-1252":
		return csCP1252
	case "gb2312", "gbk", "gb18030", "x-gbk", "euc-cn", "big5", "big5-hkscs", "x-big5",
		"euc-kr", "ks_c_5601-1987", "ks_c_5601", "cp949", "x-windows-949", "euc-jp",
		"shift_jis", "shift-jis", "sjis", "x-sjis", "cp932", "windows-31j", "cp936", "cp950", "euc-tw":
		return csDBCS
	}
	return csUTF8
}

// cp1252 maps bytes 0x80–0x9F of Windows-1252 to code points (0 where the
// byte is undefined: kept as the C1 control).
var cp1252 = [32]rune{
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
}

// toUTF8 converts b in charset kind k to UTF-8 in dst[:0]. It returns
// false (and b) when nothing needs converting.
func toUTF8(dst, b []byte, k charsetKind) ([]byte, bool) {
	if k != csLatin1 && k != csCP1252 {
		return b, false
	}
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return b, false
	}
	dst = dst[:0]
	for _, c := range b {
		switch {
		case c < 0x80:
			dst = append(dst, c)
		case k == csCP1252 && c < 0xa0 && cp1252[c-0x80] != 0:
			dst = utf8.AppendRune(dst, cp1252[c-0x80])
		default:
			dst = utf8.AppendRune(dst, rune(c))
		}
	}
	return dst, true
}

// maxHeaderText bounds a decoded header value.
const maxHeaderText = 2048

// decodeHeader decodes RFC 2047 encoded words in a header value, with the
// charsets above; encoded words in other charsets keep their bytes. The
// mode says how to read what is not UTF-8.
func decodeHeader(v string) (string, textMode) {
	if len(v) > maxHeaderText {
		v = v[:maxHeaderText]
	}
	if strings.Contains(v, "=?") {
		d := mime.WordDecoder{CharsetReader: charsetReader}
		if out, err := d.DecodeHeader(v); err == nil {
			mode := textPlain
			if k := strings.Index(v, "=?"); k >= 0 {
				cs, _, _ := strings.Cut(v[k+2:], "?")
				if charsetOf(cs) == csDBCS {
					mode = textDBCS
				}
			}
			return out, mode
		}
	}
	return v, guessMode([]byte(v))
}

// guessMode guesses how to read text whose charset is unknown: when it is
// not UTF-8 and its 8-bit bytes come in pairs, as a double-byte charset.
func guessMode(b []byte) textMode {
	high, paired := 0, 0
	for i := 0; i < len(b); i++ {
		if b[i] < 0x80 {
			continue
		}
		j := i
		for j < len(b) && b[j] >= 0x80 {
			j++
		}
		high += j - i
		if j-i >= 2 {
			paired += j - i
		}
		i = j
	}
	if high < 6 || paired*5 < high*4 || utf8.Valid(b) {
		return textPlain
	}
	return textDBCS
}

// charsetReader converts an encoded word's bytes for mime.WordDecoder.
func charsetReader(charset string, in io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(io.LimitReader(in, maxHeaderText))
	if err != nil {
		return nil, err
	}
	out, _ := toUTF8(nil, b, charsetOf(charset))
	return bytes.NewReader(out), nil
}
