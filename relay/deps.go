package relay

import (
	"context"
	"io"
	"net/netip"
	"time"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/policies"
)

// Users authenticates SMTP AUTH and answers whether a local recipient
// exists (the built-in store's users).
type Users interface {
	Authenticate(ctx context.Context, name, password string) error
	UserExists(ctx context.Context, name string) (bool, error)
}

// LoginGuard throttles failed logins per client and per user; Allow
// returns an error while the client or user is throttled.
type LoginGuard interface {
	Allow(ctx context.Context, ip netip.Addr, user string) error
	Failed(ctx context.Context, ip netip.Addr, user string)
	Succeeded(ctx context.Context, ip netip.Addr, user string)
}

// Limiter counts events against rates in the shared state. TakeAll counts
// one event under each request's key, all or nothing (a client refused by
// its own limit does not use up its network's), and returns the index of
// the first refused request (-1 when all are allowed) and when to retry.
// On a backend error it allows (fails open) and returns the error for the
// log.
type Limiter interface {
	TakeAll(ctx context.Context, reqs []LimitRequest) (denied int, retryAfter time.Duration, err error)
}

// LimitRequest is one event to count: under Key, against Rate, named Rule
// (the ratelimit key, e.g. messages_per_ip).
type LimitRequest struct {
	Rule string
	Rate policies.Rate
	Key  string
}

// Envelope is what the front end hands to the durable queue.
type Envelope struct {
	ID       string // the transaction id
	From     string
	Rcpts    []string
	Received time.Time
	// Spam is set for mail judged junk: it is delivered but never
	// bounced.
	Spam bool
	// Ret and EnvID are the client's RET and ENVID (RFC 3461); Rcpt has
	// each recipient's NOTIFY and ORCPT, in Rcpts order.
	Ret, EnvID string
	Rcpt       []RcptDSN
}

// RcptDSN is one recipient's RFC 3461 parameters.
type RcptDSN struct {
	Notify []string // NEVER, or some of SUCCESS, FAILURE, DELAY; nil: FAILURE
	ORcpt  string   // "rfc822;user@example.org"
}

// Enqueuer is the durable relay queue: Enqueue returns once the message
// and its envelope are on disk.
type Enqueuer interface {
	Enqueue(ctx context.Context, env Envelope, msg io.Reader) (string, error)
}

// Verdicts of a recipient verification callout.
const (
	RcptExists  = iota // the downstream accepts the recipient
	RcptUnknown        // the downstream refuses it (5xx)
	RcptUnsure         // no answer (4xx, connection failure)
)

// Verifier asks the downstream server whether it accepts a recipient
// (cached). Reply is the downstream's text, for the log.
type Verifier interface {
	VerifyRecipient(ctx context.Context, rcpt string) (verdict int, reply string, err error)
}

// Metrics receives what the front end counts. Every method must be safe
// for concurrent use.
type Metrics interface {
	ConnOpened(listener string)
	ConnClosed(listener string)
	ConnRefused(listener, reason string)
	RateLimited(limit string)
	LoginFailed(proto string)
	Transaction(action string, symbols []filter.Symbol, timings []filter.Timing, d time.Duration)
}

// noMetrics is the Metrics of a server given none.
type noMetrics struct{}

func (noMetrics) ConnOpened(string)                                                   {}
func (noMetrics) ConnClosed(string)                                                   {}
func (noMetrics) ConnRefused(string, string)                                          {}
func (noMetrics) RateLimited(string)                                                  {}
func (noMetrics) LoginFailed(string)                                                  {}
func (noMetrics) Transaction(string, []filter.Symbol, []filter.Timing, time.Duration) {}
