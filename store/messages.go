package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"
)

// Deliver stores msg for rcpt from SMTP: into Junk when junk is set (the
// filter has judged it, so nothing is trained), else INBOX. It returns only
// once the message file and the index are on disk. ErrNoSuchUser for an
// unknown or invalid recipient, ErrQuotaExceeded when it does not fit.
func (s *Store) Deliver(ctx context.Context, rcpt string, junk bool, msg io.Reader) error {
	n, err := NormalizeUser(rcpt)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoSuchUser, err)
	}
	// Cheap checks before writing anything.
	if err := s.userView(ctx, n, func(u *utx) error {
		if !u.fits(1) {
			return fmt.Errorf("%w: %s", ErrQuotaExceeded, n)
		}
		return nil
	}); err != nil {
		return err
	}
	box := Inbox
	if junk {
		box = Junk
	}
	_, _, err = s.store(ctx, n, box, nil, time.Time{}, msg, false)
	return err
}

// Append adds a message to a mailbox (IMAP APPEND) with flags and an
// internal date (now when zero), and returns its UID and the mailbox's
// UIDVALIDITY. A message appended into Junk is trained as spam.
func (s *Store) Append(ctx context.Context, user, mailbox string, flags []string, date time.Time, r io.Reader) (uid, uidValidity uint32, err error) {
	un, mn, err := names(user, mailbox)
	if err != nil {
		return 0, 0, err
	}
	if err := s.viewMailbox(ctx, un, mn, func(u *utx, _ *mbox) error {
		if !u.fits(1) {
			return fmt.Errorf("%w: %s", ErrQuotaExceeded, un)
		}
		return nil
	}); err != nil {
		return 0, 0, err
	}
	return s.store(ctx, un, mn, flags, date, r, true)
}

// store writes r to a file and adds it to user's mailbox.
func (s *Store) store(ctx context.Context, user, box string, flags []string, date time.Time, r io.Reader, train bool) (uint32, uint32, error) {
	f, size, dir, err := s.writeMessage(ctx, r)
	if err != nil {
		return 0, 0, err
	}
	if date.IsZero() {
		date = s.now()
	}
	var uid, uv uint32
	err = s.userUpdate(ctx, user, dir, func(u *utx) error {
		m, err := u.mailbox(box)
		if err != nil {
			return err
		}
		if !u.fits(size) {
			return fmt.Errorf("%w: %s", ErrQuotaExceeded, user)
		}
		rec := msgRec{File: f, Internal: date, Size: size, Flags: normFlags(flags)}
		if train && m.rec.Role == RoleJunk {
			u.train(&rec, true)
		}
		if uid, err = u.add(m, &rec); err != nil {
			return err
		}
		if err := u.ref(f, 1, size); err != nil {
			return err
		}
		uv = m.rec.UIDValidity
		u.change(ChangeAdded, box, []uint32{uid})
		return nil
	})
	if err != nil {
		s.removeFile(f)
		return 0, 0, err
	}
	return uid, uv, nil
}

// List returns a mailbox's description and its messages in UID order, as
// one consistent snapshot.
func (s *Store) List(ctx context.Context, user, mailbox string) (MailboxInfo, []Message, error) {
	var info MailboxInfo
	var msgs []Message
	err := s.viewMailbox(ctx, user, mailbox, func(u *utx, m *mbox) error {
		info = m.info()
		msgs = make([]Message, 0, m.rec.Messages)
		c := m.b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r msgRec
			if err := r.unmarshal(v); err != nil {
				return err
			}
			msgs = append(msgs, Message{UID: uidOf(k), Flags: r.Flags, Internal: r.Internal, Size: r.Size})
		}
		return nil
	})
	if err != nil {
		return MailboxInfo{}, nil, err
	}
	return info, msgs, nil
}

func uidOf(k []byte) uint32 {
	return uint32(k[0])<<24 | uint32(k[1])<<16 | uint32(k[2])<<8 | uint32(k[3])
}

