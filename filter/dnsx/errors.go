package dnsx

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// The kinds of failure a lookup reports. Every error returned by a
// Resolver's lookup methods is a *net.DNSError that unwraps to exactly one
// of them (test with errors.Is).
var (
	// ErrNXDOMAIN: the name does not exist (RCODE 3).
	ErrNXDOMAIN = errors.New("no such domain (NXDOMAIN)")
	// ErrNoData: the name exists but has no records of the type asked for.
	ErrNoData = errors.New("no records of the requested type (NODATA)")
	// ErrServFail: every server answered SERVFAIL.
	ErrServFail = errors.New("server failure (SERVFAIL)")
	// ErrRefused: the servers refused the query or answered with another
	// error code (REFUSED, NOTIMP, FORMERR).
	ErrRefused = errors.New("query refused")
	// ErrTimeout: no server answered in time, or the caller's context ended.
	ErrTimeout = errors.New("timed out")
	// ErrNetwork: no server could be reached, or the answers were malformed
	// or did not match the question.
	ErrNetwork = errors.New("network error")
	// ErrBadName: the name cannot be looked up (empty, too long, an empty
	// label, or a byte that has no place in a query name).
	ErrBadName = errors.New("invalid domain name")
)

// kinds lists the sentinels in the order Kind tests them.
var kinds = []error{ErrNXDOMAIN, ErrNoData, ErrServFail, ErrRefused, ErrTimeout, ErrNetwork, ErrBadName}

// Kind returns the sentinel error err wraps (ErrNXDOMAIN, ErrNoData, …), or
// nil when err is nil or not a lookup error. Callers that must not repeat
// the queried name (it may carry a secret key) wrap Kind(err) instead of err.
func Kind(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// IsNotFound reports whether err says the name or its records do not exist
// (NXDOMAIN or NODATA): a definite answer, unlike a failure.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNXDOMAIN) || errors.Is(err, ErrNoData)
}

// IsTemporary reports whether err is a failure that may go away when the
// lookup is tried again (SERVFAIL, REFUSED, timeout, network error).
func IsTemporary(err error) bool {
	switch Kind(err) {
	case ErrServFail, ErrRefused, ErrTimeout, ErrNetwork:
		return true
	}
	return false
}

// lookupError builds the *net.DNSError for a failed lookup of name. kind is
// one of the sentinels; cause, when not nil, is wrapped too (a context
// error, a network error).
func lookupError(name, server string, kind, cause error) *net.DNSError {
	e := &net.DNSError{Err: kind.Error(), Name: name, Server: server, UnwrapErr: kind}
	if cause != nil {
		e.Err = kind.Error() + ": " + cause.Error()
		e.UnwrapErr = fmt.Errorf("%w: %w", kind, cause)
	}
	switch kind {
	case ErrNXDOMAIN, ErrNoData:
		e.IsNotFound = true
	case ErrTimeout:
		e.IsTimeout = !errors.Is(cause, context.Canceled)
		e.IsTemporary = true
	case ErrServFail, ErrRefused, ErrNetwork:
		e.IsTemporary = true
	}
	return e
}
