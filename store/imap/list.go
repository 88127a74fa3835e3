package imap

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/moatmail/moat/store"
)

// listEntry is a mailbox, or a parent that exists only as a level of a
// name (Lists in Lists/go when Lists itself was never created).
type listEntry struct {
	info            store.MailboxInfo
	exists          bool
	children        bool
	subscribedChild bool
}

// List implements imapserver.Session (LIST, LSUB, LIST-EXTENDED,
// LIST-STATUS, SPECIAL-USE).
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	mbs, err := s.st().Mailboxes(s.ctx(), s.user)
	if err != nil {
		return s.storeError("LIST", onMailbox, err)
	}
	entries := listEntries(mbs)

	ref = canonPattern(ref)
	for i := range patterns {
		patterns[i] = canonPattern(patterns[i])
	}
	for _, e := range entries {
		name := e.info.Name
		matched := false
		for _, p := range patterns {
			if imapserver.MatchList(name, delim, ref, p) {
				matched = true
				break
			}
		}
		if !matched {
			continue
		}
		data := imap.ListData{Mailbox: name, Delim: delim}
		if options.SelectSubscribed && !e.info.Subscribed {
			if !options.SelectRecursiveMatch || !e.subscribedChild {
				continue
			}
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
		attr := specialUse(e.info.Role)
		if options.SelectSpecialUse && attr == "" {
			continue
		}
		if !e.exists {
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
		}
		if e.children {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if e.info.Subscribed && (options.ReturnSubscribed || options.SelectSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if attr != "" {
			data.Attrs = append(data.Attrs, attr)
		}
		if options.ReturnStatus != nil && e.exists {
			st, err := s.statusData(e.info, options.ReturnStatus)
			if err != nil {
				return err
			}
			data.Status = st
		}
		if err := w.WriteList(&data); err != nil {
			return err
		}
	}
	return nil
}

// listEntries returns the mailboxes and their missing parents, INBOX
// first, then by name.
func listEntries(mbs []store.MailboxInfo) []*listEntry {
	byName := make(map[string]*listEntry, len(mbs))
	for _, mb := range mbs {
		byName[mb.Name] = &listEntry{info: mb, exists: true}
	}
	for _, mb := range mbs {
		name := mb.Name
		for {
			i := strings.LastIndexByte(name, delim)
			if i <= 0 {
				break
			}
			name = name[:i]
			parent, ok := byName[name]
			if !ok {
				parent = &listEntry{info: store.MailboxInfo{Name: name}}
				byName[name] = parent
			}
			parent.children = true
			if mb.Subscribed {
				parent.subscribedChild = true
			}
		}
	}
	entries := make([]*listEntry, 0, len(byName))
	for _, e := range byName {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i].info.Name, entries[j].info.Name
		if (a == store.Inbox) != (b == store.Inbox) {
			return a == store.Inbox
		}
		return a < b
	})
	return entries
}
