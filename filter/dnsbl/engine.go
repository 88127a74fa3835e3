package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/moatmail/moat/filter/dnsx"
)

// Defaults of the list checks' configurations.
const (
	// DefaultTimeout is the deadline for all the lookups of one check run.
	DefaultTimeout = 2 * time.Second
	// DefaultSelfTestInterval is how often the zones are self-tested.
	DefaultSelfTestInterval = 10 * time.Minute
	// maxParallel bounds the lookups of one check run in flight at once.
	maxParallel = 16
)

// lists is the machinery shared by IPCheck and URICheck: the zones, their
// health, parallel lookups under a deadline and the self-test.
type lists struct {
	kind     ListKind
	zones    []*list
	res      Resolver
	timeout  time.Duration
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time
	observe  func(zone, outcome string) // nil: nobody listens
}

// Lookup outcomes passed to an observer.
const (
	Listed   = "listed"
	Unlisted = "unlisted"
	Error    = "error"
	Timeout  = "timeout"
)

// note tells the observer, if any, one lookup's outcome.
func (ls *lists) note(l *list, outcome string) {
	if ls.observe != nil {
		ls.observe(l.cfg.Zone, outcome)
	}
}

func newLists(kind ListKind, zones []Zone, res Resolver, timeout, interval time.Duration, now func() time.Time, log *slog.Logger) (*lists, error) {
	if res == nil {
		return nil, errors.New("dnsbl: no resolver")
	}
	var errs []error
	seen := map[string]bool{}
	ls := &lists{kind: kind, res: res, timeout: timeout, interval: interval, log: log, now: now}
	for i, z := range zones {
		if err := z.Validate(kind); err != nil {
			errs = append(errs, fmt.Errorf("zones[%d] (%s): %w", i, z.Zone, err))
			continue
		}
		l := newList(z, kind)
		if seen[l.suffix] {
			errs = append(errs, fmt.Errorf("zones[%d] (%s): listed twice", i, z.Zone))
			continue
		}
		seen[l.suffix] = true
		ls.zones = append(ls.zones, l)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("dnsbl: %w", err)
	}
	if ls.timeout <= 0 {
		ls.timeout = DefaultTimeout
	}
	if ls.interval <= 0 {
		ls.interval = DefaultSelfTestInterval
	}
	if ls.now == nil {
		ls.now = time.Now
	}
	if ls.log == nil {
		ls.log = slog.New(slog.DiscardHandler)
	}
	return ls, nil
}

// job is one lookup: item (a reversed IP address or a domain) in a zone.
// subject names the item in reasons ("client IP 192.0.2.1", "example.com").
type job struct {
	list    *list
	item    string
	subject string
}

// found is a job whose answer scores.
type found struct {
	i       int // the job's index
	list    *list
	subject string
	hits    []hit
}

// lookupAll runs the jobs in parallel under the lists' deadline and returns
// the symbols the answers earn. A job still running at the deadline counts
// as failed and is not waited for. The error is set only when every job
// failed; it names the kind of failure, never a query name (which may hold
// a key).
func (ls *lists) lookupAll(ctx context.Context, jobs []job) ([]found, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ls.timeout)
	defer cancel()

	type result struct {
		i     int // index in jobs, to keep the symbols in job order
		job   job
		addrs []netip.Addr
		err   error
	}
	results := make(chan result, len(jobs))
	sem := make(chan struct{}, maxParallel)
	for i, j := range jobs {
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results <- result{i: i, job: j, err: ctx.Err()}
				return
			}
			addrs, err := ls.res.LookupA(ctx, j.item+j.list.suffix)
			<-sem
			results <- result{i, j, addrs, err}
		}()
	}

	var (
		out      []found
		failed   int
		firstErr error
	)
	fail := func(l *list, err error) {
		failed++
		kind := kindOf(err)
		if errors.Is(kind, dnsx.ErrTimeout) {
			ls.note(l, Timeout)
		} else {
			ls.note(l, Error)
		}
		if firstErr == nil {
			firstErr = kind
		}
		ls.log.Debug("dns list lookup failed", "zone", l.cfg.Zone, "err", kind)
	}
	answered := make([]bool, len(jobs))
