package filter

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Message is a received message: its parsed header and its raw bytes, kept
// in memory up to a bound and in a temporary spool file past it.
type Message struct {
	// Header is the parsed header block.
	Header Header
	// HeaderLen is the size in bytes of the header block, including the
	// empty line that ends it.
	HeaderLen int

	mem  []byte
	file *os.File
	size int64
}

// NewMessage returns a Message held entirely in memory. It is what tests,
// `moat check` and small messages use.
func NewMessage(raw []byte) (*Message, error) {
	m := &Message{mem: raw, size: int64(len(raw))}
	if err := m.parse(); err != nil {
		return m, err
	}
	return m, nil
}

func (m *Message) parse() error {
	h, n, err := ParseHeader(m.mem)
	m.Header, m.HeaderLen = h, n
	return err
}

// Size returns the size of the raw message in bytes.
func (m *Message) Size() int64 { return m.size }

// Reader returns a new reader over the whole raw message. Each call returns
// an independent reader, so several checks may read concurrently.
func (m *Message) Reader() io.Reader {
	if m.file == nil {
		return bytes.NewReader(m.mem)
	}
	return io.MultiReader(bytes.NewReader(m.mem), io.NewSectionReader(m.file, 0, m.size-int64(len(m.mem))))
}

// BodyReader returns a new reader over the message body (everything after
// the header block).
func (m *Message) BodyReader() io.Reader {
	if m.file == nil {
		return bytes.NewReader(m.mem[m.HeaderLen:])
	}
	return io.MultiReader(bytes.NewReader(m.mem[m.HeaderLen:]), io.NewSectionReader(m.file, 0, m.size-int64(len(m.mem))))
}

// BodyParts returns the body as its in-memory part and, for a spooled
// message, a reader over the rest (nil otherwise), so callers can write the
// body without copying it through a buffer.
func (m *Message) BodyParts() ([]byte, io.Reader) {
	if m.file == nil {
		return m.mem[m.HeaderLen:], nil
	}
	return m.mem[m.HeaderLen:], io.NewSectionReader(m.file, 0, m.size-int64(len(m.mem)))
}

// Prefix returns the in-memory start of the raw message (at least the whole
// header block). Callers must not modify it.
func (m *Message) Prefix() []byte { return m.mem }

// Close releases the spool file, if any. The Message must not be used after.
func (m *Message) Close() error {
	if m.file == nil {
		return nil
	}
	name := m.file.Name()
	err := m.file.Close()
	if rerr := os.Remove(name); err == nil && rerr != nil && !os.IsNotExist(rerr) {
		err = rerr
	}
	m.file = nil
	return err
}

// Spool receives a message as it streams in: the first memLimit bytes stay
// in memory, the rest goes to a temporary file in dir. The header block must
// fit in memory; a longer header is cut at memLimit and the rest is treated
// as body.
type Spool struct {
	dir      string
	memLimit int
	buf      []byte
	file     *os.File
	size     int64
}

// NewSpool returns a Spool that keeps up to memLimit bytes in memory and
// writes the rest to a temporary file in dir (os.TempDir() when empty).
func NewSpool(dir string, memLimit int) *Spool {
	return &Spool{dir: dir, memLimit: memLimit}
}

// NewSpoolBuffer is NewSpool with buf's storage as the start of the memory
// part, so a server can reuse buffers across messages. The Message that
// Finish returns owns the storage until the caller is done with it.
func NewSpoolBuffer(dir string, memLimit int, buf []byte) *Spool {
	return &Spool{dir: dir, memLimit: memLimit, buf: buf[:0]}
}

// Write appends p to the spooled message.
func (s *Spool) Write(p []byte) (int, error) {
	n := len(p)
	if room := s.memLimit - len(s.buf); room > 0 {
		k := min(room, len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
	}
	if len(p) > 0 {
		if s.file == nil {
			f, err := os.CreateTemp(s.dir, "spool-*")
			if err != nil {
				return 0, fmt.Errorf("spool: %w", err)
			}
			s.file = f
		}
		if _, err := s.file.Write(p); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
	}
	s.size += int64(n)
	return n, nil
}

// Finish returns the spooled message with its header parsed. The returned
// Message owns the spool file; the error is ErrHeaderNUL when the header
// holds a NUL byte (the Message is still returned, so it can be closed).
func (s *Spool) Finish() (*Message, error) {
	m := &Message{mem: s.buf, file: s.file, size: s.size}
	s.buf, s.file = nil, nil
	return m, m.parse()
}

// Discard removes anything spooled so far.
func (s *Spool) Discard() {
	if s.file != nil {
		name := s.file.Name()
		s.file.Close()
		os.Remove(name)
		s.file = nil
	}
	s.buf = nil
	s.size = 0
}
