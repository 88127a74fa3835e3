package store

// This file is the store's public API, written first so that store/imap and
// store/pop3 can be built against it while the engine is written. The
// engine (store.go and friends) fills in the bodies.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
)

// Errors returned by the store. They are wrapped; test with errors.Is.
var (
	ErrNoSuchUser       = errors.New("store: no such user")
	ErrUserExists       = errors.New("store: user exists")
	ErrAuthFailed       = errors.New("store: authentication failed")
	ErrQuotaExceeded    = errors.New("store: quota exceeded")
	ErrNoSuchMailbox    = errors.New("store: no such mailbox")
	ErrMailboxExists    = errors.New("store: mailbox exists")
	ErrInvalidName      = errors.New("store: invalid name")
	ErrNoSuchMessage    = errors.New("store: no such message")
	ErrLocked           = errors.New("store: maildrop locked by another session")
	ErrProtectedMailbox = errors.New("store: mailbox cannot be deleted or renamed")
)

// Special-use roles (RFC 6154) of the mailboxes every user has. INBOX has
// no role attribute; its role here is RoleInbox.
const (
	RoleInbox   = "inbox"
	RoleJunk    = "junk"
	RoleTrash   = "trash"
	RoleSent    = "sent"
	RoleDrafts  = "drafts"
	RoleArchive = "archive"
)

// Names of the mailboxes created on first use, by role.
const (
	Inbox   = "INBOX"
	Junk    = "Junk"
	Trash   = "Trash"
	Sent    = "Sent"
	Drafts  = "Drafts"
	Archive = "Archive"
)

// Trainer learns from what users do with their mail: a message moved,
// copied or appended into Junk, or flagged $Junk, is spam; one moved or
// copied out of Junk into any mailbox but Trash, or flagged $NotJunk, is
// ham. The store remembers per message what it trained it as and calls
// Train only when that changes (a reversal is one call with the other
// class: the trainer untrains and retrains). raw is the whole message.
type Trainer interface {
	Train(ctx context.Context, user string, spam bool, raw []byte) error
}

