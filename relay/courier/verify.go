package courier

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moatmail/moat/filter/state"
)

// VerifyKeyPrefix starts the keys of cached verification results.
const VerifyKeyPrefix = "verify:"

// VerifyStatus is what a callout found out about a recipient.
type VerifyStatus int

// The verification statuses.
const (
	// VerifyUndetermined: the server answered 4xx, or could not be asked.
	// The caller decides (answer 451, or accept).
	VerifyUndetermined VerifyStatus = iota
	// VerifyExists: the server accepted the recipient (2xx).
	VerifyExists
	// VerifyUnknown: the server refused the recipient (5xx).
	VerifyUnknown
)

// String names the status.
func (s VerifyStatus) String() string {
	switch s {
	case VerifyExists:
		return "exists"
	case VerifyUnknown:
		return "unknown"
	default:
		return "undetermined"
	}
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	// Status says whether the recipient exists.
	Status VerifyStatus
	// Code, Enhanced and Text are the server's answer to RCPT (or to the
	// command that failed; a code of the courier's own when no server
	// answered).
	Code     int
	Enhanced string
	Text     string
	// Cached reports that the result came from the cache.
	Cached bool
	// Err is the failure that left the status undetermined, if any.
	Err error
}

// flight is a callout in progress that concurrent callers for the same
// recipient wait for.
type flight struct {
	done chan struct{}
	res  VerifyResult
	err  error
}

// Verify asks rcpt's downstream server whether rcpt exists: on a pooled
// (or new) connection of the recipient's route, MAIL FROM:<>, RCPT
// TO:<rcpt>, RSET. Answers that a recipient exists or is unknown are
// cached (Options.Cache) for VerifyPositiveTTL and VerifyNegativeTTL;
// undetermined ones are not. Concurrent calls for one recipient share one
// callout. The error is for calls that cannot be made: an invalid address,
// no route, a closed Courier.
func (c *Courier) Verify(ctx context.Context, rcpt string) (VerifyResult, error) {
	local, domain, err := splitAddress(rcpt)
	if err != nil {
		return VerifyResult{}, err
	}
	key := VerifyKeyPrefix + local + "@" + domain
	if res, ok := c.cached(ctx, key); ok {
		return res, nil
	}
	f := &flight{done: make(chan struct{})}
	if v, loaded := c.verifying.LoadOrStore(key, f); loaded {
		other := v.(*flight)
		select {
		case <-other.done:
			return other.res, other.err
		case <-ctx.Done():
			return VerifyResult{Code: 451, Enhanced: "4.4.3", Text: "verification cancelled", Err: ctx.Err()}, nil
		}
	}
	defer func() {
		c.verifying.Delete(key)
		close(f.done)
	}()
	f.res, f.err = c.callout(ctx, rcpt)
	if f.err == nil {
		c.store(ctx, key, f.res)
	}
	return f.res, f.err
}

// callout makes the verification dialogue.
func (c *Courier) callout(ctx context.Context, rcpt string) (VerifyResult, error) {
	d, err := c.destinationOf(rcpt)
	if err != nil {
		return VerifyResult{}, err
	}
	l, err := c.acquire(ctx, d)
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return VerifyResult{}, err
		}
		return undetermined(err), nil
	}
	defer l.release()
	for attempt := 0; ; attempt++ {
		var cn *conn
		if attempt == 0 {
			cn = l.idleConn()
		}
		reused := cn != nil
		if cn == nil {
			if cn, err = c.connect(ctx, d); err != nil {
				c.log.Debug("courier: verification: no connection", "rcpt", rcpt, "destination", d.name, "err", err)
				return undetermined(err), nil
			}
		}
		l.conn = cn
		res, started, err := cn.verify(ctx, rcpt)
		if err == nil {
			return res, nil
		}
		if !started && reused && attempt == 0 && ctx.Err() == nil {
			cn.close()
			l.conn = nil
			continue
		}
		return undetermined(c.connError(ctx, cn, err)), nil
	}
}

// undetermined is the result of a callout that got no answer.
func undetermined(err error) VerifyResult {
	res := VerifyResult{Status: VerifyUndetermined, Code: 451, Enhanced: "4.4.1", Text: "recipient verification failed", Err: err}
	var de *DeliveryError
	if errors.As(err, &de) {
		res.Code, res.Enhanced, res.Text = de.Code, de.Enhanced, de.Text
		if de.Code/100 == 5 {
			res.Code, res.Enhanced = 451, "4.4.1"
		}
	}
	return res
}

