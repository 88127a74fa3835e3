package bayes

import (
	"cmp"
	"math"
	"slices"
)

// EvalResult is what an evaluation measured. Rates are fractions (0.001
// is 0.1%). JSON keys are part of `moat bayes eval --json`.
type EvalResult struct {
	// Ham and Spam are the numbers of test messages of each class.
	Ham  int `json:"ham"`
	Spam int `json:"spam"`
	// FalsePositives is how many ham reached the spam cutoff.
	FalsePositives int `json:"false_positives"`
	// FalsePositiveRate is FalsePositives / Ham.
	FalsePositiveRate float64 `json:"false_positive_rate"`
	// SpamRecall is the fraction of spam that reached the spam cutoff.
	SpamRecall float64 `json:"spam_recall"`
	// Precision is the fraction of messages at or over the cutoff that
	// are spam (1 when there are none).
	Precision float64 `json:"precision"`
	// AUC is the area under the ROC curve: the probability that a random
	// spam ranks above a random ham (ties count half); 0 without both
	// classes.
	AUC float64 `json:"auc"`
	// RecallAt01FPR is the spam recall of the best threshold that lets at
	// most 0.1% of the ham (rounded down) through as spam.
	RecallAt01FPR float64 `json:"recall_at_0_1_fpr"`
	// Unsure is how many messages fell in the unsure band (between the
	// ham and spam cutoffs).
	Unsure int `json:"-"`
	// Cutoff is the spam cutoff the counts above use.
	Cutoff float64 `json:"-"`
}

// Scored is one test message's outcome.
type Scored struct {
	// Spam is the message's true class.
	Spam bool
	// Prob is the classifier's spam probability.
	Prob float64
	// Rank orders messages of equal Prob (higher is spammier).
	Rank float64
	// Name identifies the message (file name), for reports.
	Name string
}

// key orders outcomes by Prob, then Rank.
func (s Scored) cmp(o Scored) int {
	if c := cmp.Compare(s.Prob, o.Prob); c != 0 {
		return c
	}
	return cmp.Compare(s.Rank, o.Rank)
}

// Measure computes the metrics of outcomes at the spam cutoff (a message
// is judged spam when Prob ≥ spamCutoff) and ham cutoff (Prob ≤
// hamCutoff is ham; between them unsure).
func Measure(out []Scored, hamCutoff, spamCutoff float64) EvalResult {
	r := EvalResult{Cutoff: spamCutoff}
	tp := 0
	for _, s := range out {
		if s.Spam {
			r.Spam++
		} else {
			r.Ham++
		}
		switch {
		case s.Prob >= spamCutoff:
			if s.Spam {
				tp++
			} else {
				r.FalsePositives++
			}
		case s.Prob > hamCutoff:
			r.Unsure++
		}
	}
	if r.Ham > 0 {
		r.FalsePositiveRate = float64(r.FalsePositives) / float64(r.Ham)
	}
	if r.Spam > 0 {
		r.SpamRecall = float64(tp) / float64(r.Spam)
	}
	r.Precision = 1
	if tp+r.FalsePositives > 0 {
		r.Precision = float64(tp) / float64(tp+r.FalsePositives)
	}
	sorted := slices.Clone(out)
	slices.SortFunc(sorted, Scored.cmp)
	r.AUC = auc(sorted, r.Ham, r.Spam)
	r.RecallAt01FPR = recallAtFPR(sorted, r.Ham, r.Spam, 0.001)
	return r
}

// auc is the Mann-Whitney statistic over outcomes sorted ascending.
func auc(sorted []Scored, nHam, nSpam int) float64 {
	if nHam == 0 || nSpam == 0 {
		return 0 // undefined; 0 keeps the JSON valid
	}
	var sum float64 // Σ over spam of (ham below + half the ham tied)
	hamBelow := 0
	for i := 0; i < len(sorted); {
		j := i
		h, s := 0, 0
		for j < len(sorted) && sorted[j].cmp(sorted[i]) == 0 {
			if sorted[j].Spam {
				s++
			} else {
				h++
			}
			j++
		}
		sum += float64(s) * (float64(hamBelow) + float64(h)/2)
		hamBelow += h
		i = j
	}
	return sum / (float64(nHam) * float64(nSpam))
}

// recallAtFPR is the spam recall of the lowest threshold that judges at
// most floor(fpr × nHam) ham as spam; messages tied with a ham at the
// threshold are not counted as caught.
func recallAtFPR(sorted []Scored, nHam, nSpam int, fpr float64) float64 {
	if nSpam == 0 {
		return 0
	}
	allowed := int(math.Floor(fpr*float64(nHam) + 1e-9))
	// Walk from the top: the threshold sits just above the (allowed+1)th
	// highest ham.
	hams := 0
	caught := 0
	for i := len(sorted) - 1; i >= 0; {
		j := i
		h, s := 0, 0
		for j >= 0 && sorted[j].cmp(sorted[i]) == 0 {
			if sorted[j].Spam {
				s++
			} else {
				h++
			}
			j--
		}
		if hams+h > allowed {
			break
		}
		hams += h
		caught += s
		i = j
	}
	return float64(caught) / float64(nSpam)
}
