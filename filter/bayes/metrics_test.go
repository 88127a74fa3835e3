package bayes

import (
	"testing"
)

func TestMeasure(t *testing.T) {
	t.Parallel()
	s := func(spam bool, p float64) Scored { return Scored{Spam: spam, Prob: p} }
	t.Run("perfect separation", func(t *testing.T) {
		t.Parallel()
		r := Measure([]Scored{s(false, 0.01), s(false, 0.2), s(true, 0.95), s(true, 0.99)}, 0.1, 0.9)
		want := EvalResult{Ham: 2, Spam: 2, FalsePositives: 0, SpamRecall: 1, Precision: 1, AUC: 1, RecallAt01FPR: 1, Unsure: 1, Cutoff: 0.9}
		if r != want {
			t.Errorf("got %+v, want %+v", r, want)
		}
	})
	t.Run("one false positive, one miss", func(t *testing.T) {
		t.Parallel()
		r := Measure([]Scored{s(false, 0.95), s(false, 0.1), s(true, 0.5), s(true, 0.99)}, 0.1, 0.9)
		if r.FalsePositives != 1 || r.FalsePositiveRate != 0.5 || r.SpamRecall != 0.5 || r.Precision != 0.5 {
			t.Errorf("got %+v", r)
		}
		// Pairs (spam above ham): 0.99 beats both hams, 0.5 beats one.
		if r.AUC != 0.75 {
			t.Errorf("AUC %v, want 0.75", r.AUC)
		}
		// No ham may pass at 0.1% of 2 ham: the threshold sits above 0.95.
		if r.RecallAt01FPR != 0.5 {
			t.Errorf("recall at 0.1%% FPR %v, want 0.5", r.RecallAt01FPR)
		}
	})
	t.Run("ties count half and are not caught", func(t *testing.T) {
		t.Parallel()
		r := Measure([]Scored{s(false, 0.7), s(true, 0.7)}, 0.1, 0.9)
		if r.AUC != 0.5 || r.RecallAt01FPR != 0 {
			t.Errorf("got AUC %v, recall %v", r.AUC, r.RecallAt01FPR)
		}
	})
	t.Run("rank breaks ties of probability", func(t *testing.T) {
		t.Parallel()
		r := Measure([]Scored{{Spam: false, Prob: 0.5, Rank: -3}, {Spam: true, Prob: 0.5, Rank: 2}}, 0.1, 0.9)
		if r.AUC != 1 || r.RecallAt01FPR != 1 {
			t.Errorf("got AUC %v, recall %v", r.AUC, r.RecallAt01FPR)
		}
	})
	t.Run("0.1% of 2000 ham allows two", func(t *testing.T) {
		t.Parallel()
		var out []Scored
		for i := range 2000 {
			out = append(out, s(false, float64(i)/10000))
		}
		out = append(out, s(false, 0.96), s(false, 0.97), s(false, 0.98))
		for i := range 10 {
			out = append(out, s(true, 0.965+float64(i)/1000))
		}
		// Two ham (0.97, 0.98) may pass; the third (0.96) may not: every
		// spam is above 0.96.
		if r := Measure(out, 0.1, 0.9); r.RecallAt01FPR != 1 {
			t.Errorf("recall %v, want 1", r.RecallAt01FPR)
		}
	})
	t.Run("empty classes", func(t *testing.T) {
		t.Parallel()
		r := Measure([]Scored{s(false, 0.2)}, 0.1, 0.9)
		if r.AUC != 0 || r.RecallAt01FPR != 0 || r.Ham != 1 {
			t.Errorf("got %+v", r)
		}
	})
}
