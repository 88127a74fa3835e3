package rules

import (
	"regexp/syntax"
	"unicode"
	"unicode/utf8"
)

// maxWindow is the widest match (in bytes) for which a regex is run on
// windows around its literals rather than on the whole text.
const maxWindow = 512

// matchWidth returns the most bytes a match of re can span, or -1 when it
// is unbounded or wider than maxWindow, or when re uses an assertion that
// a window would change (^, $, \A, \z, and their multi-line forms). Word
// boundaries are kept: windows end where the boundary is the same as in
// the whole text (see windows).
func matchWidth(re *syntax.Regexp) int {
	w := width(re.Simplify())
	if w > maxWindow {
		return -1
	}
	return w
}

// width returns the widest match of re in bytes, or a value over
// maxWindow when it is unbounded or has an assertion windows would break.
func width(re *syntax.Regexp) int {
	const unbounded = maxWindow + 1
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += runeWidth(r, re.Flags&syntax.FoldCase != 0)
		}
		return n
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return 0
		}
		return utf8.RuneLen(min(re.Rune[len(re.Rune)-1], utf8.MaxRune))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax
	case syntax.OpEmptyMatch, syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpNoMatch:
		return 0
	case syntax.OpCapture, syntax.OpQuest:
		return width(re.Sub[0])
	case syntax.OpRepeat:
		if re.Max < 0 {
			return unbounded
		}
		return min(unbounded, re.Max*width(re.Sub[0]))
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n = min(unbounded, n+width(s))
		}
		return n
	case syntax.OpAlternate:
		n := 0
		for _, s := range re.Sub {
			n = max(n, width(s))
		}
		return n
	}
	// OpStar, OpPlus, line and text anchors.
	return unbounded
}

// runeWidth is the most bytes r takes in UTF-8, over its case variants
// when fold is set.
func runeWidth(r rune, fold bool) int {
	n := utf8.RuneLen(r)
	if n < 0 {
		n = utf8.UTFMax
	}
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			n = max(n, utf8.RuneLen(f))
		}
	}
	return n
}
