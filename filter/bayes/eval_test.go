package bayes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEvalFolds(t *testing.T) {
	t.Parallel()
	seen := 0
	var folds []int
	r, err := Eval(ctxT(t), EvalOptions{
		Train: filepath.Join("testdata", "corpus"), Folds: 5, Options: DefaultOptions(),
		Each:     func(Scored) { seen++ },
		Progress: func(f, n int) { folds = append(folds, f) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ham != 122 || r.Spam != 121 || seen != 243 || !slices.Equal(folds, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("counts: %+v, Each %d times, folds %v", r, seen, folds)
	}
	// About 97 training messages of each class per fold: far from the
	// full corpus (the cutoffs are tuned for thousands), but clearly a
	// classifier.
	if r.AUC < 0.99 || r.FalsePositiveRate > 0.05 || r.SpamRecall < 0.9 {
		t.Errorf("weak result on the test corpus: %+v", r)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "ROC AUC:") || !strings.HasPrefix(b.String(), "ham:                 122\n") {
		t.Errorf("WriteText: %q, %v", b.String(), err)
	}
}

func TestEvalTrainTest(t *testing.T) {
	t.Parallel()
	// Split the test corpus into two directories by file name.
	dir := t.TempDir()
	for _, class := range []string{"ham", "spam"} {
		ents, err := os.ReadDir(filepath.Join("testdata", "corpus", class))
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range ents {
			raw, err := os.ReadFile(filepath.Join("testdata", "corpus", class, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			part := "train"
			if i%3 == 0 {
				part = "test"
			}
			writeFiles(t, dir, map[string]string{filepath.Join(part, class, e.Name()): string(raw)})
		}
	}
	r, err := Eval(ctxT(t), EvalOptions{Train: filepath.Join(dir, "train"), Test: filepath.Join(dir, "test"), Options: DefaultOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ham != 41 || r.Spam != 41 || r.AUC < 0.95 {
		t.Errorf("got %+v", r)
	}
	bad := []EvalOptions{
		{Train: filepath.Join(dir, "train"), Test: filepath.Join(dir, "test"), Folds: 5, Options: DefaultOptions()},
		{Train: filepath.Join(dir, "train"), Options: DefaultOptions()},
		{Train: filepath.Join(dir, "nope"), Folds: 3, Options: DefaultOptions()},
		{Train: dir, Folds: 3, Options: DefaultOptions()}, // no ham/ or spam/
		{Train: filepath.Join(dir, "train"), Folds: 3},    // zero options
	}
	for i, o := range bad {
		if _, err := Eval(ctxT(t), o); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

func TestJSONKeys(t *testing.T) {
	t.Parallel()
	keys := func(v any) []string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"auc", "false_positive_rate", "false_positives", "ham", "precision", "recall_at_0_1_fpr", "spam", "spam_recall"}
	if got := keys(EvalResult{}); !slices.Equal(got, want) {
		t.Errorf("EvalResult JSON keys %v, want %v", got, want)
	}
	if got := keys(Stats{}); !slices.Equal(got, []string{"ham_learned", "spam_learned", "tokens"}) {
		t.Errorf("Stats JSON keys %v", got)
	}
}
