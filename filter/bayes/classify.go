package bayes

import (
	"math"
)

// Scoring follows Gary Robinson's "A statistical approach to the spam
// problem" (2003): each token's spam probability f(w) is the ratio of its
// per-class frequencies smoothed towards a prior x with strength s, and
// the most significant tokens are combined with Fisher's inverse
// chi-square method into a spam indicator S and a ham indicator H; the
// message's probability is (1 + S − H) / 2, as in SpamBayes.

// tokenProb is Robinson's f(w): the spam probability of a token seen in
// spam of nS learned spam and ham of nH learned ham, smoothed towards
// prior x with strength s.
func tokenProb(spam, ham, nS, nH, s, x float64) float64 {
	n := spam + ham
	if n == 0 {
		return x
	}
	b := spam / nS
	g := ham / nH
	p := b / (b + g)
	return (s*x + n*p) / (s + n)
}

// logChi2Q is ln(chi2Q(x2, v)), computed in log space so that it keeps
// its resolution where chi2Q underflows.
func logChi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	if m <= 0 {
		return 0
	}
	// ln(Σ_{i<v/2} m^i/i!) − m, with the largest term factored out.
	lm := math.Log(m)
	best, term := 0.0, 0.0
	for i := 1; i < v/2; i++ {
		term += lm - math.Log(float64(i))
		best = max(best, term)
	}
	sum, term := 0.0, 0.0
	for i := 0; i < v/2; i++ {
		if i > 0 {
			term += lm - math.Log(float64(i))
		}
		sum += math.Exp(term - best)
	}
	return min(0, best+math.Log(sum)-m)
}

// clue is one token's probability and how far it is from neutral.
type clue struct {
	p   float64
	dev float64
}

// verdict is what combining a message's clues gives.
type verdict struct {
	// prob is the spam probability, 0 … 1.
	prob float64
	// rank orders verdicts of equal prob: ln of the ham tail over the
	// spam tail (positive: spammier). It does not saturate.
	rank float64
	// clues is how many clues were combined.
	clues int
}

// saturatedTail is the chi-square tail below which an indicator counts
// as saturated.
const saturatedTail = 1e-6

// decades is how many orders of magnitude of S − H the probability
// spreads over on each side of 0.5.
const decades = 8

// combine turns clues into a verdict with Fisher's method: the spam
// indicator S = 1 − C⁻¹(−2 Σ ln(1 − f), 2n) and the ham indicator
// H = 1 − C⁻¹(−2 Σ ln f, 2n) over the maxClues most significant clues
// (clues must already be filtered by minimum deviation). When both
// indicators saturate (strong evidence both ways), the strongest evidence
// decides: the conflictClues most significant clues are combined instead
// (0: never). The probability spreads the orders of magnitude of S − H
// over the scale: 0.5 ± 0.5 (1 + log10 |S − H| / decades), 0.5 when
// |S − H| is below 10^−decades. It orders messages as S − H does.
func combine(clues []clue, maxClues, conflictClues int) verdict {
	if len(clues) == 0 {
		return verdict{prob: 0.5}
	}
	lqs, lqh, n := fisherTails(clues, maxClues)
	if conflictClues > 0 && n > conflictClues && lqs < math.Log(saturatedTail) && lqh < math.Log(saturatedTail) {
		lqs, lqh, n = fisherTails(clues[:n], conflictClues)
	}
	v := verdict{rank: lqh - lqs, clues: n}
	// ln |S − H| = ln |qh − qs| = ln max + ln(1 − min/max).
	hi, lo, sign := lqh, lqs, 1.0
	if lqs > lqh {
		hi, lo, sign = lqs, lqh, -1
	}
	if hi == lo {
		v.prob = 0.5
		return v
	}
	ld := (hi + math.Log1p(-math.Exp(lo-hi))) / math.Ln10
	v.prob = 0.5 + sign*0.5*max(0, 1+ld/decades)
	return v
}

// fisherTails returns ln qs and ln qh, the log chi-square tails of the
// maxClues most significant clues (moved to the front of clues), and how
// many clues that is. qs is small when the clues are spammy, qh when they
// are hammy.
func fisherTails(clues []clue, maxClues int) (lqs, lqh float64, n int) {
	if len(clues) > maxClues {
		selectTop(clues, maxClues)
		clues = clues[:maxClues]
	}
	const tiny = 1e-12
	var lnS, lnH float64 // Σ ln(1−f), Σ ln f
	for _, c := range clues {
		p := min(max(c.p, tiny), 1-tiny)
		lnS += math.Log1p(-p)
		lnH += math.Log(p)
	}
	n = len(clues)
	return logChi2Q(-2*lnS, 2*n), logChi2Q(-2*lnH, 2*n), n
}

// selectTop reorders clues so that the k with the largest deviation come
// first (in no particular order), by quickselect. Ties are broken by
// probability so that the choice does not depend on the input order.
func selectTop(clues []clue, k int) {
	less := func(a, b clue) bool { // a before b
		if a.dev != b.dev {
			return a.dev > b.dev
		}
		return a.p > b.p
	}
	lo, hi := 0, len(clues)-1
	for lo < hi {
		// Median of three as the pivot.
		mid := lo + (hi-lo)/2
		if less(clues[mid], clues[lo]) {
			clues[mid], clues[lo] = clues[lo], clues[mid]
		}
		if less(clues[hi], clues[lo]) {
			clues[hi], clues[lo] = clues[lo], clues[hi]
		}
		if less(clues[hi], clues[mid]) {
			clues[hi], clues[mid] = clues[mid], clues[hi]
		}
		pivot := clues[mid]
		i, j := lo, hi
		for i <= j {
			for less(clues[i], pivot) {
				i++
			}
			for less(pivot, clues[j]) {
				j--
			}
			if i <= j {
				clues[i], clues[j] = clues[j], clues[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}
