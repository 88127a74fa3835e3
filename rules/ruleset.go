package rules

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/moatmail/moat/rules/content"
	"github.com/moatmail/moat/rules/expr"
)

// BudgetSymbol is the symbol emitted when a message exhausted the matching
// budget (Budget) and some rules were not evaluated.
const BudgetSymbol = "RULES_BUDGET_EXCEEDED"

// Budget bounds the work of matching one message. Zero fields take their
// defaults (DefaultBudget).
type Budget struct {
	// Timeout stops matching once it has run this long (default 100ms;
	// the slowest development-corpus message takes about 4ms).
	Timeout time.Duration
	// MaxWork stops matching once the regexes have been given this many
	// bytes in total (default 16 MiB).
	MaxWork int64
	// MaxRaw is how much of the raw message raw rules see (default 512
	// KiB).
	MaxRaw int
	// Content bounds message decoding (see content.Limits).
	Content content.Limits
}

// DefaultBudget returns the budget used for zero fields.
func DefaultBudget() Budget {
	return Budget{Timeout: 100 * time.Millisecond, MaxWork: 16 << 20, MaxRaw: 512 << 10, Content: content.DefaultLimits()}
}

func (b Budget) withDefaults() Budget {
	d := DefaultBudget()
	if b.Timeout <= 0 {
		b.Timeout = d.Timeout
	}
	if b.MaxWork <= 0 {
		b.MaxWork = d.MaxWork
	}
	if b.MaxRaw <= 0 {
		b.MaxRaw = d.MaxRaw
	}
	return b
}

// File is one rule file's name (used in error messages) and content.
type File struct {
	Name string
	Data []byte
}

// Options says which rules to load.
type Options struct {
	// Defaults includes the embedded default rule set (DefaultFiles),
	// loaded before the files of Paths.
	Defaults bool
	// Paths are rule files, or directories whose *.yaml and *.yml files
	// are loaded in name order. A rule in these files whose symbol is
	// also a default rule's replaces the default rule.
	Paths []string
	// Disable lists rule symbols to leave out. Each must name a loaded
	// rule, and no remaining expression may refer to it.
	Disable []string
	// KnownSymbols, when not nil, lists the symbols other checks emit;
	// an expression referring to a name that is neither a rule nor in
	// this list is then an error. When nil, any such name is accepted
	// (ExternalSymbols lists them).
	KnownSymbols []string
	// Budget bounds matching per message.
	Budget Budget
}

// Rule describes one loaded rule.
type Rule struct {
	// Symbol is the rule's symbol name. Names starting with "__" are
	// helpers: usable in expressions, never emitted.
	Symbol string `json:"symbol"`
	// Score is the symbol's default score (the policy may override it).
	Score float64 `json:"score"`
	// Description is the symbol's reason text.
	Description string `json:"description,omitempty"`
	// Shadow rules are matched and reported but never emitted.
	Shadow bool `json:"shadow,omitempty"`
	// Kind is the matcher: header, body, raw, uri, attachment, size, test
	// or expr.
	Kind string `json:"kind"`
	// File and Line locate the rule.
	File string `json:"file"`
	Line int    `json:"line"`
}

// Helper reports whether the rule is a helper (symbol starting with "__").
func (r Rule) Helper() bool { return strings.HasPrefix(r.Symbol, "__") }

// RuleSet is a compiled set of rules. It is immutable and safe for
// concurrent use; a reload builds a new one and swaps it in (Check.Swap).
type RuleSet struct {
	rules    []*rule // content rules in file order, then expressions in dependency order
	bySymbol map[string]int
	external []string
	budget   Budget
	scopes   [numScopes]scope
	needText bool // some rule reads decoded content (not only size/raw/header)
	files    []string
}

// Len returns the number of rules.
func (rs *RuleSet) Len() int { return len(rs.rules) }

// Rules returns every rule, in evaluation order.
func (rs *RuleSet) Rules() []Rule {
	out := make([]Rule, len(rs.rules))
	for i, r := range rs.rules {
		out[i] = r.info
	}
	return out
}

