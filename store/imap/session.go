package imap

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/moatmail/moat/store"
)

// delim separates the levels of a mailbox name.
const delim = '/'

// session is one IMAP connection. imapserver calls its methods one at a
// time, except that when reading DONE fails it may go on (and call Close)
// before Idle has returned; mu keeps the methods apart all the same.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	ip   netip.Addr

	mu     sync.Mutex
	log    *slog.Logger
	closed bool

	user    string        // "" until logged in
	watcher store.Watcher // the user's changes, from login on
	view    *view         // the selected mailbox, or nil
}

var (
	_ imapserver.SessionIMAP4rev2      = (*session)(nil)
	_ imapserver.SessionUnauthenticate = (*session)(nil)
)

func (s *session) ctx() context.Context { return s.srv.ctx }
func (s *session) st() *store.Store     { return s.srv.o.Store }

// Close implements imapserver.Session.
func (s *session) Close() error {
	s.mu.Lock()
	s.closed = true
	s.logout()
	s.mu.Unlock()
	s.srv.endSession(s)
	return nil
}

func (s *session) logout() {
	s.view = nil
	if s.watcher != nil {
		s.watcher.Cancel()
		s.watcher = nil
	}
	s.user = ""
}

// Login implements imapserver.Session (LOGIN and AUTHENTICATE PLAIN).
func (s *session) Login(username, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	user := strings.ToLower(strings.TrimSpace(username))
	ctx := s.ctx()
	if g := s.srv.o.Guard; g != nil {
		if err := g.Allow(ctx, s.ip, user); err != nil {
			s.log.Warn("imap: login throttled", "user", user, "err", err)
			return imapNo(imap.ResponseCodeUnavailable, "Too many failed logins; try again later")
		}
	}
	if err := s.st().Authenticate(ctx, user, password); err != nil {
		if errors.Is(err, store.ErrAuthFailed) || errors.Is(err, store.ErrNoSuchUser) {
			if g := s.srv.o.Guard; g != nil {
				g.Failed(ctx, s.ip, user)
			}
			s.log.Info("imap: login failed", "user", user)
			return imapserver.ErrAuthFailed
		}
		return s.storeError("LOGIN", onMailbox, err)
	}
	if g := s.srv.o.Guard; g != nil {
		g.Succeeded(ctx, s.ip, user)
	}
	s.user = user
	s.watcher = s.st().Watch(user)
	s.log = s.log.With("user", user)
	s.log.Debug("imap: logged in")
	return nil
}

// Unauthenticate implements imapserver.SessionUnauthenticate.
func (s *session) Unauthenticate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logout()
	s.log = s.srv.log.With("remote", s.conn.NetConn().RemoteAddr().String())
	return nil
}

// Namespace implements imapserver.SessionNamespace: one personal
// namespace.
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

// canonName removes a trailing delimiter and spells INBOX, which is
// case-insensitive, in capitals.
func canonName(name string) string {
	name = strings.TrimRight(name, string(delim))
	first, rest, found := strings.Cut(name, string(delim))
	if strings.EqualFold(first, store.Inbox) {
		if found {
			return store.Inbox + string(delim) + rest
		}
		return store.Inbox
	}
	return name
}

// canonPattern spells a leading INBOX of a LIST pattern or reference in
// capitals so that it matches.
func canonPattern(p string) string {
	if len(p) >= len(store.Inbox) && strings.EqualFold(p[:len(store.Inbox)], store.Inbox) &&
		(len(p) == len(store.Inbox) || p[len(store.Inbox)] == delim) {
		return store.Inbox + p[len(store.Inbox):]
	}
	return p
}

// Create implements imapserver.Session.
func (s *session) Create(name string, _ *imap.CreateOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeError("CREATE", onMailbox, s.st().CreateMailbox(s.ctx(), s.user, canonName(name)))
}

// Delete implements imapserver.Session.
func (s *session) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeError("DELETE", onMailbox, s.st().DeleteMailbox(s.ctx(), s.user, canonName(name)))
}

