package pop3

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// wireWriter turns stored message bytes into the body of a multi-line
// POP3 response (RFC 1939 section 3): every line ends in CRLF (a bare LF
// becomes CRLF), a line starting with "." gets another "." in front, and
// the message ends with a line break before the terminating ".". With w
// nil it only counts. n counts the octets of the message as sent, without
// the stuffed dots and the terminator: the size LIST and STAT report.
//
// For TOP, limit the body: top is set and topLines says how many body
// lines follow the header and the blank line that ends it.
type wireWriter struct {
	w *bufio.Writer
	n int64

	bol     bool  // at the start of a line
	cr      bool  // the last byte written was CR
	lineLen int64 // bytes of the current line so far

	top      bool
	topLines int
	inBody   bool
	done     bool // TOP has written all it should
}

// newWireWriter returns a wireWriter at the start of a message.
func newWireWriter(w *bufio.Writer) *wireWriter {
	return &wireWriter{w: w, bol: true}
}

// write converts one chunk of the message.
func (ww *wireWriter) write(p []byte) {
	for len(p) > 0 && !ww.done {
		if ww.bol && p[0] == '.' && ww.w != nil {
			ww.w.WriteByte('.')
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			ww.put(p)
			ww.n += int64(len(p))
			ww.lineLen += int64(len(p))
			ww.cr = p[len(p)-1] == '\r'
			ww.bol = false
			return
		}
		seg := p[:i]
		ww.put(seg)
		ww.n += int64(i)
		ww.lineLen += int64(i)
		cr := ww.cr
		if i > 0 {
			cr = seg[i-1] == '\r'
		}
		if cr {
			ww.putString("\n")
			ww.n++
		} else {
			ww.putString("\r\n")
			ww.n += 2
		}
		empty := ww.lineLen == 0 || (ww.lineLen == 1 && cr)
		ww.bol, ww.cr, ww.lineLen = true, false, 0
		p = p[i+1:]
		if ww.top {
			ww.endLine(empty)
		}
	}
}

// endLine counts a finished line for TOP.
func (ww *wireWriter) endLine(empty bool) {
	switch {
	case ww.inBody:
		ww.topLines--
	case empty:
		ww.inBody = true
	default:
		return
	}
	if ww.topLines <= 0 {
		ww.done = true
	}
}

// put writes p unless only counting.
func (ww *wireWriter) put(p []byte) {
	if ww.w == nil {
		return
	}
	if _, err := ww.w.Write(p); err != nil {
		// The client is gone; stop reading the message.
		ww.done = true
	}
}

// putString writes s unless only counting.
func (ww *wireWriter) putString(s string) {
	if ww.w == nil {
		return
	}
	if _, err := ww.w.WriteString(s); err != nil {
		ww.done = true
	}
}

// finish ends the message: a line break if the message did not end with
// one (counted in n), then the terminating "." line (not counted).
func (ww *wireWriter) finish() {
	if !ww.bol && !ww.done {
		ww.putString("\r\n")
		ww.n += 2
		ww.bol = true
	}
	if ww.w != nil {
		ww.w.WriteString(".\r\n")
	}
}

// copyMessage reads r to its end into ww, using buf. It returns the
// reader's error, if any, other than io.EOF.
func copyMessage(ww *wireWriter, r io.Reader, buf []byte) error {
	for !ww.done {
		n, err := r.Read(buf)
		ww.write(buf[:n])
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pop3: reading message: %w", err)
		}
	}
	return nil
}

// wireSize returns the size of a message as sent (see wireWriter).
func wireSize(r io.Reader, buf []byte) (int64, error) {
	ww := &wireWriter{bol: true}
	if err := copyMessage(ww, r, buf); err != nil {
		return 0, err
	}
	ww.finish()
	return ww.n, nil
}
