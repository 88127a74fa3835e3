package courier

import (
	"context"
	"time"
)

// destPool holds the connections of one destination: a semaphore of
// PerDestination leases (a connection in use holds one) and the idle
// connections. A connection is dialled only when no idle one is left, so
// in-use plus idle connections never exceed the limit.
type destPool struct {
	name string
	sem  chan struct{}
	refs int // callers holding or waiting for a lease; guarded by Courier.mu

	// guarded by Courier.mu
	idle []*conn // most recently used last
}

// lease is the right to use one connection of a destination.
type lease struct {
	c    *Courier
	p    *destPool
	conn *conn
}

// acquire waits for a lease on d's pool, honouring ctx.
func (c *Courier) acquire(ctx context.Context, d *destination) (*lease, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	p := c.pools[d.name]
	if p == nil {
		p = &destPool{name: d.name, sem: make(chan struct{}, c.opts.PerDestination)}
		c.pools[d.name] = p
	}
	p.refs++
	c.mu.Unlock()
	select {
	case p.sem <- struct{}{}:
		return &lease{c: c, p: p}, nil
	default:
	}
	select {
	case p.sem <- struct{}{}:
		return &lease{c: c, p: p}, nil
	case <-ctx.Done():
		c.mu.Lock()
		p.refs--
		c.mu.Unlock()
		return nil, newTempError(451, "4.4.5", "no connection to "+d.name+" became free", "", ctx.Err())
	}
}

// idleConn takes the most recently used idle connection that has not been
// idle for too long; older ones are closed.
func (l *lease) idleConn() *conn {
	c := l.c
	now := c.opts.Now()
	c.mu.Lock()
	var stale []*conn
	var got *conn
	for len(l.p.idle) > 0 {
		cn := l.p.idle[len(l.p.idle)-1]
		l.p.idle = l.p.idle[:len(l.p.idle)-1]
		if now.Sub(cn.idleSince) < c.opts.IdleTimeout {
			got = cn
			break
		}
		stale = append(stale, cn)
	}
	// The remaining idle connections are older than got.
	c.mu.Unlock()
	for _, cn := range stale {
		go cn.quit()
	}
	return got
}

// release ends the lease: a healthy connection goes back to the idle list,
// a broken one is closed.
func (l *lease) release() {
	c := l.c
	cn := l.conn
	l.conn = nil
	c.mu.Lock()
	pool := cn != nil && !cn.broken && !c.closed && c.opts.IdleTimeout > 0
	if pool {
		cn.idleSince = c.opts.Now()
		l.p.idle = append(l.p.idle, cn)
	}
	l.p.refs--
	c.mu.Unlock()
	if cn != nil && !pool {
		if cn.broken {
			cn.close()
		} else {
			cn.quit()
		}
	}
	<-l.p.sem
}

// sweep closes the connections idle for longer than IdleTimeout and
// forgets the pools nobody uses.
func (c *Courier) sweep() {
	now := c.opts.Now()
	var stale []*conn
	c.mu.Lock()
	for name, p := range c.pools {
		keep := p.idle[:0]
		for _, cn := range p.idle {
			if now.Sub(cn.idleSince) >= c.opts.IdleTimeout {
				stale = append(stale, cn)
			} else {
				keep = append(keep, cn)
			}
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		if len(p.idle) == 0 && p.refs == 0 {
			delete(c.pools, name)
		}
	}
	c.mu.Unlock()
	for _, cn := range stale {
		cn.quit()
	}
}

// janitor runs sweep every interval until done is closed.
func (c *Courier) janitor(interval time.Duration) {
	defer close(c.janitorDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.sweep()
		}
	}
}

// closeIdle quits every idle connection.
func (c *Courier) closeIdle() {
	c.mu.Lock()
	var all []*conn
	for _, p := range c.pools {
		all = append(all, p.idle...)
		p.idle = nil
	}
	c.mu.Unlock()
	for _, cn := range all {
		cn.quit()
	}
}
