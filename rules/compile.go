package rules

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/moatmail/moat/rules/expr"
)

// Compile compiles rule files: defaults first, then user files, whose rules
// replace default rules of the same symbol. opts.Paths and opts.Defaults
// are not used (Load reads them); Disable, KnownSymbols and Budget are.
// The error joins one Problem per line.
func Compile(defaults, user []File, opts Options) (*RuleSet, error) {
	ps := &problems{}
	var order []string
	layer := func(files []File) []*rule {
		var out []*rule
		seen := map[string]*rule{}
		for _, f := range files {
			order = append(order, f.Name)
			p := newFileParser(f.Name, f.Data, ps)
			for _, s := range p.parse(f.Data) {
				r := p.compile(s)
				if r == nil {
					continue
				}
				if first, dup := seen[r.info.Symbol]; dup {
					ps.add(f.Name, s.symbolLine, "rule %s: duplicate symbol (first defined at %s:%d)", r.info.Symbol, first.info.File, first.info.Line)
					continue
				}
				seen[r.info.Symbol] = r
				out = append(out, r)
			}
		}
		return out
	}
	rules := layer(defaults)
	for _, r := range layer(user) {
		if i := slices.IndexFunc(rules, func(d *rule) bool { return d.info.Symbol == r.info.Symbol }); i >= 0 {
			rules[i] = r // a user rule replaces the default one
			continue
		}
		rules = append(rules, r)
	}
	for _, sym := range opts.Disable {
		i := slices.IndexFunc(rules, func(r *rule) bool { return r.info.Symbol == sym })
		if i < 0 {
			ps.list = append(ps.list, Problem{Msg: fmt.Sprintf("disable: no rule %s", sym)})
			continue
		}
		rules = slices.Delete(rules, i, i+1)
	}
	if err := ps.err(order); err != nil {
		return nil, err
	}
	rs, err := link(rules, opts, order)
	if err != nil {
		return nil, err
	}
	rs.files = order
	return rs, nil
}

