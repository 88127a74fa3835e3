package filter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
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

// runAll runs checks concurrently and waits for them.
func (p *Pipeline) runAll(ctx context.Context, checks []Check, t *Txn, s Stage) {
	switch len(checks) {
	case 0:
		return
	case 1:
		p.runOne(ctx, checks[0], t, s)
		return
	}
	var wg sync.WaitGroup
	wg.Add(len(checks))
	for _, c := range checks {
		go func() {
			defer wg.Done()
			p.runOne(ctx, c, t, s)
		}()
	}
	wg.Wait()
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

func (p *Pipeline) runOne(ctx context.Context, c Check, t *Txn, s Stage) {
	start := p.now()
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if p.timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, p.timeout)
	}
	defer cancel()

	type result struct {
		syms []Symbol
		err  error
	}
	var res result
	if p.timeout > 0 {
		// Run in a goroutine so a check that ignores its context cannot hold
		// the transaction past the deadline.
		done := make(chan result, 1)
		go func() {
			var r result
			r.syms, r.err = p.call(cctx, c, t, s)
			done <- r
		}()
		select {
		case res = <-done:
		case <-cctx.Done():
			res.err = errTimeout
			if ctx.Err() != nil {
				res.err = fmt.Errorf("check cancelled: %w", ctx.Err())
			}
		}
	} else {
		res.syms, res.err = p.call(cctx, c, t, s)
	}

	tm := Timing{Check: c.Name(), Stage: s, Duration: p.now().Sub(start)}
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
