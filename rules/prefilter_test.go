package rules

import (
	"context"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
)

func TestRequiredLiterals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		re   string
		want []string // nil: no prefilter
	}{
		{`viagra`, []string{"VIAGRA"}},
		{`(?i)\bviagra\b`, []string{"VIAGRA"}},
		{`foo|bar`, []string{"FOO", "BAR"}},
		{`colou?r`, []string{"COLOR", "COLOUR"}},
		{`[Vv]iagra`, []string{"VIAGRA"}},
		{`click (here|below) now`, []string{"CLICK HERE NOW", "CLICK BELOW NOW"}},
		{`\d+ dollars`, []string{" DOLLARS"}},
		{`abc.*defgh`, []string{"DEFGH"}},
		{`(?:abc)+`, []string{"ABC"}},
		{`x{2,}`, nil}, // "X" is too short to filter
		{`(?i)kk{1,3}`, []string{"KK", "KKK", "KKKK"}},
		{`a|b*`, nil},
		{`.*`, nil},
		{`[a-z]+`, nil},
		{`^https?://(?:www\.)?bit\.ly/`, []string{"HTTP://BIT.LY/", "HTTPS://BIT.LY/", "HTTP://WWW.BIT.LY/", "HTTPS://WWW.BIT.LY/"}},
		{`^https?://\d+\.\d+`, nil}, // only "HTTP://", which every URI holds, and "."
		{`a.b`, nil},
		{`(?i)stra(ss|ß)e`, []string{"STRASSE", "STRAßE"}},
		{`(?i)k`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.re, func(t *testing.T) {
			t.Parallel()
			re, err := syntax.Parse(tt.re, syntax.Perl)
			if err != nil {
				t.Fatal(err)
			}
			got := requiredLiterals(re)
			if (got == nil) != (tt.want == nil) || !sameSet(got, tt.want) {
				t.Errorf("requiredLiterals(%q) = %q, want %q", tt.re, got, tt.want)
			}
		})
	}
}

func mustParse(t *testing.T, re string) *syntax.Regexp {
	t.Helper()
	r, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func phraseTexts(ps []phrase) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.text)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestPhrases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		re   string
		want []phrase
	}{
		{`(?i)\bact now\b|limited time\b`, []phrase{{"ACT NOW", true, true}, {"LIMITED TIME", false, true}}},
		{`(?i)\bopt[- ]?out\b`, []phrase{{"OPT-OUT", true, true}, {"OPT OUT", true, true}, {"OPTOUT", true, true}}},
		{`(?i)don['’]t`, []phrase{{"DON'T", false, false}, {"DON’T", false, false}}},
		{`act now`, nil},          // case-sensitive: folded literals would over-match
		{`(?i)act\d`, nil},        // a digit class is too large
		{`(?i)act.now`, nil},      // any character
		{`(?i)^act now`, nil},     // an anchor
		{`(?i)act \bnow`, nil},    // a boundary inside
		{`(?i)\d\d dollars`, nil}, // not a fixed phrase
		{`[Aa][Cc][Tt]`, []phrase{{"ACT", false, false}}},
		{`[Aa]ct`, nil}, // "ct" is case-sensitive
		{`[Ab]ct`, nil}, // a class that is not closed under case folding
	}
	for _, tt := range tests {
		t.Run(tt.re, func(t *testing.T) {
			t.Parallel()
			got := phrases(mustParse(t, tt.re))
			if (got == nil) != (tt.want == nil) || !sameSet(phraseTexts(got), phraseTexts(tt.want)) ||
				!slices.EqualFunc(got, tt.want, func(a, b phrase) bool { return a.before == b.before && a.after == b.after }) {
				t.Errorf("phrases(%q) = %+v, want %+v", tt.re, got, tt.want)
			}
		})
	}
}

func TestMatchWidth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		re   string
		want int
	}{
		{`abc`, 3},
		{`(?i)abc`, 3},
		{`(?i)k`, 3}, // the Kelvin sign is 3 bytes
		{`é`, 2},
		{`a{2,5}`, 5},
		{`a|bcd`, 3},
		{`\bab?\b`, 2},
		{`.`, 4},
		{`a+`, -1},
		{`a*`, -1},
		{`^abc`, -1},
		{`abc$`, -1},
		{`(?m)^abc`, -1},
		{`x{1000}`, -1},
	}
	for _, tt := range tests {
		t.Run(tt.re, func(t *testing.T) {
			t.Parallel()
			if got := matchWidth(mustParse(t, tt.re)); got != tt.want {
				t.Errorf("matchWidth(%q) = %d, want %d", tt.re, got, tt.want)
			}
		})
	}
}