// verify runs MAIL FROM:<>, RCPT TO:<rcpt>, RSET on the connection.
func (cn *conn) verify(ctx context.Context, rcpt string) (res VerifyResult, started bool, err error) {
	mail := "MAIL FROM:<>"
	if !isASCII(rcpt) {
		if !cn.has("SMTPUTF8") {
			return VerifyResult{Status: VerifyUnknown, Code: 553, Enhanced: "5.6.7",
				Text: "the address needs SMTPUTF8, which the server does not support"}, true, nil
		}
		mail += " SMTPUTF8"
	}
	stop := cn.watch(ctx)
	defer stop()
	defer func() {
		if err != nil {
			cn.broken = true
		}
	}()
	reset := cn.dirty || (cn.uses > 0 && cn.pipelining())
	cn.uses++
	var cmds []string
	if reset {
		cmds = append(cmds, "RSET")
	}
	cmds = append(cmds, mail, "RCPT TO:<"+rcpt+">", "RSET")
	var replies []reply
	if cn.pipelining() {
		replies, err = cn.exchange(cmds, reset)
	} else {
		// Lockstep; the final RSET is sent whatever happened.
		for _, c := range cmds {
			var r reply
			if r, err = cn.cmd(c); err != nil {
				break
			}
			replies = append(replies, r)
		}
	}
	started = len(replies) > 1 || (len(replies) == 1 && !reset)
	if err != nil {
		return VerifyResult{}, started, err
	}
	if reset {
		if replies[0].class() != 2 {
			return VerifyResult{}, false, fmt.Errorf("RSET refused: %s", replies[0].result())
		}
		replies = replies[1:]
	}
	mr, rr, fin := replies[0], replies[1], replies[2]
	for _, r := range replies {
		cn.noteCode(r)
	}
	if fin.class() != 2 {
		cn.broken = true
	}
	cn.dirty = false
	if mr.class() != 2 {
		return VerifyResult{Status: VerifyUndetermined, Code: 451, Enhanced: "4.4.1",
			Text: "the server refused the null sender: " + mr.result().String()}, true, nil
	}
	out := VerifyResult{Code: rr.code, Enhanced: rr.enh, Text: rr.text()}
	switch rr.class() {
	case 2:
		out.Status = VerifyExists
	case 5:
		out.Status = VerifyUnknown
	default:
		out.Status = VerifyUndetermined
	}
	return out, true, nil
}

// cached returns the cached result for key, if there is one that has not
// expired by Options.Now.
func (c *Courier) cached(ctx context.Context, key string) (VerifyResult, bool) {
	if c.opts.Cache == nil {
		return VerifyResult{}, false
	}
	op := state.Get(key)
	if err := c.opts.Cache.Do(ctx, op); err != nil {
		c.log.Warn("courier: verification cache unavailable", "err", err)
		return VerifyResult{}, false
	}
	if !op.Found() {
		return VerifyResult{}, false
	}
	res, exp, err := decodeVerify(op.Bytes())
	if err != nil {
		c.log.Warn("courier: bad verification cache entry", "key", key, "err", err)
		return VerifyResult{}, false
	}
	if !c.opts.Now().Before(exp) {
		return VerifyResult{}, false
	}
	res.Cached = true
	return res, true
}

// store caches a definite result.
func (c *Courier) store(ctx context.Context, key string, res VerifyResult) {
	if c.opts.Cache == nil {
		return
	}
	var ttl time.Duration
	switch res.Status {
	case VerifyExists:
		ttl = c.opts.VerifyPositiveTTL
	case VerifyUnknown:
		ttl = c.opts.VerifyNegativeTTL
	default:
		return
	}
	exp := c.opts.Now().Add(ttl)
	if err := c.opts.Cache.Do(ctx, state.Set(key, encodeVerify(res, exp), ttl)); err != nil {
		c.log.Warn("courier: cannot cache verification result", "key", key, "err", err)
	}
}

// encodeVerify formats a cached result: "1 STATUS EXPIRY_MS CODE ENH TEXT".
func encodeVerify(res VerifyResult, exp time.Time) []byte {
	return fmt.Appendf(nil, "1 %d %d %d %s %s", res.Status, exp.UnixMilli(), res.Code, res.Enhanced, res.Text)
}

// decodeVerify parses what encodeVerify wrote.
func decodeVerify(b []byte) (VerifyResult, time.Time, error) {
	f := strings.SplitN(string(b), " ", 6)
	if len(f) != 6 || f[0] != "1" {
		return VerifyResult{}, time.Time{}, errors.New("unknown format")
	}
	st, err1 := strconv.Atoi(f[1])
	ms, err2 := strconv.ParseInt(f[2], 10, 64)
	code, err3 := strconv.Atoi(f[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return VerifyResult{}, time.Time{}, err
	}
	if st != int(VerifyExists) && st != int(VerifyUnknown) {
		return VerifyResult{}, time.Time{}, fmt.Errorf("status %d", st)
	}
	return VerifyResult{Status: VerifyStatus(st), Code: code, Enhanced: f[4], Text: f[5]}, time.UnixMilli(ms), nil
}
