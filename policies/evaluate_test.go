package policies

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/moatmail/moat/filter"
)

func newTxn(rcpts []string, syms ...filter.Symbol) *filter.Txn {
	t := &filter.Txn{Rcpts: rcpts}
	t.Add(syms...)
	return t
}

func sym(name string, score float64) filter.Symbol { return filter.Symbol{Name: name, Score: score} }

func mustPolicy(t testing.TB, pc PolicyConfig) *Policy {
	t.Helper()
	p, err := NewPolicy(pc)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// defaultThresholds returns the built-in ladder: add_header 5, junk 8,
// reject 15, greylist off.
func defaultThresholds() Thresholds { return Default().Policy.Thresholds }

func TestEvaluateLadder(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	tests := []struct {
		name     string
		th       Thresholds
		score    float64
		want     Action
		required float64
	}{
		{"default: nothing", defaultThresholds(), 0, Accept, 8},
		{"default: negative", defaultThresholds(), -30, Accept, 8},
		{"default: below add_header", defaultThresholds(), 4.9, Accept, 8},
		{"default: add_header reached", defaultThresholds(), 5, AddHeader, 8},
		{"default: junk reached", defaultThresholds(), 8, Junk, 8},
		{"default: between junk and reject", defaultThresholds(), 14.9, Junk, 8},
		{"default: reject reached", defaultThresholds(), 15, Reject, 8},
		{"greylist step", Thresholds{AddHeader: f(5), Junk: f(8), Greylist: f(10), Reject: f(15)}, 12, Greylist, 8},
		{"greylist below reject", Thresholds{AddHeader: f(5), Junk: f(8), Greylist: f(10), Reject: f(15)}, 16, Reject, 8},
		{"junk off: add_header up to reject", Thresholds{AddHeader: f(5), Reject: f(15)}, 12, AddHeader, 5},
		{"only reject", Thresholds{Reject: f(15)}, 14, Accept, 15},
		{"only greylist", Thresholds{Greylist: f(3)}, 3, Greylist, 3},
		{"all off", Thresholds{}, 1000, Accept, 0},
		{"+Inf is off", Thresholds{Junk: &inf, Reject: f(15)}, 1e300, Reject, 15},
		{"not increasing: highest reached wins", Thresholds{AddHeader: f(20), Junk: f(10)}, 12, Junk, 10},
		{"not increasing: higher step reached", Thresholds{AddHeader: f(20), Junk: f(10)}, 25, AddHeader, 10},
		{"tie: the more severe", Thresholds{Junk: f(10), Reject: f(10)}, 10, Reject, 10},
		{"negative threshold", Thresholds{AddHeader: f(-5)}, -5, AddHeader, -5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustPolicy(t, PolicyConfig{Thresholds: tc.th})
			v := p.Evaluate(newTxn(nil, sym("A", tc.score)))
			if v.Action != tc.want || v.Score != tc.score || v.Required != tc.required || v.Forced != "" {
				t.Errorf("verdict = %s score %v required %v forced %q; want %s score %v required %v",
					v.Action, v.Score, v.Required, v.Forced, tc.want, tc.score, tc.required)
			}
		})
	}
}

func TestEvaluateScores(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, PolicyConfig{
		Thresholds: defaultThresholds(),
		Scores:     map[string]float64{"BAYES_SPAM_95": 6, "DNSWL_HI": -1},
	})
	txn := newTxn(nil, sym("DNSWL_HI", -5), sym("B_SMALL", 0.5), sym("BAYES_SPAM_95", 3), sym("A_SMALL", -0.5), sym("SPF_FAIL", 2))
	v := p.Evaluate(txn)
	want := []filter.Symbol{sym("BAYES_SPAM_95", 6), sym("SPF_FAIL", 2), sym("DNSWL_HI", -1), sym("A_SMALL", -0.5), sym("B_SMALL", 0.5)}
	if !reflect.DeepEqual(v.Symbols, want) {
		t.Errorf("symbols = %v\nwant %v", v.Symbols, want)
	}
	if v.Score != 7 || v.Action != AddHeader {
		t.Errorf("score %v action %s, want 7 add_header", v.Score, v.Action)
	}
	if got := txn.Symbols(); got[0].Score != -5 || got[2].Score != 3 {
		t.Errorf("Evaluate changed the transaction's symbols: %v", got)
	}
}

