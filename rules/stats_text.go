package rules

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// WriteText writes the report as aligned text: a summary line, one line
// per rule (most useful first) and the threshold counts.
func (r *StatsReport) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "corpus %s: %d ham, %d spam; %v, %v per message\n", r.Dir, r.Ham, r.Spam,
		r.Elapsed.Round(time.Millisecond), r.PerMessage.Round(time.Microsecond/10))
	if r.BudgetExceeded > 0 {
		fmt.Fprintf(bw, "budget exceeded on %d messages (their later rules were not evaluated)\n", r.BudgetExceeded)
	}
	width := len("symbol")
	for _, s := range r.Rules {
		width = max(width, len(displayName(s)))
	}
	fmt.Fprintf(bw, "\n%-*s %8s %9s %8s %9s %8s %6s %8s\n", width, "symbol", "score", "ham hits", "ham", "spam hits", "spam", "S/O", "ratio")
	for _, s := range r.Rules {
		ratio := "-"
		if s.Ratio != nil {
			ratio = fmt.Sprintf("%.1f", *s.Ratio)
		} else if s.SpamHits > 0 {
			ratio = "inf"
		}
		fmt.Fprintf(bw, "%-*s %8.2f %9d %7.2f%% %9d %7.2f%% %6.3f %8s\n", width, displayName(s), s.Score,
			s.HamHits, 100*s.HamRate, s.SpamHits, 100*s.SpamRate, s.SO, ratio)
	}
	if len(r.Thresholds) > 0 {
		fmt.Fprintf(bw, "\nmessages reaching each score:\n")
		for _, t := range r.Thresholds {
			fmt.Fprintf(bw, "  %-12s >= %6.2f  ham %5d (%.2f%%)  spam %5d (%.2f%%)\n", t.Name, t.Score,
				t.HamCount, 100*t.HamRate, t.SpamCount, 100*t.SpamRate)
		}
	}
	return bw.Flush()
}

// displayName is a rule's symbol, marked when it is shadow.
func displayName(s RuleStats) string {
	if s.Shadow {
		return s.Symbol + " (shadow)"
	}
	return s.Symbol
}
