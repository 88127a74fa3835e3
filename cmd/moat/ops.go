package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/moatmail/moat/filter/ratelimit"
	"github.com/moatmail/moat/filter/state"
	"github.com/moatmail/moat/policies"
)

// limiter adapts ratelimit.Limiter to relay.Limiter.
type limiter struct{ l *ratelimit.Limiter }

// Take counts one event under key against rate.
func (l limiter) Take(ctx context.Context, rule string, rate policies.Rate, key string) (bool, time.Duration, error) {
	d, err := l.l.Take(ctx, ratelimit.Rule{Name: rule, Limit: rate.Limit, Window: rate.Window.D()}, key, 1)
	return d.Allowed, d.RetryAfter, err
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
