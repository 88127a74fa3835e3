package expr

import (
	"errors"
	"slices"
	"testing"
)

// FuzzParse checks Parse on arbitrary input: it never panics; an error is a
// *SyntaxError whose offset lies within the input; an accepted expression
// prints (String) to a canonical form that parses again to the same form,
// with the same symbols, and that evaluates the same way under every
// assignment of its first symbols.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SPF_FAIL && !DKIM_VALID && BAYES_SPAM",
		"(A || B) && not C",
		"2 of (A, B && C, !D,)",
		"A and B or C",
		"!!(A)",
		"1 of (1 of (A))",
		"A &",
		"3 of (A, B)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %v is not a *SyntaxError", s, err)
			}
			if se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("Parse(%q) error offset %d outside [0, %d]", s, se.Offset, len(s))
			}
			return
		}
		canon := e.String()
		e2, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", s, canon, err)
		}
		if got := e2.String(); got != canon {
			t.Fatalf("String not canonical: %q → %q → %q", s, canon, got)
		}
		if !slices.Equal(e.Symbols(), e2.Symbols()) {
			t.Fatalf("symbols %q, after reparsing %q", e.Symbols(), e2.Symbols())
		}
		for _, name := range e.Symbols() {
			if !ValidSymbol(name) {
				t.Fatalf("accepted invalid symbol %q", name)
			}
		}
		k := min(len(e.Symbols()), 6)
		for mask := range 1 << k {
			has := func(i int) bool { return i < k && mask&(1<<i) != 0 }
			if a, b := e.Eval(has), e2.Eval(has); a != b {
				t.Fatalf("%q and %q disagree under mask %b: %v, %v", s, canon, mask, a, b)
			}
		}
	})
}
