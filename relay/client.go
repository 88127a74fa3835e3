package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// downConn is the SMTP client moat relays with. It does only what relaying
// needs, and does it in as few round trips as the server allows: MAIL and
// the first RCPT go in one write when the server offers PIPELINING, and the
// message is dot-stuffed a line at a time rather than a byte at a time.
// Refusals are returned as *smtp.SMTPError, anything else (I/O, a broken
// reply) as a plain error, after which the connection must be closed.
type downConn struct {
	conn    net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	ext     map[string]string
	timeout time.Duration
}

// dialDown connects to addr, reads the greeting and says EHLO (HELO if the
// server refuses EHLO).
func dialDown(ctx context.Context, d *net.Dialer, addr, hostname string, timeout time.Duration) (*downConn, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &downConn{conn: conn, br: bufio.NewReader(conn), bw: bufio.NewWriter(conn), timeout: timeout}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c.deadline()
	if _, err := c.reply(220); err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if err := c.hello(hostname); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *downConn) deadline() { _ = c.conn.SetDeadline(time.Now().Add(c.timeout)) }

func (c *downConn) hello(hostname string) error {
	c.bw.WriteString("EHLO " + hostname + "\r\n")
	if err := c.bw.Flush(); err != nil {
		return err
	}
	lines, err := c.replyLines(250)
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return fmt.Errorf("EHLO: %w", err)
		}
		c.bw.WriteString("HELO " + hostname + "\r\n")
		if err := c.bw.Flush(); err != nil {
			return err
		}
		if _, err := c.reply(250); err != nil {
			return fmt.Errorf("HELO: %w", err)
		}
		c.ext = map[string]string{}
		return nil
	}
	c.ext = make(map[string]string, len(lines))
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

func (c *downConn) has(ext string) bool { _, ok := c.ext[ext]; return ok }

// mailRcpt sends MAIL FROM and the first RCPT TO, pipelined when the server
// allows it. mailErr is the MAIL refusal; rcptErr the RCPT refusal (only
// meaningful when mailErr is nil).
func (c *downConn) mailRcpt(ctx context.Context, from string, opts *smtp.MailOptions, rcpt string) (mailErr, rcptErr error) {
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	c.deadline()
	line, err := c.mailLine(from, opts)
	if err != nil {
		return err, nil
	}
	c.bw.WriteString(line)
	if !c.has("PIPELINING") {
		if err := c.bw.Flush(); err != nil {
			return err, nil
		}
		if _, err := c.reply(250); err != nil {
			return err, nil
		}
		return nil, c.rcptLocked(rcpt)
	}
	c.bw.WriteString("RCPT TO:<" + rcpt + ">\r\n")
	if err := c.bw.Flush(); err != nil {
		return err, nil
	}
	_, mailErr = c.reply(250)
	if mailErr != nil && !isSMTPError(mailErr) {
		return mailErr, nil
	}
	_, rcptErr = c.reply(250)
	if mailErr != nil && rcptErr != nil && !isSMTPError(rcptErr) {
		return rcptErr, nil // the connection broke: report that, not the refusal
	}
	return mailErr, rcptErr
}

// mailLine builds the MAIL command, passing on BODY=8BITMIME, SMTPUTF8 and
// SIZE when the server supports them. A message that needs SMTPUTF8 cannot go
// to a server without it.
func (c *downConn) mailLine(from string, opts *smtp.MailOptions) (string, error) {
	var b strings.Builder
	b.WriteString("MAIL FROM:<" + from + ">")
	if opts != nil {
		if opts.Body == smtp.Body8BitMIME && c.has("8BITMIME") {
			b.WriteString(" BODY=8BITMIME")
		}
		if opts.UTF8 {
			if !c.has("SMTPUTF8") {
				return "", &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "downstream server does not support SMTPUTF8"}
			}
			b.WriteString(" SMTPUTF8")
		}
		if opts.Size > 0 && c.has("SIZE") {
			b.WriteString(" SIZE=" + strconv.FormatInt(opts.Size, 10))
		}
	}
	b.WriteString("\r\n")
	return b.String(), nil
}

// rcpt sends one more RCPT TO.
func (c *downConn) rcpt(ctx context.Context, to string) error {
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	c.deadline()
	return c.rcptLocked(to)
}

