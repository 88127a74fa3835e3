package pop3

import (
	"context"
	"net/netip"

	"github.com/moatmail/moat/store"
)

// Backend is what the server needs from the mail store; *store.Store
// implements it. User names passed to it are lower case.
type Backend interface {
	// Authenticate checks a password; store.ErrAuthFailed (or
	// store.ErrNoSuchUser) when it does not match.
	Authenticate(ctx context.Context, user, password string) error
	// LockMaildrop gives the session the user's maildrop until unlock is
	// called; store.ErrLocked when another session holds it.
	LockMaildrop(user string) (unlock func(), err error)
	// List returns a snapshot of a mailbox in UID order.
	List(ctx context.Context, user, mailbox string) (store.MailboxInfo, []store.Message, error)
	// OpenMessage opens one message for reading.
	OpenMessage(ctx context.Context, user, mailbox string, uid uint32) (store.Body, error)
	// Delete removes the given messages at once (the UPDATE state).
	Delete(ctx context.Context, user, mailbox string, uids []uint32) error
}

// LoginGuard throttles failed logins per client address and per user. Allow
// is asked before a password is checked and refuses with an error while the
// client or the user is throttled; Failed and Succeeded report the outcome
// of each check. ip is the zero Addr when the client's address is unknown.
type LoginGuard interface {
	Allow(ctx context.Context, ip netip.Addr, user string) error
	Failed(ctx context.Context, ip netip.Addr, user string)
	Succeeded(ctx context.Context, ip netip.Addr, user string)
}

// mailbox is the one mailbox POP3 serves.
const mailbox = store.Inbox
