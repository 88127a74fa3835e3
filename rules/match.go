package rules

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/rules/content"
)

// Hit is a rule that matched a message.
type Hit struct {
	// Symbol, Score and Description are the rule's.
	Symbol      string  `json:"symbol"`
	Score       float64 `json:"score"`
	Description string  `json:"description,omitempty"`
	// Shadow hits are reported, never emitted as symbols.
	Shadow bool `json:"shadow,omitempty"`
}

// Result is the outcome of matching one message.
type Result struct {
	// Hits are the rules that matched, helpers left out, in evaluation
	// order (content rules in file order, then expressions).
	Hits []Hit
	// BudgetExceeded reports that matching stopped early (Budget): Skipped
	// rules were not evaluated.
	BudgetExceeded bool
	Skipped        int
	// Why says which bound stopped matching.
	Why string
}

// Symbols returns the hits that are not shadow as symbols (score and
// description as reason), plus BudgetSymbol (score 0) when the budget ran
// out.
func (r Result) Symbols() []filter.Symbol {
	out := make([]filter.Symbol, 0, len(r.Hits)+1)
	for _, h := range r.Hits {
		if !h.Shadow {
			out = append(out, filter.Symbol{Name: h.Symbol, Score: h.Score, Reason: h.Description})
		}
	}
	if r.BudgetExceeded {
		out = append(out, filter.Symbol{Name: BudgetSymbol, Reason: fmt.Sprintf("%d rules not evaluated: %s", r.Skipped, r.Why)})
	}
	return out
}

// Match matches the rules against msg. present reports whether another
// check emitted a symbol (for expressions); nil means none did. The error
// is from reading a spooled message; a budget overrun is not an error (see
// Result.BudgetExceeded).
func (rs *RuleSet) Match(ctx context.Context, msg *filter.Message, present func(string) bool) (Result, error) {
	raw := msg.Prefix()
	if int64(len(raw)) < msg.Size() {
		limit := int64(rs.budget.Content.MaxBytes)
		if limit <= 0 {
			limit = int64(content.DefaultLimits().MaxBytes)
		}
		limit = max(limit, int64(rs.budget.MaxRaw))
		b, err := io.ReadAll(io.LimitReader(msg.Reader(), limit))
		if err != nil {
			return Result{}, fmt.Errorf("rules: read message: %w", err)
		}
		raw = b
	}
	res, _ := rs.match(ctx, raw, msg.Size(), present)
	return res, nil
}

// MatchBytes matches the rules against a raw message held in memory.
func (rs *RuleSet) MatchBytes(ctx context.Context, raw []byte, present func(string) bool) Result {
	res, _ := rs.match(ctx, raw, int64(len(raw)), present)
	return res
}

// checkEvery is how many bytes of regex input pass between two looks at
// the clock and the context.
const checkEvery = 64 << 10

// matcher is the state of matching one message.
type matcher struct {
	rs      *RuleSet
	raw     []byte
	size    int64
	m       *content.Message
	present func(string) bool

	hits     []bool
	found    [numScopes]scanHits
	scanned  [numScopes]bool
	shifted  [numScopes]bool    // the scanned text was folded into a copy: positions differ
	posMap   [numScopes][]int32 // for a shifted scope: folded position → text position
	wins     []window
	fold     []byte
	fields   []string // "Name: value" of every header field
	folded   []string // folded header values, see foldedField
	isFolded []bool

	ctx         context.Context
	deadline    time.Time
	ctxDeadline bool // the deadline is the context's, earlier than the budget's
	work        int64
	nextCheck   int64
	why         string
}

