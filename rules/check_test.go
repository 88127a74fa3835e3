package rules

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
)

// emitCheck is an ordinary data-stage check that emits fixed symbols.
type emitCheck struct{ syms []filter.Symbol }

func (e emitCheck) Name() string           { return "emit" }
func (e emitCheck) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }
func (e emitCheck) Check(context.Context, *filter.Txn, filter.Stage) ([]filter.Symbol, error) {
	return e.syms, nil
}

// txnFor returns a transaction holding raw as its message.
func txnFor(t *testing.T, raw []byte) *filter.Txn {
	t.Helper()
	m, err := filter.NewMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &filter.Txn{ID: "t1", Msg: m}
}

func symbolNames(syms []filter.Symbol) []string {
	out := []string{}
	for _, s := range syms {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func TestCheckInPipeline(t *testing.T) {
	t.Parallel()
	rs := mustCompile(t, `rules:
  - {symbol: PRIZE, score: 2.5, description: mentions a prize, body: '(?i)\bprize\b'}
  - {symbol: PRIZE_AND_SPF, score: 4, description: a prize from a forged sender, expr: 'PRIZE && SPF_FAIL'}
  - {symbol: TRIAL, score: 1, description: trial rule, body: '(?i)\bprize\b', shadow: true}
`)
	var logBuf bytes.Buffer
	var mu sync.Mutex
	var shadowHits []string
	c := NewCheck(rs,
		WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))),
		WithShadowHook(func(id string, h Hit) {
			mu.Lock()
			defer mu.Unlock()
			shadowHits = append(shadowHits, id+"/"+h.Symbol)
		}))
	if c.Name() != "rules" || !c.Late() || !slices.Equal(c.Stages(), []filter.Stage{filter.StageData}) {
		t.Fatalf("Name %q, Late %v, Stages %v", c.Name(), c.Late(), c.Stages())
	}
	// The pipeline runs the late rules check after the ordinary one, so the
	// expression sees SPF_FAIL.
	p := filter.NewPipeline([]filter.Check{c, emitCheck{[]filter.Symbol{{Name: "SPF_FAIL", Score: 1}}}}, 5*time.Second, nil)
	txn := txnFor(t, message("You won a PRIZE!", "Subject: x"))
	p.Run(t.Context(), txn, filter.StageData)

	if got, want := symbolNames(txn.Symbols()), []string{"PRIZE", "PRIZE_AND_SPF", "SPF_FAIL"}; !slices.Equal(got, want) {
		t.Fatalf("symbols %q, want %q", got, want)
	}
	for _, s := range txn.Symbols() {
		if s.Name == "PRIZE" && (s.Score != 2.5 || s.Reason != "mentions a prize") {
			t.Errorf("PRIZE = %+v", s)
		}
	}
	if !slices.Equal(shadowHits, []string{"t1/TRIAL"}) {
		t.Errorf("shadow hook got %q", shadowHits)
	}
	if log := logBuf.String(); !strings.Contains(log, `msg="shadow rule hit" txn=t1 rule=TRIAL score=1 description="trial rule"`) {
		t.Errorf("log = %q", log)
	}
}

func TestCheckBudgetSymbol(t *testing.T) {
	t.Parallel()
	rs, err := compileYAML(t, "rules:\n  - {symbol: A, score: 1, description: d, body: alpha}\n", Options{Budget: Budget{Timeout: time.Nanosecond}})
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	c := NewCheck(rs, WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))
	syms, err := c.Check(t.Context(), txnFor(t, message("alpha", "Subject: x")), filter.StageData)
	if err != nil {
		t.Fatal(err)
	}
	if len(syms) != 1 || syms[0].Name != BudgetSymbol || syms[0].Score != 0 || !strings.Contains(syms[0].Reason, "1 rules not evaluated") {
		t.Errorf("symbols %+v, want only %s", syms, BudgetSymbol)
	}
	if !strings.Contains(logBuf.String(), "rules budget exceeded") {
		t.Errorf("log = %q", logBuf.String())
	}
}

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	c := NewCheck(mustCompile(t, "rules: []\n"))
	if _, err := c.Check(t.Context(), &filter.Txn{}, filter.StageData); err == nil {
		t.Error("no error without a message")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Check(ctx, txnFor(t, message("x", "Subject: x")), filter.StageData); err == nil {
		t.Error("no error with a cancelled context")
	}
}

// TestCheckSwap matches messages from several goroutines while the rule
// set is swapped back and forth: every result must come from one set or
// the other (run with -race to check the swap is safe).
func TestCheckSwap(t *testing.T) {
	t.Parallel()
	setA := mustCompile(t, "rules:\n  - {symbol: FROM_A, score: 1, description: d, body: word}\n")
	setB := mustCompile(t, "rules:\n  - {symbol: FROM_B, score: 1, description: d, body: word}\n")
	c := NewCheck(setA)
	msg := txnFor(t, message("a word", "Subject: x")).Msg
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 4 {
		wg.Go(func() {
			for range 200 {
				syms, err := c.Check(context.Background(), &filter.Txn{Msg: msg}, filter.StageData)
				if err != nil || len(syms) != 1 || (syms[0].Name != "FROM_A" && syms[0].Name != "FROM_B") {
					errs <- "unexpected result"
					return
				}
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			c.Swap(setB)
		} else {
			c.Swap(setA)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if prev := c.Swap(setB); prev != setA {
		t.Errorf("Swap returned %p, want the set in force %p", prev, setA)
	}
	if c.RuleSet() != setB {
		t.Error("RuleSet() is not the set swapped in")
	}
}
