package rules_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/bayes"
	"github.com/moatmail/moat/filter/headers"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/rules"
)

// combinedFolds is the number of cross-validation folds, as in the Bayes
// evaluation (`moat bayes eval --folds 5`).
const combinedFolds = 5

// maxHamJunkRate is the bound on ham scored junk or above.
const maxHamJunkRate = 0.005

// corpusMsg is one corpus message, read as `moat check` reads it.
type corpusMsg struct {
	name string // class/file, e.g. ham/00001.eml
	spam bool
	fold int
	raw  []byte
}

// The configurations measured, in table order.
const (
	cfgRules    = iota // headers check + default rules
	cfgBayes           // Bayes alone
	cfgCombined        // headers + default rules + Bayes
	numConfigs
)

var configNames = [numConfigs]string{"rules+headers", "bayes", "rules+headers+bayes"}

// verdictOf is one message's verdict under one configuration.
type verdictOf struct {
	action  policies.Action
	score   float64
	symbols []filter.Symbol
}

// TestCombinedCorpus measures the default rules, the Bayes scorer and
// both together on a corpus directory (ham/, spam/) named by MOAT_CORPUS,
// under the default policy, with the Bayes evaluation's 5-fold split: each
// fold is scored against a model learned from the other four. It logs the
// pooled figures and checks the bound (at most 0.5% of ham at junk
// or above) for the rules alone and for the combination. It is skipped
// unless MOAT_CORPUS is set.
func TestCombinedCorpus(t *testing.T) {
	dir := os.Getenv("MOAT_CORPUS")
	if dir == "" {
		t.Skip("set MOAT_CORPUS to a corpus directory (ham/, spam/) to measure rules and Bayes together")
	}
	start := time.Now()
	msgs := readCorpus(t, dir)
	rs, err := rules.Load(rules.Options{Defaults: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rs.ExternalSymbols() {
		if strings.HasPrefix(s, "BAYES_") {
			t.Logf("default rules refer to %s: rule hits differ with and without Bayes", s)
		}
	}
	pol, err := policies.Default().CompilePolicy()
	if err != nil {
		t.Fatal(err)
	}
	hdr, rc := headers.New(), rules.NewCheck(rs)

	verdicts := make([][numConfigs]verdictOf, len(msgs))
	for f := range combinedFolds {
		var learn, check []int
		for i, m := range msgs {
			if m.fold == f {
				check = append(check, i)
			} else {
				learn = append(learn, i)
			}
		}
		b, closeStore := trainFold(t, msgs, learn)
		pipes := [numConfigs]*filter.Pipeline{
			cfgRules:    filter.NewPipeline([]filter.Check{hdr, rc}, 0, nil),
			cfgBayes:    filter.NewPipeline([]filter.Check{b}, 0, nil),
			cfgCombined: filter.NewPipeline([]filter.Check{hdr, b, rc}, 0, nil),
		}
		forEach(check, func(i int) {
			for c, p := range pipes {
				verdicts[i][c] = runOne(t, p, pol, msgs[i])
			}
		})
		closeStore()
	}

	var b strings.Builder
	tally := writeTable(&b, msgs, verdicts)
	t.Logf("default policy (add_header 5, junk 8, reject 15) on %s, %d-fold, in %v:\n%s",
		dir, combinedFolds, time.Since(start).Round(time.Millisecond), b.String())
	for _, c := range []int{cfgRules, cfgCombined} {
		if rate := tally[c].hamJunkRate(); rate > maxHamJunkRate {
			t.Errorf("%s: %.3f%% of ham at junk or above, want at most %.1f%%:\n%s",
				configNames[c], 100*rate, 100*maxHamJunkRate, hamAtJunk(msgs, verdicts, c))
		}
	}
}

// readCorpus reads dir/ham and dir/spam; within each class, files in name
// order, the i-th (from 0) going to fold i mod combinedFolds. Each message
// loses a leading mbox "From " line and gets CRLF line endings, as
// `moat check` reads a file.
func readCorpus(t *testing.T, dir string) []corpusMsg {
	t.Helper()
	var out []corpusMsg
	for _, class := range []string{"ham", "spam"} {
		entries, err := os.ReadDir(filepath.Join(dir, class))
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for _, e := range entries { // ReadDir sorts by name
			if !e.Type().IsRegular() {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(dir, class, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, corpusMsg{
				name: class + "/" + e.Name(), spam: class == "spam", fold: i % combinedFolds, raw: wireForm(raw),
			})
			i++
		}
		if i == 0 {
			t.Fatalf("no messages in %s", filepath.Join(dir, class))
		}
	}
	return out
}

// wireForm strips a leading mbox separator line and normalises line
// endings to CRLF.
func wireForm(raw []byte) []byte {
	raw = rules.StripMboxFrom(raw)
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
}

// trainFold learns msgs[learn] into a fresh in-memory model, in batches
// as `moat bayes eval` does, and returns the scorer and a function that
// closes its store.
func trainFold(t *testing.T, msgs []corpusMsg, learn []int) (*bayes.Bayes, func()) {
	t.Helper()
	st := state.NewMemory(nil)
	b, err := bayes.New(st, bayes.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range []bayes.Class{bayes.Ham, bayes.Spam} {
		var raws [][]byte
		for _, i := range learn {
			if msgs[i].spam == (class == bayes.Spam) {
				raws = append(raws, msgs[i].raw)
			}
		}
		for len(raws) > 0 {
			n := min(b.Options().Batch, len(raws))
			if _, err := b.Learn(t.Context(), "", class, raws[:n]...); err != nil {
				t.Fatal(err)
			}
			raws = raws[n:]
		}
	}
	return b, func() { st.Close() }
}

// forEach calls fn on every element of idx, GOMAXPROCS at a time.
func forEach(idx []int, fn func(int)) {
	ch := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range ch {
				fn(i)
			}
		})
	}
	for _, i := range idx {
		ch <- i
	}
	close(ch)
	wg.Wait()
}

// runOne runs the data stage of p on m and evaluates it with pol.
func runOne(t *testing.T, p *filter.Pipeline, pol *policies.Policy, m corpusMsg) verdictOf {
	msg, err := filter.NewMessage(m.raw)
	if err != nil {
		t.Errorf("%s: %v", m.name, err) // moat would refuse it; the corpus has none
	}
	txn := &filter.Txn{
		ID: m.name, Start: time.Now(), ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: "mail.example.org",
		MailFrom: "sender@example.org", Rcpts: []string{"postmaster@" + policies.DefaultLocalDomain}, Msg: msg,
	}
	p.Run(context.Background(), txn, filter.StageData)
	v := pol.Evaluate(txn)
	return verdictOf{action: v.Action, score: v.Score, symbols: v.Symbols}
}

// counts are one configuration's pooled figures.
type counts struct {
	ham, spam                       int
	hamJunk, hamHeader, hamReject   int
	spamJunk, spamHeader, spamRejct int
	tempfails, budget               int
}

func (c counts) hamJunkRate() float64 { return float64(c.hamJunk) / float64(c.ham) }

// writeTable pools the verdicts and writes the table.
func writeTable(w *strings.Builder, msgs []corpusMsg, verdicts [][numConfigs]verdictOf) [numConfigs]counts {
	var tally [numConfigs]counts
	for i, m := range msgs {
		for c := range numConfigs {
			v, n := verdicts[i][c], &tally[c]
			junk, header, reject := v.action >= policies.Junk, v.action >= policies.AddHeader, v.action == policies.Reject
			if m.spam {
				n.spam++
				n.spamJunk, n.spamHeader, n.spamRejct = n.spamJunk+b2i(junk), n.spamHeader+b2i(header), n.spamRejct+b2i(reject)
			} else {
				n.ham++
				n.hamJunk, n.hamHeader, n.hamReject = n.hamJunk+b2i(junk), n.hamHeader+b2i(header), n.hamReject+b2i(reject)
			}
			for _, s := range v.symbols {
				n.tempfails += b2i(strings.HasSuffix(s.Name, "_TEMPFAIL"))
				n.budget += b2i(s.Name == rules.BudgetSymbol)
			}
		}
	}
	pct := func(k, n int) string { return fmt.Sprintf("%d (%.3f%%)", k, 100*float64(k)/float64(n)) }
	fmt.Fprintf(w, "ham %d, spam %d\n", tally[0].ham, tally[0].spam)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "configuration\tham ≥ junk (FP)\tham ≥ add_header\tham rejected\tspam ≥ junk\tspam ≥ add_header\tspam rejected\ttempfail/budget")
	for c, n := range tally {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", configNames[c],
			pct(n.hamJunk, n.ham), pct(n.hamHeader, n.ham), pct(n.hamReject, n.ham),
			pct(n.spamJunk, n.spam), pct(n.spamHeader, n.spam), pct(n.spamRejct, n.spam), n.tempfails, n.budget)
	}
	tw.Flush()
	for c := range numConfigs {
		if s := hamAtJunk(msgs, verdicts, c); s != "" {
			fmt.Fprintf(w, "ham at junk or above, %s:\n%s", configNames[c], s)
		}
	}
	return tally
}

// hamAtJunk lists the ham messages at junk or above under configuration
// c, with their scores and symbols.
func hamAtJunk(msgs []corpusMsg, verdicts [][numConfigs]verdictOf, c int) string {
	var b strings.Builder
	for i, m := range msgs {
		v := verdicts[i][c]
		if m.spam || v.action < policies.Junk {
			continue
		}
		syms := make([]string, len(v.symbols))
		for j, s := range v.symbols {
			syms[j] = fmt.Sprintf("%s=%.2f", s.Name, s.Score)
		}
		slices.Sort(syms)
		fmt.Fprintf(&b, "  %s %s %.2f: %s\n", m.name, v.action, v.score, strings.Join(syms, " "))
	}
	return b.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
