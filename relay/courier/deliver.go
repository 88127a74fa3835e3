package courier

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// pipelineGroup is the most commands written before their replies are
// read, so that a long recipient list cannot fill both sides' buffers.
const pipelineGroup = 100

// readers recycles the message read buffers.
type readers struct{ p sync.Pool }

func (r *readers) get(msg io.Reader) *bufio.Reader {
	if br, ok := r.p.Get().(*bufio.Reader); ok {
		br.Reset(msg)
		return br
	}
	return bufio.NewReaderSize(msg, bodyBufferSize)
}

func (r *readers) put(br *bufio.Reader) {
	br.Reset(nil)
	r.p.Put(br)
}

// Deliver sends msg from from to rcpts over the destination named route
// (as returned by Route). When the server accepted MAIL it returns one
// Result per recipient, in the order of rcpts, and a nil error: the RCPT
// refusal for a refused recipient, else the answer to the message (one per
// recipient for LMTP), or 451 4.4.2 when the connection broke before that
// answer. Otherwise it returns no results and an error, a *DeliveryError
// whose Code tells a temporary failure from a permanent one.
func (c *Courier) Deliver(ctx context.Context, route, from string, rcpts []string, msg io.Reader) ([]Result, error) {
	if len(rcpts) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrBadAddress)
	}
	if err := checkAddress(from, true); err != nil {
		return nil, err
	}
	needUTF8 := !isASCII(from)
	for _, r := range rcpts {
		if err := checkAddress(r, false); err != nil {
			return nil, err
		}
		needUTF8 = needUTF8 || !isASCII(r)
	}
	d, err := c.lookupDestination(route, rcpts)
	if err != nil {
		return nil, err
	}
	br := c.readers.get(msg)
	defer c.readers.put(br)
	info := inspect(br, msg)
	info.envelopeUTF8 = needUTF8

	l, err := c.acquire(ctx, d)
	if err != nil {
		return nil, err
	}
	defer l.release()
	for attempt := 0; ; attempt++ {
		var cn *conn
		if attempt == 0 {
			cn = l.idleConn()
		}
		reused := cn != nil
		if cn == nil {
			if cn, err = c.connect(ctx, d); err != nil {
				return nil, err
			}
		}
		l.conn = cn
		res, started, err := cn.transact(ctx, from, rcpts, br, info)
		if err == nil {
			return res, nil
		}
		if !started && reused && attempt == 0 && ctx.Err() == nil {
			c.log.Debug("courier: pooled connection failed; reconnecting", "destination", d.name, "remote", cn.remote, "err", err)
			cn.close()
			l.conn = nil
			continue
		}
		return nil, c.connError(ctx, cn, err)
	}
}

// connError turns an error of a connection into a *DeliveryError.
func (c *Courier) connError(ctx context.Context, cn *conn, err error) error {
	var de *DeliveryError
	if errors.As(err, &de) {
		return err
	}
	cn.broken = true
	if ctx.Err() != nil {
		return newTempError(451, "4.4.2", "delivery attempt cancelled", cn.remote, ctx.Err())
	}
	var be *bodyError
	if errors.As(err, &be) {
		return newTempError(451, "4.3.0", "cannot read the message", cn.remote, err)
	}
	return newTempError(451, "4.4.2", "connection lost", cn.remote, err)
}

