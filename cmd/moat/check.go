package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/bayes"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/rules"
)

// checkResult is the stable JSON document `moat check --json` prints.
type checkResult struct {
	Action   string          `json:"action"`
	Score    float64         `json:"score"`
	Required float64         `json:"required"`
	Forced   string          `json:"forced,omitempty"`
	Trusted  bool            `json:"trusted,omitempty"`
	Symbols  []filter.Symbol `json:"symbols"`
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// cmdCheck runs the full pipeline on one message without side effects:
// `moat check [-c FILE] [--ip IP] [--helo NAME] [--from ADDR] [--rcpt ADDR]… [--json] FILE|-`.
func cmdCheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "configuration `FILE` (default ./moat.yaml if present)")
	ipFlag := fs.String("ip", "127.0.0.1", "client `IP` address")
	helo := fs.String("helo", "localhost", "HELO/EHLO `NAME`")
	from := fs.String("from", "", "envelope sender `ADDR` (empty: the null sender)")
	var rcpts listFlag
	fs.Var(&rcpts, "rcpt", "envelope recipient `ADDR` (repeatable; default postmaster@ the first local domain)")
	asJSON := fs.Bool("json", false, "print a JSON document")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: moat check [-c FILE] [--ip IP] [--helo NAME] [--from ADDR] [--rcpt ADDR]... [--json] FILE|-")
		return 2
	}
	cfg, err := policies.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ip, err := netip.ParseAddr(*ipFlag)
	if err != nil {
		fmt.Fprintf(stderr, "moat check: --ip: %v\n", err)
		return 2
	}
	raw, err := readMessage(fs.Arg(0), stdin, cfg.Limits.MessageSize)
	if err != nil {
		fmt.Fprintln(stderr, "moat check:", err)
		return 1
	}
	if len(rcpts) == 0 {
		rcpts = listFlag{"postmaster@" + firstDomain(cfg)}
	}
	res, err := checkMessage(ctx, cfg, raw, &filter.Txn{
		ID: "check", Start: time.Now(), ClientIP: ip.Unmap(), Helo: *helo, MailFrom: *from, Rcpts: rcpts,
	}, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "moat check:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1
		}
		return 0
	}
	printResult(stdout, res)
	return 0
}

// checkMessage runs the pipeline and the policy on one message.
func checkMessage(ctx context.Context, cfg *policies.Config, raw []byte, t *filter.Txn, stderr io.Writer) (checkResult, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pol, err := cfg.CompilePolicy()
	if err != nil {
		return checkResult{}, err
	}
	live := policies.NewLive(pol)
	msg, err := filter.NewMessage(raw)
	if err != nil {
		return checkResult{}, fmt.Errorf("message refused: %w", err)
	}
	t.Msg = msg
	t.Trusted = pol.Trusted(t.ClientIP)
	// Greylisting runs on a throw-away memory store: no side effects.
	gl, err := newGreylist(cfg, state.NewMemory(nil), log)
	if err != nil {
		return checkResult{}, err
	}
	dc, err := newDNSChecks(cfg, log, nil)
	if err != nil {
		return checkResult{}, err
	}
	defer dc.close()
	rs, err := loadRules(cfg)
	if err != nil {
		return checkResult{}, err
	}
	rc := rules.NewCheck(rs, rules.WithLogger(log))
	bs, closeBayes := checkBayes(ctx, cfg, log, stderr)
	defer closeBayes()
	if !t.Trusted {
		filter.NewPipeline(buildChecks(components{live: live, greylist: gl, dns: dc, rules: rc, bayes: bs}), cfg.Limits.CheckTimeout.D(), log).RunAll(ctx, t)
	}
	v := pol.Evaluate(t)
	res := checkResult{
		Action: v.Action.String(), Score: round2(v.Score), Required: round2(v.Required),
		Forced: v.Forced, Trusted: t.Trusted, Symbols: v.Symbols,
	}
	if res.Symbols == nil {
		res.Symbols = []filter.Symbol{}
	}
	for i := range res.Symbols {
		res.Symbols[i].Score = round2(res.Symbols[i].Score)
	}
	return res, nil
}

func printResult(w io.Writer, r checkResult) {
	fmt.Fprintf(w, "action:   %s\n", r.Action)
	fmt.Fprintf(w, "score:    %.2f (required %.2f)\n", r.Score, r.Required)
	if r.Forced != "" {
		fmt.Fprintf(w, "forced:   by %s\n", r.Forced)
	}
	if r.Trusted {
		fmt.Fprintln(w, "trusted:  client is in policy.trusted_networks; checks skipped")
	}
	fmt.Fprintf(w, "symbols:  %d\n", len(r.Symbols))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range r.Symbols {
		fmt.Fprintf(tw, "  %6.2f\t%s\t%s\n", s.Score, s.Name, s.Reason)
	}
	tw.Flush()
}

// readMessage reads the message from a file or "-" (stdin), refusing one
// over the size limit, and normalises line endings to CRLF as they are on
// the wire.
func readMessage(path string, stdin io.Reader, limit int64) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%s: larger than limits.message_size (%d bytes)", path, limit)
	}
	// An mbox separator line ("From sender date") is not part of the message.
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")), nil
}

// firstDomain returns the first local domain in name order, else the first
// domain, else the hostname.
func firstDomain(cfg *policies.Config) string {
	names := slices.Sorted(maps.Keys(cfg.Domains))
	for _, n := range names {
		if cfg.Domains[n].Deliver == policies.DeliverLocal {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return cfg.Hostname
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// checkBayes opens the trained models for `moat check`: Redis directly, the
// embedded store only when it exists (check creates nothing) and no server
// holds it. Classifying writes nothing. It returns nil (and says why on
// stderr) when the models cannot be read.
func checkBayes(ctx context.Context, cfg *policies.Config, log *slog.Logger, stderr io.Writer) (*bayes.Bayes, func()) {
	none := func() {}
	if !cfg.Bayes.Enabled {
		return nil, none
	}
	if cfg.State.Redis == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, state.FileName)); err != nil {
			return nil, none // nothing trained here yet
		}
	}
	st, err := state.Open(ctx, state.Options{
		Redis: cfg.State.Redis, Prefix: cfg.State.Prefix, DataDir: cfg.DataDir, LockTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		fmt.Fprintf(stderr, "moat check: Bayes scorer not run: %v\n", err)
		return nil, none
	}
	b, err := newBayes(cfg, st, log)
	if err != nil {
		st.Close()
		fmt.Fprintf(stderr, "moat check: Bayes scorer not run: %v\n", err)
		return nil, none
	}
	return b, func() { st.Close() }
}