func TestEvaluateForceActions(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, PolicyConfig{
		Thresholds: defaultThresholds(),
		ForceActions: map[string]string{
			"GTUBE": "reject", "VIRUS": "reject", "DNS_TEMPFAIL": "tempfail",
			"MAILING_LIST": "junk", "PARTNER": "accept",
		},
	})
	tests := []struct {
		name   string
		syms   []filter.Symbol
		action Action
		forced string
	}{
		{"not forced", []filter.Symbol{sym("OTHER", 9)}, Junk, ""},
		{"forced whatever the score", []filter.Symbol{sym("GTUBE", 0)}, Reject, "GTUBE"},
		{"forced below the ladder", []filter.Symbol{sym("PARTNER", 0), sym("OTHER", 30)}, Accept, "PARTNER"},
		{"most severe forced wins", []filter.Symbol{sym("MAILING_LIST", 0), sym("DNS_TEMPFAIL", 0), sym("PARTNER", 0)}, Tempfail, "DNS_TEMPFAIL"},
		{"tie names the first by name", []filter.Symbol{sym("VIRUS", 0), sym("GTUBE", 0)}, Reject, "GTUBE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := p.Evaluate(newTxn(nil, tc.syms...))
			if v.Action != tc.action || v.Forced != tc.forced {
				t.Errorf("verdict %s forced %q, want %s forced %q", v.Action, v.Forced, tc.action, tc.forced)
			}
		})
	}
}

func TestEvaluateRecipientOverrides(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	p := mustPolicy(t, PolicyConfig{
		Thresholds:   defaultThresholds(),
		Scores:       map[string]float64{"BAYES": 4},
		ForceActions: map[string]string{"GTUBE": "reject"},
		Recipients: map[string]Override{
			"example.com":       {Thresholds: Thresholds{Junk: f(3)}, Scores: map[string]float64{"BAYES": 1}},
			"CEO@example.com":   {Thresholds: Thresholds{Junk: f(20)}, NeverReject: true},
			"abuse@example.com": {SkipChecks: true},
			"example.net":       {Thresholds: Thresholds{Reject: &inf}},
		},
	})
	tests := []struct {
		name     string
		rcpts    []string
		syms     []filter.Symbol
		action   Action
		score    float64
		required float64
	}{
		{"no override", []string{"u@other.example"}, []filter.Symbol{sym("X", 4)}, Accept, 4, 8},
		{"no recipients: global", nil, []filter.Symbol{sym("X", 16)}, Reject, 16, 8},
		{"domain override threshold", []string{"u@example.com"}, []filter.Symbol{sym("X", 4)}, Junk, 4, 3},
		// The inherited add_header (5) is now the highest step: above it
		// the action is add_header, as documented on Thresholds.
		{"domain override below an inherited step", []string{"u@example.com"}, []filter.Symbol{sym("X", 6)}, AddHeader, 6, 3},
		{"domain override is case-insensitive", []string{"U@EXAMPLE.COM"}, []filter.Symbol{sym("X", 4)}, Junk, 4, 3},
		{"domain override does not cover subdomains", []string{"u@sub.example.com"}, []filter.Symbol{sym("X", 4)}, Accept, 4, 8},
		{"domain override scores win over global", []string{"u@example.com"}, []filter.Symbol{sym("BAYES", 9)}, Accept, 1, 3},
		{"global scores elsewhere", []string{"u@other.example"}, []filter.Symbol{sym("BAYES", 9)}, Accept, 4, 8},
		{"address wins over domain", []string{"ceo@Example.com"}, []filter.Symbol{sym("X", 10)}, AddHeader, 10, 20},
		{"address override keeps global scores", []string{"ceo@example.com"}, []filter.Symbol{sym("BAYES", 0)}, Accept, 4, 20},
		{"never_reject: reject becomes junk", []string{"ceo@example.com"}, []filter.Symbol{sym("X", 30)}, Junk, 30, 20},
		{"never_reject: forced reject becomes junk", []string{"ceo@example.com"}, []filter.Symbol{sym("GTUBE", 0)}, Junk, 0, 20},
		{"skip_checks", []string{"abuse@example.com"}, []filter.Symbol{sym("GTUBE", 0), sym("X", 50)}, Accept, 0, 8},
		{"override disables reject", []string{"u@example.net"}, []filter.Symbol{sym("X", 30)}, Junk, 30, 8},
		{"least severe: never_reject", []string{"u@other.example", "ceo@example.com"}, []filter.Symbol{sym("X", 30)}, Junk, 30, 20},
		{"least severe: skip_checks", []string{"ceo@example.com", "abuse@example.com", "u@other.example"}, []filter.Symbol{sym("X", 30)}, Accept, 0, 8},
		{"least severe: lower threshold loses", []string{"u@example.com", "u@other.example"}, []filter.Symbol{sym("X", 4)}, Accept, 4, 8},
		{"least severe: per-recipient scores", []string{"u@other.example", "u@example.com"}, []filter.Symbol{sym("BAYES", 0), sym("X", 1.5)}, Accept, 2.5, 3},
		{"same override twice", []string{"a@example.com", "b@example.com"}, []filter.Symbol{sym("X", 4)}, Junk, 4, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := p.Evaluate(newTxn(tc.rcpts, tc.syms...))
			if v.Action != tc.action || v.Score != tc.score || v.Required != tc.required {
				t.Errorf("verdict %s score %v required %v, want %s score %v required %v",
					v.Action, v.Score, v.Required, tc.action, tc.score, tc.required)
			}
			var sum float64
			for _, s := range v.Symbols {
				sum += s.Score
			}
			if sum != v.Score {
				t.Errorf("symbols %v do not add up to score %v", v.Symbols, v.Score)
			}
		})
	}
}

