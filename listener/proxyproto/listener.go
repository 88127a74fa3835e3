package proxyproto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// DefaultHeaderTimeout bounds the wait for a header when
// Options.HeaderTimeout is zero.
const DefaultHeaderTimeout = 5 * time.Second

// Options configure a PROXY protocol listener.
type Options struct {
	// Trusted are the proxies' networks. Only peers in them are served, and
	// they must send a header; every other peer is refused (closed at once
	// and logged at info with its address). Empty refuses everyone.
	Trusted []netip.Prefix
	// HeaderTimeout bounds the wait for a trusted peer's header; a peer
	// that is slower is closed. Zero means DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// Optional lets a trusted peer omit the header: its connection passes
	// with its real addresses once it sends a first byte that cannot start
	// a header, or after HeaderTimeout without sending anything (so
	// server-speaks-first protocols such as SMTP wait that long). The
	// default (false) refuses a trusted peer without a header.
	Optional bool
	// Log receives refusals (info: untrusted peer, timeout; warn: a trusted
	// peer sending no or a malformed header) and each accepted header
	// (debug). Nil discards.
	Log *slog.Logger
	// OnRefuse, when set, is called for each refused connection with the
	// peer's real address and one of the Refused* reasons (for a metric
	// such as moat_connections_refused_total). It runs on the listener's
	// goroutines and must not block.
	OnRefuse func(reason string, peer net.Addr)
}

// Reasons given to Options.OnRefuse.
const (
	RefusedUntrusted = "proxy_untrusted"  // peer not in Options.Trusted
	RefusedNoHeader  = "proxy_no_header"  // trusted peer sent no header
	RefusedMalformed = "proxy_malformed"  // header not valid
	RefusedTimeout   = "proxy_timeout"    // header incomplete after HeaderTimeout
	RefusedReadError = "proxy_read_error" // connection failed or closed mid-header
)

// NewListener wraps inner so that Accept returns connections whose
// RemoteAddr is the client address from the PROXY header (v1 or v2) and
// whose LocalAddr is the header's destination (the real addresses when the
// header carries none: LOCAL, UNKNOWN, UNSPEC). Returned connections are
// *Conn.
//
// Headers are read in Accept's stead, by one goroutine per new connection
// under HeaderTimeout, and only connections whose header is complete are
// handed to Accept: a slow or silent peer never delays another's
// connection, and RemoteAddr is right from the moment Accept returns (a
// connection limiter can key on it). Errors of inner.Accept are passed on
// to Accept unchanged. Close closes inner and every connection still
// waiting for its header.
func NewListener(inner net.Listener, o Options) net.Listener {
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &listener{
		inner:   inner,
		opts:    o,
		ready:   make(chan accepted),
		done:    make(chan struct{}),
		pending: make(map[net.Conn]struct{}),
	}
}

type accepted struct {
	c   net.Conn
	err error
}

type listener struct {
	inner net.Listener
	opts  Options

	start    sync.Once
	ready    chan accepted
	done     chan struct{}
	doneOnce sync.Once

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{}
}

// Accept returns the next connection whose header has been read.
func (l *listener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.loop() })
	select {
	case a := <-l.ready:
		return a.c, a.err
	case <-l.done:
		return nil, fmt.Errorf("proxyproto: accept on %s: %w", l.inner.Addr(), net.ErrClosed)
	}
}

// Addr returns the inner listener's address.
func (l *listener) Addr() net.Addr { return l.inner.Addr() }

// Close stops the listener and closes connections still in their header.
func (l *listener) Close() error {
	err := l.inner.Close()
	l.shut()
	return err
}

// shut marks the listener closed and closes the connections waiting for
// their header.
func (l *listener) shut() {
	l.doneOnce.Do(func() { close(l.done) })
	l.mu.Lock()
	l.closed = true
	for c := range l.pending {
		_ = c.Close()
	}
	clear(l.pending)
	l.mu.Unlock()
}

