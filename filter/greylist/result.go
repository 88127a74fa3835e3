package greylist

import (
	"fmt"
	"time"

	"github.com/moatmail/moat/filter"
)

// Symbol names. Their default score is 0: in mode Always the front end
// answers 451 from the Result of each recipient, not from the policy (a
// symbol is per transaction, a greylist decision per recipient).
const (
	SymbolNew      = "GREYLIST_NEW"
	SymbolEarly    = "GREYLIST_EARLY"
	SymbolPass     = "GREYLIST_PASS"
	SymbolAllowed  = "GREYLIST_ALLOWED"
	SymbolTempfail = "GREYLIST_TEMPFAIL"
)

// Status is the outcome of one greylist decision.
type Status int

// The statuses.
const (
	// StatusSkipped: greylisting does not apply (trusted or authenticated client,
	// allow list, DNSWL, opted-out recipient domain). No symbol.
	StatusSkipped Status = iota
	// StatusNew: the triplet was unknown; it is recorded. Greylisted.
	StatusNew
	// StatusEarly: a retry before the delay is over. Greylisted.
	StatusEarly
	// StatusPass: a retry after the delay, or a triplet that passed before.
	StatusPass
	// StatusAllowed: the client network or SPF domain is auto-allowed, or an
	// administrator allowed the client or the sender.
	StatusAllowed
	// StatusTempfail: the backend failed; the message is not greylisted (fail
	// open).
	StatusTempfail
)

var statusNames = [...]string{"skipped", "new", "early", "pass", "allowed", "tempfail"}

// String returns the lower-case status name.
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("status(%d)", int(s))
	}
	return statusNames[s]
}

// Result is the decision for one recipient.
type Result struct {
	Status Status
	// Rcpt is the recipient as given to Decide.
	Rcpt string
	// Triplet is the key decided on (empty when StatusSkipped before it was
	// built).
	Triplet Triplet
	// FirstSeen is when the triplet was first seen (StatusNew, StatusEarly, StatusPass).
	FirstSeen time.Time
	// RetryAt is the earliest time a retry passes (StatusNew, StatusEarly).
	RetryAt time.Time
	// Reason explains the decision for logs and `moat check`.
	Reason string
}

// Greylisted reports whether the recipient must get 451 4.7.1.
func (r Result) Greylisted() bool { return r.Status == StatusNew || r.Status == StatusEarly }

// Symbol returns the symbol the decision emits (false for StatusSkipped).
func (r Result) Symbol() (filter.Symbol, bool) {
	name := ""
	switch r.Status {
	case StatusNew:
		name = SymbolNew
	case StatusEarly:
		name = SymbolEarly
	case StatusPass:
		name = SymbolPass
	case StatusAllowed:
		name = SymbolAllowed
	case StatusTempfail:
		name = SymbolTempfail
	default:
		return filter.Symbol{}, false
	}
	return filter.Symbol{Name: name, Reason: r.Reason}, true
}

// RetryIn returns how long the client must wait from now before a retry
// passes, rounded up to the second (0 when it may retry at once).
func (r Result) RetryIn(now time.Time) time.Duration {
	d := r.RetryAt.Sub(now)
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// ReplyText is the text of the 451 4.7.1 reply for a greylisted
// recipient: "Greylisted, please try again in 5 minutes". The front end
// adds the code, enhanced code and transaction id.
func (r Result) ReplyText(now time.Time) string {
	return "Greylisted, please try again in " + humanDuration(r.RetryIn(now))
}

// humanDuration says d in whole minutes (rounded up) from a minute on, in
// seconds below.
func humanDuration(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "1 second"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d/time.Second))
	case d <= time.Minute:
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}

// LatestRetry returns the latest RetryAt of the greylisted results: the
// time to give in a single reply for several recipients (DATA in mode
// Score). ok is false when none is greylisted.
func LatestRetry(rs []Result) (Result, bool) {
	var out Result
	ok := false
	for _, r := range rs {
		if r.Greylisted() && (!ok || r.RetryAt.After(out.RetryAt)) {
			out, ok = r, true
		}
	}
	return out, ok
}
