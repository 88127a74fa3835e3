package filter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Pipeline runs the checks registered for each stage.
type Pipeline struct {
	byStage [numStages][]Check // ordinary checks
	late    [numStages][]Check // checks that run after the ordinary ones
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
}

// NewPipeline returns a pipeline over checks. Each check runs under timeout
// (no deadline of its own when timeout is 0); log receives the details of
// check failures and panics (nil discards them).
func NewPipeline(checks []Check, timeout time.Duration, log *slog.Logger) *Pipeline {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{timeout: timeout, log: log, now: time.Now}
	for _, c := range checks {
		for _, s := range c.Stages() {
			switch {
			case s < 0 || s >= numStages:
			case isLate(c):
				p.late[s] = append(p.late[s], c)
			default:
				p.byStage[s] = append(p.byStage[s], c)
			}
		}
	}
	return p
}

// Checks returns the checks that run at stage s: the ordinary ones, then
// the late ones.
func (p *Pipeline) Checks(s Stage) []Check {
	if s < 0 || s >= numStages {
		return nil
	}
	return append(p.byStage[s][:len(p.byStage[s]):len(p.byStage[s])], p.late[s]...)
}

// Run runs every check registered for stage s on t, concurrently, and
// returns when all have finished or timed out; then it runs the stage's
// late checks (see Late) the same way. Symbols go into t. A check that
// errors, times out or panics adds <NAME>_TEMPFAIL instead; the pipeline
// always goes on.
func (p *Pipeline) Run(ctx context.Context, t *Txn, s Stage) {
	if s < 0 || s >= numStages {
		return
	}
	p.runAll(ctx, p.byStage[s], t, s)
	p.runAll(ctx, p.late[s], t, s)
}

// runAll runs checks concurrently, under one deadline for the group, and
// waits until each has finished or the deadline has passed.
func (p *Pipeline) runAll(ctx context.Context, checks []Check, t *Txn, s Stage) {
	if len(checks) == 0 {
		return
	}
	start := p.now()
	if p.timeout <= 0 && len(checks) == 1 {
		var r result
		r.syms, r.err = p.call(ctx, checks[0], t, s)
		r.end = p.now()
		p.record(checks[0], t, s, start, r)
		return
	}
	dctx, cancel := ctx, context.CancelFunc(func() {})
	if p.timeout > 0 {
		dctx, cancel = context.WithTimeout(ctx, p.timeout)
	}
	defer cancel()
	// Each check runs in its own goroutine, so one that ignores its
	// context cannot hold the transaction past the deadline.
	done := make([]chan result, len(checks))
	for i, c := range checks {
		done[i] = make(chan result, 1)
		go func() {
			var r result
			r.syms, r.err = p.call(dctx, c, t, s)
			r.end = p.now()
			done[i] <- r
		}()
	}
	for i, c := range checks {
		var r result
		select {
		case r = <-done[i]:
		case <-dctx.Done():
			select {
			case r = <-done[i]: // finished just in time
			default:
				r.err, r.end = errTimeout, p.now()
				if ctx.Err() != nil {
					r.err = fmt.Errorf("check cancelled: %w", ctx.Err())
				}
			}
		}
		p.record(c, t, s, start, r)
	}
}

// result is what one check returned, and when.
type result struct {
	syms []Symbol
	err  error
	end  time.Time
}

// RunAll runs every stage in order as an SMTP dialogue would: the rcpt
// stage once per recipient, each time with t.Rcpts ending at that
// recipient. It is what `moat check` uses; the SMTP front end runs stages
// one by one as the dialogue goes on.
func (p *Pipeline) RunAll(ctx context.Context, t *Txn) {
	p.Run(ctx, t, StageConnect)
	p.Run(ctx, t, StageHelo)
	p.Run(ctx, t, StageMail)
	all := t.Rcpts
	for i := range all {
		t.Rcpts = all[:i+1]
		p.Run(ctx, t, StageRcpt)
	}
	t.Rcpts = all
	p.Run(ctx, t, StageData)
}

// errTimeout marks a check that outlived its deadline.
var errTimeout = errors.New("check timed out")

// record adds a check's symbols, or its TEMPFAIL symbol, and its timing.
func (p *Pipeline) record(c Check, t *Txn, s Stage, start time.Time, res result) {
	tm := Timing{Check: c.Name(), Stage: s, Duration: res.end.Sub(start)}
	if res.err != nil {
		tm.Failed = true
		p.log.Warn("check failed", "txn", t.ID, "check", c.Name(), "stage", s.String(), "err", res.err)
		t.Add(Symbol{Name: TempfailSymbol(c.Name()), Reason: c.Name() + " could not run"})
	} else {
		t.Add(res.syms...)
	}
	t.addTiming(tm)
}

// call runs the check, turning a panic into an error.
func (p *Pipeline) call(ctx context.Context, c Check, t *Txn, s Stage) (syms []Symbol, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("check panicked", "txn", t.ID, "check", c.Name(), "stage", s.String(), "panic", r, "stack", string(debug.Stack()))
			syms, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Check(ctx, t, s)
}