// OpenMessage opens the raw message uid of a mailbox; ErrNoSuchMessage
// when there is none. The body stays readable after the message is
// expunged, until closed.
func (s *Store) OpenMessage(ctx context.Context, user, mailbox string, uid uint32) (Body, error) {
	var f fileID
	err := s.viewMailbox(ctx, user, mailbox, func(_ *utx, m *mbox) error {
		r, ok, err := m.get(uid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s uid %d", ErrNoSuchMessage, mailbox, uid)
		}
		f = r.File
		return nil
	})
	if err != nil {
		return nil, err
	}
	b, err := s.openFile(f)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s uid %d (expunged)", ErrNoSuchMessage, mailbox, uid)
	}
	return b, err
}

// sortedUIDs returns uids sorted and without duplicates.
func sortedUIDs(uids []uint32) []uint32 {
	out := slices.Clone(uids)
	slices.Sort(out)
	return slices.Compact(out)
}

// SetFlags changes the flags of the given messages (those that do not
// exist are skipped) and returns them with their flags now. Adding $Junk
// trains spam, adding $NotJunk trains ham.
func (s *Store) SetFlags(ctx context.Context, user, mailbox string, uids []uint32, op FlagOp, flags []string) ([]Message, error) {
	un, mn, err := names(user, mailbox)
	if err != nil {
		return nil, err
	}
	var out []Message
	err = s.userUpdate(ctx, un, "", func(u *utx) error {
		out = nil
		m, err := u.mailbox(mn)
		if err != nil {
			return err
		}
		var changed []uint32
		for _, uid := range sortedUIDs(uids) {
			r, ok, err := m.get(uid)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			now := applyFlags(r.Flags, op, flags)
			if !sameFlags(r.Flags, now) {
				old := r
				r.Flags = now
				add := added(old.Flags, now)
				switch j, nj := hasFlag(add, KeywordJunk), hasFlag(add, KeywordNotJunk); {
				case j && !nj:
					u.train(&r, true)
				case nj && !j:
					u.train(&r, false)
				}
				if err := u.replace(m, uid, &old, &r); err != nil {
					return err
				}
				changed = append(changed, uid)
			}
			out = append(out, r.message(uid))
		}
		if len(changed) > 0 {
			u.change(ChangeFlags, mn, changed)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Expunge removes the messages flagged \Deleted among uids (all of the
// mailbox's when uids is nil) and returns their UIDs.
func (s *Store) Expunge(ctx context.Context, user, mailbox string, uids []uint32) ([]uint32, error) {
	return s.remove(ctx, user, mailbox, uids, true)
}

// Delete removes the given messages at once, flagged or not (POP3 UPDATE
// state); those that do not exist are skipped.
func (s *Store) Delete(ctx context.Context, user, mailbox string, uids []uint32) error {
	if len(uids) == 0 {
		return nil
	}
	_, err := s.remove(ctx, user, mailbox, uids, false)
	return err
}

func (s *Store) remove(ctx context.Context, user, mailbox string, uids []uint32, onlyDeleted bool) ([]uint32, error) {
	un, mn, err := names(user, mailbox)
	if err != nil {
		return nil, err
	}
	var gone []uint32
	err = s.userUpdate(ctx, un, "", func(u *utx) error {
		gone = nil
		m, err := u.mailbox(mn)
		if err != nil {
			return err
		}
		list := uids
		if list == nil {
			c := m.b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				list = append(list, uidOf(k))
			}
		}
		for _, uid := range sortedUIDs(list) {
			r, ok, err := m.get(uid)
			if err != nil {
				return err
			}
			if !ok || (onlyDeleted && !slices.Contains(r.Flags, FlagDeleted)) {
				continue
			}
			if err := u.remove(m, uid, &r); err != nil {
				return err
			}
			if err := u.ref(r.File, -1, r.Size); err != nil {
				return err
			}
			gone = append(gone, uid)
		}
		if len(gone) > 0 {
			u.change(ChangeExpunged, mn, gone)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return gone, nil
}