// Lookup returns the rule with the given symbol.
func (rs *RuleSet) Lookup(symbol string) (Rule, bool) {
	i, ok := rs.bySymbol[symbol]
	if !ok {
		return Rule{}, false
	}
	return rs.rules[i].info, true
}

// ExternalSymbols returns the names expressions refer to that no rule
// defines: symbols other checks must emit (or typos, which `moat policy
// check` can point out).
func (rs *RuleSet) ExternalSymbols() []string { return slices.Clone(rs.external) }

// Files returns the rule files the set was loaded from, in load order.
func (rs *RuleSet) Files() []string { return slices.Clone(rs.files) }

// Load reads the rule files opts names (and the default set when
// opts.Defaults is set) and compiles them. Every problem found is
// reported: the error joins one Problem per line, "FILE:LINE: message".
func Load(opts Options) (*RuleSet, error) {
	var defaults []File
	if opts.Defaults {
		var err error
		if defaults, err = DefaultFiles(); err != nil {
			return nil, err
		}
	}
	var user []File
	for _, p := range opts.Paths {
		files, err := readPath(p)
		if err != nil {
			return nil, err
		}
		user = append(user, files...)
	}
	return Compile(defaults, user, opts)
}

// readPath reads a rule file, or the *.yaml and *.yml files of a
// directory in name order.
func readPath(path string) ([]File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	names := []string{path}
	if st.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		names = names[:0]
		for _, e := range ents {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				names = append(names, filepath.Join(path, e.Name()))
			}
		}
	}
	files := make([]File, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		files = append(files, File{Name: n, Data: data})
	}
	return files, nil
}

// readFS reads the *.yaml files of dir in fsys in name order.
func readFS(fsys fs.FS, dir string) ([]File, error) {
	names, err := fs.Glob(fsys, dir+"/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	slices.Sort(names)
	files := make([]File, 0, len(names))
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		files = append(files, File{Name: n, Data: data})
	}
	return files, nil
}

// kind of matcher, as compiled.
type matchKind uint8

const (
	mHeader  matchKind = iota // one named field
	mHeaders                  // every field, as "Name: value"
	mBody
	mRaw
	mURI
	mAttachName
	mAttachType
	mSize
	mTest
	mExpr
)

// scopeOf returns the text scope whose prefilter a kind uses, or -1.
func scopeOf(k matchKind) int {
	switch k {
	case mHeaders:
		return scopeHeaders
	case mBody:
		return scopeBody
	case mRaw:
		return scopeRaw
	case mURI:
		return scopeURI
	}
	return -1
}

// Text scopes with a literal prefilter.
const (
	scopeHeaders = iota
	scopeBody
	scopeRaw
	scopeURI
	numScopes
)

// scope is the prefilter of one text scope: the literals of its rules.
type scope struct {
	lits []string
	scan *scanner
}

// ref is a resolved symbol of an expression.
type ref struct {
	rule int // index in RuleSet.rules, or -1 for a symbol of another check
	name string
}

// phraseRef is a phrase of a phrase rule: its literal id in the scope and
// its word-boundary requirements.
type phraseRef struct {
	lit           int
	before, after bool
}

// rule is one compiled rule.
type rule struct {
	info   Rule
	kind   matchKind
	helper bool
	header string         // mHeader: field name
	re     *regexp.Regexp // regex kinds
	lits   []int          // literal ids in the scope's scanner; nil: no prefilter
	width  int            // widest match in bytes, -1 unbounded (see matchWidth)
	// phrases, when set, decide the rule from the prefilter's occurrences
	// alone (see phrases).
	phrases []phraseRef
	hlits   []string // mHeader: folded literals one of which a matching value holds
	min     float64  // mSize, mTest
	max     float64
	ranged  bool // mTest: compare with min and max rather than with 0
	test    testFunc
	expr    *expr.Expr
	refs    []ref
}
