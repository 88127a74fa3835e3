package courier

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// timedConn gives every Read and Write on a connection its own deadline,
// so that Options.Timeout bounds each wait for the server (one reply, one
// write of a buffer) rather than a whole transaction.
type timedConn struct {
	net.Conn
	timeout time.Duration
}

func (t *timedConn) Read(p []byte) (int, error) {
	_ = t.Conn.SetReadDeadline(time.Now().Add(t.timeout))
	return t.Conn.Read(p)
}

func (t *timedConn) Write(p []byte) (int, error) {
	_ = t.Conn.SetWriteDeadline(time.Now().Add(t.timeout))
	return t.Conn.Write(p)
}

// reply is one SMTP reply.
type reply struct {
	code  int
	enh   string   // enhanced status code, "X.0.0" when none
	lines []string // text of each line, enhanced code removed
}

// text joins the reply's lines.
func (r reply) text() string { return strings.Join(r.lines, "; ") }

// result converts the reply to a Result.
func (r reply) result() Result { return Result{Code: r.code, Enhanced: r.enh, Text: r.text()} }

// class returns the first digit of the code.
func (r reply) class() int { return r.code / 100 }

// deliveryError converts a refusal to a *DeliveryError.
func (r reply) deliveryError(remote string) *DeliveryError {
	return &DeliveryError{Code: r.code, Enhanced: r.enh, Text: r.text(), Remote: remote}
}

// errProtocol marks a reply that is not SMTP.
var errProtocol = errors.New("malformed reply")

// conn is one client connection to an SMTP or LMTP server, after the
// greeting and EHLO (and STARTTLS, AUTH when used).
type conn struct {
	nc     net.Conn // the connection as dialled
	rw     net.Conn // what is read and written (nc, or TLS over it)
	br     *bufio.Reader
	bw     *bufio.Writer
	ext    map[string]string // EHLO keywords (upper case) and parameters
	lmtp   bool
	tls    bool
	remote string // "host[addr]:port" for logs and errors
	dest   *destination

	idleSince time.Time
	uses      int
	dirty     bool // a transaction may be open: RSET before the next
	broken    bool // unusable: close instead of pooling
}

func newConn(nc net.Conn, timeout time.Duration, remote string, d *destination) *conn {
	tc := &timedConn{Conn: nc, timeout: timeout}
	return &conn{
		nc: nc, rw: tc, br: bufio.NewReaderSize(tc, 4096), bw: bufio.NewWriterSize(tc, 32<<10),
		lmtp: d.route.LMTP, remote: remote, dest: d,
	}
}

// has reports whether the server announced the extension.
func (c *conn) has(ext string) bool { _, ok := c.ext[ext]; return ok }

// pipelining reports whether commands may be sent in groups.
func (c *conn) pipelining() bool { return c.has("PIPELINING") }

// watch closes the connection when ctx ends, until stop is called. The
// connection must be discarded after an I/O error in any case.
func (c *conn) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.nc.Close() })
}

// close closes the connection without a word.
func (c *conn) close() {
	c.broken = true
	c.nc.Close()
}

// quit says QUIT, waits briefly for the answer, and closes.
func (c *conn) quit() {
	_ = c.nc.SetDeadline(time.Now().Add(time.Second))
	c.bw.WriteString("QUIT\r\n")
	if c.bw.Flush() == nil {
		_, _ = c.readReply()
	}
	c.close()
}

// cmd sends one command and reads its reply.
func (c *conn) cmd(line string) (reply, error) {
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
	if err := c.bw.Flush(); err != nil {
		return reply{}, err
	}
	return c.readReply()
}

// readReply reads one (possibly multi-line) reply. An error means the
// connection is unusable; a refusal is a reply, not an error.
func (c *conn) readReply() (reply, error) {
	var r reply
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return reply{}, fmt.Errorf("%w: line too long", errProtocol)
			}
			return reply{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			return reply{}, fmt.Errorf("%w: %q", errProtocol, line)
		}
		n, err := strconv.Atoi(string(line[:3]))
		if err != nil || n < 200 || n > 599 || (r.code != 0 && n != r.code) {
			return reply{}, fmt.Errorf("%w: %q", errProtocol, line)
		}
		r.code = n
		text := ""
		if len(line) > 4 {
			text = string(line[4:])
		}
		enh, rest := splitEnhanced(text, n/100)
		if enh != "" {
			if r.enh == "" {
				r.enh = enh
			}
			text = rest
		}
		r.lines = append(r.lines, text)
		if len(line) == 3 || line[3] == ' ' {
			break
		}
	}
	if r.enh == "" {
		r.enh = strconv.Itoa(r.code/100) + ".0.0"
	}
	return r, nil
}

// splitEnhanced splits "5.1.1 no such user" into "5.1.1" and the rest. It
// returns "" and text when text does not start with an enhanced code of the
// given class.
func splitEnhanced(text string, class int) (string, string) {
	head, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(head, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(class) {
		return "", text
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 || len(p) > 3 {
			return "", text
		}
	}
	return head, rest
}

// hello sends EHLO (LHLO for LMTP), falling back to HELO when an SMTP
// server refuses EHLO, and records the extensions.
func (c *conn) hello(hostname string) error {
	verb := "EHLO "
	if c.lmtp {
		verb = "LHLO "
	}
	r, err := c.cmd(verb + hostname)
	if err != nil {
		return err
	}
	if r.class() != 2 {
		if c.lmtp || r.class() != 5 {
			return r.deliveryError(c.remote)
		}
		r, err = c.cmd("HELO " + hostname)
		if err != nil {
			return err
		}
		if r.class() != 2 {
			return r.deliveryError(c.remote)
		}
		c.ext = map[string]string{}
		return nil
	}
	c.ext = make(map[string]string, len(r.lines))
	for _, l := range r.lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// maxSize returns the server's SIZE limit, 0 when none.
func (c *conn) maxSize() int64 {
	v, ok := c.ext["SIZE"]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
