package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/moatmail/moat/filter"
)

var _ filter.Late = (*Check)(nil)

// Check is the content-rules check: it matches the rule set in force
// against each message at the data stage. It is a late check (filter.Late),
// so expressions see the symbols of every ordinary data-stage check.
//
// Hits of rules that are not shadow become symbols (score, description as
// reason). Shadow hits are logged at info level ("shadow rule hit") and
// passed to the shadow hook, never emitted. A message that exhausts the
// matching budget gets RULES_BUDGET_EXCEEDED (score 0) and a warning in
// the log. Check is safe for concurrent use; Swap replaces the rule set
// while transactions run.
type Check struct {
	set    atomic.Pointer[RuleSet]
	log    *slog.Logger
	shadow func(txnID string, h Hit)
}

// CheckOption configures a Check.
type CheckOption func(*Check)

// WithLogger sets the logger for shadow hits and budget overruns (none by
// default).
func WithLogger(l *slog.Logger) CheckOption {
	return func(c *Check) { c.log = l }
}

// WithShadowHook sets a function called for every shadow hit, for example
// to count them in metrics. It must be safe for concurrent use.
func WithShadowHook(fn func(txnID string, h Hit)) CheckOption {
	return func(c *Check) { c.shadow = fn }
}

// NewCheck returns a Check matching rs (a nil rs matches nothing until a
// set is swapped in).
func NewCheck(rs *RuleSet, opts ...CheckOption) *Check {
	c := &Check{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.set.Store(rs)
	return c
}

// Swap makes rs the rule set in force and returns the previous one.
// Transactions already matching finish with the set they started with.
func (c *Check) Swap(rs *RuleSet) *RuleSet { return c.set.Swap(rs) }

// RuleSet returns the rule set in force.
func (c *Check) RuleSet() *RuleSet { return c.set.Load() }

// Name returns "rules".
func (c *Check) Name() string { return "rules" }

// Stages returns the data stage.
func (c *Check) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// Late returns true: the rules run after the stage's ordinary checks.
func (c *Check) Late() bool { return true }

var errNoMessage = errors.New("rules: no message in transaction")

// Check matches the rules against t.Msg.
func (c *Check) Check(ctx context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	if t.Msg == nil {
		return nil, errNoMessage
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	rs := c.set.Load()
	if rs == nil {
		return nil, nil
	}
	res, err := rs.Match(ctx, t.Msg, presentIn(t))
	if err != nil {
		return nil, err
	}
	for _, h := range res.Hits {
		if !h.Shadow {
			continue
		}
		c.log.Info("shadow rule hit", "txn", t.ID, "rule", h.Symbol, "score", h.Score, "description", h.Description)
		if c.shadow != nil {
			c.shadow(t.ID, h)
		}
	}
	if res.BudgetExceeded {
		c.log.Warn("rules budget exceeded", "txn", t.ID, "skipped", res.Skipped, "why", res.Why)
	}
	return res.Symbols(), nil
}

// presentIn returns a lookup of the symbols recorded in t so far, read
// once (the late stage runs after the ordinary checks have added theirs).
func presentIn(t *filter.Txn) func(string) bool {
	syms := t.Symbols()
	return func(name string) bool {
		for _, s := range syms {
			if s.Name == name {
				return true
			}
		}
		return false
	}
}