// checkAddress refuses addresses that would break the command line.
func checkAddress(a string, sender bool) error {
	if a == "" && sender {
		return nil
	}
	if _, _, err := splitAddress(a); err != nil {
		return err
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// mailLine builds the MAIL command with the parameters the server
// supports and the message needs.
func (cn *conn) mailLine(from string, info msgInfo) (string, error) {
	var b strings.Builder
	b.WriteString("MAIL FROM:<" + from + ">")
	if cn.has("8BITMIME") {
		b.WriteString(" BODY=8BITMIME")
	}
	if cn.has("SMTPUTF8") && (info.envelopeUTF8 || info.headerUTF8) {
		b.WriteString(" SMTPUTF8")
	} else if !isASCII(from) {
		return "", &DeliveryError{Code: 553, Enhanced: "5.6.7", Text: "the sender address needs SMTPUTF8, which the server does not support", Remote: cn.remote}
	}
	if info.size >= 0 && cn.has("SIZE") {
		if limit := cn.maxSize(); limit > 0 && info.size > limit {
			return "", &DeliveryError{Code: 552, Enhanced: "5.3.4", Text: fmt.Sprintf("message of %d bytes exceeds the server's limit of %d", info.size, limit), Remote: cn.remote}
		}
		b.WriteString(" SIZE=" + strconv.FormatInt(info.size, 10))
	}
	return b.String(), nil
}

// transact runs one mail transaction. started reports whether the server
// answered any of its commands (before that, a failure of a pooled
// connection may be retried on a new one). The error is a *DeliveryError
// when the server refused MAIL; any other error leaves the connection
// unusable.
func (cn *conn) transact(ctx context.Context, from string, rcpts []string, body *bufio.Reader, info msgInfo) (res []Result, started bool, err error) {
	mail, err := cn.mailLine(from, info)
	if err != nil {
		return nil, false, err
	}
	stop := cn.watch(ctx)
	defer stop()
	defer func() {
		var de *DeliveryError
		if err != nil && !errors.As(err, &de) {
			cn.broken = true
		}
	}()
	reset := cn.dirty || (cn.uses > 0 && cn.pipelining())
	cn.uses++
	// Recipients that need SMTPUTF8 cannot go to a server without it; the
	// others can.
	res = make([]Result, len(rcpts))
	send := make([]int, 0, len(rcpts))
	for i, r := range rcpts {
		if !cn.has("SMTPUTF8") && !isASCII(r) {
			res[i] = Result{Code: 553, Enhanced: "5.6.7", Text: "the address needs SMTPUTF8, which the server does not support"}
			continue
		}
		send = append(send, i)
	}
	if len(send) == 0 {
		return res, true, nil
	}
	cmds := make([]string, 0, len(send)+3)
	if reset {
		cmds = append(cmds, "RSET")
	}
	cmds = append(cmds, mail)
	for _, i := range send {
		cmds = append(cmds, "RCPT TO:<"+rcpts[i]+">")
	}
	cmds = append(cmds, "DATA")
	replies, err := cn.exchange(cmds, reset)
	if len(replies) > 0 {
		started = true
	}
	if err != nil {
		return nil, started && (!reset || len(replies) > 1), err
	}
	if reset {
		if replies[0].class() != 2 {
			return nil, false, fmt.Errorf("RSET refused: %s", replies[0].result())
		}
		replies = replies[1:]
	}
	if m := replies[0]; m.class() != 2 {
		cn.noteCode(m)
		return nil, true, m.deliveryError(cn.remote)
	}
	cn.dirty = true
	var accepted []int
	for k, i := range send {
		r := replies[1+k]
		cn.noteCode(r)
		if r.class() == 2 {
			accepted = append(accepted, i)
			continue
		}
		res[i] = r.result()
	}
	data := replies[len(replies)-1]
	if len(accepted) == 0 {
		if data.code == 354 {
			// A server that says 354 with no recipient gets an empty message.
			r, err := cn.cmd(".")
			if err != nil {
				return nil, true, err
			}
			cn.noteCode(r)
		}
		return res, true, nil
	}
	if data.code != 354 {
		cn.noteCode(data)
		for _, i := range accepted {
			res[i] = data.result()
		}
		return res, true, nil
	}
	if err := writeBody(cn.bw, body); err != nil {
		return nil, true, err
	}
	if err := cn.bw.Flush(); err != nil {
		return cn.lost(ctx, res, accepted, err), true, nil
	}
	n := 1
	if cn.lmtp {
		n = len(accepted)
	}
	for k := 0; k < n; k++ {
		r, err := cn.readReply()
		if err != nil {
			return cn.lost(ctx, res, accepted[k:], err), true, nil
		}
		cn.noteCode(r)
		if cn.lmtp {
			res[accepted[k]] = r.result()
			continue
		}
		for _, i := range accepted {
			res[i] = r.result()
		}
	}
	cn.dirty = false
	return res, true, nil
}

// lost marks the connection broken and gives the recipients still waiting
// for an answer a temporary failure.
func (cn *conn) lost(ctx context.Context, res []Result, waiting []int, err error) []Result {
	cn.broken = true
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	r := Result{Code: 451, Enhanced: "4.4.2", Text: "connection lost before the server's answer: " + err.Error()}
	for _, i := range waiting {
		res[i] = r
	}
	return res
}

// noteCode marks the connection unusable after a 421 (the server is
// closing it).
func (cn *conn) noteCode(r reply) {
	if r.code == 421 {
		cn.broken = true
	}
}

// exchange sends cmds and reads one reply to each: in groups when the
// server offers PIPELINING, one at a time otherwise. Without pipelining it
// stops after a refused MAIL (the commands after it are answered with
// synthesized 503s) and, when every RCPT was refused, does not send DATA.
// skip is the number of leading commands (RSET) before MAIL.
func (cn *conn) exchange(cmds []string, reset bool) ([]reply, error) {
	replies := make([]reply, 0, len(cmds))
	if cn.pipelining() {
		for i := 0; i < len(cmds); {
			j := min(i+pipelineGroup, len(cmds))
			for _, c := range cmds[i:j] {
				cn.bw.WriteString(c)
				cn.bw.WriteString("\r\n")
			}
			if err := cn.bw.Flush(); err != nil {
				return replies, err
			}
			for range cmds[i:j] {
				r, err := cn.readReply()
				if err != nil {
					return replies, err
				}
				replies = append(replies, r)
			}
			i = j
		}
		return replies, nil
	}
	mailAt := 0
	if reset {
		mailAt = 1
	}
	accepted := 0
	for i, c := range cmds {
		last := i == len(cmds)-1
		if (i > mailAt && replies[mailAt].class() != 2) || (last && accepted == 0) ||
			(i == mailAt && reset && replies[0].class() != 2) {
			replies = append(replies, reply{code: 503, enh: "5.5.1", lines: []string{"not sent"}})
			continue
		}
		r, err := cn.cmd(c)
		if err != nil {
			return replies, err
		}
		if i > mailAt && !last && r.class() == 2 {
			accepted++
		}
		replies = append(replies, r)
	}
	return replies, nil
}
