package greylist

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/state"
)

// Greylist decides on triplets kept in a state.Store. It is the "greylist"
// filter.Check (mode Always) and offers Decide/DecideAll for mode Score and
// the admin operations. Safe for concurrent use.
type Greylist struct {
	st      state.Store
	opts    Options
	optOut  []string
	scripts scripts
	now     func() time.Time
	log     *slog.Logger
	spf     func(*filter.Txn) (string, bool)

	counts  [len(statusNames)]atomic.Uint64
	failLog failLog
	memo    memo
}

// New returns greylisting on st with opts (see Options.Validate).
func New(st state.Store, opts Options) (*Greylist, error) {
	if st == nil {
		return nil, fmt.Errorf("greylist: no state store")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	g := &Greylist{st: st, opts: opts, scripts: newScripts(), now: opts.Now, log: opts.Log, spf: opts.SPFDomain}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.spf == nil {
		g.spf = DefaultSPFDomain
	}
	for _, d := range opts.OptOutDomains {
		g.optOut = append(g.optOut, strings.ToLower(d))
	}
	g.memo.m = make(map[memoKey]memoEntry)
	return g, nil
}

// Options returns the options in force.
func (g *Greylist) Options() Options { return g.opts }

// Counts are decisions made since New, by status (for metrics).
type Counts struct {
	Skipped, New, Early, Pass, Allowed, Tempfail uint64
}

// Counts returns the decision counters.
func (g *Greylist) Counts() Counts {
	return Counts{
		Skipped: g.counts[StatusSkipped].Load(), New: g.counts[StatusNew].Load(), Early: g.counts[StatusEarly].Load(),
		Pass: g.counts[StatusPass].Load(), Allowed: g.counts[StatusAllowed].Load(), Tempfail: g.counts[StatusTempfail].Load(),
	}
}

// Decide decides for one recipient of t: it records or updates the triplet
// (client, t.MailFrom, rcpt) and returns the outcome. It costs one round
// trip to the store. On a backend failure it returns a StatusTempfail result (the
// message must not be greylisted: fail open), logs it, and returns the
// error.
func (g *Greylist) Decide(ctx context.Context, t *filter.Txn, rcpt string) (Result, error) {
	rs, err := g.decide(ctx, t, []string{rcpt})
	return rs[0], err
}

// DecideAll decides for every recipient of t in one round trip (mode
// Score, after DATA). The message is greylisted when any result is; give
// the client the time of LatestRetry.
func (g *Greylist) DecideAll(ctx context.Context, t *filter.Txn) ([]Result, error) {
	if len(t.Rcpts) == 0 {
		return nil, nil
	}
	return g.decide(ctx, t, t.Rcpts)
}

func (g *Greylist) decide(ctx context.Context, t *filter.Txn, rcpts []string) ([]Result, error) {
	now := g.now()
	out := make([]Result, len(rcpts))
	for i, r := range rcpts {
		out[i].Rcpt = r
	}
	if why := skipReason(t); why != "" {
		return g.finish(out, StatusSkipped, why), nil
	}
	client, fromSPF := "", false
	if d, ok := g.spf(t); ok && validDomain(d) {
		client, fromSPF = spfPrefix+d, true
	} else if t.ClientIP.IsValid() {
		client = g.network(t.ClientIP)
	} else {
		return g.finish(out, StatusSkipped, "no client address"), nil
	}
	sender := NormalizeSender(t.MailFrom)

	ms := now.UnixMilli()
	ops := make([]*state.Op, 0, 3+len(rcpts))
	allowSender := state.Get(senderKey(sender))
	ops = append(ops, allowSender)
	var allowDomain, allowNet *state.Op
	if d := domainOf(sender); d != "" {
		allowDomain = state.Get(senderKey("@" + d))
		ops = append(ops, allowDomain)
	}
	if fromSPF && t.ClientIP.IsValid() {
		// The network's own allow (manual or automatic) still counts.
		allowNet = state.HMGet(clientKey(g.network(t.ClientIP)), "m", "a", "e")
		ops = append(ops, allowNet)
	}
	runs := make([]*state.Op, len(rcpts))
	nruns := 0
	for i, r := range rcpts {
		out[i].Triplet = Triplet{Client: client, Sender: sender, Rcpt: NormalizeRcpt(r)}
		if g.optedOut(out[i].Triplet.Rcpt) {
			continue
		}
		nruns++
		runs[i] = state.Run(g.scripts.decide, []string{tripletKey(out[i].Triplet), clientKey(client)},
			ms, g.opts.Delay.Milliseconds(), g.opts.Window.Milliseconds(), g.opts.PassTTL.Milliseconds(),
			int64(g.opts.AutoAllow), gcSlack.Milliseconds())
		ops = append(ops, runs[i])
	}
	if nruns == 0 {
		return g.finish(out, StatusSkipped, "recipient domain opted out"), nil
	}
	if err := g.st.Do(ctx, ops...); err != nil {
		g.failLog.warn(g.log, now, t.ID, err)
		return g.finish(out, StatusTempfail, "greylist backend unavailable: not greylisted"), fmt.Errorf("greylist: %w", err)
	}

	// An administrator's sender allow wins. The scripts ran in the same
	// round trip, so the triplets are recorded anyway; the allow covers them.
	allowed := ""
	switch {
	case allowedUntil(allowSender, ms):
		allowed = "sender " + sender + " allowed by an administrator"
	case allowDomain != nil && allowedUntil(allowDomain, ms):
		allowed = "sender domain " + domainOf(sender) + " allowed by an administrator"
	case allowNet != nil && networkAllowed(allowNet.Ints(), ms):
		allowed = "client network " + g.network(t.ClientIP) + " allowed"
	}
	for i := range out {
		r := &out[i]
		switch {
		case runs[i] == nil:
			r.Status, r.Reason = StatusSkipped, "recipient domain opted out"
		case allowed != "":
			r.Status, r.Reason = StatusAllowed, allowed
		default:
			g.fromScript(r, runs[i].Ints(), now)
		}
		g.counts[r.Status].Add(1)
	}
	return out, nil
}

// finish gives every result the same status and reason.
func (g *Greylist) finish(rs []Result, s Status, why string) []Result {
	for i := range rs {
		rs[i].Status, rs[i].Reason = s, why
		g.counts[s].Add(1)
	}
	return rs
}

// fromScript fills r from the decide script's result.
func (g *Greylist) fromScript(r *Result, v []int64, now time.Time) {
	if len(v) != 3 {
		r.Status, r.Reason = StatusTempfail, fmt.Sprintf("greylist script returned %v", v)
		return
	}
	first := time.UnixMilli(v[1]).UTC()
	switch v[0] {
	case codeNew:
		r.Status, r.FirstSeen, r.RetryAt = StatusNew, first, first.Add(g.opts.Delay)
		r.Reason = "greylisted: first attempt of " + r.Triplet.String()
	case codeEarly:
		r.Status, r.FirstSeen, r.RetryAt = StatusEarly, first, first.Add(g.opts.Delay)
		r.Reason = fmt.Sprintf("greylisted: retry %s after the first attempt, before the %s delay", now.Sub(first).Round(time.Second), g.opts.Delay)
	case codePass:
		r.Status, r.FirstSeen = StatusPass, first
		r.Reason = "greylisting passed (first seen " + first.Format(time.RFC3339) + ")"
	case codeAutoAllowed:
		r.Status, r.Reason = StatusAllowed, "client "+r.Triplet.Client+" auto-allowed after "+strconv.Itoa(g.opts.AutoAllow)+" passed triplets"
	case codeManualAllowed:
		r.Status, r.Reason = StatusAllowed, "client "+r.Triplet.Client+" allowed by an administrator"
	default:
		r.Status, r.Reason = StatusTempfail, fmt.Sprintf("greylist script returned code %d", v[0])
	}
}

// allowedUntil reads a sender allow entry: the value is the end of the
// allow in Unix ms, 0 for ever.
func allowedUntil(op *state.Op, now int64) bool {
	if !op.Found() {
		return false
	}
	until, err := strconv.ParseInt(string(op.Bytes()), 10, 64)
	return err == nil && (until == 0 || until > now)
}

// networkAllowed reads a client record's m, a, e fields.
func networkAllowed(v []int64, now int64) bool {
	if len(v) != 3 {
		return false
	}
	m, a, e := v[0], v[1], v[2]
	return m == -1 || m > now || (a > now && e > now)
}

// skipReason says why greylisting does not apply to t at all ("" when it
// does).
func skipReason(t *filter.Txn) string {
	switch {
	case t.Trusted:
		return "trusted client"
	case t.AuthUser != "":
		return "authenticated client"
	}
	for _, s := range t.Symbols() {
		switch {
		case strings.HasPrefix(s.Name, "ALLOWLIST_"):
			return "allow-listed (" + s.Name + ")"
		case strings.Contains(s.Name, "DNSWL"):
			return "DNSWL hit (" + s.Name + ")"
		}
	}
	return ""
}

// optedOut reports whether the recipient's domain (or a parent) opted out.
func (g *Greylist) optedOut(rcpt string) bool {
	d := domainOf(rcpt)
	for _, o := range g.optOut {
		if d == o || strings.HasSuffix(d, "."+o) {
			return true
		}
	}
	return false
}

// failLog rate-limits the fail-open warning to one line per second, with
// the number of failures it stood for.
type failLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (f *failLog) warn(log *slog.Logger, now time.Time, txn string, err error) {
	f.mu.Lock()
	if !f.last.IsZero() && !now.Before(f.last) && now.Sub(f.last) < time.Second {
		f.suppressed++
		f.mu.Unlock()
		return
	}
	n := f.suppressed
	f.last, f.suppressed = now, 0
	f.mu.Unlock()
	log.Warn("greylist backend failed; not greylisting (fail open)", "txn", txn, "err", err, "also_failed", n)
}
