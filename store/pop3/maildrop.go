package pop3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/moatmail/moat/store"
)

// maildrop is a session's snapshot of the INBOX, taken at login. Message
// number k is msgs[k-1].
type maildrop struct {
	uidValidity uint32
	msgs        []dropMsg
}

// dropMsg is one message of a maildrop.
type dropMsg struct {
	uid     uint32
	size    int64 // octets as sent (see wireWriter)
	deleted bool
}

// Errors for message-number arguments; their text is sent to the client.
var (
	errBadNumber = errors.New("invalid message number")
	errNoMessage = errors.New("no such message")
	errDeleted   = errors.New("message already deleted")
)

// message returns the message an argument names, with its number.
func (d *maildrop) message(arg string) (*dropMsg, int, error) {
	k, err := parseNumber(arg)
	if err != nil {
		return nil, 0, errBadNumber
	}
	if k < 1 || k > int64(len(d.msgs)) {
		return nil, 0, errNoMessage
	}
	m := &d.msgs[k-1]
	if m.deleted {
		return nil, 0, errDeleted
	}
	return m, int(k), nil
}

// parseNumber parses a non-negative decimal argument; values too large for
// an int64 saturate, which is fine for message numbers and TOP's line
// count.
func parseNumber(s string) (int64, error) {
	if s == "" || len(s) > 40 {
		return 0, errBadNumber
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, errBadNumber
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Only a range error is possible here.
		return 1<<63 - 1, nil
	}
	return n, nil
}

// stat returns the number and total size of the messages not deleted.
func (d *maildrop) stat() (n int, size int64) {
	for _, m := range d.msgs {
		if !m.deleted {
			n++
			size += m.size
		}
	}
	return n, size
}

// reset unmarks every message (RSET).
func (d *maildrop) reset() {
	for i := range d.msgs {
		d.msgs[i].deleted = false
	}
}

// deleted returns the UIDs of the messages marked deleted.
func (d *maildrop) deleted() []uint32 {
	var uids []uint32
	for _, m := range d.msgs {
		if m.deleted {
			uids = append(uids, m.uid)
		}
	}
	return uids
}

// uidl is the unique id of a message: "<uidvalidity>.<uid>", stable as
// long as the mailbox keeps its UIDVALIDITY.
func (d *maildrop) uidl(m *dropMsg) string {
	return strconv.FormatUint(uint64(d.uidValidity), 10) + "." + strconv.FormatUint(uint64(m.uid), 10)
}

// maxCachedSizes bounds the size cache; past it the other users' entries
// are dropped.
const maxCachedSizes = 1 << 20

// sizeCache remembers each message's size as sent, per user, so that only
// new messages are read at login. Stored messages never change, so an
// entry stays right for as long as the message exists; each login keeps
// only the entries of the messages in its snapshot.
type sizeCache struct {
	mu    sync.Mutex
	users map[string]map[uint64]int64 // never modified once stored
	n     int
}

func newSizeCache() *sizeCache {
	return &sizeCache{users: make(map[string]map[uint64]int64)}
}

// get returns a user's sizes, keyed by sizeKey; the map must not be
// modified.
func (c *sizeCache) get(user string) map[uint64]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.users[user]
}

// put replaces a user's sizes.
func (c *sizeCache) put(user string, m map[uint64]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n -= len(c.users[user])
	if c.n+len(m) > maxCachedSizes {
		clear(c.users)
		c.n = 0
	}
	c.users[user] = m
	c.n += len(m)
}

// sizeKey identifies a message of a user's INBOX.
func sizeKey(uidValidity, uid uint32) uint64 {
	return uint64(uidValidity)<<32 | uint64(uid)
}

// snapshot builds the maildrop of a login from the INBOX listing, reading
// the messages whose size as sent is not cached yet. buf is scratch space.
func (s *Server) snapshot(ctx context.Context, user string, info store.MailboxInfo, msgs []store.Message, buf []byte) (*maildrop, error) {
	d := &maildrop{uidValidity: info.UIDValidity, msgs: make([]dropMsg, len(msgs))}
	old := s.sizes.get(user)
	sizes := make(map[uint64]int64, len(msgs))
	for i, m := range msgs {
		k := sizeKey(info.UIDValidity, m.UID)
		size, ok := old[k]
		if !ok {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("pop3: listing maildrop: %w", err)
			}
			var err error
			size, err = s.measure(ctx, user, m.UID, buf)
			if errors.Is(err, store.ErrNoSuchMessage) {
				// Removed since List by another session: leave it out.
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		sizes[k] = size
		d.msgs[i] = dropMsg{uid: m.UID, size: size}
	}
	// Drop the holes left by messages removed while measuring.
	kept := d.msgs[:0]
	for _, m := range d.msgs {
		if m.uid != 0 {
			kept = append(kept, m)
		}
	}
	d.msgs = kept
	s.sizes.put(user, sizes)
	return d, nil
}

// CRLFBackend is implemented by backends whose messages have every line
// break as CRLF already (the store normalizes on write): the size as sent
// is then the stored size, plus the CRLF the last line may lack, and a
// login need not read the messages to find it.
type CRLFBackend interface {
	StoresCRLF() bool
}

// measure finds one message's size as sent: from its stored size and last
// byte when the backend stores CRLF, else by reading it.
func (s *Server) measure(ctx context.Context, user string, uid uint32, buf []byte) (int64, error) {
	b, err := s.o.Backend.OpenMessage(ctx, user, mailbox, uid)
	if err != nil {
		return 0, fmt.Errorf("pop3: opening message %d: %w", uid, err)
	}
	defer b.Close()
	if cb, ok := s.o.Backend.(CRLFBackend); ok && cb.StoresCRLF() {
		size := b.Size()
		if size == 0 {
			return 0, nil
		}
		var last [1]byte
		if _, err := b.ReadAt(last[:], size-1); err != nil {
			return 0, fmt.Errorf("pop3: message %d: %w", uid, err)
		}
		if last[0] != '\n' {
			size += 2 // the CRLF finish() adds
		}
		return size, nil
	}
	n, err := wireSize(bodyReader(b), buf)
	if err != nil {
		return 0, fmt.Errorf("pop3: message %d: %w", uid, err)
	}
	return n, nil
}

// bodyReader reads a Body from its start, whatever its read offset.
func bodyReader(b store.Body) io.Reader {
	return io.NewSectionReader(b, 0, b.Size())
}
