package bayes

import (
	"bytes"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// textMode says how bytes that are not valid UTF-8 are read.
type textMode uint8

const (
	// textPlain: UTF-8; a byte that is not valid UTF-8 (text in a
	// single-byte charset we do not convert) is a letter.
	textPlain textMode = iota
	// textDBCS: a legacy double-byte CJK charset (GB2312, Big5, EUC-KR,
	// Shift_JIS, …): a high byte and the byte after it are one character
	// of a script written without spaces.
	textDBCS
)

// Token prefixes of words found in text.
var (
	pBody    = mkPrefix("")
	pHidden  = mkPrefix("hid:")
	pURL     = mkPrefix("url:")
	pURLDom  = mkPrefix("url:d:")
	pURLPart = mkPrefix("u:")
	pProto   = mkPrefix("proto:")
	pEmail   = mkPrefix("email:")
	pPunct   = mkPrefix("p:")
)

// asciiClass classifies ASCII bytes for the word scanner.
const (
	cOther = iota
	cLower
	cUpper
	cDigit
	cConn // joins two word characters: ' - . @ _ ,
)

var asciiClass = func() (t [128]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLower
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = cUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	for _, c := range "'-.@_," {
		t[c] = cConn
	}
	return t
}()

// text tokenizes running text under prefix p: words (with their OSB
// pairs), URLs, e-mail domains, and bigrams of scripts written without
// spaces.
func (z *tz) text(p prefix, b []byte, mode textMode) {
	z.breakRing()
	for i := 0; i < len(b) && !z.full; {
		i = max(z.step(p, b, i, mode), i+1)
	}
}

// step reads what starts at b[i] and returns the index after it (text
// makes sure it moves on by at least one byte).
func (z *tz) step(p prefix, b []byte, i int, mode textMode) int {
	c := b[i]
	if c < 0x80 {
		switch asciiClass[c] {
		case cLower, cUpper, cDigit:
			return z.scanWord(p, b, i, mode)
		}
		switch c {
		case '$':
			if i+1 < len(b) && isDigit(b[i+1]) {
				return z.scanWord(p, b, i, mode)
			}
		case '!':
			j := i + 1
			for j < len(b) && b[j] == '!' {
				j++
			}
			if j-i > 1 {
				z.addString(pPunct, "!!")
			} else {
				z.addString(pPunct, "!")
			}
			return j
		}
		return i + 1
	}
	if mode == textDBCS && c >= 0x81 && i+1 < len(b) && b[i+1] >= 0x40 {
		return z.scanNoSpace(p, b, i, mode)
	}
	r, size := utf8.DecodeRune(b[i:])
	switch {
	case r == utf8.RuneError && size == 1:
		return z.scanWord(p, b, i, mode)
	case isNoSpace(r):
		return z.scanNoSpace(p, b, i, mode)
	case isWordRune(r):
		return z.scanWord(p, b, i, mode)
	}
	return i + size
}

// isNoSpace reports whether r belongs to a script written without spaces
// between words (Han, kana, Thai, Lao, Khmer, Myanmar).
func isNoSpace(r rune) bool {
	switch {
	case r < 0x0e00:
		return false
	case r <= 0x0eff, // Thai, Lao
		r >= 0x1000 && r <= 0x109f, // Myanmar
		r >= 0x1780 && r <= 0x17ff, // Khmer
		r >= 0x3040 && r <= 0x30ff, // Hiragana, Katakana
		r >= 0x31f0 && r <= 0x31ff,
		r >= 0x3400 && r <= 0x4dbf, // CJK extension A
		r >= 0x4e00 && r <= 0x9fff, // CJK unified
		r >= 0xf900 && r <= 0xfaff, // CJK compatibility
		r >= 0xff66 && r <= 0xff9d, // half-width katakana
		r >= 0x20000 && r <= 0x2ffff:
		return true
	}
	return false
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// scanWord reads the word starting at b[i] and returns the index after it.
func (z *tz) scanWord(p prefix, b []byte, i int, mode textMode) int {
	start := i
	w := z.word[:0]
	runes := 0
	hasAt := false
	limit := z.o.MaxWordLen
	if b[i] == '$' {
		w = append(w, '$')
		i++
	}
loop:
	for i < len(b) {
		c := b[i]
		if c < 0x80 {
			switch asciiClass[c] {
			case cLower, cDigit:
			case cUpper:
				c += 'a' - 'A'
			case cConn:
				if i+1 >= len(b) || !wordStart(b[i+1:], mode) {
					break loop
				}
				if c == ',' && (i == start || !isDigit(b[i-1]) || !isDigit(b[i+1])) {
					break loop // a comma joins only digit groups: 1,000
				}
				if c == '@' {
					hasAt = true
				}
			default:
				break loop
			}
			if runes < limit+1 {
				w = append(w, c)
			}
			runes++
			i++
			continue
		}
		if mode == textDBCS && c >= 0x81 && i+1 < len(b) && b[i+1] >= 0x40 {
			break // a double-byte character
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			if runes < limit+1 {
				w = append(w, c)
			}
			runes++
			i++
			continue
		}
		if isNoSpace(r) || !isWordRune(r) {
			break
		}
		if r >= 0xff01 && r <= 0xff5e { // full-width ASCII
			r -= 0xfee0
		}
		if runes < limit+1 {
			w = utf8.AppendRune(w, unicode.ToLower(r))
		}
		runes++
		i += size
	}
	z.word = w
	// A URL: scheme "://" host…
	if i+3 <= len(b) && b[i] == ':' && b[i+1] == '/' && b[i+2] == '/' {
		if s := string(w); s == "http" || s == "https" || s == "ftp" {
			return z.url(p, s, b, i+3)
		}
	}
	if runes > 4 && bytes.HasPrefix(w, []byte("www.")) && runes <= limit {
		return z.url(p, "", b, start)
	}
	switch {
	case runes > limit:
		z.skipToken(w, runes)
		z.wordToken(p, z.word2)
	case hasAt:
		z.email(w)
	case runes < 2 && (len(w) < 2 || w[0] < 0x80):
		// single ASCII characters say nothing
	default:
		fw := foldNumbers(w, &z.word2)
		z.wordToken(p, fw)
	}
	return i
}

// wordStart reports whether b starts with a word character.
func wordStart(b []byte, mode textMode) bool {
	c := b[0]
	if c < 0x80 {
		k := asciiClass[c]
		return k == cLower || k == cUpper || k == cDigit
	}
	if mode == textDBCS {
		return false
	}
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size == 1 {
		return true
	}
	return !isNoSpace(r) && isWordRune(r)
}

// skipToken puts into z.word2 the stand-in of an over-long word: its first
// character and its length rounded down to ten.
func (z *tz) skipToken(w []byte, runes int) {
	_, size := utf8.DecodeRune(w)
	z.word2 = append(append(append(z.word2[:0], "skip:"...), w[:size]...), ' ')
	z.word2 = strconv.AppendInt(z.word2, int64(runes/10*10), 10)
}

// foldNumbers replaces each run of three or more digits by '#' and the
// run's length (9 at most): "2002" → "#4", "1-800-555-1212" →
// "1-#3-#3-#4". It returns w itself when there is nothing to fold.
func foldNumbers(w []byte, scratch *[]byte) []byte {
	run, long := 0, false
	for _, c := range w {
		if c >= '0' && c <= '9' {
			run++
			if run >= 3 {
				long = true
				break
			}
		} else {
			run = 0
		}
	}
	if !long {
		return w
	}
	out := (*scratch)[:0]
	for i := 0; i < len(w); {
		j := i
		for j < len(w) && w[j] >= '0' && w[j] <= '9' {
			j++
		}
		switch {
		case j-i >= 3:
			out = append(out, '#', byte('0'+min(j-i, 9)))
			i = j
		case j > i:
			out = append(out, w[i:j]...)
			i = j
		default:
			out = append(out, w[i])
			i++
		}
	}
	*scratch = out
	return out
}

// email adds the tokens of an address found in text: its domain and its
// local part.
func (z *tz) email(w []byte) {
	at := bytes.LastIndexByte(w, '@')
	local, dom := w[:at], bytes.Trim(w[at+1:], ".-")
	if len(local) == 0 || bytes.IndexByte(dom, '.') < 0 {
		z.wordToken(pBody, foldNumbers(w, &z.word2))
		return
	}
	z.add(pEmail, dom)
	z.add(pEmail, []byte("local:"+string(foldNumbers(local, &z.word2))))
}

// scanNoSpace reads a run of characters of scripts without spaces and adds
// its character bigrams (the character itself for a run of one).
func (z *tz) scanNoSpace(p prefix, b []byte, i int, mode textMode) int {
	prev, n := -1, 0
	for i < len(b) && !z.full {
		var size int
		if c := b[i]; mode == textDBCS && c >= 0x81 {
			if i+1 >= len(b) || b[i+1] < 0x40 {
				break
			}
			size = 2
		} else {
			r, s := utf8.DecodeRune(b[i:])
			if !isNoSpace(r) {
				break
			}
			size = s
		}
		if prev >= 0 {
			z.wordToken(p, b[prev:i+size])
		}
		prev = i
		i += size
		n++
	}
	if n == 1 {
		z.wordToken(p, b[prev:i])
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
