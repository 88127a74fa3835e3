package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/moatmail/moat/filter/state"
)

// DefaultPrefix starts every key a Limiter writes (after the store's own
// prefix, "moat:" on Redis).
const DefaultPrefix = "rl:"

// keySlack keeps a counter a little past the last moment it is read, for
// instances whose clocks differ slightly.
const keySlack = 5 * time.Second

// ErrInvalid reports a rule or request that cannot be counted (no name, a
// window under a millisecond, n < 1, an empty key). Such a call is allowed.
var ErrInvalid = errors.New("ratelimit: invalid rule or request")

// Rule is one limit: at most Limit events per Window under each key.
type Rule struct {
	// Name identifies the limit in keys, logs and metrics ("conn_ip",
	// "msg_net", "rcpt_domain", "auth_user"). Two rules with the same name
	// share counters.
	Name string
	// Limit is the most events allowed per window; 0 or less disables the
	// rule (everything is allowed and nothing is stored).
	Limit int64
	// Window is the length of a window, at least a millisecond (counted in
	// whole milliseconds).
	Window time.Duration
	// Fixed selects a fixed window; the default is the sliding
	// approximation over the current and previous windows.
	Fixed bool
}

// Enabled reports whether the rule limits anything.
func (r Rule) Enabled() bool { return r.Limit > 0 }

// Validate checks an enabled rule has a name and a window.
func (r Rule) Validate() error {
	if !r.Enabled() {
		return nil
	}
	if r.Name == "" {
		return fmt.Errorf("%w: rule without a name", ErrInvalid)
	}
	if r.Window < time.Millisecond {
		return fmt.Errorf("%w: rule %s: window %v is under a millisecond", ErrInvalid, r.Name, r.Window)
	}
	return nil
}

// Decision is the answer to one request.
type Decision struct {
	// Rule is the name of the rule asked.
	Rule string
	// Allowed reports whether the events fit in the limit (Take counted
	// them; Add counted them anyway; Peek counted nothing). A disabled
	// rule, an invalid request and a backend failure are allowed.
	Allowed bool
	// Count is the count in the window after the call (weighted, for a
	// sliding window).
	Count int64
	// Limit is the rule's limit.
	Limit int64
	// RetryAfter is, when not allowed, how long until the same request
	// would fit if nothing else were counted meanwhile; 0 when allowed.
	RetryAfter time.Duration
}

// Err returns nil when d is allowed and a *ThrottledError otherwise.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &ThrottledError{Rule: d.Rule, RetryAfter: d.RetryAfter}
}

// Request is one request of TakeAll.
type Request struct {
	Rule Rule
	Key  string
	// N is the number of events, at least 1.
	N int64
}

// Options configure a Limiter. Zero fields take the defaults.
type Options struct {
	// Now is the clock that places events in windows. Default time.Now.
	Now func() time.Time
	// Prefix starts every key. Default DefaultPrefix.
	Prefix string
}

// Limiter counts events in a state.Store. It is safe for concurrent use;
// instances on the same store (one Redis) share counters.
type Limiter struct {
	st     state.Store
	now    func() time.Time
	prefix string
	script *state.Script
}

// New returns a limiter counting in st.
func New(st state.Store, o Options) *Limiter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	return &Limiter{st: st, now: o.Now, prefix: o.Prefix, script: newCountScript()}
}

// Take counts n events under key when they fit in the rule's limit, and
// reports whether they did. On a backend failure it allows and returns the
// error.
func (l *Limiter) Take(ctx context.Context, rule Rule, key string, n int64) (Decision, error) {
	return l.one(ctx, modeTake, rule, key, n)
}

// Add counts n events under key whether or not they fit (failures that
// happened already); Allowed reports whether the count is still within the
// limit.
func (l *Limiter) Add(ctx context.Context, rule Rule, key string, n int64) (Decision, error) {
	return l.one(ctx, modeAdd, rule, key, n)
}

// Peek reports whether one more event would fit, without counting it.
func (l *Limiter) Peek(ctx context.Context, rule Rule, key string) (Decision, error) {
	return l.one(ctx, modePeek, rule, key, 1)
}

// TakeAll is Take for several requests (the limits of one event: per
// address and per network), with one decision per request in order. It
// counts all or nothing: when a request does not fit, those that did are
// given back (a second round trip, only then), so a client refused by its
// own limit does not use up its network's. Each request is atomic on its
// own, not the set. FirstDenied picks the answer.
func (l *Limiter) TakeAll(ctx context.Context, reqs ...Request) ([]Decision, error) {
	nowMs := l.now().UnixMilli()
	ds, counted, err := l.run(ctx, modeTake, reqs, nowMs)
	if _, denied := FirstDenied(ds); !denied {
		return ds, err
	}
	var back []Request
	var idx []int
	for i, c := range counted {
		if c {
			back = append(back, reqs[i])
			idx = append(idx, i)
		}
	}
	if len(back) == 0 {
		return ds, err
	}
	_, refunded, rerr := l.run(ctx, modeRefund, back, nowMs)
	for j, i := range idx {
		if refunded[j] {
			ds[i].Count = max(ds[i].Count-reqs[i].N, 0)
		}
	}
	return ds, errors.Join(err, rerr)
}

// Reset forgets the counts of key under rule (a successful login clearing
// its user's failures).
func (l *Limiter) Reset(ctx context.Context, rule Rule, key string) error {
	if !rule.Enabled() {
		return nil
	}
	if err := check(rule, key, 1); err != nil {
		return err
	}
	cur, prev := l.keys(rule, key, l.now().UnixMilli())
	if err := l.st.Do(ctx, state.Del(cur, prev)); err != nil {
		return fmt.Errorf("ratelimit: reset %s: %w", rule.Name, err)
	}
	return nil
}

