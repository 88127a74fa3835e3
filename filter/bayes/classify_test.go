package bayes

import (
	"math"
	"slices"
	"testing"
)

func TestChi2Q(t *testing.T) {
	t.Parallel()
	tests := []struct {
		x2   float64
		v    int
		want float64
	}{
		{0, 2, 1},
		{2, 2, math.Exp(-1)},         // v=2: e^(−x/2)
		{4, 4, 3 * math.Exp(-2)},     // (1 + m) e^−m, m=2
		{10, 6, 18.5 * math.Exp(-5)}, // (1 + m + m²/2) e^−m, m=5
		{1000, 10, 0},                // underflows
		{0.001, 100, 1},              // clamps at 1
	}
	for _, tt := range tests {
		if got := chi2Q(tt.x2, tt.v); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("chi2Q(%v, %d) = %v, want %v", tt.x2, tt.v, got, tt.want)
		}
	}
}

func TestLogChi2QAgreesWhereChi2QDoesNotUnderflow(t *testing.T) {
	t.Parallel()
	for _, v := range []int{2, 4, 10, 60, 300} {
		for _, x2 := range []float64{0.5, 3, 20, 100, 400} {
			q := chi2Q(x2, v)
			if q < 1e-300 || q >= 1 {
				continue
			}
			if got, want := logChi2Q(x2, v), math.Log(q); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("logChi2Q(%v, %d) = %v, want %v", x2, v, got, want)
			}
		}
	}
	if l := logChi2Q(5000, 10); math.IsInf(l, 0) || l > -2000 {
		t.Errorf("logChi2Q(5000, 10) = %v: want a large negative finite number", l)
	}
}

func TestTokenProb(t *testing.T) {
	t.Parallel()
	const s, x = 0.45, 0.5
	if p := tokenProb(0, 0, 10, 10, s, x); p != x {
		t.Errorf("unseen token: %v, want the prior", p)
	}
	// Seen only in spam: close to 1, closer the more it is seen.
	p1, p10 := tokenProb(1, 0, 10, 10, s, x), tokenProb(10, 0, 10, 10, s, x)
	if !(p1 > 0.5 && p10 > p1 && p10 < 1) {
		t.Errorf("spam-only token: f(1)=%v f(10)=%v", p1, p10)
	}
	// Frequencies are normalized by the messages of each class.
	if p := tokenProb(10, 20, 100, 200, s, x); math.Abs(p-0.5) > 1e-12 {
		t.Errorf("equal frequencies: %v, want 0.5", p)
	}
}

func TestCombine(t *testing.T) {
	t.Parallel()
	mk := func(ps ...float64) []clue {
		var cs []clue
		for _, p := range ps {
			cs = append(cs, clue{p: p, dev: math.Abs(p - 0.5)})
		}
		return cs
	}
	rep := func(n int, p float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = p
		}
		return out
	}
	conflict := mk(append(rep(20, 0.9999), rep(10, 0.001)...)...)
	tests := []struct {
		name     string
		clues    []clue
		max, cc  int
		lo, hi   float64
		n        int
		rankSign float64
	}{
		{"no clues", nil, 150, 0, 0.5, 0.5, 0, 0},
		{"spammy", mk(0.99, 0.98, 0.95, 0.9), 150, 0, 0.99, 1, 4, 1},
		{"hammy", mk(0.01, 0.02, 0.05, 0.1), 150, 0, 0, 0.01, 4, -1},
		{"balanced", mk(0.99, 0.01), 150, 0, 0.5, 0.5, 2, 0},
		{"only the most significant count", mk(0.99, 0.98, 0.6, 0.6, 0.6, 0.4, 0.4, 0.4, 0.4), 2, 0, 0.99, 1, 2, 1},
		{"saturated both ways, no fallback: unsure", conflict, 30, 0, 0.45, 0.55, 30, 1},
		{"saturated both ways: the strongest decide", conflict, 30, 15, 0.99, 1, 15, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := combine(slices.Clone(tt.clues), tt.max, tt.cc)
			if v.prob < tt.lo || v.prob > tt.hi {
				t.Errorf("prob %v, want in [%v, %v]", v.prob, tt.lo, tt.hi)
			}
			if v.clues != tt.n {
				t.Errorf("used %d clues, want %d", v.clues, tt.n)
			}
			if tt.rankSign != 0 && v.rank*tt.rankSign <= 0 {
				t.Errorf("rank %v has the wrong sign", v.rank)
			}
		})
	}
}

func TestCombineScale(t *testing.T) {
	t.Parallel()
	// One clue: qs = 1 − p... with n = 1, chi2Q(x, 2) = e^(−x/2), so
	// qs = 1 − f and qh = f: S − H = 2f − 1.
	for _, tt := range []struct{ f, want float64 }{
		{0.5, 0.5},
		{0.5 + 0.5e-4, 0.75},    // S − H = 1e-4: half of the 8 decades
		{0.5 - 0.5e-4, 0.25},    // and the same towards ham
		{0.5 + 0.5e-9, 0.5},     // below 1e-8: unsure
		{0.5 + 0.5*0.1, 0.9375}, // 1e-1: 7 of 8 decades
	} {
		v := combine([]clue{{p: tt.f, dev: math.Abs(tt.f - 0.5)}}, 1, 0)
		if math.Abs(v.prob-tt.want) > 1e-6 {
			t.Errorf("f=%v: prob %v, want %v", tt.f, v.prob, tt.want)
		}
	}
}

func TestSelectTop(t *testing.T) {
	t.Parallel()
	for n := 1; n < 60; n += 7 {
		for k := 1; k <= n; k += 3 {
			cs := make([]clue, n)
			for i := range cs {
				d := float64((i*37)%n) / float64(n) / 2
				cs[i] = clue{p: 0.5 + d, dev: d}
			}
			want := slices.Clone(cs)
			slices.SortFunc(want, func(a, b clue) int {
				switch {
				case a.dev > b.dev:
					return -1
				case a.dev < b.dev:
					return 1
				}
				return 0
			})
			selectTop(cs, k)
			got := slices.Clone(cs[:k])
			slices.SortFunc(got, func(a, b clue) int {
				switch {
				case a.dev > b.dev:
					return -1
				case a.dev < b.dev:
					return 1
				}
				return 0
			})
			for i := range got {
				if got[i].dev != want[i].dev {
					t.Fatalf("n=%d k=%d: top %v, want %v", n, k, got, want[:k])
				}
			}
		}
	}
}

// chi2Q is the reference for logChi2Q: the probability that a chi-square variable with v degrees of
// freedom (v even) is at least x2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	sum := math.Exp(-m)
	term := sum
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}
