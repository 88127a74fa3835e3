package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// pool keeps idle SMTP client connections to downstream servers so that
// before-queue relaying does not pay a TCP and EHLO round trip per message.
type pool struct {
	hostname    string
	timeout     time.Duration
	maxIdle     int
	idleTimeout time.Duration
	dialer      net.Dialer
	now         func() time.Time

	mu     sync.Mutex
	idle   map[string][]idleClient
	closed bool
}

type idleClient struct {
	c     *smtp.Client
	since time.Time
}

func newPool(hostname string, timeout time.Duration, now func() time.Time) *pool {
	return &pool{
		hostname:    hostname,
		timeout:     timeout,
		maxIdle:     64,
		idleTimeout: 30 * time.Second,
		now:         now,
		idle:        make(map[string][]idleClient),
	}
}

// get returns an idle connection to addr, or dials a new one. reused tells
// the caller that the connection may have been closed by the server since.
func (p *pool) get(ctx context.Context, addr string) (c *smtp.Client, reused bool, err error) {
	p.mu.Lock()
	list := p.idle[addr]
	for len(list) > 0 {
		ic := list[len(list)-1]
		list = list[:len(list)-1]
		if p.now().Sub(ic.since) < p.idleTimeout {
			p.idle[addr] = list
			p.mu.Unlock()
			return ic.c, true, nil
		}
		go ic.c.Close()
	}
	p.idle[addr] = list
	p.mu.Unlock()

	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	conn, err := p.dialer.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("dial downstream %s: %w", addr, err)
	}
	c = smtp.NewClient(conn)
	c.CommandTimeout = p.timeout
	c.SubmissionTimeout = p.timeout
	if err := c.Hello(p.hostname); err != nil {
		c.Close()
		return nil, false, fmt.Errorf("downstream %s: %w", addr, err)
	}
	return c, false, nil
}

// put returns a healthy connection, between transactions, to the pool.
func (p *pool) put(addr string, c *smtp.Client) {
	p.mu.Lock()
	if p.closed || len(p.idle[addr]) >= p.maxIdle {
		p.mu.Unlock()
		c.Quit()
		return
	}
	p.idle[addr] = append(p.idle[addr], idleClient{c: c, since: p.now()})
	p.mu.Unlock()
}

// close quits every idle connection and makes put close the rest.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = map[string][]idleClient{}
	p.mu.Unlock()
	for _, list := range idle {
		for _, ic := range list {
			ic.c.Quit()
		}
	}
}

// downTxn is one transaction opened on a downstream server while the
// client's transaction is in progress: MAIL at the client's first relayed
// RCPT, one RCPT per client RCPT (so the downstream's answer is the
// client's), DATA at the client's DATA.
type downTxn struct {
	p    *pool
	addr string
	c    *smtp.Client
	ok   bool // the connection is usable for another transaction
}

// begin opens a downstream transaction: MAIL FROM on a pooled or new
// connection. A pooled connection the server has meanwhile closed is
// replaced by a new one once.
func (p *pool) begin(ctx context.Context, addr, from string, opts *smtp.MailOptions) (*downTxn, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(ctx, addr)
		if err != nil {
			return nil, err
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = c.Mail(from, opts)
		stop()
		if err == nil {
			return &downTxn{p: p, addr: addr, c: c, ok: true}, nil
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			// A real refusal of the sender: the connection is fine.
			d := &downTxn{p: p, addr: addr, c: c, ok: true}
			d.abort()
			return nil, err
		}
		c.Close()
		if !reused || attempt > 0 {
			return nil, fmt.Errorf("downstream %s: MAIL: %w", addr, err)
		}
	}
}

// rcpt sends RCPT TO. An SMTP refusal leaves the transaction usable.
func (d *downTxn) rcpt(ctx context.Context, to string, opts *smtp.RcptOptions) error {
	stop := context.AfterFunc(ctx, func() { d.c.Close() })
	defer stop()
	err := d.c.Rcpt(to, opts)
	d.noteErr(err)
	return err
}

// data sends the message and returns the downstream's 250 text.
func (d *downTxn) data(ctx context.Context, r io.Reader) (string, error) {
	stop := context.AfterFunc(ctx, func() { d.c.Close() })
	defer stop()
	w, err := d.c.Data()
	if err != nil {
		d.noteErr(err)
		return "", err
	}
	if _, err := io.Copy(w, r); err != nil {
		d.ok = false
		return "", fmt.Errorf("downstream %s: sending data: %w", d.addr, err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		d.noteErr(err)
		return "", err
	}
	return resp.StatusText, nil
}

// noteErr marks the connection unusable unless err is a plain SMTP refusal.
func (d *downTxn) noteErr(err error) {
	var se *smtp.SMTPError
	if err != nil && !errors.As(err, &se) {
		d.ok = false
	}
}

// finish returns the connection to the pool after a completed DATA.
func (d *downTxn) finish() {
	if d.ok {
		d.p.put(d.addr, d.c)
	} else {
		d.c.Close()
	}
}

// abort resets the downstream transaction (RSET) and returns the connection
// to the pool, or closes it if it is broken.
func (d *downTxn) abort() {
	if d.ok && d.c.Reset() == nil {
		d.p.put(d.addr, d.c)
		return
	}
	d.c.Close()
}