// prefiltered compiles the patterns as raw rules of one set and returns
// which of them hit text through the prefilter.
func prefiltered(t testing.TB, patterns []string, text []byte) ([]bool, []*regexp.Regexp) {
	var rules []*rule
	var res []*regexp.Regexp
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, nil
		}
		rules = append(rules, &rule{kind: mRaw, re: re})
		res = append(res, re)
	}
	rs := &RuleSet{rules: rules, budget: DefaultBudget().withDefaults()}
	rs.buildScopes()
	x := &matcher{rs: rs, raw: text, ctx: context.Background(), hits: make([]bool, len(rules))}
	got := make([]bool, len(rules))
	for i, r := range rules {
		got[i] = x.eval(r)
	}
	return got, res
}

// FuzzPrefilter checks that the prefilter never changes a regex's answer:
// whether a rule hits through literals, windows and phrases must be what
// the regex alone says of the whole text. Two patterns share one scanner,
// as rules of a set do.
func FuzzPrefilter(f *testing.F) {
	seeds := []struct{ a, b, text string }{
		{`(?i)\bact now\b`, `limited time`, "please ACT NOW, limited time only"},
		{`(?i)\bact now\b`, `xact now`, "react now"},
		{`\$[1-9]\d{0,2},\d{3},\d{3}\b`, `(?i)\b(?:us\$|usd) ?\d`, "win $12,500,000 or USD 5"},
		{`(?i)k`, `(?i)stra(ss|ß)e`, "\u212a STRASSE straße"},
		{`(?i)\bopt[- ]?out\b`, `(?i)don['’]t delay`, "to optout click; don’t delay"},
		{`ab.{0,5}cd`, `(?i)é`, "xxab123cdxx É"},
		{`(?i)\bfree\b`, `(?i)\bmoney\b`, "free free free free free free free free free free free free free free free free free free money"},
		{`a\b`, `\Bb`, "a ab"},
		{`(?i)remove`, `(?s)click.{0,3}here`, "REMOVE click\nhere"},
	}
	for _, s := range seeds {
		f.Add(s.a, s.b, s.text)
	}
	f.Fuzz(func(t *testing.T, a, b, text string) {
		if len(a) > 200 || len(b) > 200 || len(text) > 4096 {
			return
		}
		got, res := prefiltered(t, []string{a, b}, []byte(text))
		for i, re := range res {
			if want := re.MatchString(text); got[i] != want {
				t.Fatalf("pattern %q on %q: prefiltered %v, regexp %v", re, text, got[i], want)
			}
		}
	})
}

func TestPrefilterAgrees(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, text string
	}{
		{`(?i)\bviagra\b`, "buy Viagra now"},
		{`(?i)\bviagra\b`, "viagras"},
		{`(?i)\bviagra\b`, "x viagra_"},
		{`(?i)\bviagra\b`, "[viagra]"},
		{`click here`, "Click here"},
		{`(?i)é`, "É"},
		{`(?i)\bs`, "ſ"},
		{`\bab`, "xab ab"},
		{`ab\b`, "abx ab."},
		{`(?i)\bone[- ]time (?:mailing|e-?mail)`, "a one-time e-mail"},
		// More occurrences than the scanner records: the match is past them.
		{`(?i)\bfree\d`, strings.Repeat("free ", maxPositions+10) + "free7"},
		{`(?i)\bfree\b`, strings.Repeat("freedom ", maxPositions+10) + "free"},
		{`(?i)\bfree\b`, strings.Repeat("freedom ", maxPositions+10)},
	}
	for _, tt := range tests {
		got, res := prefiltered(t, []string{tt.pattern}, []byte(tt.text))
		if want := res[0].MatchString(tt.text); got[0] != want {
			t.Errorf("%q on %q: prefiltered %v, regexp %v", tt.pattern, tt.text, got[0], want)
		}
	}
}
