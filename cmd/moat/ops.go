package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/moatmail/moat/filter/ratelimit"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/policies"
	"github.com/moatmail/moat/relay"
)

// limiter adapts ratelimit.Limiter to relay.Limiter.
type limiter struct{ l *ratelimit.Limiter }

// TakeAll counts one event per request, all or nothing.
func (l limiter) TakeAll(ctx context.Context, reqs []relay.LimitRequest) (int, time.Duration, error) {
	rr := make([]ratelimit.Request, len(reqs))
	for i, r := range reqs {
		rr[i] = ratelimit.Request{Rule: ratelimit.Rule{Name: r.Rule, Limit: r.Rate.Limit, Window: r.Rate.Window.D()}, Key: r.Key, N: 1}
	}
	ds, err := l.l.TakeAll(ctx, rr...)
	if err != nil {
		return -1, 0, err
	}
	for i, d := range ds {
		if !d.Allowed {
			return i, d.RetryAfter, nil
		}
	}
	return -1, 0, nil
}

// newAuthGuard returns the failed-login guard of the ratelimit section
// (nil when both its limits are off).
func newAuthGuard(cfg *policies.Config, l *ratelimit.Limiter, log *slog.Logger) *ratelimit.AuthGuard {
	rl := cfg.RateLimit
	if rl.AuthFailuresPerIP == nil && rl.AuthFailuresPerUser == nil {
		return nil
	}
	rule := func(name string, r *policies.Rate) ratelimit.Rule {
		if r == nil {
			return ratelimit.Rule{Name: name}
		}
		return ratelimit.Rule{Name: name, Limit: r.Limit, Window: r.Window.D()}
	}
	return ratelimit.NewAuthGuard(l, ratelimit.AuthGuardOptions{
		PerClient: rule(ratelimit.AuthClientRule, rl.AuthFailuresPerIP),
		PerUser:   rule(ratelimit.AuthUserRule, rl.AuthFailuresPerUser),
		Log:       log,
	})
}

// newLimiter returns the rate limiter over the shared state.
func newLimiter(st state.Store) *ratelimit.Limiter {
	return ratelimit.New(st, ratelimit.Options{})
}
