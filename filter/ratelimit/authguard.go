package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
)

// ErrThrottled is matched (errors.Is) by every *ThrottledError.
var ErrThrottled = errors.New("ratelimit: throttled")

// ThrottledError says a limit was reached and when to try again.
type ThrottledError struct {
	// Rule is the name of the rule that refused.
	Rule string
	// RetryAfter is how long until the request would fit.
	RetryAfter time.Duration
}

// Error names the rule and the wait, never the key (an address or user).
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("ratelimit: limit %s reached, retry after %s", e.Rule, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// Names of the AuthGuard's rules when AuthGuardOptions leave them empty.
const (
	AuthClientRule = "auth_client"
	AuthUserRule   = "auth_user"
)

// errorLogInterval spaces the log lines of a failing backend.
const errorLogInterval = time.Minute

// AuthGuardOptions configure an AuthGuard.
type AuthGuardOptions struct {
	// PerClient limits failed logins per client address (IPKey), say 10
	// per 10 minutes. A disabled rule (Limit 0) does not limit.
	PerClient Rule
	// PerUser limits failed logins per user name (UserKey), say 5 per 15
	// minutes, whatever the client: it slows a password guessed from many
	// addresses. A successful login clears it.
	PerUser Rule
	// Log receives backend failures (at most one line a minute). Default:
	// discarded.
	Log *slog.Logger
}

// AuthGuard throttles logins (IMAP LOGIN/AUTHENTICATE, POP3 USER/PASS and
// AUTH, SMTP AUTH) by the failures counted per client and per user in the
// Limiter's store, so that every instance sharing it throttles alike.
//
// Allow asks before the password is checked; Failed and Succeeded report
// the outcome. The check and the count are separate round trips, so a
// client with k attempts in flight at once can get up to k-1 guesses past
// the limit. When the backend fails, AuthGuard logs and allows.
type AuthGuard struct {
	l             *Limiter
	client, user  Rule
	log           *slog.Logger
	lastErrLogged atomic.Int64 // Unix ms
}

// NewAuthGuard returns a guard counting in l.
func NewAuthGuard(l *Limiter, o AuthGuardOptions) *AuthGuard {
	if o.PerClient.Name == "" {
		o.PerClient.Name = AuthClientRule
	}
	if o.PerUser.Name == "" {
		o.PerUser.Name = AuthUserRule
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &AuthGuard{l: l, client: o.PerClient, user: o.PerUser, log: o.Log}
}

// requests returns the guard's requests for ip and user (either may be
// unknown: the invalid address, the empty name).
func (g *AuthGuard) requests(ip netip.Addr, user string) []Request {
	reqs := make([]Request, 0, 2)
	if ip.IsValid() && g.client.Enabled() {
		reqs = append(reqs, Request{Rule: g.client, Key: IPKey(ip), N: 1})
	}
	if user != "" && g.user.Enabled() {
		reqs = append(reqs, Request{Rule: g.user, Key: UserKey(user), N: 1})
	}
	return reqs
}

// Allow returns nil when a login by user from ip may be tried, and an error
// matching ErrThrottled (a *ThrottledError with the wait) once the client's
// or the user's failures have reached their limit. It counts nothing.
func (g *AuthGuard) Allow(ctx context.Context, ip netip.Addr, user string) error {
	reqs := g.requests(ip, user)
	if len(reqs) == 0 {
		return nil
	}
	ds, err := g.l.batch(ctx, modePeek, reqs)
	if err != nil {
		g.logError("check", err)
	}
	if d, denied := FirstDenied(ds); denied {
		return d.Err()
	}
	return nil
}

// Failed counts a failed login by user from ip against both limits.
func (g *AuthGuard) Failed(ctx context.Context, ip netip.Addr, user string) {
	reqs := g.requests(ip, user)
	if len(reqs) == 0 {
		return
	}
	if _, err := g.l.batch(ctx, modeAdd, reqs); err != nil {
		g.logError("count a failure", err)
	}
}

// Succeeded clears the user's failures. The client's stay: a client that
// owns one account must not wipe its failures on others by logging in.
func (g *AuthGuard) Succeeded(ctx context.Context, _ netip.Addr, user string) {
	if user == "" || !g.user.Enabled() {
		return
	}
	if err := g.l.Reset(ctx, g.user, UserKey(user)); err != nil {
		g.logError("clear the user's failures", err)
	}
}

func (g *AuthGuard) logError(what string, err error) {
	now := g.l.now().UnixMilli()
	last := g.lastErrLogged.Load()
	if last != 0 && now-last < errorLogInterval.Milliseconds() {
		return
	}
	if g.lastErrLogged.CompareAndSwap(last, now) {
		g.log.Warn("auth rate limit backend failing: logins not throttled", "op", what, "err", err)
	}
}
