package bayes

import (
	"strings"
	"testing"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/filter/state/statetest"
)

// txn returns a data-stage transaction carrying raw.
func txn(t *testing.T, raw []byte, rcpts ...string) *filter.Txn {
	t.Helper()
	m, err := filter.NewMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &filter.Txn{ID: "t1", Rcpts: rcpts, Msg: m}
}

// learned returns a Bayes on a memory store that learned 20 of each of
// spamText and hamText.
func learned(t *testing.T, mod func(*Options)) *Bayes {
	t.Helper()
	clock := statetest.NewClock(epoch)
	b := newBayes(t, state.NewMemory(clock.Now), clock, func(o *Options) {
		o.MinLearned = 20
		if mod != nil {
			mod(o)
		}
	})
	var spams, hams [][]byte
	for i := range 20 {
		spams, hams = append(spams, spamText(i)), append(hams, hamText(i))
	}
	ctx := ctxT(t)
	if _, err := b.Learn(ctx, "", Spam, spams...); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Learn(ctx, "", Ham, hams...); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckSymbols(t *testing.T) {
	t.Parallel()
	b := learned(t, nil)
	ctx := ctxT(t)
	if b.Name() != "bayes" || len(b.Stages()) != 1 || b.Stages()[0] != filter.StageData {
		t.Fatalf("Name %q, Stages %v", b.Name(), b.Stages())
	}
	tests := []struct {
		name       string
		raw        []byte
		want       string
		minS, maxS float64
	}{
		{"spam", spamText(500), SymbolSpam, DefaultSpamScore / 2, DefaultSpamScore},
		{"ham", hamText(500), SymbolHam, DefaultHamScore, DefaultHamScore / 2},
		{"nothing known", []byte("Subject: zzz\n\nqqq www"), SymbolUnsure, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			syms, err := b.Check(ctx, txn(t, tt.raw), filter.StageData)
			if err != nil {
				t.Fatal(err)
			}
			if len(syms) != 1 || syms[0].Name != tt.want || syms[0].Score < tt.minS || syms[0].Score > tt.maxS ||
				!strings.HasPrefix(syms[0].Reason, "probability ") {
				t.Errorf("got %+v, want %s scoring %v to %v", syms, tt.want, tt.minS, tt.maxS)
			}
		})
	}
	t.Run("other stages", func(t *testing.T) {
		t.Parallel()
		if syms, err := b.Check(ctx, txn(t, spamText(1)), filter.StageRcpt); syms != nil || err != nil {
			t.Errorf("rcpt stage: %v, %v", syms, err)
		}
		if syms, err := b.Check(ctx, &filter.Txn{}, filter.StageData); syms != nil || err != nil {
			t.Errorf("no message: %v, %v", syms, err)
		}
	})
}

func TestCheckNeedsMinLearned(t *testing.T) {
	t.Parallel()
	b := learned(t, func(o *Options) { o.MinLearned = 21 })
	syms, err := b.Check(ctxT(t), txn(t, spamText(500)), filter.StageData)
	if syms != nil || err != nil {
		t.Errorf("with 20 of each learned and MinLearned 21: %v, %v", syms, err)
	}
}

