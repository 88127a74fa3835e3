package rules

import (
	"unicode"
	"unicode/utf8"
)

// Case folding for the literal prefilter. Text and literals are both mapped
// rune by rune to a canonical member of the rune's case-folding orbit (the
// smallest one, so ASCII letters become upper case and 'k', 'K' and the
// Kelvin sign all become 'K'). Because the mapping works rune by rune, a
// text that contains a literal, in any case, still contains the folded
// literal once both are folded: the prefilter never hides a match.

// foldRune returns the smallest rune of r's simple case-folding orbit.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// foldString folds a literal.
func foldString(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = utf8.AppendRune(b, foldRune(r))
	}
	return string(b)
}

// asciiFold maps each byte to its folded form for ASCII text (upper-case
// letters); bytes from 0x80 are left as they are.
var asciiFold = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'a' <= i && i <= 'z' {
			t[i] = byte(i - 'a' + 'A')
		}
	}
	return t
}()

// foldNonASCII returns b folded rune by rune into dst (reusing its storage,
// copied true) when b holds bytes outside ASCII, and b itself otherwise
// (copied false): the scanner folds ASCII on the fly. Invalid UTF-8 bytes
// are copied unchanged. When it copies, it also fills posMap (reusing its
// storage) so that posMap[i] is the index in b of the start of the unit
// (rune or invalid byte) that folded byte i comes from, and
// posMap[len(out)] is len(b).
func foldNonASCII(dst, b []byte, posMap []int32) (out []byte, copied bool, pm []int32) {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return b, false, posMap
	}
	dst, posMap = dst[:0], posMap[:0]
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, asciiFold[c])
			posMap = append(posMap, int32(i))
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			dst = append(dst, c)
			posMap = append(posMap, int32(i))
			i++
			continue
		}
		before := len(dst)
		dst = utf8.AppendRune(dst, foldRune(r))
		for range len(dst) - before {
			posMap = append(posMap, int32(i))
		}
		i += n
	}
	posMap = append(posMap, int32(len(b)))
	return dst, true, posMap
}
