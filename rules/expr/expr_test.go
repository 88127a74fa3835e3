package expr

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// evalWith evaluates e with the named symbols present.
func evalWith(e *Expr, present ...string) bool {
	return e.Eval(func(i int) bool { return slices.Contains(present, e.Symbols()[i]) })
}

func TestParseAndEval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		canon string
		syms  []string
		true_ [][]string // symbol sets for which the expression is true
		false [][]string // and false
	}{
		{
			name: "single symbol", in: "GTUBE", canon: "GTUBE", syms: []string{"GTUBE"},
			true_: [][]string{{"GTUBE"}}, false: [][]string{{}, {"OTHER"}},
		},
		{
			name: "the issue's example", in: "SPF_FAIL && !DKIM_VALID && BAYES_SPAM",
			canon: "SPF_FAIL && !DKIM_VALID && BAYES_SPAM", syms: []string{"SPF_FAIL", "DKIM_VALID", "BAYES_SPAM"},
			true_: [][]string{{"SPF_FAIL", "BAYES_SPAM"}},
			false: [][]string{{"SPF_FAIL", "DKIM_VALID", "BAYES_SPAM"}, {"SPF_FAIL"}, {}},
		},
		{
			name: "and binds tighter than or", in: "A || B && C", canon: "A || B && C",
			true_: [][]string{{"A"}, {"B", "C"}}, false: [][]string{{"B"}, {"C"}},
		},
		{
			name: "parentheses override precedence", in: "(A || B) && C", canon: "(A || B) && C",
			true_: [][]string{{"A", "C"}, {"B", "C"}}, false: [][]string{{"A"}, {"B"}, {"C"}},
		},
		{
			name: "keywords", in: "A and not B or C", canon: "A && !B || C",
			true_: [][]string{{"A"}, {"C"}, {"A", "B", "C"}}, false: [][]string{{"A", "B"}, {}},
		},
		{
			name: "not binds tighter than and", in: "!A && B", canon: "!A && B",
			true_: [][]string{{"B"}}, false: [][]string{{"A", "B"}, {}},
		},
		{
			name: "negated group", in: "!(A && B)", canon: "!(A && B)",
			true_: [][]string{{}, {"A"}}, false: [][]string{{"A", "B"}},
		},
		{
			name: "double negation", in: "not not A", canon: "!!A",
			true_: [][]string{{"A"}}, false: [][]string{{}},
		},
		{
			name: "count", in: "2 of (A, B, C)", canon: "2 of (A, B, C)", syms: []string{"A", "B", "C"},
			true_: [][]string{{"A", "B"}, {"A", "C"}, {"A", "B", "C"}}, false: [][]string{{"A"}, {"C"}, {}},
		},
		{
			name: "count of sub-expressions with a trailing comma", in: "1 of (A && B, !C,)", canon: "1 of (A && B, !C)",
			true_: [][]string{{}, {"A", "B", "C"}}, false: [][]string{{"C"}, {"A", "C"}},
		},
		{
			name: "count of all", in: "3 of (A, B, C) || D", canon: "3 of (A, B, C) || D",
			true_: [][]string{{"A", "B", "C"}, {"D"}}, false: [][]string{{"A", "B"}},
		},
		{
			name: "repeated symbol listed once", in: "A && (A || B)", canon: "A && (A || B)", syms: []string{"A", "B"},
			true_: [][]string{{"A"}}, false: [][]string{{"B"}},
		},
		{
			name: "white space and line breaks", in: "\tA\n&&\r\n  B ", canon: "A && B",
			true_: [][]string{{"A", "B"}}, false: [][]string{{"A"}},
		},
		{
			name: "helper names with leading underscores", in: "__HTML && _X1", canon: "__HTML && _X1",
			true_: [][]string{{"__HTML", "_X1"}}, false: [][]string{{"__HTML"}},
		},
		{
			name: "nested and inside and keeps its group", in: "A && (B && C)", canon: "A && (B && C)",
			true_: [][]string{{"A", "B", "C"}}, false: [][]string{{"A", "B"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := e.String(); got != tt.canon {
				t.Errorf("String() = %q, want %q", got, tt.canon)
			}
			if tt.syms != nil && !slices.Equal(e.Symbols(), tt.syms) {
				t.Errorf("Symbols() = %q, want %q", e.Symbols(), tt.syms)
			}
			for _, set := range tt.true_ {
				if !evalWith(e, set...) {
					t.Errorf("false with %q, want true", set)
				}
			}
			for _, set := range tt.false {
				if evalWith(e, set...) {
					t.Errorf("true with %q, want false", set)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		offset int
		msg    string
	}{
		{"empty", "", 0, "empty expression"},
		{"blank", "   ", 3, "empty expression"},
		{"lower-case symbol", "SPF_FAIL && dkim_valid", 12, `"dkim_valid" is not a symbol name`},
		{"mixed-case symbol", "Spf", 0, "is not a symbol name"},
		{"single ampersand", "A & B", 2, `must be written "&&"`},
		{"single bar", "A | B", 2, `must be written "||"`},
		{"missing operand", "A &&", 4, "unexpected end of expression"},
		{"two symbols", "A B", 2, `unexpected "B", want an operator`},
		{"unclosed parenthesis", "(A || B", 7, `want ")"`},
		{"extra closing parenthesis", "A)", 1, `unexpected ")"`},
		{"unknown character", "A && $B", 5, "unexpected character '$'"},
		{"digit-led name", "1ABC", 0, "cannot start with a digit"},
		{"count without of", "2 (A, B)", 2, `want "of"`},
		{"count without list", "2 of A", 5, `want "(" after "of"`},
		{"count too large", "3 of (A, B)", 0, "between 1 and the number of expressions listed (2)"},
		{"count zero", "0 of (A)", 0, "without leading zeros"},
		{"count overflow", "99999999999999999999999 of (A)", 0, "too large"},
		{"empty count list", "1 of ()", 6, `unexpected ")"`},
		{"missing comma", "1 of (A B)", 8, `want "," or ")"`},
		{"keyword as operand", "A && or", 5, `unexpected "or"`},
		{"only underscores", "__", 0, "is not a symbol name"},
		{"too deep", strings.Repeat("(", MaxDepth+1) + "A" + strings.Repeat(")", MaxDepth+1), MaxDepth, "nested more than"},
		{"too deep negation", strings.Repeat("!", MaxDepth+1) + "A", MaxDepth, "nested more than"},
		{"too long", strings.Repeat("A || ", MaxLen/5+1) + "A", MaxLen, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, %v; want a *SyntaxError", tt.in, e, err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("error at %d %q, want at %d containing %q", se.Offset, se.Msg, tt.offset, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "column ") {
				t.Errorf("Error() = %q, want it to start with the column", err)
			}
		})
	}
}

func TestValidSymbol(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"GTUBE": true, "SPF_FAIL": true, "__HELPER": true, "R2D2": true, "_X": true,
		"": false, "__": false, "2X": false, "lower": false, "A-B": false, "A B": false,
		strings.Repeat("A", 128): true, strings.Repeat("A", 129): false,
	} {
		if got := ValidSymbol(s); got != want {
			t.Errorf("ValidSymbol(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestEvalShortCircuits checks that Eval stops asking once the answer is
// known: a count stops when it is reached or can no longer be.
func TestEvalShortCircuits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		present []string
		asked   int
	}{
		{"A || B || C", []string{"A"}, 1},
		{"A && B && C", nil, 1},
		{"2 of (A, B, C, D)", []string{"A", "B"}, 2},
		{"3 of (A, B, C, D)", nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			asked := 0
			e.Eval(func(i int) bool {
				asked++
				return slices.Contains(tt.present, e.Symbols()[i])
			})
			if asked != tt.asked {
				t.Errorf("asked %d symbols, want %d", asked, tt.asked)
			}
		})
	}
}
