package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/headers"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/rules"
)

const rulesUsage = "usage: moat rules stats [-c FILE] --corpus DIR [--json]\n"

// cmdRules runs `moat rules stats --corpus DIR`: every rule's hits on
// DIR/ham and DIR/spam, and how many messages of each reach the policy's
// thresholds, so a team sees what a rule would do before it ships.
func cmdRules(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "stats" {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	fs := flag.NewFlagSet("rules stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE`")
	corpus := fs.String("corpus", "", "`DIR` holding ham/ and spam/ (.eml files)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *corpus == "" || fs.NArg() != 0 {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	cfg, err := policies.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	rs, err := loadRules(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var ths []rules.Threshold
	t := cfg.Policy.Thresholds
	for _, st := range []struct {
		name string
		v    *float64
	}{{"add_header", t.AddHeader}, {"junk", t.Junk}, {"greylist", t.Greylist}, {"reject", t.Reject}} {
		if st.v != nil {
			ths = append(ths, rules.Threshold{Name: st.name, Score: *st.v})
		}
	}
	rep, err := rules.Stats(ctx, rs, *corpus, rules.StatsOptions{
		Workers: 2, Extra: []filter.Check{headers.New()}, Thresholds: ths,
	})
	if err != nil {
		fmt.Fprintln(stderr, "moat rules stats:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return 1
		}
		return 0
	}
	if err := rep.WriteText(stdout); err != nil {
		return 1
	}
	return 0
}
