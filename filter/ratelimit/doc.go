// Package ratelimit counts events in moat's shared state (package state) so
// that limits hold across every instance that shares one Redis: connections
// and messages per client address and per network, recipients per sender
// domain, failed logins per client and per user.
//
// A Rule names a limit: at most Limit events per Window. A Limiter counts
// events under a key (IPKey, NetKey, DomainKey, UserKey build the usual
// ones) in windows aligned to the Unix epoch, read from an injected clock:
//
//   - sliding (the default): the count is the current window's plus the
//     previous window's weighted by the part of it still inside a window
//     ending now. It smooths the burst a fixed window allows at its
//     boundary and needs only two counters per key.
//   - fixed (Rule.Fixed): the current window's count only.
//
// Take asks for n events: when they fit, they are counted and allowed;
// otherwise nothing is counted and the Decision says when to retry. Add
// counts events whether or not they fit (failures that already happened),
// Peek asks without counting, Reset forgets a key. Each call is one atomic
// script over the key's counters and costs one round trip; TakeAll runs
// several in one round trip (each atomic on its own).
//
// When the state backend fails, every call fails open: the Decision allows
// and the error is returned for the caller to log and count. A rate limit
// must never take the mail flow down with the backend.
//
// AuthGuard throttles logins (IMAP, POP3, SMTP AUTH) from the failures
// counted per client address and per user name.
package ratelimit
