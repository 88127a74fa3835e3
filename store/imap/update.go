package imap

import (
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/moatmail/moat/store"
)

// Store implements imapserver.Session (STORE and UID STORE). Training on
// $Junk/$NotJunk is the store's business.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.view
	if v == nil {
		return errNoMailbox
	}
	if v.readOnly {
		return errReadOnly
	}
	idx, _ := v.resolve(numSet)
	if len(idx) == 0 {
		return nil
	}
	var op store.FlagOp
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = store.FlagsAdd
	case imap.StoreFlagsDel:
		op = store.FlagsRemove
	case imap.StoreFlagsSet:
		op = store.FlagsReplace
	default:
		return fmt.Errorf("imap: unknown STORE operation %v", flags.Op)
	}
	updated, err := s.st().SetFlags(s.ctx(), s.user, v.name, v.uids(idx), op, storeFlags(flags.Flags))
	if err != nil {
		if errors.Is(err, store.ErrNoSuchMessage) {
			v.dirty = true
		}
		return s.storeError("STORE", onMailbox, err)
	}
	v.setFlags(updated)
	v.addKeywords(storeFlags(flags.Flags))
	if flags.Silent {
		return nil
	}
	for _, i := range idx {
		m := &v.msgs[i]
		rw := w.CreateMessage(uint32(i + 1))
		rw.WriteUID(imap.UID(m.UID))
		rw.WriteFlags(imapFlags(m.Flags))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Copy implements imapserver.Session (COPY and UID COPY).
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.view
	if v == nil {
		return nil, errNoMailbox
	}
	idx, _ := v.resolve(numSet)
	if len(idx) == 0 {
		return nil, nil
	}
	dest = canonName(dest)
	src, dst, validity, err := s.st().Copy(s.ctx(), s.user, v.name, v.uids(idx), dest)
	if err != nil {
		return nil, s.storeError("COPY", onDestination, err)
	}
	if dest == v.name {
		v.dirty = true
	}
	if len(src) == 0 {
		return nil, nil
	}
	return &imap.CopyData{UIDValidity: validity, SourceUIDs: uidSet(src), DestUIDs: uidSet(dst)}, nil
}

// Move implements imapserver.SessionMove (MOVE and UID MOVE).
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.view
	if v == nil {
		return errNoMailbox
	}
	if v.readOnly {
		return errReadOnly
	}
	idx, _ := v.resolve(numSet)
	if len(idx) == 0 {
		return nil
	}
	dest = canonName(dest)
	if dest == v.name {
		return imapNo(imap.ResponseCodeCannot, "Source and destination are the same mailbox")
	}
	src, dst, validity, err := s.st().Move(s.ctx(), s.user, v.name, v.uids(idx), dest)
	if err != nil {
		return s.storeError("MOVE", onDestination, err)
	}
	if len(src) > 0 {
		err := w.WriteCopyData(&imap.CopyData{UIDValidity: validity, SourceUIDs: uidSet(src), DestUIDs: uidSet(dst)})
		if err != nil {
			return err
		}
	}
	v.markGone(src)
	return v.flushExpunges(w)
}

// Expunge implements imapserver.Session (EXPUNGE, UID EXPUNGE, and the
// silent expunge of CLOSE).
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.view
	if v == nil {
		return errNoMailbox
	}
	if v.readOnly {
		if *w == (imapserver.ExpungeWriter{}) {
			return nil // CLOSE of an EXAMINEd mailbox expunges nothing
		}
		return errReadOnly
	}
	var list []uint32 // nil: every \Deleted message
	if uids != nil {
		last := v.lastUID()
		for i := range v.msgs {
			if m := &v.msgs[i]; !m.gone && uidSetContains(*uids, m.UID, last) {
				list = append(list, m.UID)
			}
		}
		if len(list) == 0 {
			return v.flushExpunges(w)
		}
	}
	gone, err := s.st().Expunge(s.ctx(), s.user, v.name, list)
	if err != nil {
		return s.storeError("EXPUNGE", onMailbox, err)
	}
	v.markGone(gone)
	return v.flushExpunges(w)
}
