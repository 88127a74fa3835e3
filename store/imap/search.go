package imap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/moatmail/moat/store"
)

// Search implements imapserver.Session.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.view
	if v == nil {
		return nil, errNoMailbox
	}
	var (
		data   imap.SearchData
		seqSet imap.SeqSet
		uids   imap.UIDSet
	)
	for i := range v.msgs {
		m := &v.msgs[i]
		if m.gone {
			continue
		}
		c := &candidate{s: s, v: v, seq: uint32(i + 1), msg: &m.Message}
		ok := c.match(criteria)
		c.close()
		if c.err != nil {
			if errors.Is(c.err, store.ErrNoSuchMessage) {
				v.dirty = true
				continue
			}
			return nil, s.storeError("SEARCH", onMailbox, c.err)
		}
		if !ok {
			continue
		}
		uids.AddNum(imap.UID(m.UID))
		num := c.seq
		if kind == imapserver.NumKindUID {
			num = m.UID
		} else {
			seqSet.AddNum(num)
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqSet
	}
	if options.ReturnSave {
		v.searchRes = uids
	}
	return &data, nil
}

// candidate is one message being matched; it reads the message only when
// a criterion needs its header or body, and only once.
type candidate struct {
	s   *session
	v   *view
	seq uint32
	msg *store.Message
	err error

	body   store.Body
	header *mail.Header
	raw    []byte
}

func (c *candidate) close() {
	if c.body != nil {
		_ = c.body.Close()
	}
}

func (c *candidate) open() bool {
	if c.err != nil {
		return false
	}
	if c.body == nil {
		c.body, c.err = c.s.st().OpenMessage(c.s.ctx(), c.s.user, c.v.name, c.msg.UID)
	}
	return c.err == nil
}

func (c *candidate) getHeader() *mail.Header {
	if c.header == nil && c.open() {
		h, _ := textproto.ReadHeader(bufio.NewReader(io.NewSectionReader(c.body, 0, c.body.Size())))
		c.header = &mail.Header{Header: gomessage.Header{Header: h}}
	}
	return c.header
}

func (c *candidate) entity() *gomessage.Entity {
	if c.raw == nil && c.open() {
		c.raw = make([]byte, c.body.Size())
		if _, err := c.body.ReadAt(c.raw, 0); err != nil && !errors.Is(err, io.EOF) {
			c.err = err
		}
	}
	if c.err != nil {
		return nil
	}
	// An unknown charset is not an error here: matching then works on the
	// undecoded text.
	e, _ := gomessage.Read(bytes.NewReader(c.raw))
	return e
}

// match evaluates criteria (all must hold) against the message.
func (c *candidate) match(cr *imap.SearchCriteria) bool {
	m := c.msg
	for _, set := range cr.SeqNum {
		if imap.IsSearchRes(set) {
			if !c.v.searchRes.Contains(imap.UID(m.UID)) {
				return false
			}
			continue
		}
		if !seqSetContains(set, c.seq, uint32(len(c.v.msgs))) {
			return false
		}
	}
	for _, set := range cr.UID {
		if imap.IsSearchRes(set) {
			set = c.v.searchRes
		}
		if !uidSetContains(set, m.UID, c.v.lastUID()) {
			return false
		}
	}
	if !matchDate(m.Internal, cr.Since, cr.Before) {
		return false
	}
	for _, f := range cr.Flag {
		if !hasFlag(m.Flags, canonFlag(f)) {
			return false
		}
	}
	for _, f := range cr.NotFlag {
		if hasFlag(m.Flags, canonFlag(f)) {
			return false
		}
	}
	if cr.Larger != 0 && m.Size <= cr.Larger {
		return false
	}
	if cr.Smaller != 0 && m.Size >= cr.Smaller {
		return false
	}
	for _, not := range cr.Not {
		if c.match(&not) || c.err != nil {
			return false
		}
	}
	for _, or := range cr.Or {
		if !c.match(&or[0]) && !c.match(&or[1]) {
			return false
		}
	}
	if len(cr.Header) > 0 || !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		h := c.getHeader()
		if h == nil {
			return false
		}
		for _, hf := range cr.Header {
			if !matchFields(h.FieldsByKey(hf.Key), hf.Value) {
				return false
			}
		}
		if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
			t, err := h.Date()
			if err != nil || !matchDate(t, cr.SentSince, cr.SentBefore) {
				return false
			}
		}
	}
	for _, text := range cr.Body {
		e := c.entity()
		if e == nil || !matchEntity(e, text, false) {
			return false
		}
	}
	for _, text := range cr.Text {
		e := c.entity()
		if e == nil || !matchEntity(e, text, true) {
			return false
		}
	}
	return true
}

// seqSetContains reports whether seq is in set, "*" being last.
func seqSetContains(set imap.SeqSet, seq, last uint32) bool {
	for _, r := range set {
		start, stop := seqRange(r.Start, r.Stop, last)
		if seq >= start && seq <= stop {
			return true
		}
	}
	return false
}

// uidSetContains reports whether uid is in set, "*" being last.
func uidSetContains(set imap.UIDSet, uid, last uint32) bool {
	for _, r := range set {
		start, stop := seqRange(uint32(r.Start), uint32(r.Stop), last)
		if uid >= start && uid <= stop {
			return true
		}
	}
	return false
}

// matchDate compares dates only, as RFC 9051 asks for SINCE, BEFORE, ON
// and their SENT variants.
func matchDate(t, since, before time.Time) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(dateOnly(since)) {
		return false
	}
	if !before.IsZero() && !d.Before(dateOnly(before)) {
		return false
	}
	return true
}

func dateOnly(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// matchFields reports whether one of the fields contains pattern, without
// case; an empty pattern matches any field present.
func matchFields(fields gomessage.HeaderFields, pattern string) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		if strings.Contains(strings.ToLower(v), pattern) {
			return true
		}
	}
	return false
}

// matchEntity looks for pattern in the decoded text parts of e (and in the
// header fields when includeHeader is set, for TEXT).
func matchEntity(e *gomessage.Entity, pattern string, includeHeader bool) bool {
	if pattern == "" {
		return true
	}
	if includeHeader && matchFields(e.Header.Fields(), pattern) {
		return true
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if err != nil {
				return false
			}
			if matchEntity(part, pattern, includeHeader) {
				return true
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if t != "" && !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false
	}
	b, err := io.ReadAll(e.Body)
	if err != nil && len(b) == 0 {
		return false
	}
	return bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(pattern)))
}
