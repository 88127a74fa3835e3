// Package headers is the built-in check of a message's basic header fields:
// Date, Message-ID and From must be present once and well formed, and From
// must name a single author. It runs at the data stage and emits symbols
// only; the policy decides what they cost.
package headers

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"time"

	"github.com/moatmail/moat/filter"
)

// The symbols this check emits. Their default scores are in the Symbol
// values the check returns; the policy may override them by name.
const (
	// MissingDate: the message has no Date field.
	MissingDate = "MISSING_DATE"
	// InvalidDate: the Date field cannot be parsed as an RFC 5322 date.
	InvalidDate = "INVALID_DATE"
	// DateInFuture: the Date is more than FutureSkew ahead of the clock.
	DateInFuture = "DATE_IN_FUTURE"
	// MultipleDate: the message has more than one Date field.
	MultipleDate = "MULTIPLE_DATE"
	// MissingMessageID: the message has no Message-ID field.
	MissingMessageID = "MISSING_MESSAGE_ID"
	// InvalidMessageID: the Message-ID is not of the form <left@right>.
	InvalidMessageID = "INVALID_MESSAGE_ID"
	// MultipleMessageID: the message has more than one Message-ID field.
	MultipleMessageID = "MULTIPLE_MESSAGE_ID"
	// MissingFrom: the message has no From field.
	MissingFrom = "MISSING_FROM"
	// InvalidFrom: a From field is not a parsable address list.
	InvalidFrom = "INVALID_FROM"
	// MultipleFrom: more than one From field, or more than one address in
	// From.
	MultipleFrom = "MULTIPLE_FROM"
)

// FutureSkew is how far ahead of the check's clock a Date may be before
// DATE_IN_FUTURE is emitted.
const FutureSkew = 24 * time.Hour

// DefaultScore returns the score the check gives the named symbol, and
// whether the symbol is one of this check's.
func DefaultScore(symbol string) (float64, bool) {
	switch symbol {
	case MissingFrom, InvalidFrom, MultipleFrom:
		return 2.0, true
	case DateInFuture:
		return 1.5, true
	case MissingDate, InvalidDate, MultipleDate, MissingMessageID, MultipleMessageID:
		return 1.0, true
	case InvalidMessageID:
		return 0.5, true
	}
	return 0, false
}

var _ filter.Check = (*Check)(nil)

// Check is the headers check. It is safe for concurrent use.
type Check struct {
	now   func() time.Time
	addrs *mail.AddressParser
}

// Option configures a Check.
type Option func(*Check)

// WithClock sets the clock DATE_IN_FUTURE is judged against (time.Now by
// default).
func WithClock(now func() time.Time) Option {
	return func(c *Check) { c.now = now }
}

// New returns the headers check.
func New(opts ...Option) *Check {
	c := &Check{now: time.Now, addrs: newAddressParser()}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Name returns "headers".
func (c *Check) Name() string { return "headers" }

// Stages returns the data stage only.
func (c *Check) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// errNoMessage is returned when the check is called without a message.
var errNoMessage = errors.New("headers: no message in transaction")

// Check inspects the Date, Message-ID and From fields of t.Msg.
func (c *Check) Check(ctx context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	if t.Msg == nil {
		return nil, errNoMessage
	}
	h := &t.Msg.Header
	var out []filter.Symbol
	out = c.checkDate(h, out)
	out = checkMessageID(h, out)
	out = c.checkFrom(h, out)
	return out, nil
}

// sym builds a symbol with the check's default score.
func sym(name, format string, args ...any) filter.Symbol {
	score, _ := DefaultScore(name)
	return filter.Symbol{Name: name, Score: score, Reason: fmt.Sprintf(format, args...)}
}

// quote shortens a header value for a reason: at most 60 bytes, quoted.
func quote(v string) string {
	const limit = 60
	if len(v) > limit {
		v = v[:limit] + "…"
	}
	return fmt.Sprintf("%q", v)
}