func TestEvaluateScoreIndependentOfOrder(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, PolicyConfig{Thresholds: defaultThresholds()})
	a := p.Evaluate(newTxn(nil, sym("A", 0.1), sym("B", 0.2), sym("C", 0.3), sym("D", 1e16), sym("E", -1e16)))
	b := p.Evaluate(newTxn(nil, sym("E", -1e16), sym("C", 0.3), sym("D", 1e16), sym("B", 0.2), sym("A", 0.1)))
	if a.Score != b.Score || !reflect.DeepEqual(a.Symbols, b.Symbols) {
		t.Errorf("score depends on symbol order: %v vs %v", a.Score, b.Score)
	}
}

func TestNewPolicyErrors(t *testing.T) {
	t.Parallel()
	_, err := NewPolicy(PolicyConfig{
		ForceActions:    map[string]string{"GTUBE": "bounce"},
		TrustedNetworks: []string{"10.0.0.0/8", "nope"},
		Allow:           Lists{Senders: []string{"@example.com"}},
	})
	want := []string{
		`policy.force_actions.GTUBE: unknown action "bounce" ` + actions,
		`policy.trusted_networks[1]: want an IP address or CIDR range, got "nope"`,
		`policy.allow.senders[0]: want an address (user@example.com) or a domain (example.com), got "@example.com"`,
	}
	if err == nil {
		t.Fatal("NewPolicy succeeded")
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLive(t *testing.T) {
	t.Parallel()
	p1 := mustPolicy(t, PolicyConfig{Thresholds: Thresholds{Reject: f(1)}})
	p2 := mustPolicy(t, PolicyConfig{})
	l := NewLive(p1)
	if l.Load() != p1 {
		t.Fatal("Load() is not the policy NewLive was given")
	}
	txn := newTxn(nil, sym("X", 5))
	if a := l.Load().Evaluate(txn).Action; a != Reject {
		t.Errorf("before swap: %s", a)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			_ = l.Load().Evaluate(txn)
		}
	}()
	l.Store(p2)
	<-done
	if l.Load() != p2 {
		t.Fatal("Load() after Store is not the new policy")
	}
	if a := l.Load().Evaluate(txn).Action; a != Accept {
		t.Errorf("after swap: %s", a)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p := mustPolicy(b, PolicyConfig{
		Thresholds:   defaultThresholds(),
		Scores:       map[string]float64{"BAYES_SPAM_95": 5.5, "SPF_FAIL": 3},
		ForceActions: map[string]string{"GTUBE": "reject"},
		Recipients: map[string]Override{
			"example.com":     {Thresholds: Thresholds{Junk: f(6)}},
			"ceo@example.com": {NeverReject: true},
		},
	})
	txn := newTxn([]string{"user@example.com"})
	for i := range 10 {
		txn.Add(sym(fmt.Sprintf("SYMBOL_%d", i), float64(i)/3))
	}
	txn.Add(sym("SPF_FAIL", 1))
	b.ReportAllocs()
	for b.Loop() {
		v := p.Evaluate(txn)
		if v.Action == Accept {
			b.Fatal("unexpected accept")
		}
	}
}

func TestVerdictPassed(t *testing.T) {
	t.Parallel()
	pc := Default().Policy
	pc.Thresholds.Greylist = ptr(6.0) // add_header 5, greylist 6, junk 8, reject 15
	p, err := NewPolicy(pc)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		score          float64
		action, passed Action
	}{
		{4, Accept, Accept},
		{5.5, AddHeader, AddHeader},
		{7, Greylist, AddHeader}, // greylisted; once it passed, tagged
		{9, Junk, Junk},
		{20, Reject, Reject},
	}
	for _, tc := range cases {
		tx := &filter.Txn{}
		tx.Add(filter.Symbol{Name: "X", Score: tc.score})
		v := p.Evaluate(tx)
		if v.Action != tc.action || v.Passed != tc.passed {
			t.Errorf("score %v: action %v passed %v, want %v %v", tc.score, v.Action, v.Passed, tc.action, tc.passed)
		}
	}
}
