package rules

import (
	"regexp/syntax"
	"slices"
	"unicode/utf8"
)

// Literal prefilter. Go's regexp scans text that has no literal prefix at a
// few tens of nanoseconds per byte, so running every rule's regex over
// every message would cost milliseconds. Most regexes, though, can only
// match text that contains one of a few literal strings ("viagra",
// "click here", "bit.ly/"). requiredLiterals finds such a set; the matcher
// scans each text once for every rule's literals together (see scanner) and
// runs a regex only when one of its literals is present. The analysis is
// conservative: when it cannot prove a set, the regex always runs.

// Bounds of the analysis.
const (
	maxExact   = 16 // strings in an exact set
	maxLitLen  = 64 // bytes in one literal
	minUseful  = 2  // shortest literal worth filtering on
	maxClassSz = 4  // runes in a character class expanded to literals
)

// litInfo describes what a sub-expression matches: exact, when not nil, is
// every string it can match (folded); req, when not nil, is a set of
// strings one of which occurs in any match.
type litInfo struct {
	exact []string
	req   []string
}

// requiredLiterals returns folded strings one of which occurs in any text
// re matches, or nil when there is no useful such set.
func requiredLiterals(re *syntax.Regexp) []string {
	info := analyze(re.Simplify())
	set := info.required()
	if set == nil || quality(set) < minUseful {
		return nil
	}
	return set
}

// required returns the set of strings one of which must occur, or nil.
func (i litInfo) required() []string {
	if i.exact != nil {
		if slices.Contains(i.exact, "") {
			return nil
		}
		return i.exact
	}
	return i.req
}

// quality is the length of the shortest string of a set: a longer one
// filters better. A set holding a string found in nearly every message
// ("HTTP://", "WWW.") filters nothing and has quality 0.
func quality(set []string) int {
	if set == nil {
		return -1
	}
	q := maxLitLen + 1
	for _, s := range set {
		if commonLiteral(s) {
			return 0
		}
		q = min(q, len(s))
	}
	return q
}

// commonLiteral reports folded literals that nearly every message or URI
// holds.
func commonLiteral(s string) bool {
	switch s {
	case "HTTP", "HTTPS", "HTTP:", "HTTPS:", "HTTP://", "HTTPS://", "HTTP://WWW.", "HTTPS://WWW.", "WWW.",
		"FTP://", "MAILTO:", ".COM", ".NET", ".ORG", "://":
		return true
	}
	return false
}

// better returns whichever of two requirement sets filters more.
func better(a, b []string) []string {
	qa, qb := quality(a), quality(b)
	switch {
	case qa > qb:
		return a
	case qb > qa:
		return b
	case len(b) < len(a) && b != nil:
		return b
	}
	return a
}

func analyze(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpLiteral:
		s := foldString(string(re.Rune))
		if len(s) > maxLitLen {
			return litInfo{req: []string{s[:truncRune(s, maxLitLen)]}}
		}
		return litInfo{exact: []string{s}}
	case syntax.OpCharClass:
		return classInfo(re.Rune)
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return litInfo{exact: []string{""}}
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpQuest:
		sub := analyze(re.Sub[0])
		if sub.exact != nil && len(sub.exact) < maxExact {
			return litInfo{exact: union(sub.exact, []string{""})}
		}
		return litInfo{}
	case syntax.OpPlus:
		return litInfo{req: analyze(re.Sub[0]).required()}
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return litInfo{req: analyze(re.Sub[0]).required()}
		}
		return litInfo{}
	case syntax.OpConcat:
		return concatInfo(re.Sub)
	case syntax.OpAlternate:
		return alternateInfo(re.Sub)
	}
	// OpAnyChar, OpAnyCharNotNL, OpStar, OpNoMatch: nothing required.
	return litInfo{}
}

// truncRune returns the largest n <= max that does not split a rune of s.
func truncRune(s string, max int) int {
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return max
}

// classInfo expands a small character class into its folded runes.
func classInfo(ranges []rune) litInfo {
	var out []string
	n := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		n += int(ranges[i+1]-ranges[i]) + 1
		if n > 2*maxClassSz { // a folded pair counts twice
			return litInfo{}
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			s := string(foldRune(r))
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 || len(out) > maxClassSz {
		return litInfo{}
	}
	return litInfo{exact: out}
}

// concatInfo combines a sequence: adjacent exact parts multiply into longer
// exact strings; the requirement is the best of the parts' requirements and
// of the exact runs.
func concatInfo(subs []*syntax.Regexp) litInfo {
	var best []string
	run := []string{""} // exact strings of the current run of exact parts
	allExact := true
	for _, sub := range subs {
		info := analyze(sub)
		if info.exact != nil {
			if next := cross(run, info.exact); next != nil {
				run = next
				continue
			}
			// Too many strings: close the run, start again at this part.
			best = better(best, requiredOf(run))
			run, allExact = info.exact, false
			continue
		}
		allExact = false
		best = better(best, requiredOf(run))
		best = better(best, info.req)
		run = []string{""}
	}
	if allExact {
		return litInfo{exact: run}
	}
	return litInfo{req: better(best, requiredOf(run))}
}

// requiredOf returns an exact set as a requirement (nil if it holds "").
func requiredOf(exact []string) []string {
	return litInfo{exact: exact}.required()
}

// cross returns every a+b, or nil when that is more than maxExact strings
// or a string longer than maxLitLen.
func cross(a, b []string) []string {
	if len(a)*len(b) > maxExact {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			if len(x)+len(y) > maxLitLen {
				return nil
			}
			if s := x + y; !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// alternateInfo combines alternatives: exact if all are (and few), else
// the union of their requirements if each has one.
func alternateInfo(subs []*syntax.Regexp) litInfo {
	var exact, req []string
	allExact, allReq := true, true
	for _, sub := range subs {
		info := analyze(sub)
		if info.exact == nil {
			allExact = false
		} else if allExact {
			exact = union(exact, info.exact)
		}
		if r := info.required(); r != nil && allReq {
			req = union(req, r)
		} else {
			allReq = false
		}
	}
	if allExact && len(exact) <= maxExact {
		return litInfo{exact: exact}
	}
	if allReq {
		return litInfo{req: req}
	}
	return litInfo{}
}

// union returns a with the strings of b it lacks appended.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
