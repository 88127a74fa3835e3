package imap

import (
	"context"
	"errors"

	"github.com/emersion/go-imap/v2"

	"github.com/moatmail/moat/store"
)

// codeExpungeIssued (RFC 9051) tells the client that some of the messages
// it named were expunged by another session.
const codeExpungeIssued imap.ResponseCode = "EXPUNGEISSUED"

func imapNo(code imap.ResponseCode, text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

// errReadOnly answers commands that would change a mailbox opened with
// EXAMINE.
var errReadOnly = imapNo(imap.ResponseCodeCannot, "Mailbox is read-only (EXAMINE)")

// errNoMailbox answers commands that need a selected mailbox when the
// session has lost it (deleted by another session).
var errNoMailbox = imapNo(imap.ResponseCodeNonExistent, "No mailbox selected")

// target says which mailbox an error is about: the one the command works
// on, or a destination (COPY, MOVE, APPEND), which gets TRYCREATE.
type target int

const (
	onMailbox target = iota
	onDestination
)

// storeError turns a store error into an IMAP response. Errors the client
// can act on get their response code; anything else is logged here with
// the command's name and answered with a generic text.
func (s *session) storeError(cmd string, t target, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoSuchMailbox):
		if t == onDestination {
			return imapNo(imap.ResponseCodeTryCreate, "No such mailbox")
		}
		return imapNo(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, store.ErrMailboxExists):
		return imapNo(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrInvalidName):
		return imapNo(imap.ResponseCodeCannot, "Invalid mailbox name")
	case errors.Is(err, store.ErrProtectedMailbox):
		return imapNo(imap.ResponseCodeCannot, "This mailbox cannot be deleted or renamed")
	case errors.Is(err, store.ErrQuotaExceeded):
		return imapNo(imap.ResponseCodeOverQuota, "Quota exceeded")
	case errors.Is(err, store.ErrNoSuchMessage):
		return imapNo(codeExpungeIssued, "Some messages were expunged")
	case errors.Is(err, store.ErrAuthFailed), errors.Is(err, store.ErrNoSuchUser):
		return imapNo(imap.ResponseCodeAuthenticationFailed, "Authentication failed")
	case errors.Is(err, store.ErrLocked):
		return imapNo(imap.ResponseCodeInUse, "Mailbox in use")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return imapNo(imap.ResponseCodeUnavailable, "Server shutting down")
	}
	s.log.Error("imap: store error", "cmd", cmd, "user", s.user, "err", err)
	return imapNo(imap.ResponseCodeUnavailable, "Temporary server error; try again later")
}
