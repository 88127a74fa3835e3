package filter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// testWait bounds every wait in these tests: a test that would otherwise
// hang fails after it instead. It is never slept on.
const testWait = 10 * time.Second

// funcCheck is a Check built from a function.
type funcCheck struct {
	name   string
	stages []Stage
	fn     func(ctx context.Context, t *Txn, s Stage) ([]Symbol, error)
}

func (c *funcCheck) Name() string    { return c.name }
func (c *funcCheck) Stages() []Stage { return c.stages }
func (c *funcCheck) Check(ctx context.Context, t *Txn, s Stage) ([]Symbol, error) {
	return c.fn(ctx, t, s)
}

// emit returns a check that emits one symbol named sym at the given stages.
func emit(name, sym string, stages ...Stage) *funcCheck {
	return &funcCheck{name: name, stages: stages, fn: func(context.Context, *Txn, Stage) ([]Symbol, error) {
		return []Symbol{{Name: sym, Score: 1}}, nil
	}}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// runBounded runs p.Run in a goroutine and fails the test if it has not
// returned within testWait.
func runBounded(t *testing.T, p *Pipeline, ctx context.Context, txn *Txn, s Stage) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx, txn, s)
	}()
	select {
	case <-done:
	case <-time.After(testWait):
		t.Fatalf("Run(%s) did not return within %v", s, testWait)
	}
}

