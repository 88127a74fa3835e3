package imap

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ErrThrottled is returned by MemoryGuard.Allow while a client address or a
// user has too many recent failed logins.
var ErrThrottled = errors.New("too many failed logins; try again later")

// LoginGuard throttles password guessing. Servers (IMAP here, POP3 too) ask
// Allow before checking a password and report the outcome with Failed or
// Succeeded. ip is the client's address; user is the name as given by the
// client, lower-cased.
type LoginGuard interface {
	// Allow returns a non-nil error when the attempt must be refused
	// without checking the password.
	Allow(ctx context.Context, ip netip.Addr, user string) error
	// Failed records a failed login.
	Failed(ctx context.Context, ip netip.Addr, user string)
	// Succeeded records a successful login.
	Succeeded(ctx context.Context, ip netip.Addr, user string)
}

// maxGuardKeys bounds the memory a MemoryGuard uses under a flood of
// distinct addresses or user names.
const maxGuardKeys = 1 << 16

// MemoryGuard is an in-memory LoginGuard: after maxFailures failed logins
// within window from one client address (IPv6 addresses by /64), or for one
// user name, further attempts from that address, or for that user, are
// refused until the window that began with the first of those failures has
// passed. A success clears the address's and the user's count.
type MemoryGuard struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]guardEntry
	ops     int
}

type guardEntry struct {
	failures int
	start    time.Time
}

// NewMemoryGuard returns a MemoryGuard; now is the clock (time.Now when
// nil). maxFailures < 1 is taken as 1.
func NewMemoryGuard(maxFailures int, window time.Duration, now func() time.Time) *MemoryGuard {
	if maxFailures < 1 {
		maxFailures = 1
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryGuard{max: maxFailures, window: window, now: now, entries: make(map[string]guardEntry)}
}

// ipKey groups IPv6 clients by /64, the smallest block a client usually
// controls.
func ipKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return "ip:" + p.String()
		}
	}
	return "ip:" + ip.String()
}

func userKey(user string) string { return "user:" + strings.ToLower(user) }

func (g *MemoryGuard) blocked(key string, now time.Time) bool {
	e, ok := g.entries[key]
	if !ok {
		return false
	}
	if now.Sub(e.start) >= g.window {
		delete(g.entries, key)
		return false
	}
	return e.failures >= g.max
}

// Allow implements LoginGuard.
func (g *MemoryGuard) Allow(_ context.Context, ip netip.Addr, user string) error {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if (ip.IsValid() && g.blocked(ipKey(ip), now)) || (user != "" && g.blocked(userKey(user), now)) {
		return ErrThrottled
	}
	return nil
}

// Failed implements LoginGuard.
func (g *MemoryGuard) Failed(_ context.Context, ip netip.Addr, user string) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.maintain(now)
	if ip.IsValid() {
		g.fail(ipKey(ip), now)
	}
	if user != "" {
		g.fail(userKey(user), now)
	}
}

func (g *MemoryGuard) fail(key string, now time.Time) {
	e, ok := g.entries[key]
	if !ok || now.Sub(e.start) >= g.window {
		e = guardEntry{start: now}
	}
	e.failures++
	g.entries[key] = e
}

// Succeeded implements LoginGuard.
func (g *MemoryGuard) Succeeded(_ context.Context, ip netip.Addr, user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ip.IsValid() {
		delete(g.entries, ipKey(ip))
	}
	if user != "" {
		delete(g.entries, userKey(user))
	}
}

// maintain drops expired entries now and then, and makes room when the map
// is full by dropping arbitrary entries down to three quarters of the
// bound, so that a flood costs one sweep per quarter of the bound.
func (g *MemoryGuard) maintain(now time.Time) {
	g.ops++
	if g.ops%1024 != 0 && len(g.entries) < maxGuardKeys {
		return
	}
	for k, e := range g.entries {
		if now.Sub(e.start) >= g.window {
			delete(g.entries, k)
		}
	}
	if len(g.entries) < maxGuardKeys {
		return
	}
	for k := range g.entries {
		if len(g.entries) <= maxGuardKeys*3/4 {
			break
		}
		delete(g.entries, k)
	}
}
