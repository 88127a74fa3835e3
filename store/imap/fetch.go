package imap

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/moatmail/moat/store"
)

// Fetch implements imapserver.Session.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.view
	if v == nil {
		return errNoMailbox
	}
	idx, _ := v.resolve(numSet)
	if len(idx) == 0 {
		return nil
	}
	seenSet, err := s.markSeen(v, idx, options)
	if err != nil {
		return err
	}
	sections := len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	for _, i := range idx {
		m := v.msgs[i].Message
		if err := s.fetchOne(w, uint32(i+1), &m, options, sections, seenSet[m.UID]); err != nil {
			return err
		}
	}
	return nil
}

// markSeen sets \Seen on the messages a non-PEEK body fetch reads, as
// RFC 9051 asks, and returns the UIDs it changed (their FLAGS go into the
// response).
func (s *session) markSeen(v *view, idx []int, options *imap.FetchOptions) (map[uint32]bool, error) {
	if v.readOnly {
		return nil, nil
	}
	peekOnly := true
	for _, bs := range options.BodySection {
		peekOnly = peekOnly && bs.Peek
	}
	for _, bs := range options.BinarySection {
		peekOnly = peekOnly && bs.Peek
	}
	if peekOnly {
		return nil, nil
	}
	var uids []uint32
	for _, i := range idx {
		if !hasFlag(v.msgs[i].Flags, string(imap.FlagSeen)) {
			uids = append(uids, v.msgs[i].UID)
		}
	}
	if len(uids) == 0 {
		return nil, nil
	}
	updated, err := s.st().SetFlags(s.ctx(), s.user, v.name, uids, store.FlagsAdd, []string{string(imap.FlagSeen)})
	if errors.Is(err, store.ErrNoSuchMessage) {
		v.dirty = true
		return nil, nil
	}
	if err != nil {
		return nil, s.storeError("FETCH", onMailbox, err)
	}
	v.setFlags(updated)
	set := make(map[uint32]bool, len(updated))
	for _, m := range updated {
		set[m.UID] = true
	}
	return set, nil
}

// fetchOne writes one FETCH response. Everything that can fail before the
// response starts (opening and parsing the message) is done first;
// envelopes and body structures come from the server's cache when they
// can.
func (s *session) fetchOne(w *imapserver.FetchWriter, seq uint32, m *store.Message, options *imap.FetchOptions, sections, seenSet bool) error {
	key := parsedKey{user: s.user, mailbox: s.view.name, uidValidity: s.view.uidValidity, uid: m.UID}
	var p parsed
	if options.Envelope || options.BodyStructure != nil {
		p = s.srv.cache.get(key)
	}
	var body store.Body
	if sections || (options.Envelope && p.env == nil) || (options.BodyStructure != nil && p.bs == nil) {
		var err error
		body, err = s.st().OpenMessage(s.ctx(), s.user, s.view.name, m.UID)
		if errors.Is(err, store.ErrNoSuchMessage) {
			// Expunged by someone else: the next poll reports it.
			s.view.dirty = true
			return nil
		}
		if err != nil {
			return s.storeError("FETCH", onMailbox, err)
		}
		defer body.Close()
		if options.Envelope && p.env == nil {
			h, err := textproto.ReadHeader(bufio.NewReader(io.NewSectionReader(body, 0, body.Size())))
			if err != nil {
				s.log.Warn("imap: unparsable header", "mailbox", s.view.name, "uid", m.UID, "err", err)
			}
			p.env = imapserver.ExtractEnvelope(h)
		}
		if options.BodyStructure != nil && p.bs == nil {
			p.bs = imapserver.ExtractBodyStructure(io.NewSectionReader(body, 0, body.Size()))
		}
		s.srv.cache.add(key, p)
	}

	rw := w.CreateMessage(seq)
	rw.WriteUID(imap.UID(m.UID))
	if options.Flags || seenSet {
		rw.WriteFlags(imapFlags(m.Flags))
	}
	if options.InternalDate {
		rw.WriteInternalDate(m.Internal)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(m.Size)
	}
	if options.Envelope {
		rw.WriteEnvelope(p.env)
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(p.bs)
	}
	err := s.writeSections(rw, body, options)
	if cerr := rw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// A literal cut short leaves the client unable to parse what
		// follows: end the connection rather than go on out of step.
		_ = s.conn.NetConn().Close()
		return fmt.Errorf("imap: FETCH %s uid %d: %w", s.view.name, m.UID, err)
	}
	return nil
}

// writeSections writes the BODY[...] and BINARY[...] items.
func (s *session) writeSections(rw *imapserver.FetchResponseWriter, body store.Body, options *imap.FetchOptions) error {
	for _, sec := range options.BodySection {
		if isWholeMessage(sec) {
			// Streamed from disk: no copy of the message in memory.
			off, n := partialRange(sec.Partial, body.Size())
			if err := writeLiteral(rw.WriteBodySection(sec, n), io.NewSectionReader(body, off, n), n); err != nil {
				return err
			}
			continue
		}
		buf := imapserver.ExtractBodySection(io.NewSectionReader(body, 0, body.Size()), sec)
		if err := writeBytes(rw.WriteBodySection(sec, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, sec := range options.BinarySection {
		buf := imapserver.ExtractBinarySection(io.NewSectionReader(body, 0, body.Size()), sec)
		if err := writeBytes(rw.WriteBinarySection(sec, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, sec := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(sec, imapserver.ExtractBinarySectionSize(io.NewSectionReader(body, 0, body.Size()), sec))
	}
	return nil
}

// isWholeMessage reports a BODY[] or BODY[]<partial> item, which is the
// stored bytes as they are.
func isWholeMessage(sec *imap.FetchItemBodySection) bool {
	return sec.Specifier == imap.PartSpecifierNone && len(sec.Part) == 0 &&
		len(sec.HeaderFields) == 0 && len(sec.HeaderFieldsNot) == 0
}

// partialRange returns the offset and length a <partial> selects from size
// bytes.
func partialRange(p *imap.SectionPartial, size int64) (off, n int64) {
	if p == nil {
		return 0, size
	}
	off = min(max(p.Offset, 0), size)
	return off, min(max(p.Size, 0), size-off)
}

func writeBytes(wc io.WriteCloser, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeLiteral(wc io.WriteCloser, r io.Reader, n int64) error {
	_, err := io.CopyN(wc, r, n)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}