// Rename implements imapserver.Session.
func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeError("RENAME", onMailbox, s.st().RenameMailbox(s.ctx(), s.user, canonName(oldName), canonName(newName)))
}

// Subscribe implements imapserver.Session.
func (s *session) Subscribe(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeError("SUBSCRIBE", onMailbox, s.st().Subscribe(s.ctx(), s.user, canonName(name), true))
}

// Unsubscribe implements imapserver.Session.
func (s *session) Unsubscribe(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeError("UNSUBSCRIBE", onMailbox, s.st().Subscribe(s.ctx(), s.user, canonName(name), false))
}

// specialUse maps store roles to RFC 6154 attributes.
func specialUse(role string) imap.MailboxAttr {
	switch role {
	case store.RoleJunk:
		return imap.MailboxAttrJunk
	case store.RoleTrash:
		return imap.MailboxAttrTrash
	case store.RoleSent:
		return imap.MailboxAttrSent
	case store.RoleDrafts:
		return imap.MailboxAttrDrafts
	case store.RoleArchive:
		return imap.MailboxAttrArchive
	}
	return ""
}

// Status implements imapserver.Session.
func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, err := s.st().Mailbox(s.ctx(), s.user, canonName(name))
	if err != nil {
		return nil, s.storeError("STATUS", onMailbox, err)
	}
	return s.statusData(info, options)
}

func (s *session) statusData(info store.MailboxInfo, options *imap.StatusOptions) (*imap.StatusData, error) {
	data := &imap.StatusData{Mailbox: info.Name}
	if options.NumMessages {
		n := info.Messages
		data.NumMessages = &n
	}
	if options.UIDNext {
		data.UIDNext = imap.UID(info.UIDNext)
	}
	if options.UIDValidity {
		data.UIDValidity = info.UIDValidity
	}
	if options.NumUnseen {
		n := info.Unseen
		data.NumUnseen = &n
	}
	if options.Size {
		n := info.Size
		data.Size = &n
	}
	if options.NumRecent {
		var n uint32
		data.NumRecent = &n
	}
	if options.NumDeleted {
		_, msgs, err := s.st().List(s.ctx(), s.user, info.Name)
		if err != nil {
			return nil, s.storeError("STATUS", onMailbox, err)
		}
		var n uint32
		for i := range msgs {
			if hasFlag(msgs[i].Flags, string(imap.FlagDeleted)) {
				n++
			}
		}
		data.NumDeleted = &n
	}
	return data, nil
}

// Append implements imapserver.Session.
func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = canonName(name)
	uid, validity, err := s.st().Append(s.ctx(), s.user, name, storeFlags(options.Flags), options.Time, r)
	if err != nil {
		return nil, s.storeError("APPEND", onDestination, err)
	}
	if s.view != nil && s.view.name == name {
		s.view.dirty = true
	}
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: validity}, nil
}

// Poll implements imapserver.Session: it reports what changed in the
// selected mailbox since the last command.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainChanges()
	if s.view == nil {
		return nil
	}
	return s.sync(w, allowExpunge)
}

// Idle implements imapserver.Session: it reports changes as the store
// announces them until stop is closed.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.view != nil {
		s.drainChanges()
		if err := s.sync(w, true); err != nil {
			return err
		}
	}
	var changes <-chan store.Change
	if s.watcher != nil {
		changes = s.watcher.Changes()
	}
	for {
		select {
		case <-stop:
			return nil
		case c, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			s.noteChange(c)
			if s.view != nil && s.view.dirty {
				if err := s.sync(w, true); err != nil {
					return err
				}
			}
		}
	}
}

// drainChanges reads the changes the store announced since the last call
// without waiting.
func (s *session) drainChanges() {
	if s.watcher == nil {
		return
	}
	ch := s.watcher.Changes()
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				return
			}
			s.noteChange(c)
		default:
			return
		}
	}
}

// noteChange marks the selected mailbox for re-reading when a change
// concerns it.
func (s *session) noteChange(c store.Change) {
	if s.view == nil {
		return
	}
	if c.Kind == store.ChangeMailboxes || c.Mailbox == s.view.name {
		s.view.dirty = true
	}
}
