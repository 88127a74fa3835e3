package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// NormalizeMailbox returns the canonical form of a mailbox name: INBOX
// (and the first segment of its children) matched case-insensitively and
// written "INBOX"; ErrInvalidName for empty segments ("a//b", "/a", "a/"),
// control characters, "*" or "%", invalid UTF-8 or a name over 512 bytes.
func NormalizeMailbox(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: mailbox %q: %s", ErrInvalidName, name, why)
	}
	if name == "" {
		return bad("empty")
	}
	if len(name) > 512 {
		return bad("too long")
	}
	if !utf8.ValidString(name) {
		return bad("not UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' || (r >= 0x80 && r < 0xa0) {
			return bad("invalid character")
		}
	}
	segs := strings.Split(name, "/")
	if slices.Contains(segs, "") {
		return bad("empty hierarchy level")
	}
	if strings.EqualFold(segs[0], Inbox) {
		segs[0] = Inbox
	}
	return strings.Join(segs, "/"), nil
}

// names normalises a user and a mailbox name.
func names(user, mailbox string) (string, string, error) {
	u, err := NormalizeUser(user)
	if err != nil {
		return "", "", err
	}
	m, err := NormalizeMailbox(mailbox)
	if err != nil {
		return "", "", err
	}
	return u, m, nil
}

func (m *mbox) info() MailboxInfo {
	return MailboxInfo{
		Name: m.name, Role: m.rec.Role, Subscribed: m.rec.Subscribed,
		UIDValidity: m.rec.UIDValidity, UIDNext: m.rec.UIDNext,
		Messages: m.rec.Messages, Unseen: m.rec.Unseen, Size: m.rec.Size,
	}
}

