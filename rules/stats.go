package rules

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/moatmail/moat/filter"
)

// StatsOptions tunes Stats.
type StatsOptions struct {
	// Workers is how many messages are matched at once (default 2).
	Workers int
	// Extra are checks run on each message (data stage only) before the
	// rules, such as the headers check: their symbols are visible to
	// expressions and count in the score.
	Extra []filter.Check
	// Thresholds are scores to count messages reaching, such as the
	// policy's add_header, junk and reject thresholds.
	Thresholds []Threshold
	// Score computes a message's score from its symbols (the rules' hits
	// that are not shadow, and the Extra checks' symbols). The default is
	// the sum of the symbols' scores.
	Score func(syms []filter.Symbol) float64
	// MaxListed is how many file names ThresholdStats.HamFiles lists
	// (default 20).
	MaxListed int
}

// Threshold is a named score.
type Threshold struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
}

// StatsReport is what Stats found. Its JSON form is stable.
type StatsReport struct {
	// Dir is the corpus directory.
	Dir string `json:"dir"`
	// Ham and Spam are the numbers of messages matched.
	Ham  int `json:"ham"`
	Spam int `json:"spam"`
	// Rules holds one entry per rule, most useful first: rules that hit
	// before rules that did not, then by S/O (spam-ness) descending, then
	// by spam hits descending.
	Rules []RuleStats `json:"rules"`
	// Thresholds says how many messages reached each threshold.
	Thresholds []ThresholdStats `json:"thresholds,omitempty"`
	// BudgetExceeded counts messages that exhausted the matching budget.
	BudgetExceeded int `json:"budget_exceeded"`
	// Elapsed is the wall time of the run; PerMessage the mean matching
	// time of one message on one worker.
	Elapsed    time.Duration `json:"elapsed_ns"`
	PerMessage time.Duration `json:"per_message_ns"`
}

// RuleStats is one rule's hits on the corpus.
type RuleStats struct {
	Symbol   string  `json:"symbol"`
	Score    float64 `json:"score"`
	Kind     string  `json:"kind"`
	Shadow   bool    `json:"shadow,omitempty"`
	HamHits  int     `json:"ham_hits"`
	SpamHits int     `json:"spam_hits"`
	// HamRate and SpamRate are the fractions of each class hit (0 to 1).
	HamRate  float64 `json:"ham_rate"`
	SpamRate float64 `json:"spam_rate"`
	// SO is SpamRate / (SpamRate + HamRate): 1 for a rule that hits only
	// spam, 0 for one that hits only ham or nothing.
	SO float64 `json:"s_o"`
	// Ratio is SpamRate / HamRate; null when the rule hits no ham.
	Ratio *float64 `json:"ratio"`
}

// ThresholdStats counts the messages whose score reached a threshold.
type ThresholdStats struct {
	Threshold
	HamCount  int     `json:"ham_count"`
	SpamCount int     `json:"spam_count"`
	HamRate   float64 `json:"ham_rate"`
	SpamRate  float64 `json:"spam_rate"`
	// HamFiles names the first ham messages (in name order) that reached
	// it, to look at.
	HamFiles []string `json:"ham_files,omitempty"`
}

// corpusFile is one message file and its class.
type corpusFile struct {
	path string
	spam bool
}

// fileResult is what matching one file found.
type fileResult struct {
	hits    []bool
	score   float64
	elapsed time.Duration
	budget  bool
	err     error
}

// Stats matches rs against every message of dir/ham/*.eml and
// dir/spam/*.eml (a leading mbox "From " line is removed) and reports each
// rule's hits. Expressions see only the rules' own symbols and those of
// opts.Extra. It fails when dir has neither folder or a file cannot be
// read.
func Stats(ctx context.Context, rs *RuleSet, dir string, opts StatsOptions) (*StatsReport, error) {
	start := time.Now()
	var files []corpusFile
	for _, class := range []string{"ham", "spam"} {
		names, err := filepath.Glob(filepath.Join(dir, class, "*.eml"))
		if err != nil {
			return nil, fmt.Errorf("rules stats: %w", err)
		}
		slices.Sort(names)
		for _, n := range names {
			files = append(files, corpusFile{path: n, spam: class == "spam"})
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("rules stats: no ham/*.eml or spam/*.eml under %s", dir)
	}
	workers := cmp.Or(opts.Workers, 2)
	score := opts.Score
	if score == nil {
		score = sumScores
	}
	var extra *filter.Pipeline
	if len(opts.Extra) > 0 {
		extra = filter.NewPipeline(opts.Extra, 0, nil)
	}

	results := make([]fileResult, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				results[i] = statFile(ctx, rs, files[i].path, extra, score)
			}
		})
	}
