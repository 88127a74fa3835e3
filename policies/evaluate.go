package policies

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/moatmail/moat/filter"
)

// Policy is a compiled PolicyConfig: it turns a transaction's symbols into
// a Verdict and answers the list questions the checks ask. It is immutable
// and safe for concurrent use; reload builds a new one and swaps it in a
// Live.
type Policy struct {
	global    rules
	overrides map[string]*rules // by lower-case address or domain
	force     map[string]Action

	trusted              netList
	allowIP, blockIP     netList
	allowFrom, blockFrom senderList
	allowHelo, blockHelo map[string]struct{}
}

// numSteps is the number of steps of the threshold ladder.
const numSteps = 4

// greylistStep is the index of the greylist step (see stepAction).
const greylistStep = 2

// stepAction returns the action of ladder step i: add_header, junk,
// greylist, reject.
func stepAction(i int) Action { return [numSteps]Action{AddHeader, Junk, Greylist, Reject}[i] }

// rules are the scoring rules for one recipient: the global ones, or the
// global ones with an override applied.
type rules struct {
	// ladder holds the thresholds of the steps (see stepAction); +Inf
	// means off.
	ladder      [numSteps]float64
	scores      map[string]float64
	required    float64
	neverReject bool
	skipChecks  bool
}

// NewPolicy validates pc and compiles it. Problems are reported one per
// line as "policy.key: message".
//
// Global thresholds that are nil are disabled; in an override a nil
// threshold inherits the global one and +Inf (YAML null or off) disables
// the step for that recipient.
func NewPolicy(pc PolicyConfig) (*Policy, error) {
	r := &reporter{}
	pc.check(r, keyPath{"policy"})
	if err := r.err(); err != nil {
		return nil, err
	}
	p := &Policy{
		force:     make(map[string]Action, len(pc.ForceActions)),
		allowHelo: lowerSet(pc.Allow.Helos),
		blockHelo: lowerSet(pc.Block.Helos),
		allowFrom: newSenderList(pc.Allow.Senders),
		blockFrom: newSenderList(pc.Block.Senders),
	}
	var err error
	if p.trusted, err = newNetList(pc.TrustedNetworks); err != nil {
		return nil, fmt.Errorf("policy.trusted_networks: %w", err)
	}
	if p.allowIP, err = newNetList(pc.Allow.Networks); err != nil {
		return nil, fmt.Errorf("policy.allow.networks: %w", err)
	}
	if p.blockIP, err = newNetList(pc.Block.Networks); err != nil {
		return nil, fmt.Errorf("policy.block.networks: %w", err)
	}
	for name, a := range pc.ForceActions {
		p.force[name], _ = ParseAction(a) // validated above
	}

	off := math.Inf(1)
	for i, t := range pc.Thresholds.steps() {
		p.global.ladder[i] = off
		if t != nil {
			p.global.ladder[i] = *t
		}
	}
	p.global.scores = pc.Scores
	p.global.required = p.global.requiredScore()

	if len(pc.Recipients) > 0 {
		p.overrides = make(map[string]*rules, len(pc.Recipients))
	}
	for key, o := range pc.Recipients {
		ru := &rules{ladder: p.global.ladder, neverReject: o.NeverReject, skipChecks: o.SkipChecks}
		for i, t := range o.Thresholds.steps() {
			if t != nil {
				ru.ladder[i] = *t
			}
		}
		ru.scores = pc.Scores
		if len(o.Scores) > 0 {
			ru.scores = make(map[string]float64, len(pc.Scores)+len(o.Scores))
			for k, v := range pc.Scores {
				ru.scores[k] = v
			}
			for k, v := range o.Scores {
				ru.scores[k] = v
			}
		}
		ru.required = ru.requiredScore()
		p.overrides[strings.ToLower(key)] = ru
	}
	return p, nil
}

// steps returns the thresholds in ladder order (see stepAction).
func (t *Thresholds) steps() [numSteps]*float64 {
	return [numSteps]*float64{t.AddHeader, t.Junk, t.Greylist, t.Reject}
}

// requiredScore is the score shown as required= in X-Spam-Status: the junk
// threshold if it is on, else add_header, else reject, else greylist, else
// 0.
func (ru *rules) requiredScore() float64 {
	for _, i := range []int{1, 0, 3, 2} {
		if t := ru.ladder[i]; !math.IsInf(t, 1) {
			return t
		}
	}
	return 0
}

// ladderAction returns the action whose threshold is the highest one score
// reaches; when several steps share that threshold the most severe wins.
func (ru *rules) ladderAction(score float64) Action { return ru.ladderActionWithout(score, -1) }