func (c *downConn) rcptLocked(to string) error {
	c.bw.WriteString("RCPT TO:<" + to + ">\r\n")
	if err := c.bw.Flush(); err != nil {
		return err
	}
	_, err := c.reply(250)
	return err
}

// data sends DATA and the message (whose lines must end in CRLF) and
// returns the text of the server's 250.
func (c *downConn) data(ctx context.Context, r io.Reader) (string, error) {
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	c.deadline()
	c.bw.WriteString("DATA\r\n")
	if err := c.bw.Flush(); err != nil {
		return "", err
	}
	if _, err := c.reply(354); err != nil {
		return "", err
	}
	dw := &dotWriter{w: c.bw, bol: true}
	if _, err := io.Copy(dw, r); err != nil {
		return "", fmt.Errorf("sending data: %w", err)
	}
	if err := dw.close(); err != nil {
		return "", err
	}
	if err := c.bw.Flush(); err != nil {
		return "", err
	}
	return c.reply(250)
}

// reset sends RSET.
func (c *downConn) reset() error {
	c.deadline()
	c.bw.WriteString("RSET\r\n")
	if err := c.bw.Flush(); err != nil {
		return err
	}
	_, err := c.reply(250)
	return err
}

// quit says QUIT (without waiting long for the answer) and closes.
func (c *downConn) quit() {
	_ = c.conn.SetDeadline(time.Now().Add(time.Second))
	c.bw.WriteString("QUIT\r\n")
	if c.bw.Flush() == nil {
		_, _ = c.reply(221)
	}
	c.conn.Close()
}

func (c *downConn) close() { c.conn.Close() }

// reply reads one reply and returns the text of its last line. A reply
// whose code is not want is returned as an *smtp.SMTPError.
func (c *downConn) reply(want int) (string, error) {
	lines, err := c.replyLines(want)
	if err != nil {
		return "", err
	}
	return lines[len(lines)-1], nil
}

// replyLines reads one (possibly multi-line) reply and returns the text of
// each line, without code and enhanced code on the last one.
func (c *downConn) replyLines(want int) ([]string, error) {
	var lines []string
	code := 0
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, errors.New("downstream reply line too long")
			}
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			return nil, fmt.Errorf("malformed downstream reply %q", line)
		}
		n, err := strconv.Atoi(string(line[:3]))
		if err != nil || n < 200 || n > 599 || (code != 0 && n != code) {
			return nil, fmt.Errorf("malformed downstream reply %q", line)
		}
		code = n
		text := ""
		if len(line) > 4 {
			text = string(line[4:])
		}
		lines = append(lines, text)
		if len(line) == 3 || line[3] == ' ' {
			break
		}
	}
	if code == want {
		return lines, nil
	}
	last := lines[len(lines)-1]
	enh, msg := splitEnhanced(last, code)
	return nil, &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// splitEnhanced splits "5.1.1 no such user" into the enhanced code and the
// text; a missing or malformed code, or one of another class, gives X.0.0.
func splitEnhanced(text string, code int) (smtp.EnhancedCode, string) {
	class := code / 100
	def := smtp.EnhancedCode{class, 0, 0}
	head, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(head, ".")
	if len(parts) != 3 {
		return def, text
	}
	var e smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return def, text
		}
		e[i] = n
	}
	if e[0] != class {
		return def, rest
	}
	return e, rest
}

func isSMTPError(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// dotWriter dot-stuffs message text whose lines end in CRLF (moat refuses
// bare CR and LF, so LF always ends a line): a line that starts with a dot
// gets another one. It writes whole runs between line starts, not bytes.
type dotWriter struct {
	w   *bufio.Writer
	bol bool // at the beginning of a line
}

func (d *dotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.bol && p[0] == '.' {
			if err := d.w.WriteByte('.'); err != nil {
				return 0, err
			}
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if _, err := d.w.Write(p); err != nil {
				return 0, err
			}
			d.bol = false
			break
		}
		if _, err := d.w.Write(p[:i+1]); err != nil {
			return 0, err
		}
		p = p[i+1:]
		d.bol = true
	}
	return n, nil
}

// close ends the message: a final CRLF if the text did not end with one,
// then the terminating dot line.
func (d *dotWriter) close() error {
	if !d.bol {
		if _, err := d.w.WriteString("\r\n"); err != nil {
			return err
		}
	}
	_, err := d.w.WriteString(".\r\n")
	return err
}
