package bayes

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCorpusEval runs the 5-fold cross-validation on a corpus
// directory (ham/ and spam/) named by MOAT_CORPUS, logs the metrics at the
// default cutoffs and at a few others, and checks the targets. It
// is skipped unless MOAT_CORPUS is set: tests never read outside the
// repository on their own.
func TestCorpusEval(t *testing.T) {
	dir := os.Getenv("MOAT_CORPUS")
	if dir == "" {
		t.Skip("set MOAT_CORPUS to a corpus directory (ham/, spam/) to run the 5-fold evaluation")
	}
	o := DefaultOptions()
	var all []Scored
	start := time.Now()
	r, err := Eval(context.Background(), EvalOptions{Train: dir, Folds: 5, Options: o, Each: func(s Scored) { all = append(all, s) }})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = r.WriteText(&b)
	fmt.Fprintf(&b, "cutoff    FP  FP rate  recall\n")
	for _, c := range []float64{0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99} {
		m := Measure(all, o.HamCutoff, c)
		fmt.Fprintf(&b, "%-8.4g %3d  %6.3f%%  %6.2f%%\n", c, m.FalsePositives, 100*m.FalsePositiveRate, 100*m.SpamRecall)
	}
	t.Logf("5-fold evaluation of %s in %v:\n%s", dir, time.Since(start).Round(time.Millisecond), b.String())
	if r.FalsePositiveRate > 0.001 || r.SpamRecall < 0.97 || r.AUC < 0.9995 || r.RecallAt01FPR < 0.95 {
		t.Errorf("below the issue's targets (FP rate ≤ 0.1%% with recall ≥ 97%% at the default cutoff, AUC ≥ 0.9995, recall ≥ 95%% at 0.1%% FPR)")
	}
}