func TestCheckUsesTheRecipientsModel(t *testing.T) {
	t.Parallel()
	b := learned(t, func(o *Options) { o.UserMinLearned = 2 })
	ctx := ctxT(t)
	if _, err := b.Learn(ctx, "bob@example.org", Spam, hamText(100), hamText(101)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Learn(ctx, "bob@example.org", Ham, []byte("Subject: x\n\nfishing trip"), []byte("Subject: y\n\nsailing trip")); err != nil {
		t.Fatal(err)
	}
	one, err := b.Check(ctx, txn(t, hamText(500), "Bob@Example.org"), filter.StageData)
	if err != nil {
		t.Fatal(err)
	}
	two, err := b.Check(ctx, txn(t, hamText(500), "bob@example.org", "carol@example.org"), filter.StageData)
	if err != nil {
		t.Fatal(err)
	}
	if one[0].Name == SymbolHam || !strings.Contains(one[0].Reason, "bob@example.org") {
		t.Errorf("bob alone: %+v, want his model to make it spammier", one)
	}
	if two[0].Name != SymbolHam || strings.Contains(two[0].Reason, "model of") {
		t.Errorf("bob and carol: %+v, want the global model's ham", two)
	}
}

func TestSymbolScores(t *testing.T) {
	t.Parallel()
	b := learned(t, func(o *Options) {
		o.SpamCutoff, o.HamCutoff, o.SpamScore, o.HamScore = 0.9, 0.2, 6, -2
	})
	tests := []struct {
		prob  float64
		name  string
		score float64
	}{
		{1, SymbolSpam, 6},
		{0.95, SymbolSpam, 4.5},
		{0.9, SymbolSpam, 3},
		{0.89, SymbolUnsure, 0},
		{0.5, SymbolUnsure, 0},
		{0.2, SymbolHam, -1},
		{0.1, SymbolHam, -1.5},
		{0, SymbolHam, -2},
	}
	for _, tt := range tests {
		s := b.Symbol(Result{Ready: true, Prob: tt.prob})
		if s.Name != tt.name || s.Score != tt.score {
			t.Errorf("prob %v: %s %v, want %s %v", tt.prob, s.Name, s.Score, tt.name, tt.score)
		}
	}
}

func TestCheckStoreFailure(t *testing.T) {
	t.Parallel()
	clock := statetest.NewClock(epoch)
	st := state.NewMemory(clock.Now)
	b := newBayes(t, st, clock, nil)
	st.Close()
	if _, err := b.Check(ctxT(t), txn(t, spamText(1)), filter.StageData); err == nil {
		t.Error("no error from a closed store")
	}
}

func TestCheckReadsSpooledMessages(t *testing.T) {
	t.Parallel()
	b := learned(t, nil)
	sp := filter.NewSpool(t.TempDir(), 64) // most of the message goes to the file
	raw := spamText(500)
	if _, err := sp.Write(raw); err != nil {
		t.Fatal(err)
	}
	m, err := sp.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	syms, err := b.Check(ctxT(t), &filter.Txn{Msg: m}, filter.StageData)
	if err != nil || len(syms) != 1 || syms[0].Name != SymbolSpam {
		t.Errorf("spooled spam: %+v, %v", syms, err)
	}
}

func TestAutoLearn(t *testing.T) {
	t.Parallel()
	ptr := func(f float64) *float64 { return &f }
	ctx := ctxT(t)
	msgOf := func(raw []byte) *filter.Message {
		m, err := filter.NewMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		b := learned(t, nil)
		c, o, err := b.AutoLearn(ctx, msgOf(spamText(700)), 100, nil)
		if c != 0 || o != 0 || err != nil {
			t.Errorf("got %v %v %v", c, o, err)
		}
	})
	b := learned(t, func(o *Options) { o.AutoLearnSpam, o.AutoLearnHam = ptr(10), ptr(-1) })
	tests := []struct {
		name  string
		raw   []byte
		score float64
		syms  []filter.Symbol
		class Class
		out   Outcome
	}{
		{"bayes' own score does not count", spamText(701), 12, []filter.Symbol{{Name: SymbolSpam, Score: 3}}, 0, 0},
		{"spam over the threshold", spamText(702), 13, []filter.Symbol{{Name: SymbolSpam, Score: 3}}, Spam, Learned},
		{"ham under the threshold", hamText(703), -2, nil, Ham, Learned},
		{"between", hamText(704), 5, nil, 0, 0},
		{"never overrides a learned message", hamText(1), 20, nil, Spam, Already},
	}
	for _, tt := range tests {
		c, o, err := b.AutoLearn(ctx, msgOf(tt.raw), tt.score, tt.syms)
		if err != nil || c != tt.class || o != tt.out {
			t.Errorf("%s: got %v %v %v, want %v %v", tt.name, c, o, err, tt.class, tt.out)
		}
	}
	if c, _ := b.LearnedAs(ctx, "", hamText(1)); c != Ham {
		t.Errorf("autolearn changed a learned ham into %v", c)
	}
	if s := stats(t, b, ""); s.SpamLearned != 21 || s.HamLearned != 21 {
		t.Errorf("stats %+v, want 21 of each", s)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := []func(*Options){
		func(o *Options) { o.Strength = 0 },
		func(o *Options) { o.Prior = 1 },
		func(o *Options) { o.MinDeviation = 0.5 },
		func(o *Options) { o.MaxClues = 0 },
		func(o *Options) { o.HamCutoff = o.SpamCutoff },
		func(o *Options) { o.SpamScore = -1 },
		func(o *Options) { o.HamScore = 1 },
		func(o *Options) { o.MaxTokens = 10 },
		func(o *Options) { o.DigestTTL = time.Minute },
		func(o *Options) { o.Tokenizer.Window = MaxWindow + 1 },
		func(o *Options) { s, h := 1.0, 2.0; o.AutoLearnSpam, o.AutoLearnHam = &s, &h },
	}
	for i, mod := range bad {
		o := DefaultOptions()
		mod(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("case %d: no error", i)
		}
		if _, err := New(state.NewMemory(nil), o); err == nil {
			t.Errorf("case %d: New accepted bad options", i)
		}
	}
}