func (l *listener) loop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			select {
			case l.ready <- accepted{err: err}:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				l.shut()
				return
			}
			continue
		}
		peer := addrPort(c.RemoteAddr())
		if !l.trusted(peer.Addr()) {
			l.opts.Log.Info("connection refused: not from a trusted PROXY protocol peer",
				"addr", c.RemoteAddr().String(), "listener", l.inner.Addr().String())
			l.refused(RefusedUntrusted, c.RemoteAddr())
			_ = c.Close()
			continue
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = c.Close()
			return
		}
		l.pending[c] = struct{}{}
		l.mu.Unlock()
		go l.handshake(c)
	}
}

func (l *listener) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range l.opts.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// handshake reads c's header and hands the wrapped connection to Accept.
func (l *listener) handshake(c net.Conn) {
	conn, err := l.readConn(c)
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
	if err != nil {
		_ = c.Close()
		return
	}
	select {
	case l.ready <- accepted{c: conn}:
	case <-l.done:
		_ = c.Close()
	}
}

// readConn reads the header of c (from a trusted peer) under the header
// timeout, logs a refusal, and returns the connection to serve.
func (l *listener) readConn(c net.Conn) (*Conn, error) {
	log := l.opts.Log.With("proxy", c.RemoteAddr().String(), "listener", l.inner.Addr().String())
	if err := c.SetReadDeadline(time.Now().Add(l.opts.HeaderTimeout)); err != nil {
		return nil, fmt.Errorf("proxyproto: set deadline: %w", err)
	}
	cr := &countingReader{r: c}
	br := bufio.NewReaderSize(cr, 512)
	h, err := ReadHeader(br)
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	proxied := err == nil
	switch {
	case err == nil:
	case l.opts.Optional && (errors.Is(err, ErrNoHeader) || (timedOut && cr.n == 0)):
		// A trusted peer speaking for itself.
	case timedOut:
		log.Info("connection refused: no complete PROXY header in time", "timeout", l.opts.HeaderTimeout, "bytes", cr.n)
		l.refused(RefusedTimeout, c.RemoteAddr())
		return nil, err
	case errors.Is(err, ErrNoHeader):
		log.Warn("connection refused: trusted peer sent no PROXY header")
		l.refused(RefusedNoHeader, c.RemoteAddr())
		return nil, err
	case errors.Is(err, ErrMalformed):
		log.Warn("connection refused: malformed PROXY header", "err", err)
		l.refused(RefusedMalformed, c.RemoteAddr())
		return nil, err
	default:
		log.Info("connection refused: reading PROXY header failed", "err", err)
		l.refused(RefusedReadError, c.RemoteAddr())
		return nil, err
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("proxyproto: clear deadline: %w", err)
	}
	out := &Conn{Conn: c, header: h, proxied: proxied, remote: c.RemoteAddr(), local: c.LocalAddr()}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		out.pending = append([]byte(nil), b...)
	}
	if proxied && h.Command == CommandProxy && h.HasAddrs() {
		out.remote = net.TCPAddrFromAddrPort(unmap(h.Source))
		out.local = net.TCPAddrFromAddrPort(unmap(h.Destination))
	}
	if proxied {
		log.Debug("PROXY header", "version", h.Version, "command", h.Command.String(), "client", out.remote.String())
	}
	return out, nil
}

func (l *listener) refused(reason string, peer net.Addr) {
	if l.opts.OnRefuse != nil {
		l.opts.OnRefuse(reason, peer)
	}
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// addrPort returns the IP address and port of a, or the zero AddrPort.
func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Conn is a connection accepted by a PROXY listener.
type Conn struct {
	net.Conn
	header        Header
	proxied       bool
	remote, local net.Addr

	mu      sync.Mutex
	pending []byte // bytes read past the header, served first
}

// RemoteAddr returns the client's address from the header, or the peer's
// real address when the header has none.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr returns the destination address from the header (the
// address the client connected to on the proxy), or the real local address
// when the header has none.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// ProxyAddr returns the real address of the peer: the proxy.
func (c *Conn) ProxyAddr() net.Addr { return c.Conn.RemoteAddr() }

// Header returns the header the peer sent; ok is false when a trusted
// peer sent none (Options.Optional).
func (c *Conn) Header() (h Header, ok bool) { return c.header, c.proxied }

// Read reads the bytes that followed the header, then from the connection.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}