// ladderActionWithout is ladderAction with ladder step skip left out.
func (ru *rules) ladderActionWithout(score float64, skip int) Action {
	action, found, best := Accept, false, 0.0
	for i, t := range ru.ladder {
		if i == skip || math.IsInf(t, 1) || score < t {
			continue
		}
		if !found || t >= best {
			action, found, best = stepAction(i), true, t
		}
	}
	return action
}

// Evaluate decides what to do with the transaction from its symbols.
//
// Each symbol's score is replaced by the policy's score for its name, if
// any (a recipient override's scores win over the global ones); the score
// is the sum; the action is the ladder step whose threshold is the highest
// one reached. A symbol listed in force_actions forces its action whatever
// the score; when several fire the most severe forced action wins.
//
// Recipient overrides are looked up for every recipient in t.Rcpts (an
// address entry wins over its domain's). A message goes to all of its
// recipients with a single SMTP reply, so the transaction's verdict is the
// least severe of the per-recipient verdicts (on a tie, the one with the
// lower score): one recipient who never rejects, or whose checks are
// skipped, gets the message delivered to all. never_reject turns greylist,
// tempfail and reject (forced or not) into junk; skip_checks makes the
// verdict accept with score 0 and no symbols.
//
// Verdict.Symbols holds the symbols with their final scores, by descending
// absolute score, then name.
func (p *Policy) Evaluate(t *filter.Txn) Verdict {
	syms := t.Symbols()
	if len(p.overrides) == 0 || len(t.Rcpts) == 0 {
		return p.verdict(syms, &p.global)
	}
	var buf [4]*rules
	groups := buf[:0]
	for _, rc := range t.Rcpts {
		if ru := p.rulesFor(rc); !slices.Contains(groups, ru) {
			groups = append(groups, ru)
		}
	}
	if len(groups) == 1 {
		return p.verdict(syms, groups[0])
	}
	var best Verdict
	for i, ru := range groups {
		s := syms // verdict rewrites scores: every group but the last gets a copy
		if i < len(groups)-1 {
			s = slices.Clone(syms)
		}
		v := p.verdict(s, ru)
		if i == 0 || v.Action < best.Action || v.Action == best.Action && v.Score < best.Score {
			best = v
		}
	}
	return best
}

// rulesFor returns the rules for one recipient address.
func (p *Policy) rulesFor(rcpt string) *rules {
	a := strings.ToLower(rcpt)
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return &p.global
	}
	if ru, ok := p.overrides[a]; ok {
		return ru
	}
	if ru, ok := p.overrides[a[at+1:]]; ok {
		return ru
	}
	return &p.global
}

// verdict scores syms (rewriting their scores in place) under ru.
func (p *Policy) verdict(syms []filter.Symbol, ru *rules) Verdict {
	if ru.skipChecks {
		return Verdict{Action: Accept, Required: ru.required, Symbols: syms[:0]}
	}
	for i := range syms {
		if v, ok := ru.scores[syms[i].Name]; ok {
			syms[i].Score = v
		}
	}
	// Sorting before summing makes the sum independent of the order in
	// which concurrent checks added their symbols.
	slices.SortFunc(syms, func(a, b filter.Symbol) int {
		if c := cmp.Compare(math.Abs(b.Score), math.Abs(a.Score)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	var score float64
	forced, forcedBy, isForced := Accept, "", false
	for _, s := range syms {
		score += s.Score
		if a, ok := p.force[s.Name]; ok && (!isForced || a > forced || a == forced && s.Name < forcedBy) {
			forced, forcedBy, isForced = a, s.Name, true
		}
	}
	action := ru.ladderAction(score)
	if isForced {
		action = forced
	}
	if ru.neverReject && action >= Greylist {
		action = Junk
	}
	passed := action
	if action == Greylist {
		passed = min(ru.ladderActionWithout(score, greylistStep), Junk)
	}
	return Verdict{Action: action, Score: score, Required: ru.required, Symbols: syms, Forced: forcedBy, Passed: passed}
}

// Trusted reports whether ip is in trusted_networks.
func (p *Policy) Trusted(ip netip.Addr) bool { return p.trusted.contains(ip) }

// SamePolicy reports whether two recipients are judged under the same
// rules (the same recipient override, or none). The front end keeps
// recipients with different rules in separate transactions, so that one
// recipient's never_reject or skip_checks never lets a message through to
// the others.
func (p *Policy) SamePolicy(a, b string) bool { return p.rulesFor(a) == p.rulesFor(b) }