// FirstDenied returns the first decision that is not allowed.
func FirstDenied(ds []Decision) (Decision, bool) {
	for _, d := range ds {
		if !d.Allowed {
			return d, true
		}
	}
	return Decision{}, false
}

func (l *Limiter) one(ctx context.Context, mode int64, rule Rule, key string, n int64) (Decision, error) {
	ds, err := l.batch(ctx, mode, []Request{{Rule: rule, Key: key, N: n}})
	return ds[0], err
}

// batch runs the requests in one round trip at the current time.
func (l *Limiter) batch(ctx context.Context, mode int64, reqs []Request) ([]Decision, error) {
	ds, _, err := l.run(ctx, mode, reqs, l.now().UnixMilli())
	return ds, err
}

// run runs one script per enabled, valid request in one Do at nowMs. done
// reports the requests whose script ran and changed their counter (take
// and fit, add, refund).
func (l *Limiter) run(ctx context.Context, mode int64, reqs []Request, nowMs int64) (ds []Decision, done []bool, err error) {
	ds = make([]Decision, len(reqs))
	done = make([]bool, len(reqs))
	ops := make([]*state.Op, len(reqs))
	live := make([]*state.Op, 0, len(reqs))
	var errs []error
	for i, r := range reqs {
		ds[i] = Decision{Rule: r.Rule.Name, Allowed: true, Limit: r.Rule.Limit}
		if !r.Rule.Enabled() {
			continue
		}
		if err := check(r.Rule, r.Key, r.N); err != nil {
			errs = append(errs, err)
			continue
		}
		ops[i] = l.op(mode, r, nowMs)
		live = append(live, ops[i])
	}
	if len(live) > 0 {
		if err := l.st.Do(ctx, live...); err != nil {
			errs = append(errs, fmt.Errorf("ratelimit: %w", err))
		}
	}
	for i, op := range ops {
		if op == nil || op.Err() != nil {
			continue // disabled, invalid or failed: allowed
		}
		res := op.Ints()
		if len(res) != 3 {
			errs = append(errs, fmt.Errorf("ratelimit: %s: script returned %d values", reqs[i].Rule.Name, len(res)))
			continue
		}
		ds[i] = decide(reqs[i], res, nowMs)
		done[i] = mode != modePeek && (mode != modeTake || ds[i].Allowed)
	}
	return ds, done, errors.Join(errs...)
}

func check(r Rule, key string, n int64) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("%w: rule %s: empty key", ErrInvalid, r.Name)
	}
	if n < 1 {
		return fmt.Errorf("%w: rule %s: %d events", ErrInvalid, r.Name, n)
	}
	return nil
}

// op builds the script call for one request at nowMs.
func (l *Limiter) op(mode int64, r Request, nowMs int64) *state.Op {
	w := r.Rule.Window.Milliseconds()
	start := floorDiv(nowMs, w) * w
	cur, prev := l.keys(r.Rule, r.Key, nowMs)
	if r.Rule.Fixed {
		ttl := start + w - nowMs + keySlack.Milliseconds()
		return state.Run(l.script, []string{cur}, r.N, r.Rule.Limit, mode, 0, 1, ttl)
	}
	// The previous window is read until the end of the current one.
	ttl := start + 2*w - nowMs + keySlack.Milliseconds()
	return state.Run(l.script, []string{cur, prev}, r.N, r.Rule.Limit, mode, w-(nowMs-start), w, ttl)
}

// keys returns the counters of the window holding nowMs and of the one
// before. Both share a Redis Cluster hash tag: the escaped rule name and
// key, in braces.
func (l *Limiter) keys(r Rule, key string, nowMs int64) (cur, prev string) {
	w := r.Window.Milliseconds()
	idx := floorDiv(nowMs, w)
	base := l.prefix + "{" + escape(r.Name) + ":" + escape(key) + "}:"
	return base + strconv.FormatInt(idx, 10), base + strconv.FormatInt(idx-1, 10)
}

// decide turns the script's result into a Decision.
func decide(r Request, res []int64, nowMs int64) Decision {
	fit, cur, prev := res[0] == 1, res[1], res[2]
	w := r.Rule.Window.Milliseconds()
	start := floorDiv(nowMs, w) * w
	elapsed := nowMs - start
	count := cur
	if !r.Rule.Fixed {
		count += weighted(prev, w-elapsed, w)
	}
	d := Decision{Rule: r.Rule.Name, Allowed: fit, Count: count, Limit: r.Rule.Limit}
	if !fit {
		d.RetryAfter = retryAfter(r, cur, prev, elapsed)
	}
	return d
}

// retryAfter is how long until n more events fit, elapsed ms into the
// current window with counts cur and prev, if nothing else is counted.
func retryAfter(r Request, cur, prev, elapsed int64) time.Duration {
	w, n, limit := r.Rule.Window.Milliseconds(), r.N, r.Rule.Limit
	toEnd := w - elapsed
	ms := func(v int64) time.Duration { return time.Duration(max(v, 1)) * time.Millisecond }
	switch {
	case n > limit:
		return ms(toEnd) // never fits; retry in the next window to be told again
	case r.Rule.Fixed:
		return ms(toEnd)
	case cur+n <= limit && prev > 0:
		// The previous window's weight must fall: prev*(w-e)/w <= room.
		room := limit - cur - n
		return ms(w - room*w/prev - elapsed)
	case cur <= 0:
		return ms(toEnd)
	default:
		// In the next window this one's count weighs cur*(w-x)/w.
		room := limit - n
		return ms(toEnd + w - room*w/cur)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