// mailboxNames lists the names of u's mailboxes in index order.
func (u *utx) mailboxNames() []string {
	var out []string
	u.ub.Bucket([]byte(bucketMbox)).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// Mailboxes lists user's mailboxes, INBOX first, then by name.
func (s *Store) Mailboxes(ctx context.Context, user string) ([]MailboxInfo, error) {
	n, err := NormalizeUser(user)
	if err != nil {
		return nil, err
	}
	var out []MailboxInfo
	err = s.userView(ctx, n, func(u *utx) error {
		for _, name := range u.mailboxNames() {
			m, err := u.mailbox(name)
			if err != nil {
				return err
			}
			out = append(out, m.info())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b MailboxInfo) int {
		switch {
		case a.Name == Inbox:
			return -1
		case b.Name == Inbox:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// Mailbox describes one of user's mailboxes.
func (s *Store) Mailbox(ctx context.Context, user, name string) (MailboxInfo, error) {
	un, mn, err := names(user, name)
	if err != nil {
		return MailboxInfo{}, err
	}
	var info MailboxInfo
	err = s.userView(ctx, un, func(u *utx) error {
		m, err := u.mailbox(mn)
		if err != nil {
			return err
		}
		info = m.info()
		return nil
	})
	return info, err
}

// hasMailbox reports whether u has mailbox name.
func (u *utx) hasMailbox(name string) bool {
	return u.ub.Bucket([]byte(bucketMbox)).Get([]byte(name)) != nil
}

// CreateMailbox creates a mailbox, and its missing parents ("a/b/c"
// creates "a" and "a/b" too). ErrMailboxExists if it exists.
func (s *Store) CreateMailbox(ctx context.Context, user, name string) error {
	un, mn, err := names(user, name)
	if err != nil {
		return err
	}
	return s.userUpdate(ctx, un, "", func(u *utx) error {
		if u.hasMailbox(mn) {
			return fmt.Errorf("%w: %s", ErrMailboxExists, mn)
		}
		if err := u.createParents(mn); err != nil {
			return err
		}
		if _, err := u.createMailbox(mn, ""); err != nil {
			return err
		}
		u.change(ChangeMailboxes, mn, nil)
		return nil
	})
}

// createParents creates the missing superiors of name.
func (u *utx) createParents(name string) error {
	segs := strings.Split(name, "/")
	for i := 1; i < len(segs); i++ {
		p := strings.Join(segs[:i], "/")
		if u.hasMailbox(p) {
			continue
		}
		if _, err := u.createMailbox(p, ""); err != nil {
			return err
		}
	}
	return nil
}

// DeleteMailbox deletes a mailbox and its messages; its children, if any,
// stay. The role mailboxes (INBOX, Junk, …) cannot be deleted
// (ErrProtectedMailbox).
func (s *Store) DeleteMailbox(ctx context.Context, user, name string) error {
	un, mn, err := names(user, name)
	if err != nil {
		return err
	}
	return s.userUpdate(ctx, un, "", func(u *utx) error {
		m, err := u.mailbox(mn)
		if err != nil {
			return err
		}
		if m.rec.Role != "" {
			return fmt.Errorf("%w: %s", ErrProtectedMailbox, mn)
		}
		err = m.b.ForEach(func(_, v []byte) error {
			var r msgRec
			if err := r.unmarshal(v); err != nil {
				return err
			}
			return u.ref(r.File, -1, r.Size)
		})
		if err != nil {
			return err
		}
		if err := u.ub.Bucket([]byte(bucketMsgs)).DeleteBucket(idKey(m.rec.ID)); err != nil {
			return err
		}
		if err := u.ub.Bucket([]byte(bucketMbox)).Delete([]byte(mn)); err != nil {
			return err
		}
		delete(u.boxes, mn)
		u.change(ChangeMailboxes, mn, nil)
		return nil
	})
}

// RenameMailbox renames a mailbox and its children, keeping their
// UIDVALIDITY and UIDs. The role mailboxes cannot be renamed
// (ErrProtectedMailbox); ErrMailboxExists when newName (or a child's new
// name) exists; ErrInvalidName when renaming a mailbox under itself.
func (s *Store) RenameMailbox(ctx context.Context, user, oldName, newName string) error {
	un, on, err := names(user, oldName)
	if err != nil {
		return err
	}
	nn, err := NormalizeMailbox(newName)
	if err != nil {
		return err
	}
	if nn == on {
		return fmt.Errorf("%w: %s", ErrMailboxExists, nn)
	}
	if strings.HasPrefix(nn, on+"/") {
		return fmt.Errorf("%w: cannot rename %s under itself", ErrInvalidName, on)
	}
	return s.userUpdate(ctx, un, "", func(u *utx) error {
		m, err := u.mailbox(on)
		if err != nil {
			return err
		}
		if m.rec.Role != "" {
			return fmt.Errorf("%w: %s", ErrProtectedMailbox, on)
		}
		renames := [][2]string{{on, nn}}
		for _, name := range u.mailboxNames() {
			if rest, ok := strings.CutPrefix(name, on+"/"); ok {
				renames = append(renames, [2]string{name, nn + "/" + rest})
			}
		}
		for _, r := range renames {
			if u.hasMailbox(r[1]) {
				return fmt.Errorf("%w: %s", ErrMailboxExists, r[1])
			}
		}
		mb := u.ub.Bucket([]byte(bucketMbox))
		for _, r := range renames {
			v := slices.Clone(mb.Get([]byte(r[0])))
			if err := mb.Delete([]byte(r[0])); err != nil {
				return err
			}
			if err := mb.Put([]byte(r[1]), v); err != nil {
				return err
			}
		}
		clear(u.boxes)
		if err := u.createParents(nn); err != nil {
			return err
		}
		u.change(ChangeMailboxes, nn, nil)
		return nil
	})
}

// Subscribe sets or clears a mailbox's subscription.
func (s *Store) Subscribe(ctx context.Context, user, name string, subscribed bool) error {
	un, mn, err := names(user, name)
	if err != nil {
		return err
	}
	return s.userUpdate(ctx, un, "", func(u *utx) error {
		m, err := u.mailbox(mn)
		if err != nil {
			return err
		}
		if m.rec.Subscribed != subscribed {
			m.rec.Subscribed = subscribed
			m.dirty = true
			u.change(ChangeMailboxes, mn, nil)
		}
		return nil
	})
}

// viewMailbox runs fn with user's mailbox in a read transaction.
func (s *Store) viewMailbox(ctx context.Context, user, mailbox string, fn func(u *utx, m *mbox) error) error {
	un, mn, err := names(user, mailbox)
	if err != nil {
		return err
	}
	return s.userView(ctx, un, func(u *utx) error {
		m, err := u.mailbox(mn)
		if err != nil {
			return err
		}
		return fn(u, m)
	})
}
