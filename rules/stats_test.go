package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/headers"
)

// statsRules hit the committed corpus samples in known ways.
const statsRules = `rules:
  - {symbol: ANY_HTTP, score: 1, description: d, uri: '^http'}
  - {symbol: MIXED, score: 3, description: d, test: html_only}
  - {symbol: NEVER, score: 1, description: d, body: 'no such text anywhere'}
  - {symbol: REMOVE, score: 4, description: d, body: '(?i)\bto be removed\b', shadow: true}
  - {symbol: NO_DATE_HTML, score: 2, description: d, expr: MISSING_DATE && MIXED}
`

func TestStats(t *testing.T) {
	t.Parallel()
	rs := mustCompile(t, statsRules)
	rep, err := Stats(t.Context(), rs, "testdata/corpus", StatsOptions{
		Workers:    2,
		Extra:      []filter.Check{headers.New()},
		Thresholds: []Threshold{{Name: "low", Score: 1}, {Name: "high", Score: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ham != 6 || rep.Spam != 6 {
		t.Fatalf("ham %d, spam %d; want 6 and 6", rep.Ham, rep.Spam)
	}
	byName := map[string]RuleStats{}
	var order []string
	for _, r := range rep.Rules {
		byName[r.Symbol] = r
		order = append(order, r.Symbol)
	}
	// Counts checked against the samples by hand: all but ham/00005 (its
	// links are in List- header fields only) and spam/00107 (a mailto:
	// link only) link to http; four spam are HTML only; "to be removed" is
	// in four spam and in ham/00045.
	want := map[string][2]int{"ANY_HTTP": {5, 5}, "MIXED": {0, 4}, "NEVER": {0, 0}, "REMOVE": {1, 4}, "NO_DATE_HTML": {0, 0}}
	for sym, w := range want {
		r := byName[sym]
		if r.HamHits != w[0] || r.SpamHits != w[1] {
			t.Errorf("%s: ham %d, spam %d; want %d, %d", sym, r.HamHits, r.SpamHits, w[0], w[1])
		}
	}
	if r := byName["ANY_HTTP"]; r.Ratio == nil || *r.Ratio != 1 || r.SO != 0.5 {
		t.Errorf("ANY_HTTP ratio %v, S/O %v; want 1, 0.5", r.Ratio, r.SO)
	}
	if r := byName["MIXED"]; r.Ratio != nil || r.SO != 1 || r.SpamRate != 4.0/6 || r.HamRate != 0 {
		t.Errorf("MIXED ratio %v, S/O %v, spam rate %v", r.Ratio, r.SO, r.SpamRate)
	}
	// Most useful first (by S/O), then the rules that never hit, by name.
	if want := []string{"MIXED", "REMOVE", "ANY_HTTP", "NEVER", "NO_DATE_HTML"}; !slices.Equal(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
	// Shadow rules are counted but do not score: the high threshold (4) is
	// reached only by the three spam that have both ANY_HTTP and MIXED.
	if th := rep.Thresholds[1]; th.HamCount != 0 || th.SpamCount != 3 || len(th.HamFiles) != 0 {
		t.Errorf("high threshold: %+v", th)
	}
	if th := rep.Thresholds[0]; th.HamCount != 5 || th.SpamCount != 6 || len(th.HamFiles) != 5 || th.HamFiles[0] != filepath.Join("testdata", "corpus", "ham", "00001.eml") {
		t.Errorf("low threshold: %+v", th)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"corpus testdata/corpus: 6 ham, 6 spam", "REMOVE (shadow)", "low", ">=   4.00"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back StatsReport
	if err := json.Unmarshal(b, &back); err != nil || back.Ham != 6 || len(back.Rules) != len(rep.Rules) {
		t.Errorf("JSON round trip: %v, %+v", err, back)
	}
}

func TestStatsErrors(t *testing.T) {
	t.Parallel()
	rs := mustCompile(t, statsRules)
	if _, err := Stats(t.Context(), rs, t.TempDir(), StatsOptions{}); err == nil {
		t.Error("no error for a directory without ham/ or spam/")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "ham", "bad.eml"), 0o700); err != nil { // a directory named .eml
		t.Fatal(err)
	}
	if _, err := Stats(t.Context(), rs, dir, StatsOptions{}); err == nil {
		t.Error("no error for an unreadable message")
	}
}

func TestStripMboxFrom(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"From a@b  Thu Aug 22 12:36:23 2002\nSubject: x\n": "Subject: x\n",
		"Subject: x\n": "Subject: x\n",
		"From: a@b\n":  "From: a@b\n",
		"From a@b":     "",
	} {
		if got := string(StripMboxFrom([]byte(in))); got != want {
			t.Errorf("StripMboxFrom(%q) = %q, want %q", in, got, want)
		}
	}
}