// compile checks a spec and compiles its matcher. Problems go to p.ps;
// nil means the rule is unusable.
func (p *fileParser) compile(s *spec) *rule {
	ok := true
	bad := func(line int, format string, args ...any) {
		p.ps.add(p.file, line, "rule %s: "+format, append([]any{s.symbol}, args...)...)
		ok = false
	}
	switch {
	case s.symbolLine == 0:
		p.ps.add(p.file, s.line, "rule without a symbol")
		return nil
	case !expr.ValidSymbol(s.symbol):
		p.ps.add(p.file, s.symbolLine, "symbol %q is not a valid name (UPPER_SNAKE: A-Z, 0-9 and _, not starting with a digit, at most 128 bytes)", s.symbol)
		return nil
	case s.symbol == BudgetSymbol:
		p.ps.add(p.file, s.symbolLine, "symbol %s is reserved", s.symbol)
		return nil
	}
	helper := strings.HasPrefix(s.symbol, "__")
	switch {
	case helper && s.hasScore && s.score != 0:
		bad(s.scoreLine, "a helper rule (symbol starting with __) is never emitted, so it has no score")
	case helper && s.shadow:
		bad(s.shadowLine, "a helper rule (symbol starting with __) is never emitted, so it cannot be shadow")
	case !helper && !s.hasScore:
		bad(s.symbolLine, "missing score")
	}
	if !helper && s.description == "" {
		bad(s.symbolLine, "missing description")
	}
	if s.kind == "" {
		bad(s.symbolLine, "no matcher: want one of %s", strings.Join(matcherKeys(), ", "))
		return nil
	}
	r := &rule{
		info:   Rule{Symbol: s.symbol, Score: s.score, Description: s.description, Shadow: s.shadow, Kind: s.kind, File: s.file, Line: s.symbolLine},
		helper: helper,
		min:    s.min,
		max:    s.max,
		ranged: s.hasRange,
	}
	switch s.kind {
	case "header":
		r.kind, r.header = mHeaders, s.header
		if s.header != "" {
			r.kind = mHeader
		}
	case "body":
		r.kind = mBody
	case "raw":
		r.kind = mRaw
	case "uri":
		r.kind = mURI
	case "attachment":
		r.kind = mAttachName
		if s.attach == "type" {
			r.kind = mAttachType
		}
	case "size":
		r.kind = mSize
	case "test":
		r.kind = mTest
		t, known := testByName(s.test)
		if !known {
			bad(s.kindLine, "test: unknown test %q (want one of %s)", s.test, strings.Join(testNames(), ", "))
			return nil
		}
		r.test = t
	case "expr":
		r.kind = mExpr
		e, err := expr.Parse(s.pattern)
		if err != nil {
			var se *expr.SyntaxError
			if errors.As(err, &se) {
				if line, col, ok := p.column(s.patNode, se.Offset); ok {
					bad(line, "expr: bad expression at column %d: %s", col, se.Msg)
				} else {
					bad(s.patNode.Line, "expr: bad expression at offset %d of the expression: %s", se.Offset, se.Msg)
				}
			} else {
				bad(s.patNode.Line, "expr: %v", err)
			}
			return nil
		}
		r.expr = e
	}
	if r.kind <= mAttachType {
		re, err := regexp.Compile(s.pattern)
		if err != nil {
			bad(s.patNode.Line, "%s: bad regex: %s", s.kind, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			return nil
		}
		if r.kind != mHeader && r.kind != mHeaders && re.MatchString("") {
			bad(s.patNode.Line, "%s: regex %q matches the empty string, so it would hit every message", s.kind, s.pattern)
			return nil
		}
		r.re = re
	}
	if !ok {
		return nil
	}
	return r
}

// link resolves expression references, orders the rules (content rules,
// then expressions after the rules they refer to) and builds the
// prefilters.
func link(rules []*rule, opts Options, order []string) (*RuleSet, error) {
	ps := &problems{}
	index := map[string]int{}
	for i, r := range rules {
		index[r.info.Symbol] = i
	}
	known := map[string]bool{}
	for _, s := range opts.KnownSymbols {
		known[s] = true
	}
	disabled := map[string]bool{}
	for _, s := range opts.Disable {
		disabled[s] = true
	}
	external := map[string]bool{}
	for _, r := range rules {
		if r.kind != mExpr {
			continue
		}
		for _, name := range r.expr.Symbols() {
			i, internal := index[name]
			switch {
			case internal && rules[i].info.Shadow && !r.info.Shadow:
				ps.add(r.info.File, r.info.Line, "rule %s: expression refers to shadow rule %s; only a shadow rule may (a shadow rule never changes a verdict)", r.info.Symbol, name)
			case internal:
			case disabled[name]:
				ps.add(r.info.File, r.info.Line, "rule %s: expression refers to disabled rule %s", r.info.Symbol, name)
			case strings.HasPrefix(name, "__"):
				ps.add(r.info.File, r.info.Line, "rule %s: expression refers to helper %s, which no rule defines", r.info.Symbol, name)
			case opts.KnownSymbols != nil && !known[name]:
				ps.add(r.info.File, r.info.Line, "rule %s: expression refers to unknown symbol %s", r.info.Symbol, name)
			default:
				external[name] = true
			}
		}
	}
	if err := ps.err(order); err != nil {
		return nil, err
	}
	sorted, err := dependencyOrder(rules, index, order)
	if err != nil {
		return nil, err
	}
	rs := &RuleSet{rules: sorted, bySymbol: map[string]int{}, budget: opts.Budget.withDefaults()}
	for i, r := range sorted {
		rs.bySymbol[r.info.Symbol] = i
	}
	for _, r := range sorted {
		if r.kind == mExpr {
			r.refs = make([]ref, len(r.expr.Symbols()))
			for j, name := range r.expr.Symbols() {
				i, ok := rs.bySymbol[name]
				if !ok {
					i = -1
				}
				r.refs[j] = ref{rule: i, name: name}
			}
		}
		if r.kind != mSize && r.kind != mExpr && r.kind != mRaw {
			rs.needText = true
		}
	}
	for name := range external {
		rs.external = append(rs.external, name)
	}
	slices.Sort(rs.external)
	rs.buildScopes()
	return rs, nil
}

// dependencyOrder returns the content rules in their order, then the
// expression rules so that each comes after every rule it refers to. A
// cycle is an error.
func dependencyOrder(rules []*rule, index map[string]int, order []string) ([]*rule, error) {
	out := make([]*rule, 0, len(rules))
	for _, r := range rules {
		if r.kind != mExpr {
			out = append(out, r)
		}
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(rules))
	ps := &problems{}
	var visit func(i int, path []string) bool
	visit = func(i int, path []string) bool {
		r := rules[i]
		switch state[i] {
		case done:
			return true
		case visiting:
			cycle := append(path[slices.Index(path, r.info.Symbol):], r.info.Symbol)
			ps.add(r.info.File, r.info.Line, "rule %s: expressions refer to each other in a cycle: %s", r.info.Symbol, strings.Join(cycle, " → "))
			return false
		}
		if r.kind != mExpr {
			state[i] = done
			return true
		}
		state[i] = visiting
		path = append(path, r.info.Symbol)
		for _, name := range r.expr.Symbols() {
			if j, ok := index[name]; ok && !visit(j, path) {
				return false
			}
		}
		state[i] = done
		out = append(out, r)
		return true
	}
	for i, r := range rules {
		if r.kind == mExpr && state[i] == unvisited {
			visit(i, nil)
		}
	}
	if err := ps.err(order); err != nil {
		return nil, err
	}
	return out, nil
}

// buildScopes prepares each rule's prefilter: for named-header rules the
// literals a matching value must hold; for scoped rules (all headers,
// body, raw, URIs) their literals in the scope's scanner, the phrases of
// phrase rules, and the match width that allows windows.
func (rs *RuleSet) buildScopes() {
	for _, r := range rs.rules {
		if r.re == nil {
			continue
		}
		re, err := syntax.Parse(r.re.String(), syntax.Perl)
		if err != nil {
			continue // cannot happen: regexp.Compile accepted it
		}
		if r.kind == mHeader {
			r.hlits = requiredLiterals(re)
			continue
		}
		if sc := scopeOf(r.kind); sc >= 0 {
			rs.scopes[sc].prepare(r, re)
		}
	}
	for i := range rs.scopes {
		if len(rs.scopes[i].lits) > 0 {
			rs.scopes[i].scan = newScanner(rs.scopes[i].lits)
		}
	}
}

// prepare registers r's literals in the scope.
func (s *scope) prepare(r *rule, re *syntax.Regexp) {
	litID := func(l string) int {
		id := slices.Index(s.lits, l)
		if id < 0 {
			id = len(s.lits)
			s.lits = append(s.lits, l)
		}
		return id
	}
	r.width = -1
	prefix, _ := r.re.LiteralPrefix()
	if ps := phrases(re); ps != nil && prefix == "" && (r.kind == mBody || r.kind == mRaw) {
		for _, p := range ps {
			id := litID(p.text)
			r.phrases = append(r.phrases, phraseRef{lit: id, before: p.before, after: p.after})
			if !slices.Contains(r.lits, id) {
				r.lits = append(r.lits, id)
			}
		}
		r.width = matchWidth(re)
		return
	}
	lits := requiredLiterals(re)
	if lits == nil {
		return
	}
	for _, l := range lits {
		if id := litID(l); !slices.Contains(r.lits, id) {
			r.lits = append(r.lits, id)
		}
	}
	// Go's regexp jumps between occurrences of a literal prefix by itself:
	// one run over the whole text is then cheaper than windows.
	if prefix == "" {
		r.width = matchWidth(re)
	}
}