// Options configure a Store.
type Options struct {
	// Dir is the store's directory (data_dir/store); created if missing.
	Dir string
	// Trainer, when not nil, is told about training actions.
	Trainer Trainer
	// DefaultQuota is each user's quota in bytes when the user has none of
	// their own; 0 means unlimited.
	DefaultQuota int64
	// Log receives errors that have no caller to return to (training).
	Log *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// User is one account. Name is the full lower-case address.
type User struct {
	Name    string
	Quota   int64 // bytes; 0 = the default quota
	Used    int64 // bytes stored in all mailboxes
	Created time.Time
}

// MailboxInfo describes a mailbox.
type MailboxInfo struct {
	Name        string // "/"-separated hierarchy, e.g. "Lists/go"
	Role        string // one of the Role constants, or ""
	Subscribed  bool
	UIDValidity uint32
	UIDNext     uint32
	Messages    uint32
	Unseen      uint32 // messages without \Seen
	Size        int64
}

// Message is one message's metadata in a mailbox snapshot.
type Message struct {
	UID      uint32
	Flags    []string // system flags (\Seen, \Answered, \Flagged, \Deleted, \Draft) and keywords, as stored
	Internal time.Time
	Size     int64
}

// FlagOp says how SetFlags combines the given flags with the stored ones.
type FlagOp int

// Flag operations.
const (
	FlagsAdd FlagOp = iota
	FlagsRemove
	FlagsReplace
)

// ChangeKind is the kind of a Change.
type ChangeKind int

// Change kinds.
const (
	ChangeAdded     ChangeKind = iota // UIDs were added to Mailbox
	ChangeFlags                       // UIDs' flags changed in Mailbox
	ChangeExpunged                    // UIDs were removed from Mailbox
	ChangeMailboxes                   // mailboxes were created, deleted or renamed
)

// Change tells watchers of a user what changed. Watchers re-read what
// they need (List, Mailbox); Change only says where to look.
type Change struct {
	User    string
	Mailbox string
	Kind    ChangeKind
	UIDs    []uint32
}

// Watcher receives a user's changes until cancelled. The channel is
// buffered; a watcher that falls behind gets a ChangeMailboxes change meaning
// "re-read everything" instead of blocking the store.
type Watcher interface {
	Changes() <-chan Change
	Cancel()
}

// Body is an open message: io.ReaderAt plus its size.
type Body interface {
	io.ReaderAt
	io.Reader
	Size() int64
	Close() error
}

// The engine implements these methods on *Store (signatures are the
// contract; see store.go and friends):
//
//	func Open(ctx context.Context, o Options) (*Store, error)
//	func (s *Store) Close() error
//
//	// Users (passwords hashed with argon2id).
//	func (s *Store) AddUser(ctx context.Context, name, password string) error
//	func (s *Store) SetPassword(ctx context.Context, name, password string) error
//	func (s *Store) SetQuota(ctx context.Context, name string, bytes int64) error
//	func (s *Store) DeleteUser(ctx context.Context, name string) error
//	func (s *Store) Users(ctx context.Context) ([]User, error)
//	func (s *Store) UserExists(ctx context.Context, name string) (bool, error)
//	func (s *Store) Authenticate(ctx context.Context, name, password string) error // ErrAuthFailed
//
//	// Delivery from SMTP: junk → Junk, else INBOX; ErrNoSuchUser, ErrQuotaExceeded.
//	// Returns only once the message and the index are on disk.
//	func (s *Store) Deliver(ctx context.Context, rcpt string, junk bool, msg io.Reader) error
//
//	// Mailboxes (the role mailboxes are created on first use of a user).
//	func (s *Store) Mailboxes(ctx context.Context, user string) ([]MailboxInfo, error)
//	func (s *Store) Mailbox(ctx context.Context, user, name string) (MailboxInfo, error)
//	func (s *Store) CreateMailbox(ctx context.Context, user, name string) error
//	func (s *Store) DeleteMailbox(ctx context.Context, user, name string) error
//	func (s *Store) RenameMailbox(ctx context.Context, user, oldName, newName string) error
//	func (s *Store) Subscribe(ctx context.Context, user, name string, subscribed bool) error
//
//	// Messages. List is a snapshot in UID order.
//	func (s *Store) List(ctx context.Context, user, mailbox string) (MailboxInfo, []Message, error)
//	func (s *Store) OpenMessage(ctx context.Context, user, mailbox string, uid uint32) (Body, error)
//	func (s *Store) Append(ctx context.Context, user, mailbox string, flags []string, date time.Time, r io.Reader) (uid, uidValidity uint32, err error)
//	func (s *Store) SetFlags(ctx context.Context, user, mailbox string, uids []uint32, op FlagOp, flags []string) ([]Message, error)
//	func (s *Store) Copy(ctx context.Context, user, src string, uids []uint32, dst string) (srcUIDs, dstUIDs []uint32, dstUIDValidity uint32, err error)
//	func (s *Store) Move(ctx context.Context, user, src string, uids []uint32, dst string) (srcUIDs, dstUIDs []uint32, dstUIDValidity uint32, err error)
//	// Expunge removes the messages flagged \Deleted among uids (all of the mailbox's when uids is nil).
//	func (s *Store) Expunge(ctx context.Context, user, mailbox string, uids []uint32) ([]uint32, error)
//	// Delete removes the given messages at once (POP3 UPDATE state).
//	func (s *Store) Delete(ctx context.Context, user, mailbox string, uids []uint32) error
//
//	// Watch reports the user's changes (IDLE, concurrent sessions).
//	func (s *Store) Watch(user string) Watcher
//	// LockMaildrop gives one POP3 session at a time the user's maildrop; ErrLocked otherwise.
//	func (s *Store) LockMaildrop(user string) (unlock func(), err error)
