package bayes

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/moatmail/moat/filter/state"
)

// EvalOptions configure Eval.
type EvalOptions struct {
	// Train and Test are directories holding ham/ and spam/ (files,
	// mbox files or Maildirs, as Train reads them). With Folds ≥ 2, Test
	// is empty and Train is split into Folds folds: within each class,
	// messages in file-name order, the i-th (from 0) in fold i mod Folds;
	// each fold is tested against a model learned from the others, and
	// the outcomes are pooled.
	Train, Test string
	Folds       int
	// Options are the classifier's options (start from DefaultOptions).
	// MinLearned and per-user models do not apply: every fold's model is
	// used whatever its size.
	Options Options
	// Each, when set, receives every test message's outcome.
	Each func(Scored)
	// Progress, when set, is told about each fold as it starts.
	Progress func(fold, folds int)
}

// evalMsg is one corpus message, tokenized once.
type evalMsg struct {
	name   string
	spam   bool
	fold   int
	digest Digest
	ids    []uint64
}

// Eval measures the classifier: it learns the training messages in a
// fresh in-memory store, classifies the test messages, and computes the
// metrics at the options' cutoffs.
func Eval(ctx context.Context, o EvalOptions) (EvalResult, error) {
	opts := o.Options
	opts.MinLearned = 0
	opts.PerUser = false
	if err := opts.Validate(); err != nil {
		return EvalResult{}, err
	}
	tok := NewTokenizer(opts.Tokenizer)
	var train, test []evalMsg
	var err error
	if o.Folds >= 2 {
		if o.Test != "" {
			return EvalResult{}, fmt.Errorf("bayes: eval: give either a test directory or folds, not both")
		}
		if train, err = loadCorpus(ctx, o.Train, tok, o.Folds); err != nil {
			return EvalResult{}, err
		}
	} else {
		if o.Test == "" {
			return EvalResult{}, fmt.Errorf("bayes: eval: no test directory")
		}
		if train, err = loadCorpus(ctx, o.Train, tok, 1); err != nil {
			return EvalResult{}, err
		}
		if test, err = loadCorpus(ctx, o.Test, tok, 1); err != nil {
			return EvalResult{}, err
		}
	}
	folds := max(o.Folds, 1)
	var out []Scored
	for f := 0; f < folds; f++ {
		if o.Progress != nil {
			o.Progress(f, folds)
		}
		learn, check := train, test
		if folds > 1 {
			learn, check = nil, nil
			for _, m := range train {
				if m.fold == f {
					check = append(check, m)
				} else {
					learn = append(learn, m)
				}
			}
		}
		scored, err := evalFold(ctx, opts, learn, check)
		if err != nil {
			return EvalResult{}, err
		}
		for _, s := range scored {
			if o.Each != nil {
				o.Each(s)
			}
		}
		out = append(out, scored...)
	}
	return Measure(out, opts.HamCutoff, opts.SpamCutoff), nil
}

// evalFold learns one model and scores the test messages against it.
func evalFold(ctx context.Context, opts Options, learn, check []evalMsg) ([]Scored, error) {
	st := state.NewMemory(opts.Now)
	defer st.Close()
	b, err := New(st, opts)
	if err != nil {
		return nil, err
	}
	for start := 0; start < len(learn); start += b.o.Batch {
		end := min(start+b.o.Batch, len(learn))
		items := make([]item, 0, end-start)
		for _, m := range learn[start:end] {
			c := Ham
			if m.spam {
				c = Spam
			}
			items = append(items, item{digest: m.digest, ids: m.ids, class: c})
		}
		if _, _, err := b.apply(ctx, b.global, items); err != nil {
			return nil, err
		}
	}
	out := make([]Scored, 0, len(check))
	buf := &classifyBuf{}
	for _, m := range check {
		buf.ids = m.ids
		r, err := b.classifyIDs(ctx, buf, "")
		if err != nil {
			return nil, err
		}
		p := r.Prob
		if !r.Ready {
			p = 0.5
		}
		out = append(out, Scored{Spam: m.spam, Prob: p, Rank: r.Rank, Name: m.name})
	}
	return out, nil
}

// loadCorpus reads dir/ham and dir/spam and tokenizes every message.
func loadCorpus(ctx context.Context, dir string, tok *Tokenizer, folds int) ([]evalMsg, error) {
	var out []evalMsg
	for _, class := range []string{"ham", "spam"} {
		srcs, err := ListSources([]string{filepath.Join(dir, class)})
		if err != nil {
			return nil, err
		}
		i := 0
		for _, s := range srcs {
			err := ReadSource(s.Path, func(n int, raw []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				name := s.Path
				if n > 0 {
					name = fmt.Sprintf("%s#%d", s.Path, n)
				}
				out = append(out, evalMsg{
					name: name, spam: class == "spam", fold: i % folds,
					digest: MessageDigest(raw), ids: tok.Tokens(nil, raw),
				})
				i++
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		if i == 0 {
			return nil, fmt.Errorf("bayes: eval: no messages in %s", filepath.Join(dir, class))
		}
	}
	return out, nil
}

// WriteText writes the result as `moat bayes eval` prints it.
func (r EvalResult) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, `ham:                 %d
spam:                %d
cutoff:              %.4g
false positives:     %d (%.3f%%)
spam recall:         %.2f%%
precision:           %.2f%%
unsure:              %d
ROC AUC:             %.5f
recall at 0.1%% FPR:  %.2f%%
`, r.Ham, r.Spam, r.Cutoff, r.FalsePositives, 100*r.FalsePositiveRate, 100*r.SpamRecall,
		100*r.Precision, r.Unsure, r.AUC, 100*r.RecallAt01FPR)
	return err
}
