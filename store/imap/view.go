package imap

import (
	"errors"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/moatmail/moat/store"
)

// view is a session's picture of its selected mailbox: the messages the
// client knows, in sequence-number order. The store is the truth; the view
// changes only when the session tells the client (EXISTS, EXPUNGE, FETCH
// FLAGS), so sequence numbers stay what the client thinks they are while
// other sessions, deliveries and POP3 change the mailbox. A message
// expunged elsewhere stays in the view as gone until an EXPUNGE response
// is allowed (not during FETCH, STORE or SEARCH).
type view struct {
	name        string
	uidValidity uint32
	uidNext     uint32
	readOnly    bool
	msgs        []viewMsg
	gone        int  // messages in msgs with gone set
	dirty       bool // the store announced a change: re-read before the next report
	keywords    []string
	searchRes   imap.UIDSet // SEARCH RETURN (SAVE), "$"
}

type viewMsg struct {
	store.Message
	gone bool // expunged from the store; EXPUNGE not sent yet
}

// expungeWriter is what the EXPUNGE, MOVE and update writers share.
type expungeWriter interface {
	WriteExpunge(seqNum uint32) error
}

// Select implements imapserver.Session (SELECT and EXAMINE).
func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.view = nil
	// Changes announced before the snapshot are in it.
	s.drainChanges()
	info, msgs, err := s.st().List(s.ctx(), s.user, canonName(name))
	if err != nil {
		return nil, s.storeError("SELECT", onMailbox, err)
	}
	v := &view{
		name:        info.Name,
		uidValidity: info.UIDValidity,
		uidNext:     info.UIDNext,
		readOnly:    options.ReadOnly,
		msgs:        make([]viewMsg, len(msgs)),
	}
	var firstUnseen uint32
	for i := range msgs {
		v.msgs[i].Message = msgs[i]
		if firstUnseen == 0 && !hasFlag(msgs[i].Flags, string(imap.FlagSeen)) {
			firstUnseen = uint32(i + 1)
		}
		v.addKeywords(msgs[i].Flags)
	}
	s.view = v
	data := &imap.SelectData{
		Flags:             v.mailboxFlags(),
		PermanentFlags:    []imap.Flag{},
		NumMessages:       uint32(len(v.msgs)),
		FirstUnseenSeqNum: firstUnseen,
		UIDNext:           imap.UID(info.UIDNext),
		UIDValidity:       info.UIDValidity,
	}
	if !v.readOnly {
		data.PermanentFlags = append(systemFlags(), imap.FlagWildcard)
	}
	return data, nil
}

// Unselect implements imapserver.Session (CLOSE after its expunge, and
// UNSELECT).
func (s *session) Unselect() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.view = nil
	return nil
}

// addKeywords records keywords in use; it reports whether there were new
// ones.
func (v *view) addKeywords(flags []string) bool {
	added := false
	for _, f := range flags {
		if isKeyword(f) && !hasFlag(v.keywords, f) {
			v.keywords = append(v.keywords, f)
			added = true
		}
	}
	return added
}

// mailboxFlags is the FLAGS response: the system flags and the keywords in
// use.
func (v *view) mailboxFlags() []imap.Flag {
	flags := systemFlags()
	kw := append([]string(nil), v.keywords...)
	sort.Slice(kw, func(i, j int) bool { return strings.ToLower(kw[i]) < strings.ToLower(kw[j]) })
	for _, k := range kw {
		flags = append(flags, imap.Flag(k))
	}
	return flags
}

func (v *view) lastUID() uint32 {
	if len(v.msgs) == 0 {
		return 0
	}
	return v.msgs[len(v.msgs)-1].UID
}

// index returns the position of uid in the view, or -1.
func (v *view) index(uid uint32) int {
	i := sort.Search(len(v.msgs), func(i int) bool { return v.msgs[i].UID >= uid })
	if i < len(v.msgs) && v.msgs[i].UID == uid {
		return i
	}
	return -1
}

// markGone notes messages the store no longer has.
func (v *view) markGone(uids []uint32) {
	for _, uid := range uids {
		if i := v.index(uid); i >= 0 && !v.msgs[i].gone {
			v.msgs[i].gone = true
			v.gone++
		}
	}
}

// setFlags records flags the store returned for messages.
func (v *view) setFlags(msgs []store.Message) {
	for _, m := range msgs {
		if i := v.index(m.UID); i >= 0 {
			v.msgs[i].Flags = m.Flags
		}
	}
}

