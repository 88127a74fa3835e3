package rules

import (
	"regexp/syntax"
	"unicode"
)

// phrase is one literal a phrase regex matches: the folded text and
// whether a word boundary must hold before and after it.
type phrase struct {
	text          string
	before, after bool
}

// phrases returns, when re is a case-insensitive alternation of fixed
// phrases, each optionally between word boundaries (like
// `(?i)\bact now\b|\blimited time\b`), the phrases; nil otherwise. Such a
// regex matches a text exactly when one of its phrases occurs there, in
// any case, with its boundaries: the prefilter's occurrences decide the
// rule without running the regex.
func phrases(re *syntax.Regexp) []phrase {
	re = re.Simplify()
	var out []phrase
	var walk func(re *syntax.Regexp) bool
	walk = func(re *syntax.Regexp) bool {
		switch re.Op {
		case syntax.OpCapture:
			return walk(re.Sub[0])
		case syntax.OpAlternate:
			for _, s := range re.Sub {
				if !walk(s) {
					return false
				}
			}
			return true
		}
		subs := []*syntax.Regexp{re}
		if re.Op == syntax.OpConcat {
			subs = re.Sub
		}
		var p phrase
		if len(subs) > 0 && subs[0].Op == syntax.OpWordBoundary {
			p.before, subs = true, subs[1:]
		}
		if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpWordBoundary {
			p.after, subs = true, subs[:len(subs)-1]
		}
		if len(subs) == 0 {
			return false
		}
		for _, s := range subs {
			if !foldClosed(s) {
				return false
			}
		}
		body := &syntax.Regexp{Op: syntax.OpConcat, Sub: subs}
		if len(subs) == 1 {
			body = subs[0]
		}
		info := analyze(body)
		if info.exact == nil || len(out)+len(info.exact) > 4*maxExact {
			return false
		}
		for _, s := range info.exact {
			if s == "" {
				return false
			}
			out = append(out, phrase{text: s, before: p.before, after: p.after})
		}
		return true
	}
	if !walk(re) {
		return nil
	}
	return out
}

// foldClosed reports whether re matches the same texts whatever their
// case, and uses no assertions: every literal is case-folded (or has no
// letters with case) and every character class holds all case variants
// of its runes.
func foldClosed(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return true
		}
		for _, r := range re.Rune {
			if unicode.SimpleFold(r) != r {
				return false
			}
		}
		return true
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > 2*maxClassSz {
				return false
			}
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					if !inClass(re.Rune, f) {
						return false
					}
				}
			}
		}
		return true
	case syntax.OpCapture, syntax.OpQuest:
		return foldClosed(re.Sub[0])
	case syntax.OpConcat, syntax.OpAlternate:
		for _, s := range re.Sub {
			if !foldClosed(s) {
				return false
			}
		}
		return true
	case syntax.OpEmptyMatch:
		return true
	}
	return false
}

// inClass reports whether r is in the class ranges.
func inClass(ranges []rune, r rune) bool {
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] <= r && r <= ranges[i+1] {
			return true
		}
	}
	return false
}
