package rules

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// compileYAML compiles one rule file named test.yaml.
func compileYAML(t *testing.T, y string, opts Options) (*RuleSet, error) {
	t.Helper()
	return Compile(nil, []File{{Name: "test.yaml", Data: []byte(y)}}, opts)
}

// mustCompile compiles one rule file and fails the test on error.
func mustCompile(t *testing.T, y string) *RuleSet {
	t.Helper()
	rs, err := compileYAML(t, y, Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return rs
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // error lines, as regexes
	}{
		{"invalid YAML", "rules:\n  - symbol: A\n    score: 1\n    body: x: y\n", []string{`^test.yaml:4: invalid YAML: mapping values are not allowed in this context$`}},
		{"two documents", "rules: []\n---\nrules: []\n", []string{`^test.yaml:2: only one YAML document is allowed$`}},
		{"top level not a mapping", "- a\n", []string{`^test.yaml:1: want a mapping with a "rules" list, got a list$`}},
		{"unknown top-level key", "rule:\n  - {}\n", []string{`^test.yaml:1: unknown key "rule" \(want "rules"\)$`}},
		{"rules not a list", "rules: 3\n", []string{`^test.yaml:1: rules: want a list of rules, got 3$`}},
		{"rule not a mapping", "rules:\n  - GTUBE\n", []string{`^test.yaml:2: a rule must be a mapping, got "GTUBE"$`}},
		{
			"unknown key",
			"rules:\n  - symbol: A\n    score: 1\n    description: d\n    bodyy: x\n",
			[]string{`^test.yaml:5: rule A: unknown key "bodyy" \(want one of symbol, score, description, shadow, header, body, raw, uri, attachment, size, test, expr\)$`},
		},
		{
			"bad regex at its line",
			"rules:\n  - symbol: A\n    score: 1\n    description: d\n    header:\n      name: Subject\n      regex: 'a(b'\n",
			[]string{`^test.yaml:7: rule A: header: bad regex: missing closing \): .*`},
		},
		{
			"bad expression with the file column",
			"rules:\n  - symbol: A\n    score: 1\n    description: d\n    expr: 'B && (C || spf_fail)'\n",
			[]string{`^test.yaml:5: rule A: expr: bad expression at column 23: "spf_fail" is not a symbol name`},
		},
		{
			"bad expression in a block scalar gives the offset",
			"rules:\n  - symbol: A\n    score: 1\n    description: d\n    expr: >\n      B &&\n      C )\n",
			[]string{`^test.yaml:5: rule A: expr: bad expression at offset 7 of the expression: unexpected "\)"`},
		},
		{"invalid symbol", "rules:\n  - {symbol: Not-Snake, score: 1, description: d, body: x}\n", []string{`^test.yaml:2: symbol "Not-Snake" is not a valid name`}},
		{"reserved symbol", "rules:\n  - {symbol: RULES_BUDGET_EXCEEDED, score: 1, description: d, body: x}\n", []string{`^test.yaml:2: symbol RULES_BUDGET_EXCEEDED is reserved$`}},
		{"symbol not a string", "rules:\n  - {symbol: 12, score: 1, description: d, body: x}\n", []string{`^test.yaml:2: symbol: want a string, got 12$`}},
		{"no symbol", "rules:\n  - {score: 1, description: d, body: x}\n", []string{`^test.yaml:2: rule without a symbol$`}},
		{
			"two matchers",
			"rules:\n  - symbol: A\n    score: 1\n    description: d\n    body: x\n    raw: y\n",
			[]string{`^test.yaml:6: rule A: two matchers in one rule: body \(line 5\) and raw; a rule has exactly one$`},
		},
		{"no matcher", "rules:\n  - {symbol: A, score: 1, description: d}\n", []string{`^test.yaml:2: rule A: no matcher: want one of header, body, .*`}},
		{"missing score", "rules:\n  - {symbol: A, description: d, body: x}\n", []string{`^test.yaml:2: rule A: missing score$`}},
		{"missing description", "rules:\n  - {symbol: A, score: 1, body: x}\n", []string{`^test.yaml:2: rule A: missing description$`}},
		{"score not a number", "rules:\n  - {symbol: A, score: high, description: d, body: x}\n", []string{`^test.yaml:2: rule A: score: want a number, got "high"$`}},
		{"score not finite", "rules:\n  - {symbol: A, score: .inf, description: d, body: x}\n", []string{`^test.yaml:2: rule A: score: want a finite number, got ".inf"$`}},
		{"shadow not a bool", "rules:\n  - {symbol: A, score: 1, description: d, body: x, shadow: yes please}\n", []string{`^test.yaml:2: rule A: shadow: want true or false`}},
		{"helper with a score", "rules:\n  - {symbol: __H, score: 1, body: x}\n", []string{`^test.yaml:2: rule __H: a helper rule .* has no score$`}},
		{"helper in shadow", "rules:\n  - {symbol: __H, shadow: true, body: x}\n", []string{`^test.yaml:2: rule __H: a helper rule .* cannot be shadow$`}},
		{
			"duplicate symbol",
			"rules:\n  - {symbol: A, score: 1, description: d, body: x}\n  - {symbol: A, score: 2, description: d, body: y}\n",
			[]string{`^test.yaml:3: rule A: duplicate symbol \(first defined at test.yaml:2\)$`},
		},
		{"duplicate key", "rules:\n  - symbol: A\n    symbol: B\n    score: 1\n    description: d\n    body: x\n", []string{`^test.yaml:3: symbol: already set at line 2$`}},
		{"regex matching everything", "rules:\n  - {symbol: A, score: 1, description: d, body: 'x*'}\n", []string{`^test.yaml:2: rule A: body: regex "x\*" matches the empty string, so it would hit every message$`}},
		{"header field name", "rules:\n  - {symbol: A, score: 1, description: d, header: {name: 'Sub ject', regex: x}}\n", []string{`^test.yaml:2: rule A: header: name: "Sub ject" is not a header field name$`}},
		{"header without regex", "rules:\n  - {symbol: A, score: 1, description: d, header: {name: Subject}}\n", []string{`^test.yaml:2: rule A: header: missing regex$`}},
		{
			"attachment with an unknown key",
			"rules:\n  - {symbol: A, score: 1, description: d, attachment: {filename: x}}\n",
			[]string{`^test.yaml:2: rule A: attachment: unknown key "filename" \(want name or type\)$`},
		},
		{
			"size bounds reversed",
			"rules:\n  - symbol: A\n    score: 1\n    description: d\n    size: {min: 10, max: 5}\n",
			[]string{`^test.yaml:5: rule A: size: min 10 is greater than max 5$`},
		},
		{"size not whole", "rules:\n  - {symbol: A, score: 1, description: d, size: {max: 1.5}}\n", []string{`^test.yaml:2: rule A: size: max: want a whole number of bytes, got 1.5$`}},
		{"size without bounds", "rules:\n  - {symbol: A, score: 1, description: d, size: {}}\n", []string{`^test.yaml:2: rule A: size: want min, max or both$`}},
		{"unknown test", "rules:\n  - {symbol: A, score: 1, description: d, test: html_size}\n", []string{`^test.yaml:2: rule A: test: unknown test "html_size" \(want one of from_name_spoof, html_only, .*\)$`}},
		{
			"expression cycle",
			"rules:\n  - {symbol: A, score: 1, description: d, expr: B}\n  - {symbol: B, score: 1, description: d, expr: 'C || X'}\n  - {symbol: C, score: 1, description: d, expr: A}\n",
			[]string{`^test.yaml:2: rule A: expressions refer to each other in a cycle: A → B → C → A$`},
		},
		{
			"non-shadow rule referring to a shadow rule",
			"rules:\n  - {symbol: A, score: 1, description: d, body: x, shadow: true}\n  - {symbol: B, score: 1, description: d, expr: A}\n",
			[]string{`^test.yaml:3: rule B: expression refers to shadow rule A; only a shadow rule may .*`},
		},
		{"undefined helper", "rules:\n  - {symbol: A, score: 1, description: d, expr: __NOPE}\n", []string{`^test.yaml:2: rule A: expression refers to helper __NOPE, which no rule defines$`}},
		{
			"several problems, in line order",
			"rules:\n  - {symbol: A, score: 1, description: d, raw: '('}\n  - {symbol: b, score: 1, description: d, body: x}\n  - {symbol: C, score: 1, body: y}\n",
			[]string{`^test.yaml:2: rule A: raw: bad regex`, `^test.yaml:3: symbol "b" is not a valid name`, `^test.yaml:4: rule C: missing description$`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs, err := compileYAML(t, tt.yaml, Options{})
			if err == nil {
				t.Fatalf("Compile succeeded with %d rules, want an error", rs.Len())
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d error lines, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, l := range lines {
				if !regexp.MustCompile(tt.want[i]).MatchString(l) {
					t.Errorf("line %d = %q, want it to match %q", i, l, tt.want[i])
				}
			}
			var p Problem
			if !errors.As(err, &p) || p.File != "test.yaml" || p.Line < 1 {
				t.Errorf("error is not a Problem with a file and line: %#v", p)
			}
		})
	}
}

func TestLoadOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("b.yaml", "rules:\n  - {symbol: GTUBE, score: 5, description: mine, body: gtube}\n")
	write("a.yml", "rules:\n  - {symbol: MINE, score: 1, description: d, expr: GTUBE && SPF_FAIL}\n")
	write("ignored.txt", "not rules")
	empty := write("empty.yaml", "")

	t.Run("user rule replaces the default rule of the same symbol", func(t *testing.T) {
		t.Parallel()
		rs, err := Load(Options{Defaults: true, Paths: []string{dir}})
		if err != nil {
			t.Fatal(err)
		}
		r, ok := rs.Lookup("GTUBE")
		if !ok || r.Score != 5 || r.Description != "mine" || r.File != filepath.Join(dir, "b.yaml") {
			t.Errorf("GTUBE = %+v", r)
		}
		if _, ok := rs.Lookup("MINE"); !ok {
			t.Error("MINE not loaded")
		}
		if got := rs.ExternalSymbols(); !slices.Equal(got, []string{"SPF_FAIL"}) {
			t.Errorf("ExternalSymbols = %q", got)
		}
		defaults, err := DefaultFiles()
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range defaults {
			want = append(want, f.Name)
		}
		want = append(want, filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml"), empty)
		if files := rs.Files(); !slices.Equal(files, want) {
			t.Errorf("Files = %q, want %q (the defaults, then the directory in name order)", files, want)
		}
	})
	t.Run("disable", func(t *testing.T) {
		t.Parallel()
		rs, err := Load(Options{Defaults: true, Disable: []string{"URI_SHORTENER", "SUBJ_ALL_CAPS"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rs.Lookup("URI_SHORTENER"); ok {
			t.Error("URI_SHORTENER still loaded")
		}
		_, err = Load(Options{Defaults: true, Disable: []string{"NO_SUCH_RULE"}})
		if err == nil || err.Error() != "disable: no rule NO_SUCH_RULE" {
			t.Errorf("disabling an unknown rule: %v", err)
		}
	})
	t.Run("disabling a rule an expression needs", func(t *testing.T) {
		t.Parallel()
		_, err := Load(Options{Defaults: true, Paths: []string{dir}, Disable: []string{"GTUBE"}})
		if err == nil || !strings.Contains(err.Error(), "rule MINE: expression refers to disabled rule GTUBE") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("known symbols", func(t *testing.T) {
		t.Parallel()
		_, err := Load(Options{Paths: []string{filepath.Join(dir, "a.yml")}, KnownSymbols: []string{"GTUBE"}})
		if err == nil || !strings.Contains(err.Error(), "a.yml:2: rule MINE: expression refers to unknown symbol SPF_FAIL") {
			t.Errorf("err = %v", err)
		}
		if _, err := Load(Options{Paths: []string{filepath.Join(dir, "a.yml")}, KnownSymbols: []string{"GTUBE", "SPF_FAIL"}}); err != nil {
			t.Error(err)
		}
	})
	t.Run("duplicate across user files", func(t *testing.T) {
		t.Parallel()
		_, err := Load(Options{Paths: []string{filepath.Join(dir, "b.yaml"), filepath.Join(dir, "b.yaml")}})
		if err == nil || !strings.Contains(err.Error(), "b.yaml:2: rule GTUBE: duplicate symbol (first defined at ") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		rs, err := Load(Options{Paths: []string{empty}})
		if err != nil || rs.Len() != 0 {
			t.Errorf("Load(empty) = %v rules, %v", rs, err)
		}
	})
	t.Run("missing path", func(t *testing.T) {
		t.Parallel()
		if _, err := Load(Options{Paths: []string{filepath.Join(dir, "nope.yaml")}}); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want ErrNotExist", err)
		}
	})
}

// TestDefaultSet checks that the embedded set compiles, that every rule
// but helpers has a description, and that every body and raw rule has a
// prefilter or starts with a literal that Go's regexp skips to (a rule
// with neither runs its regex at full cost over every message, which the
// default set's speed target does not allow).
func TestDefaultSet(t *testing.T) {
	t.Parallel()
	rs, err := Default(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rs.Len() < 30 {
		t.Errorf("default set has %d rules", rs.Len())
	}
	for _, r := range rs.rules {
		if !r.helper && (r.info.Description == "" || r.info.Score == 0) {
			t.Errorf("%s: no description or score", r.info.Symbol)
		}
		if r.kind == mBody || r.kind == mRaw {
			if prefix, _ := r.re.LiteralPrefix(); r.lits == nil && prefix == "" {
				t.Errorf("%s: no literal prefilter and no literal prefix", r.info.Symbol)
			}
		}
		if r.info.Shadow {
			t.Errorf("%s: shadow in the default set", r.info.Symbol)
		}
	}
	if ext := rs.ExternalSymbols(); len(ext) != 0 {
		t.Errorf("default set refers to symbols of other checks: %q", ext)
	}
}