// flushExpunges tells the client about gone messages, highest sequence
// number first so that each number is valid when sent, and drops them from
// the view.
func (v *view) flushExpunges(w expungeWriter) error {
	if v.gone == 0 {
		return nil
	}
	var err error
	for i := len(v.msgs) - 1; i >= 0 && err == nil; i-- {
		if v.msgs[i].gone {
			err = w.WriteExpunge(uint32(i + 1))
		}
	}
	kept := v.msgs[:0]
	for _, m := range v.msgs {
		if !m.gone {
			kept = append(kept, m)
		}
	}
	clear(v.msgs[len(kept):])
	v.msgs = kept
	v.gone = 0
	return err
}

// sync brings the view up to date with the store when it has changed and
// reports the differences: FETCH FLAGS, EXISTS, and (when allowed)
// EXPUNGE.
func (s *session) sync(w *imapserver.UpdateWriter, allowExpunge bool) error {
	v := s.view
	if v.dirty {
		v.dirty = false
		info, msgs, err := s.st().List(s.ctx(), s.user, v.name)
		switch {
		case errors.Is(err, store.ErrNoSuchMailbox):
			msgs = nil // deleted under us: everything is gone
		case err != nil:
			return s.storeError("NOOP", onMailbox, err)
		case info.UIDValidity != v.uidValidity:
			// Deleted and created again: the old messages are gone, and
			// the new ones cannot be told apart by UID.
			s.log.Warn("imap: selected mailbox was recreated", "mailbox", v.name)
			msgs = nil
		default:
			v.uidNext = info.UIDNext
		}
		if err := v.apply(w, msgs); err != nil {
			return err
		}
	}
	if allowExpunge {
		return v.flushExpunges(w)
	}
	return nil
}

// apply compares the view with a store snapshot (in UID order) and writes
// what changed.
func (v *view) apply(w *imapserver.UpdateWriter, msgs []store.Message) error {
	j := 0
	for i := range v.msgs {
		m := &v.msgs[i]
		for j < len(msgs) && msgs[j].UID < m.UID {
			j++
		}
		if j < len(msgs) && msgs[j].UID == m.UID {
			if !m.gone && !sameFlags(m.Flags, msgs[j].Flags) {
				m.Flags = msgs[j].Flags
				if err := w.WriteMessageFlags(uint32(i+1), imap.UID(m.UID), imapFlags(m.Flags)); err != nil {
					return err
				}
			}
			j++
			continue
		}
		if !m.gone {
			m.gone = true
			v.gone++
		}
	}
	last := v.lastUID()
	first := sort.Search(len(msgs), func(k int) bool { return msgs[k].UID > last })
	if first == len(msgs) {
		return nil
	}
	newKeywords := false
	for _, m := range msgs[first:] {
		v.msgs = append(v.msgs, viewMsg{Message: m})
		if v.addKeywords(m.Flags) {
			newKeywords = true
		}
	}
	if newKeywords {
		if err := w.WriteMailboxFlags(v.mailboxFlags()); err != nil {
			return err
		}
	}
	return w.WriteNumMessages(uint32(len(v.msgs)))
}

// resolve returns the view positions a sequence or UID set names, in
// order, leaving out messages already gone; someGone says whether it left
// any out. "*" is the last message; "$" is the saved search result.
func (v *view) resolve(numSet imap.NumSet) (idx []int, someGone bool) {
	if imap.IsSearchRes(numSet) {
		numSet = v.searchRes
	}
	n := len(v.msgs)
	mark := make([]bool, n)
	switch set := numSet.(type) {
	case imap.SeqSet:
		for _, r := range set {
			start, stop := seqRange(r.Start, r.Stop, uint32(n))
			for seq := max(start, 1); seq <= min(stop, uint32(n)); seq++ {
				mark[seq-1] = true
			}
		}
	case imap.UIDSet:
		for _, r := range set {
			start, stop := seqRange(uint32(r.Start), uint32(r.Stop), v.lastUID())
			i := sort.Search(n, func(i int) bool { return v.msgs[i].UID >= start })
			for ; i < n && v.msgs[i].UID <= stop; i++ {
				mark[i] = true
			}
		}
	}
	for i, ok := range mark {
		if !ok {
			continue
		}
		if v.msgs[i].gone {
			someGone = true
			continue
		}
		idx = append(idx, i)
	}
	return idx, someGone
}

// seqRange resolves "*" (0) to last and orders the range.
func seqRange(start, stop, last uint32) (uint32, uint32) {
	if start == 0 {
		start = last
	}
	if stop == 0 {
		stop = last
	}
	if start > stop {
		start, stop = stop, start
	}
	return start, stop
}

// uids returns the UIDs at the given positions.
func (v *view) uids(idx []int) []uint32 {
	out := make([]uint32, len(idx))
	for k, i := range idx {
		out[k] = v.msgs[i].UID
	}
	return out
}

// uidSet turns UIDs into a set, keeping their order.
func uidSet(uids []uint32) imap.UIDSet {
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	return set
}
