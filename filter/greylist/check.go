package greylist

import (
	"context"
	"sync"
	"time"

	"github.com/moatmail/moat/filter"
)

// Name returns "greylist".
func (g *Greylist) Name() string { return "greylist" }

// Stages returns the rcpt stage in mode Always and none in mode Score
// (where the front end calls DecideAll after the verdict).
func (g *Greylist) Stages() []filter.Stage {
	if g.opts.Mode == Always {
		return []filter.Stage{filter.StageRcpt}
	}
	return nil
}

// Check decides for the candidate recipient (the last of t.Rcpts) and
// returns its symbol. The Result, with the retry time for the 451 reply, is
// kept for the front end to Take. A backend failure gives GREYLIST_TEMPFAIL
// and no error: Decide has logged it, and the message must flow.
func (g *Greylist) Check(ctx context.Context, t *filter.Txn, s filter.Stage) ([]filter.Symbol, error) {
	if s != filter.StageRcpt || len(t.Rcpts) == 0 {
		return nil, nil
	}
	rcpt := t.Rcpts[len(t.Rcpts)-1]
	r, _ := g.Decide(ctx, t, rcpt)
	g.memo.put(t.ID, rcpt, r, g.now())
	if sym, ok := r.Symbol(); ok {
		return []filter.Symbol{sym}, nil
	}
	return nil, nil
}

// Take returns (and forgets) the Result the rcpt-stage check produced for
// rcpt in transaction t. The front end calls it right after running the
// rcpt stage: when Result.Greylisted(), it answers
// "451 4.7.1 <Result.ReplyText(now)>" for that recipient alone. ok is false
// when the check did not run for it (skipped stage, timeout): no greylisting.
func (g *Greylist) Take(t *filter.Txn, rcpt string) (Result, bool) {
	return g.memo.take(t.ID, rcpt)
}

// memo holds the check's results until the front end takes them. Entries
// not taken (`moat check`, a recipient refused for another reason, a
// check that finished after its deadline) are dropped after memoTTL.
type memo struct {
	mu   sync.Mutex
	m    map[memoKey]memoEntry
	last time.Time // last pruning
}

type memoKey struct{ txn, rcpt string }

type memoEntry struct {
	r  Result
	at time.Time
}

const memoTTL = 2 * time.Minute

func (m *memo) put(txn, rcpt string, r Result, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.last) >= memoTTL || now.Before(m.last) {
		for k, e := range m.m {
			if now.Sub(e.at) >= memoTTL || now.Before(e.at) {
				delete(m.m, k)
			}
		}
		m.last = now
	}
	m.m[memoKey{txn, rcpt}] = memoEntry{r: r, at: now}
}

func (m *memo) take(txn, rcpt string) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memoKey{txn, rcpt}
	e, ok := m.m[k]
	delete(m.m, k)
	return e.r, ok
}

// pending returns how many results wait to be taken (tests).
func (m *memo) pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}
