package relay

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// pool keeps idle SMTP connections to downstream servers so that
// before-queue relaying does not pay a TCP and EHLO round trip per message.
type pool struct {
	hostname    string
	timeout     time.Duration
	maxIdle     int
	idleTimeout time.Duration
	dialer      net.Dialer
	now         func() time.Time

	mu     sync.Mutex
	idle   map[string][]idleConn
	closed bool
}

type idleConn struct {
	c     *downConn
	since time.Time
}

func newPool(hostname string, timeout time.Duration, now func() time.Time) *pool {
	return &pool{
		hostname:    hostname,
		timeout:     timeout,
		maxIdle:     64,
		idleTimeout: 30 * time.Second,
		now:         now,
		idle:        make(map[string][]idleConn),
	}
}

// get returns an idle connection to addr, or dials a new one. reused tells
// the caller that the server may have closed it since.
func (p *pool) get(ctx context.Context, addr string) (c *downConn, reused bool, err error) {
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
		go ic.c.quit()
	}
	p.idle[addr] = list
	p.mu.Unlock()

	c, err = dialDown(ctx, &p.dialer, addr, p.hostname, p.timeout)
	if err != nil {
		return nil, false, fmt.Errorf("downstream %s: %w", addr, err)
	}
	return c, false, nil
}

// put returns a healthy connection, between transactions, to the pool.
func (p *pool) put(addr string, c *downConn) {
	p.mu.Lock()
	if p.closed || len(p.idle[addr]) >= p.maxIdle {
		p.mu.Unlock()
		c.quit()
		return
	}
	p.idle[addr] = append(p.idle[addr], idleConn{c: c, since: p.now()})
	p.mu.Unlock()
}

// close quits every idle connection and makes put close the rest.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = map[string][]idleConn{}
	p.mu.Unlock()
	for _, list := range idle {
		for _, ic := range list {
			ic.c.quit()
		}
	}
}

// downTxn is one transaction opened on a downstream server while the
// client's transaction is in progress: MAIL with the client's first relayed
// RCPT, one RCPT per client RCPT (so the downstream's answer is the
// client's), DATA at the client's DATA.
type downTxn struct {
	p    *pool
	addr string
	c    *downConn
	ok   bool // the connection is usable for another transaction
}

// begin opens a downstream transaction with MAIL FROM and the first RCPT TO
// (pipelined when the server allows). A pooled connection the server has
// meanwhile closed is replaced by a new one, once. The returned transaction
// is nil when MAIL failed; rcptErr is the first recipient's refusal.
func (p *pool) begin(ctx context.Context, addr, from string, opts *smtp.MailOptions, rcpt string) (d *downTxn, rcptErr error, err error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		mailErr, rcptErr := c.mailRcpt(ctx, from, opts, rcpt)
		if mailErr == nil {
			d := &downTxn{p: p, addr: addr, c: c, ok: true}
			d.noteErr(rcptErr)
			return d, rcptErr, nil
		}
		if isSMTPError(mailErr) {
			// A real refusal of the sender: the connection is fine.
			(&downTxn{p: p, addr: addr, c: c, ok: true}).abort()
			return nil, nil, mailErr
		}
		c.close()
		if !reused || attempt > 0 {
			return nil, nil, fmt.Errorf("downstream %s: MAIL: %w", addr, mailErr)
		}
	}
}

// rcpt sends another RCPT TO. A refusal leaves the transaction usable.
func (d *downTxn) rcpt(ctx context.Context, to string) error {
	err := d.c.rcpt(ctx, to)
	d.noteErr(err)
	return err
}

// data sends the message and returns the downstream's 250 text.
func (d *downTxn) data(ctx context.Context, r io.Reader) (string, error) {
	text, err := d.c.data(ctx, r)
	d.noteErr(err)
	return text, err
}

// noteErr marks the connection unusable unless err is a plain SMTP refusal.
func (d *downTxn) noteErr(err error) {
	if err != nil && !isSMTPError(err) {
		d.ok = false
	}
}

// finish returns the connection to the pool after a completed DATA.
func (d *downTxn) finish() {
	if d.ok {
		d.p.put(d.addr, d.c)
	} else {
		d.c.close()
	}
}

// abort resets the downstream transaction (RSET) and returns the connection
// to the pool, or closes it if it is broken.
func (d *downTxn) abort() {
	if d.ok && d.c.reset() == nil {
		d.p.put(d.addr, d.c)
		return
	}
	d.c.close()
}
