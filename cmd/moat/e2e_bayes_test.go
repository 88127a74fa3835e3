//go:build e2e

package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bayesCorpus is the Bayes package's committed corpus sample (ham/, spam/).
var bayesCorpus = filepath.Join("..", "..", "filter", "bayes", "testdata", "corpus")

// TestE2EBayes trains the scorer with `moat train` (directly, then through a
// running server's control socket, where relearning counts once), reads the
// counts with `moat bayes stats --json`, checks that `moat check` scores a
// spam sample BAYES_SPAM, and that `moat bayes eval --json` has the
// documented keys.
func TestE2EBayes(t *testing.T) {
	t.Parallel()
	p, cfg := newConfig(t, nil, "", "")
	p.Extra = "bayes:\n  min_learned: 20\n"
	writeFile(t, cfg, configYAML(p))
	spamDir, hamDir := filepath.Join(bayesCorpus, "spam"), filepath.Join(bayesCorpus, "ham")
	count := func(dir string) int {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	nSpam, nHam := count(spamDir), count(hamDir)

	if out, errs, code := runMoat(t, nil, "train", "-c", cfg, "--spam", spamDir); code != 0 || !strings.Contains(out, "learned as spam") {
		t.Fatalf("train --spam: exit %d\n%s%s", code, out, errs)
	}
	m := startMoat(t, p, cfg)
	if out, errs, code := runMoat(t, nil, "train", "-c", cfg, "--ham", hamDir); code != 0 || !strings.Contains(out, "learned as ham") {
		t.Fatalf("train --ham through the server: exit %d\n%s%s", code, out, errs)
	}
	out, _, _ := runMoat(t, nil, "train", "-c", cfg, "--ham", hamDir)
	if !strings.Contains(out, "already learned") {
		t.Errorf("learning the same messages again must count once: %s", out)
	}
	stats := func() map[string]int {
		out, errs, code := runMoat(t, nil, "bayes", "stats", "-c", cfg, "--json")
		if code != 0 {
			t.Fatalf("bayes stats: exit %d %s", code, errs)
		}
		var s map[string]int
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("bad JSON %v: %s", err, out)
		}
		return s
	}
	s := stats()
	if s["spam_learned"] != nSpam || s["ham_learned"] != nHam || s["tokens"] == 0 {
		t.Errorf("stats while serving = %v, want %d spam, %d ham, some tokens", s, nSpam, nHam)
	}
	m.stop(t)
	if s2 := stats(); s2["spam_learned"] != nSpam || s2["ham_learned"] != nHam {
		t.Errorf("stats with the server stopped = %v", s2)
	}

	es, err := os.ReadDir(spamDir)
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := runMoat(t, nil, "check", "-c", cfg, "--json", filepath.Join(spamDir, es[0].Name()))
	if code != 0 || !strings.Contains(out, `"BAYES_SPAM"`) {
		t.Errorf("moat check on a trained spam sample: exit %d, no BAYES_SPAM\n%s%s", code, out, errs)
	}

	out, errs, code = runMoat(t, nil, "bayes", "eval", "--train", bayesCorpus, "--folds", "3", "--json")
	if code != 0 {
		t.Fatalf("bayes eval: exit %d %s", code, errs)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"ham", "spam", "false_positives", "false_positive_rate", "spam_recall", "precision", "auc", "recall_at_0_1_fpr"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("bayes eval --json lacks %q: %s", k, out)
		}
	}
}