collect:
	for received := 0; received < len(jobs); received++ {
		var r result
		select {
		case r = <-results:
			answered[r.i] = true
		case <-ctx.Done():
			// Jobs still out count as failed; do not wait for them.
			failed += len(jobs) - received
			for i, j := range jobs {
				if !answered[i] {
					ls.note(j.list, Timeout)
				}
			}
			if firstErr == nil {
				firstErr = dnsx.ErrTimeout
			}
			ls.log.Debug("dns list lookups timed out", "pending", len(jobs)-received, "timeout", ls.timeout)
			break collect
		}
		switch {
		case r.err == nil:
			if a, ok := refusal(r.addrs); ok {
				ls.note(r.job.list, Error)
				r.job.list.setEnabled(false, refusalReason(a), ls.now(), ls.log)
				continue
			}
			if hits := r.job.list.match(r.addrs); len(hits) > 0 && r.job.list.usable() {
				ls.note(r.job.list, Listed)
				out = append(out, found{i: r.i, list: r.job.list, subject: r.job.subject, hits: hits})
			} else {
				ls.note(r.job.list, Unlisted)
			}
		case dnsx.IsNotFound(r.err):
			ls.note(r.job.list, Unlisted)
		default:
			fail(r.job.list, r.err)
		}
	}
	if failed == len(jobs) {
		return nil, fmt.Errorf("all %d lookups failed: %w", len(jobs), firstErr)
	}
	// A zone disabled by a refusal while this run went on does not score.
	out = slices.DeleteFunc(out, func(f found) bool { return !f.list.usable() })
	slices.SortFunc(out, func(a, b found) int { return a.i - b.i })
	return out, nil
}

// errLookup stands for a lookup failure that is not one of dnsx's kinds.
var errLookup = errors.New("lookup failed")

// selfTest tests every zone in parallel, under the lists' deadline each.
func (ls *lists) selfTest(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range ls.zones {
		wg.Go(func() {
			if l.cfg.NoSelfTest {
				// Nothing to test: a zone disabled by a refusal gets another
				// chance each round.
				l.setEnabled(true, "", ls.now(), ls.log)
				return
			}
			tctx, cancel := context.WithTimeout(ctx, ls.timeout)
			defer cancel()
			reason := ls.testZone(tctx, l)
			if ctx.Err() != nil {
				return // shutting down: the outcome says nothing about the zone
			}
			l.tested(reason, ls.now(), ls.log)
		})
	}
	wg.Wait()
}

// testZone runs the RFC 5782 test on one zone and returns why it failed,
// or "" when it passed.
func (ls *lists) testZone(ctx context.Context, l *list) string {
	listed, unlisted := l.cfg.TestListed, l.cfg.TestUnlisted
	if listed == "" {
		listed = map[ListKind]string{IPList: "127.0.0.2", URIList: "test"}[l.kind]
	}
	if unlisted == "" {
		unlisted = map[ListKind]string{IPList: "127.0.0.1", URIList: "invalid"}[l.kind]
	}
	item := func(s string) string {
		if a, err := netip.ParseAddr(s); err == nil {
			return dnsx.ReverseIP(a)
		}
		return s
	}
	var (
		wg        sync.WaitGroup
		yes, no   []netip.Addr
		yesE, noE error
	)
	wg.Go(func() { no, noE = ls.res.LookupA(ctx, item(unlisted)+l.suffix) })
	yes, yesE = ls.res.LookupA(ctx, item(listed)+l.suffix)
	wg.Wait()

	for _, answers := range [][]netip.Addr{yes, no} {
		if a, ok := refusal(answers); ok {
			return refusalReason(a)
		}
	}
	valid := func(as []netip.Addr) bool {
		for _, a := range as {
			if a.Is4() && loopback8.Contains(a) {
				return true
			}
		}
		return false
	}
	switch {
	case yesE != nil && !dnsx.IsNotFound(yesE):
		return fmt.Sprintf("self-test lookup of %s failed: %v", listed, kindOf(yesE))
	case yesE != nil || !valid(yes):
		return fmt.Sprintf("self-test: test point %s is not listed", listed)
	case noE != nil && !dnsx.IsNotFound(noE):
		return fmt.Sprintf("self-test lookup of %s failed: %v", unlisted, kindOf(noE))
	case noE == nil:
		return fmt.Sprintf("self-test: %s is listed, so the zone lists everything", unlisted)
	}
	return ""
}

// kindOf returns the kind of a lookup failure, safe to show.
func kindOf(err error) error {
	if k := dnsx.Kind(err); k != nil {
		return k
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return dnsx.ErrTimeout
	}
	return errLookup
}

// run self-tests the zones now and then every interval until ctx ends.
func (ls *lists) run(ctx context.Context) {
	ls.selfTest(ctx)
	t := time.NewTicker(ls.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ls.selfTest(ctx)
		}
	}
}

// health returns the health of every zone, in configuration order.
func (ls *lists) health() []ZoneHealth {
	out := make([]ZoneHealth, len(ls.zones))
	for i, l := range ls.zones {
		out[i] = l.health()
	}
	return out
}

// rejectSymbols returns the symbols of the zones marked Reject.
func (ls *lists) rejectSymbols() []string {
	var out []string
	for _, l := range ls.zones {
		if !l.cfg.Reject {
			continue
		}
		out = append(out, l.cfg.Symbol)
		for _, r := range l.cfg.Returns {
			if r.Symbol != "" && !slices.Contains(out, r.Symbol) {
				out = append(out, r.Symbol)
			}
		}
	}
	return out
}