func symbolNames(t *Txn) []string {
	var out []string
	for _, s := range t.Symbols() {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// TestPipelineConcurrent proves a stage's checks run at the same time: each
// of two checks waits until the other has started. Run one after the other,
// the first would wait until the context ends and become a TEMPFAIL.
func TestPipelineConcurrent(t *testing.T) {
	t.Parallel()
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	rendezvous := func(name string, mine, other chan struct{}) *funcCheck {
		return &funcCheck{name: name, stages: []Stage{StageData}, fn: func(ctx context.Context, _ *Txn, _ Stage) ([]Symbol, error) {
			close(mine)
			select {
			case <-other:
				return []Symbol{{Name: SymbolName(name) + "_MET"}}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}}
	}
	p := NewPipeline([]Check{rendezvous("a", aStarted, bStarted), rendezvous("b", bStarted, aStarted)}, 0, discardLog())
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	txn := &Txn{ID: "t1"}
	runBounded(t, p, ctx, txn, StageData)
	if got, want := symbolNames(txn), []string{"A_MET", "B_MET"}; !slices.Equal(got, want) {
		t.Fatalf("symbols = %q, want %q", got, want)
	}
}

// TestPipelineTimeout runs a check that ignores its context and blocks; the
// stage must return once the per-check deadline passes, with a TEMPFAIL for
// the slow check and the fast check's symbol kept.
func TestPipelineTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := &funcCheck{name: "slow-dns", stages: []Stage{StageHelo}, fn: func(context.Context, *Txn, Stage) ([]Symbol, error) {
		<-release // ignores ctx on purpose
		return []Symbol{{Name: "TOO_LATE"}}, nil
	}}
	for _, checks := range [][]Check{
		{slow},
		{slow, emit("fast", "FAST", StageHelo)},
	} {
		t.Run(checks[len(checks)-1].Name(), func(t *testing.T) {
			t.Parallel()
			p := NewPipeline(checks, 20*time.Millisecond, discardLog())
			txn := &Txn{ID: "t2"}
			runBounded(t, p, t.Context(), txn, StageHelo)
			want := []string{"SLOW_DNS_TEMPFAIL"}
			if len(checks) == 2 {
				want = []string{"FAST", "SLOW_DNS_TEMPFAIL"}
			}
			if got := symbolNames(txn); !slices.Equal(got, want) {
				t.Fatalf("symbols = %q, want %q", got, want)
			}
			for _, tm := range txn.Timings() {
				if tm.Check == "slow-dns" && (!tm.Failed || tm.Duration < 20*time.Millisecond) {
					t.Errorf("slow check timing = %+v, want failed and at least the timeout", tm)
				}
			}
		})
	}
}

// TestPipelineContextDeadline checks a check that honours its context sees
// the per-check deadline.
func TestPipelineContextDeadline(t *testing.T) {
	t.Parallel()
	c := &funcCheck{name: "waits", stages: []Stage{StageMail}, fn: func(ctx context.Context, _ *Txn, _ Stage) ([]Symbol, error) {
		if _, ok := ctx.Deadline(); !ok {
			return []Symbol{{Name: "NO_DEADLINE"}}, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	p := NewPipeline([]Check{c}, 10*time.Millisecond, discardLog())
	txn := &Txn{}
	runBounded(t, p, t.Context(), txn, StageMail)
	if got := symbolNames(txn); !slices.Equal(got, []string{"WAITS_TEMPFAIL"}) {
		t.Fatalf("symbols = %q, want WAITS_TEMPFAIL", got)
	}
}

func TestPipelineFailures(t *testing.T) {
	t.Parallel()
	failing := func(name string, fn func() ([]Symbol, error)) *funcCheck {
		return &funcCheck{name: name, stages: []Stage{StageRcpt}, fn: func(context.Context, *Txn, Stage) ([]Symbol, error) {
			return fn()
		}}
	}
	var nilMap map[string]int
	checks := []Check{
		failing("errs", func() ([]Symbol, error) { return nil, errors.New("backend down") }),
		// Symbols returned along with an error are not trusted.
		failing("half.done", func() ([]Symbol, error) { return []Symbol{{Name: "PARTIAL"}}, errors.New("late") }),
		failing("panics", func() ([]Symbol, error) { panic("boom") }),
		failing("nil-map", func() ([]Symbol, error) { nilMap["x"] = 1; return nil, nil }),
		emit("ok", "OK_SYMBOL", StageRcpt),
	}
	want := []string{"ERRS_TEMPFAIL", "HALF_DONE_TEMPFAIL", "NIL_MAP_TEMPFAIL", "OK_SYMBOL", "PANICS_TEMPFAIL"}
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		checks  []Check
	}{
		{"all, no deadline", 0, checks},
		{"all, with deadline", time.Minute, checks},
		// A single check runs on the caller's goroutine: its panic must
		// be recovered there too.
		{"lone panic, no deadline", 0, checks[2:3]},
		{"lone panic, with deadline", time.Minute, checks[2:3]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := NewPipeline(tc.checks, tc.timeout, discardLog())
			txn := &Txn{ID: "t3"}
			runBounded(t, p, t.Context(), txn, StageRcpt)
			w := want
			if len(tc.checks) == 1 {
				w = []string{"PANICS_TEMPFAIL"}
			}
			if got := symbolNames(txn); !slices.Equal(got, w) {
				t.Fatalf("symbols = %q, want %q", got, w)
			}
			for _, tm := range txn.Timings() {
				if wantFailed := tm.Check != "ok"; tm.Failed != wantFailed {
					t.Errorf("timing %s: Failed = %v, want %v", tm.Check, tm.Failed, wantFailed)
				}
			}
			for _, s := range txn.Symbols() {
				if s.Name != "OK_SYMBOL" && (s.Score != 0 || s.Reason == "") {
					t.Errorf("symbol %+v: a TEMPFAIL has score 0 and a reason", s)
				}
			}
		})
	}
}

// countingCheck records the stages it is called at.
type countingCheck struct {
	name   string
	stages []Stage
	mu     sync.Mutex
	calls  []Stage
	rcpts  []string // at each rcpt-stage call, the candidate recipient
}

func (c *countingCheck) Name() string    { return c.name }
func (c *countingCheck) Stages() []Stage { return c.stages }
func (c *countingCheck) Check(_ context.Context, t *Txn, s Stage) ([]Symbol, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, s)
	if s == StageRcpt {
		c.rcpts = append(c.rcpts, fmt.Sprint(t.Rcpts))
	}
	return nil, nil
}

func TestPipelineStages(t *testing.T) {
	t.Parallel()
	mailRcpt := &countingCheck{name: "mailrcpt", stages: []Stage{StageMail, StageRcpt}}
	data := &countingCheck{name: "data", stages: []Stage{StageData}}
	bogus := &countingCheck{name: "bogus", stages: []Stage{Stage(-1), Stage(42)}}
	none := &countingCheck{name: "none"}
	p := NewPipeline([]Check{mailRcpt, data, bogus, none}, time.Second, discardLog())

	for s, want := range map[Stage][]string{
		StageConnect: nil, StageHelo: nil,
		StageMail: {"mailrcpt"}, StageRcpt: {"mailrcpt"}, StageData: {"data"},
		Stage(42): nil, Stage(-1): nil,
	} {
		var got []string
		for _, c := range p.Checks(s) {
			got = append(got, c.Name())
		}
		if !slices.Equal(got, want) {
			t.Errorf("Checks(%s) = %q, want %q", s, got, want)
		}
	}

	// RunAll runs the rcpt stage once per recipient, each time with the
	// candidate last in Rcpts.
	txn := &Txn{ID: "t4", Rcpts: []string{"a@x", "b@x"}}
	p.RunAll(t.Context(), txn)
	p.Run(t.Context(), txn, Stage(42)) // no checks: nothing happens
	if want := []Stage{StageMail, StageRcpt, StageRcpt}; !slices.Equal(mailRcpt.calls, want) {
		t.Errorf("mailrcpt called at %v, want %v", mailRcpt.calls, want)
	}
	if want := []string{"[a@x]", "[a@x b@x]"}; !slices.Equal(mailRcpt.rcpts, want) {
		t.Errorf("rcpt stage saw Rcpts %q, want %q", mailRcpt.rcpts, want)
	}
	if want := []string{"a@x", "b@x"}; !slices.Equal(txn.Rcpts, want) {
		t.Errorf("after RunAll Rcpts = %q, want %q", txn.Rcpts, want)
	}
	if want := []Stage{StageData}; !slices.Equal(data.calls, want) {
		t.Errorf("data called at %v, want %v", data.calls, want)
	}
	if len(bogus.calls)+len(none.calls) != 0 {
		t.Errorf("checks without valid stages were called: %v %v", bogus.calls, none.calls)
	}
	if got := len(txn.Timings()); got != 4 {
		t.Errorf("%d timings recorded, want 4 (one per check run)", got)
	}
}

// TestPipelineTimings checks one timing per check per stage, with the
// duration measured on the pipeline's clock.
func TestPipelineTimings(t *testing.T) {
	t.Parallel()
	p := NewPipeline([]Check{
		emit("one", "ONE", StageConnect, StageData),
		emit("two", "TWO", StageData),
	}, time.Second, discardLog())
	var mu sync.Mutex
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { // each reading advances 5 ms
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(5 * time.Millisecond)
		return clock
	}
	txn := &Txn{ID: "t5"}
	p.Run(t.Context(), txn, StageConnect)
	tm := txn.Timings()
	if len(tm) != 1 || tm[0] != (Timing{Check: "one", Stage: StageConnect, Duration: 5 * time.Millisecond}) {
		t.Fatalf("timings after connect = %+v", tm)
	}
	p.Run(t.Context(), txn, StageData)
	tm = txn.Timings()[1:]
	type key struct {
		check string
		stage Stage
	}
	seen := map[key]bool{}
	for _, x := range tm {
		seen[key{x.Check, x.Stage}] = true
		if x.Duration <= 0 || x.Failed {
			t.Errorf("timing %+v: want a positive duration, not failed", x)
		}
	}
	if len(tm) != 2 || !seen[key{"one", StageData}] || !seen[key{"two", StageData}] {
		t.Errorf("data-stage timings = %+v, want one each for one and two", tm)
	}
}

// TestPipelineCancelled checks a cancelled transaction context turns a
// blocked check into a TEMPFAIL promptly.
func TestPipelineCancelled(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	blocked := &funcCheck{name: "blocked", stages: []Stage{StageData}, fn: func(context.Context, *Txn, Stage) ([]Symbol, error) {
		<-release
		return nil, nil
	}}
	p := NewPipeline([]Check{blocked}, time.Hour, discardLog())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	txn := &Txn{}
	runBounded(t, p, ctx, txn, StageData)
	if !txn.Has("BLOCKED_TEMPFAIL") {
		t.Fatalf("symbols = %q, want BLOCKED_TEMPFAIL", symbolNames(txn))
	}
}

// TestPipelineNilLogger checks a pipeline built without a logger still turns
// failures into TEMPFAIL symbols instead of crashing.
func TestPipelineNilLogger(t *testing.T) {
	t.Parallel()
	c := &funcCheck{name: "fails", stages: []Stage{StageConnect}, fn: func(context.Context, *Txn, Stage) ([]Symbol, error) {
		panic("no logger")
	}}
	txn := &Txn{}
	NewPipeline([]Check{c}, 0, nil).Run(t.Context(), txn, StageConnect)
	if !txn.Has("FAILS_TEMPFAIL") {
		t.Fatalf("symbols = %q, want FAILS_TEMPFAIL", symbolNames(txn))
	}
}

// lateCheck reads the symbols other checks recorded.
type lateCheck struct{ saw chan []string }

func (lateCheck) Name() string    { return "composite" }
func (lateCheck) Stages() []Stage { return []Stage{StageData} }
func (lateCheck) Late() bool      { return true }
func (c lateCheck) Check(_ context.Context, t *Txn, _ Stage) ([]Symbol, error) {
	var names []string
	for _, s := range t.Symbols() {
		names = append(names, s.Name)
	}
	c.saw <- names
	if t.Has("SLOW_ONE") && t.Has("FAST_ONE") {
		return []Symbol{{Name: "BOTH", Score: 1}}, nil
	}
	return nil, nil
}

// stageFunc is an ordinary check from a function.
type stageFunc struct {
	name string
	fn   func() []Symbol
}

func (c stageFunc) Name() string                                         { return c.name }
func (c stageFunc) Stages() []Stage                                      { return []Stage{StageData} }
func (c stageFunc) Check(context.Context, *Txn, Stage) ([]Symbol, error) { return c.fn(), nil }

func TestPipelineLateChecksSeeOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	late := lateCheck{saw: make(chan []string, 1)}
	p := NewPipeline([]Check{
		late, // registered first, still runs last
		stageFunc{"slow", func() []Symbol { <-release; return []Symbol{{Name: "SLOW_ONE"}} }},
		stageFunc{"fast", func() []Symbol { close(release); return []Symbol{{Name: "FAST_ONE"}} }},
	}, 10*time.Second, nil)
	tx := &Txn{}
	p.Run(context.Background(), tx, StageData)
	if saw := <-late.saw; len(saw) != 2 {
		t.Errorf("late check saw %v, want both ordinary symbols", saw)
	}
	if !tx.Has("BOTH") {
		t.Error("composite symbol missing")
	}
	if got := p.Checks(StageData); len(got) != 3 || got[2].Name() != "composite" {
		t.Errorf("Checks = %v, want the late check last", got)
	}
}