// match matches one message and returns the result and which rules hit
// (helpers included), indexed like rs.rules.
func (rs *RuleSet) match(ctx context.Context, raw []byte, size int64, present func(string) bool) (Result, []bool) {
	if present == nil {
		present = func(string) bool { return false }
	}
	x := &matcher{rs: rs, raw: raw, size: size, present: present, ctx: ctx, hits: make([]bool, len(rs.rules))}
	x.deadline = time.Now().Add(rs.budget.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(x.deadline) {
		x.deadline, x.ctxDeadline = d, true
	}
	x.nextCheck = checkEvery
	if rs.needText {
		x.m = content.Parse(raw, rs.budget.Content)
	}
	var res Result
	for i, r := range rs.rules {
		if x.why == "" && (i%16 == 0 || x.work >= x.nextCheck) {
			x.checkBudget()
		}
		if x.why != "" {
			res.BudgetExceeded = true
			res.Skipped = len(rs.rules) - i
			res.Why = x.why
			break
		}
		if !x.eval(r) {
			continue
		}
		x.hits[i] = true
		if !r.helper {
			res.Hits = append(res.Hits, Hit{Symbol: r.info.Symbol, Score: r.info.Score, Description: r.info.Description, Shadow: r.info.Shadow})
		}
	}
	return res, x.hits
}

// checkBudget looks at the work done, the clock and the context, and sets
// why when matching must stop.
func (x *matcher) checkBudget() {
	x.nextCheck = x.work + checkEvery
	switch {
	case x.work > x.rs.budget.MaxWork:
		x.why = fmt.Sprintf("more than %d bytes matched", x.rs.budget.MaxWork)
	case x.ctx.Err() != nil:
		x.why = "cancelled: " + x.ctx.Err().Error()
	case !time.Now().Before(x.deadline) && x.ctxDeadline:
		x.why = "the check's deadline passed"
	case !time.Now().Before(x.deadline):
		x.why = fmt.Sprintf("deadline of %v passed", x.rs.budget.Timeout)
	}
}

// eval evaluates one rule.
func (x *matcher) eval(r *rule) bool {
	switch r.kind {
	case mHeader:
		for i, f := range x.m.Header {
			if len(f.Name) != len(r.header) || !strings.EqualFold(f.Name, r.header) {
				continue
			}
			if r.hlits != nil && !containsAny(x.foldedField(i), r.hlits) {
				continue
			}
			x.work += int64(len(f.Value))
			if r.re.MatchString(f.Value) {
				return true
			}
		}
	case mHeaders:
		if !x.mayMatch(r, scopeHeaders) {
			return false
		}
		for _, f := range x.headerFields() {
			x.work += int64(len(f))
			if r.re.MatchString(f) {
				return true
			}
		}
	case mBody:
		if len(x.m.Text) == 0 || !x.mayMatch(r, scopeBody) {
			return false
		}
		return x.matchText(r, scopeBody, x.m.Text)
	case mRaw:
		if !x.mayMatch(r, scopeRaw) {
			return false
		}
		return x.matchText(r, scopeRaw, x.rawScope())
	case mURI:
		if len(x.m.URIs) == 0 || !x.mayMatch(r, scopeURI) {
			return false
		}
		for _, u := range x.m.URIs {
			x.work += int64(len(u))
			if r.re.MatchString(u) {
				return true
			}
		}
	case mAttachName:
		for _, p := range x.m.Parts {
			if p.Name != "" && r.re.MatchString(p.Name) {
				return true
			}
		}
		for _, n := range x.m.ArchiveNames {
			if r.re.MatchString(n) {
				return true
			}
		}
	case mAttachType:
		for _, p := range x.m.Parts {
			if r.re.MatchString(p.Type) {
				return true
			}
		}
	case mSize:
		return r.min <= float64(x.size) && float64(x.size) <= r.max
	case mTest:
		v := r.test(x.m)
		if !r.ranged {
			return v != 0
		}
		return r.min <= v && v <= r.max
	case mExpr:
		return r.expr.Eval(func(i int) bool {
			ref := r.refs[i]
			return (ref.rule >= 0 && x.hits[ref.rule]) || x.present(ref.name)
		})
	}
	return false
}

// foldedField returns the folded value of header field i, folding it once
// per message.
func (x *matcher) foldedField(i int) string {
	if x.folded == nil {
		x.folded = make([]string, len(x.m.Header))
		x.isFolded = make([]bool, len(x.m.Header))
	}
	if !x.isFolded[i] {
		x.folded[i], x.isFolded[i] = foldString(x.m.Header[i].Value), true
	}
	return x.folded[i]
}

// containsAny reports whether s holds one of lits.
func containsAny(s string, lits []string) bool {
	for _, l := range lits {
		if strings.Contains(s, l) {
			return true
		}
	}
	return false
}

// rawScope returns the part of the raw message raw rules see.
func (x *matcher) rawScope() []byte {
	if len(x.raw) > x.rs.budget.MaxRaw {
		return x.raw[:x.rs.budget.MaxRaw]
	}
	return x.raw
}

// headerFields returns every header field as "Name: value".
func (x *matcher) headerFields() []string {
	if x.fields == nil {
		x.fields = make([]string, len(x.m.Header))
		for i, f := range x.m.Header {
			x.fields[i] = f.Name + ": " + f.Value
		}
	}
	return x.fields
}

// scopeText returns the text of scope sc that the prefilter scans.
func (x *matcher) scopeText(sc int) []byte {
	switch sc {
	case scopeHeaders:
		var b bytes.Buffer
		for _, f := range x.headerFields() {
			b.WriteString(f)
			b.WriteByte('\n')
		}
		return b.Bytes()
	case scopeBody:
		return x.m.Text
	case scopeRaw:
		return x.rawScope()
	case scopeURI:
		return []byte(strings.Join(x.m.URIs, "\n"))
	}
	return nil
}

// scan runs scope sc's prefilter once per message and returns its hits.
func (x *matcher) scan(sc int) *scanHits {
	if !x.scanned[sc] {
		x.scanned[sc] = true
		s := &x.rs.scopes[sc]
		x.found[sc].reset(len(s.lits))
		text := x.scopeText(sc)
		folded, copied, pm := foldNonASCII(x.fold[:0], text, x.posMap[sc][:0])
		if copied {
			x.fold = folded // keep the storage for the next scope
			x.posMap[sc] = pm
			x.shifted[sc] = true
		}
		s.scan.scan(folded, &x.found[sc])
	}
	return &x.found[sc]
}

// mayMatch reports whether r's regex can match in scope sc: true when r
// has no prefilter or one of its literals occurs in the scope's text.
func (x *matcher) mayMatch(r *rule, sc int) bool {
	if r.lits == nil {
		return true
	}
	h := x.scan(sc)
	for _, id := range r.lits {
		if h.found(id) {
			return true
		}
	}
	return false
}

// matchText runs r's regex over text, the whole text of scope sc. When the
// regex's matches are bounded in width and every occurrence of its
// literals is known, it runs only on windows around them: any match holds
// one of those occurrences, so no match is missed.
func (x *matcher) matchText(r *rule, sc int, text []byte) bool {
	if r.lits == nil || r.width < 0 {
		x.work += int64(len(text))
		return r.re.Match(text)
	}
	h := x.scan(sc)
	lits := x.rs.scopes[sc].lits
	if x.matchRecorded(r, sc, h, lits, text) {
		return true
	}
	// No match around the recorded occurrences: the answer is final unless
	// a literal occurred more often than the scanner records.
	for _, id := range r.lits {
		if !h.complete(id) {
			x.work += int64(len(text))
			return r.re.Match(text)
		}
	}
	return false
}

// matchRecorded reports whether r matches around the recorded occurrences
// of its literals: decided from the occurrences for a phrase rule, by the
// regex on windows around them otherwise.
func (x *matcher) matchRecorded(r *rule, sc int, h *scanHits, lits []string, text []byte) bool {
	if r.phrases != nil && !x.shifted[sc] {
		return matchPhrases(r, h, lits, text)
	}
	x.wins = x.wins[:0]
	for _, o := range h.occ {
		if !slices.Contains(r.lits, int(o.id)) {
			continue
		}
		// The match holds the occurrence [start, end) and spans at most
		// width bytes of text. In a folded copy, positions map back to the
		// units of text the occurrence comes from.
		end := int(o.end) + 1
		start := end - len(lits[o.id])
		if x.shifted[sc] {
			pm := x.posMap[sc]
			start, end = int(pm[start]), nextUnit(pm, end-1)
		}
		x.wins = append(x.wins, window{max(0, end-r.width), min(len(text), start+r.width)})
	}
	// Occurrences are in order of their ends; sort by start for merging.
	slices.SortFunc(x.wins, func(a, b window) int { return a.lo - b.lo })
	for i := 0; i < len(x.wins); {
		lo, hi := x.wins[i].lo, x.wins[i].hi
		for i++; i < len(x.wins) && x.wins[i].lo <= hi; i++ {
			hi = max(hi, x.wins[i].hi)
		}
		lo, hi = wordEdges(text, lo, hi)
		x.work += int64(hi - lo)
		if r.re.Match(text[lo:hi]) {
			return true
		}
	}
	return false
}

// nextUnit returns the text position just past the unit that folded byte
// i comes from.
func nextUnit(pm []int32, i int) int {
	j := i + 1
	for j < len(pm)-1 && pm[j] == pm[i] {
		j++
	}
	return int(pm[j])
}

// matchPhrases decides a phrase rule from the occurrences of its phrases:
// it hits when one occurs with the word boundaries it requires.
func matchPhrases(r *rule, h *scanHits, lits []string, text []byte) bool {
	for _, o := range h.occ {
		for _, p := range r.phrases {
			if p.lit != int(o.id) {
				continue
			}
			end := int(o.end) + 1
			start := end - len(lits[o.id])
			if (!p.before || boundary(text, start)) && (!p.after || boundary(text, end)) {
				return true
			}
		}
	}
	return false
}

// boundary reports whether \b holds at index i of text.
func boundary(text []byte, i int) bool {
	before := i > 0 && isWordByte(text[i-1])
	after := i < len(text) && isWordByte(text[i])
	return before != after
}

// window is a span of text a regex runs on.
type window struct{ lo, hi int }

// wordEdges widens [lo, hi) until the bytes just outside it are not word
// characters (or are the ends of text), so that \b and \B inside the window
// mean what they mean in the whole text.
func wordEdges(text []byte, lo, hi int) (int, int) {
	for lo > 0 && isWordByte(text[lo-1]) {
		lo--
	}
	for hi < len(text) && isWordByte(text[hi]) {
		hi++
	}
	return lo, hi
}

// isWordByte reports an ASCII word character, as \b understands them.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