feed:
	for i := range files {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rules stats: %w", err)
	}
	return summarize(rs, dir, files, results, opts, start)
}

// statFile matches one message file.
func statFile(ctx context.Context, rs *RuleSet, path string, extra *filter.Pipeline, score func([]filter.Symbol) float64) fileResult {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fileResult{err: fmt.Errorf("rules stats: %w", err)}
	}
	raw = StripMboxFrom(raw)
	t0 := time.Now()
	var syms []filter.Symbol
	present := func(string) bool { return false }
	if extra != nil {
		msg, _ := filter.NewMessage(raw) // a NUL in the header is still matched
		txn := &filter.Txn{ID: filepath.Base(path), Msg: msg}
		extra.Run(ctx, txn, filter.StageData)
		syms = txn.Symbols()
		present = presentIn(txn)
	}
	res, hits := rs.match(ctx, raw, int64(len(raw)), present)
	elapsed := time.Since(t0)
	syms = append(syms, res.Symbols()...)
	return fileResult{hits: hits, score: score(syms), elapsed: elapsed, budget: res.BudgetExceeded}
}

// StripMboxFrom removes a leading mbox envelope line ("From addr date"),
// which is not part of the message.
func StripMboxFrom(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte("From ")) {
		return raw
	}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		return raw[i+1:]
	}
	return nil
}

func sumScores(syms []filter.Symbol) float64 {
	var s float64
	for _, x := range syms {
		s += x.Score
	}
	return s
}

// summarize turns per-file results into the report.
func summarize(rs *RuleSet, dir string, files []corpusFile, results []fileResult, opts StatsOptions, start time.Time) (*StatsReport, error) {
	rep := &StatsReport{Dir: dir, Rules: make([]RuleStats, len(rs.rules))}
	for i, r := range rs.rules {
		rep.Rules[i] = RuleStats{Symbol: r.info.Symbol, Score: r.info.Score, Kind: r.info.Kind, Shadow: r.info.Shadow}
	}
	for _, t := range opts.Thresholds {
		rep.Thresholds = append(rep.Thresholds, ThresholdStats{Threshold: t})
	}
	maxListed := cmp.Or(opts.MaxListed, 20)
	var total time.Duration
	for i, res := range results {
		if res.err != nil {
			return nil, res.err
		}
		spam := files[i].spam
		if spam {
			rep.Spam++
		} else {
			rep.Ham++
		}
		total += res.elapsed
		if res.budget {
			rep.BudgetExceeded++
		}
		for j, hit := range res.hits {
			switch {
			case !hit:
			case spam:
				rep.Rules[j].SpamHits++
			default:
				rep.Rules[j].HamHits++
			}
		}
		for k := range rep.Thresholds {
			t := &rep.Thresholds[k]
			switch {
			case res.score < t.Score:
			case spam:
				t.SpamCount++
			default:
				t.HamCount++
				if len(t.HamFiles) < maxListed {
					t.HamFiles = append(t.HamFiles, files[i].path)
				}
			}
		}
	}
	rate := func(n, of int) float64 {
		if of == 0 {
			return 0
		}
		return float64(n) / float64(of)
	}
	for i := range rep.Rules {
		r := &rep.Rules[i]
		r.HamRate, r.SpamRate = rate(r.HamHits, rep.Ham), rate(r.SpamHits, rep.Spam)
		if r.HamRate+r.SpamRate > 0 {
			r.SO = r.SpamRate / (r.SpamRate + r.HamRate)
		}
		if r.HamHits > 0 {
			ratio := r.SpamRate / r.HamRate
			r.Ratio = &ratio
		}
	}
	for k := range rep.Thresholds {
		t := &rep.Thresholds[k]
		t.HamRate, t.SpamRate = rate(t.HamCount, rep.Ham), rate(t.SpamCount, rep.Spam)
	}
	slices.SortStableFunc(rep.Rules, func(a, b RuleStats) int {
		hitA, hitB := a.HamHits+a.SpamHits > 0, b.HamHits+b.SpamHits > 0
		if hitA != hitB {
			if hitA {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.SO, a.SO), cmp.Compare(b.SpamHits, a.SpamHits), cmp.Compare(a.Symbol, b.Symbol))
	})
	rep.Elapsed = time.Since(start)
	if n := len(results); n > 0 {
		rep.PerMessage = total / time.Duration(n)
	}
	return rep, nil
}
