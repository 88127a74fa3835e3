package courier

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"unicode/utf8"
)

// bodyBufferSize is the read buffer of a message; the header is inspected
// within its first bodyBufferSize bytes.
const bodyBufferSize = 64 << 10

// msgInfo is what the MAIL command needs to know about a message.
type msgInfo struct {
	size       int64 // -1 when unknown
	headerUTF8 bool  // the header holds UTF-8 beyond ASCII
	// envelopeUTF8: an envelope address holds UTF-8 beyond ASCII.
	envelopeUTF8 bool
}

// inspect finds the message's size (when the reader knows it) and whether
// its header holds UTF-8, without consuming anything from br.
func inspect(br *bufio.Reader, msg io.Reader) msgInfo {
	info := msgInfo{size: messageSize(msg)}
	data, _ := br.Peek(bodyBufferSize)
	end := len(data)
	if i := bytes.Index(data, []byte("\n\r\n")); i >= 0 && i < end {
		end = i
	}
	if i := bytes.Index(data, []byte("\n\n")); i >= 0 && i < end {
		end = i
	}
	header := data[:end]
	for _, b := range header {
		if b >= 0x80 {
			info.headerUTF8 = utf8.Valid(header)
			break
		}
	}
	return info
}

// messageSize returns the number of bytes left in msg when the reader can
// tell, else -1.
func messageSize(msg io.Reader) int64 {
	switch m := msg.(type) {
	case interface{ Len() int }:
		return int64(m.Len())
	case interface{ Size() int64 }:
		return m.Size()
	case interface {
		Stat() (fs.FileInfo, error)
		Seek(int64, int) (int64, error)
	}:
		fi, err := m.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		off, err := m.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return fi.Size() - off
	}
	return -1
}

// bodyError is a failure to read the message (not to send it).
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading the message: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// writeBody copies the message from br to w as SMTP DATA: lines that
// start with a dot get another one, a bare LF becomes CRLF, a missing final
// line break is added, and the terminating ".\r\n" follows. It works on
// whole buffers, writing the runs between line starts. A read failure is
// returned as a *bodyError, and then the terminating dot has not been
// written.
func writeBody(w *bufio.Writer, br *bufio.Reader) error {
	bol, prevCR := true, false
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				if err == io.EOF {
					break
				}
				return &bodyError{err}
			}
		}
		p, _ := br.Peek(br.Buffered())
		n := len(p)
		for len(p) > 0 {
			if bol && p[0] == '.' {
				w.WriteByte('.')
			}
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				w.Write(p)
				prevCR = p[len(p)-1] == '\r'
				bol = false
				break
			}
			if (i > 0 && p[i-1] == '\r') || (i == 0 && prevCR) {
				w.Write(p[:i+1])
			} else {
				w.Write(p[:i])
				w.WriteString("\r\n")
			}
			p = p[i+1:]
			bol, prevCR = true, false
		}
		if _, err := br.Discard(n); err != nil {
			return &bodyError{err}
		}
		if _, err := w.Write(nil); err != nil {
			return err
		}
	}
	if !bol {
		if prevCR {
			w.WriteByte('\n')
		} else {
			w.WriteString("\r\n")
		}
	}
	_, err := w.WriteString(".\r\n")
	return err
}
