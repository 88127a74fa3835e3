package bayes

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/moatmail/moat/filter"
)

// The symbols of the bayes check.
const (
	// SymbolSpam: the probability is at or above SpamCutoff.
	SymbolSpam = "BAYES_SPAM"
	// SymbolHam: the probability is at or below HamCutoff.
	SymbolHam = "BAYES_HAM"
	// SymbolUnsure: in between (score 0).
	SymbolUnsure = "BAYES_UNSURE"
)

// Name returns "bayes".
func (b *Bayes) Name() string { return "bayes" }

// Stages returns the data stage.
func (b *Bayes) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// Check classifies the transaction's message and returns one of
// BAYES_SPAM, BAYES_HAM and BAYES_UNSURE, or nothing while no model has
// learned enough. A store failure is an error (BAYES_TEMPFAIL).
func (b *Bayes) Check(ctx context.Context, t *filter.Txn, s filter.Stage) ([]filter.Symbol, error) {
	if s != filter.StageData || t.Msg == nil {
		return nil, nil
	}
	raw, err := b.messageBytes(t.Msg)
	if err != nil {
		return nil, err
	}
	user := ""
	if b.o.PerUser {
		user = b.o.User(t)
	}
	r, err := b.Classify(ctx, raw, user)
	if err != nil || !r.Ready {
		return nil, err
	}
	return []filter.Symbol{b.Symbol(r)}, nil
}

// messageBytes returns the first MaxMessageBytes of a message.
func (b *Bayes) messageBytes(m *filter.Message) ([]byte, error) {
	p := m.Prefix()
	limit := int64(b.o.MaxMessageBytes)
	if int64(len(p)) >= m.Size() || int64(len(p)) >= limit {
		return p[:min(int64(len(p)), m.Size(), limit)], nil
	}
	buf := make([]byte, min(m.Size(), limit))
	if _, err := io.ReadFull(m.Reader(), buf); err != nil {
		return nil, fmt.Errorf("bayes: reading the message: %w", err)
	}
	return buf, nil
}

// Symbol turns a ready result into its symbol. BAYES_SPAM scores
// SpamScore × (0.5 + 0.5 t), t going from 0 at SpamCutoff to 1 at
// probability 1; BAYES_HAM the same with HamScore from HamCutoff down to
// 0; BAYES_UNSURE 0. Scores are rounded to hundredths.
func (b *Bayes) Symbol(r Result) filter.Symbol {
	reason := fmt.Sprintf("probability %.4f (%d of %d tokens)", r.Prob, r.Clues, r.Tokens)
	if r.User != "" {
		reason += ", with the model of " + r.User
	}
	switch {
	case r.Prob >= b.o.SpamCutoff:
		t := 1.0
		if b.o.SpamCutoff < 1 {
			t = (r.Prob - b.o.SpamCutoff) / (1 - b.o.SpamCutoff)
		}
		return filter.Symbol{Name: SymbolSpam, Score: round2(b.o.SpamScore * (0.5 + 0.5*t)), Reason: reason}
	case r.Prob <= b.o.HamCutoff:
		t := 1.0
		if b.o.HamCutoff > 0 {
			t = (b.o.HamCutoff - r.Prob) / b.o.HamCutoff
		}
		return filter.Symbol{Name: SymbolHam, Score: round2(b.o.HamScore * (0.5 + 0.5*t)), Reason: reason}
	}
	return filter.Symbol{Name: SymbolUnsure, Score: 0, Reason: reason}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// AutoLearn learns a message by its verdict when autolearn is on: as
// spam when score, less the scores of the BAYES_* symbols in syms, is at
// least AutoLearnSpam; as ham when it is at most AutoLearnHam. It never
// overrides a message already learned (by a user's Junk move, say). The
// global model learns it. It returns the class learned (0: none) and the
// outcome. Call it after the verdict, off the reply path.
func (b *Bayes) AutoLearn(ctx context.Context, m *filter.Message, score float64, syms []filter.Symbol) (Class, Outcome, error) {
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "BAYES_") {
			score -= s.Score
		}
	}
	var c Class
	switch {
	case b.o.AutoLearnSpam != nil && score >= *b.o.AutoLearnSpam:
		c = Spam
	case b.o.AutoLearnHam != nil && score <= *b.o.AutoLearnHam:
		c = Ham
	default:
		return 0, 0, nil
	}
	raw, err := b.messageBytes(m)
	if err != nil {
		return 0, 0, err
	}
	it := item{digest: MessageDigest(raw), ids: b.tok.Tokens(nil, raw), class: c, onlyNew: true}
	_, outs, err := b.apply(ctx, b.global, []item{it})
	if err != nil {
		return 0, 0, err
	}
	return c, outs[0], nil
}
