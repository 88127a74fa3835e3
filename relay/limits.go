package relay

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmail/moat/filter"
)

// conns counts and tracks the open SMTP connections of every listener: the
// total and per-client-IP limits hold across listeners, and shutdown can
// close the connections that are between transactions.
type conns struct {
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
	open  map[string]*connState // by connKey
}

// connState is what the server knows of one open connection.
type connState struct {
	conn net.Conn
	// busy is set while a mail transaction is open (MAIL to its end).
	busy atomic.Bool
	// counted is set once the connection rate limits took this
	// connection (a new session after STARTTLS must not count it again).
	counted atomic.Bool
	// connect holds the connect-stage symbols once they are known
	// (connectRan): they depend on the client address only, so a new
	// session after STARTTLS reuses them. Only the connection's session
	// goroutine uses them.
	connect    []filter.Symbol
	connectRan bool
}

func newConns(max, perIP int) *conns {
	return &conns{max: max, perIP: perIP, byIP: make(map[netip.Addr]int), open: make(map[string]*connState)}
}

// connKey identifies a connection by its two ends, which a TLS connection
// layered over it reports too.
func connKey(c net.Conn) string { return c.RemoteAddr().String() + "|" + c.LocalAddr().String() }

// admit takes a slot for a new connection c from ip, tracked under key,
// or says which limit is reached.
func (cs *conns) admit(ip netip.Addr, c net.Conn, key string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch {
	case cs.max > 0 && cs.total >= cs.max:
		return "total"
	case cs.perIP > 0 && cs.byIP[ip] >= cs.perIP:
		return "per-ip"
	}
	cs.total++
	cs.byIP[ip]++
	cs.open[key] = &connState{conn: c}
	return ""
}

func (cs *conns) release(ip netip.Addr, key string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.total--
	if n := cs.byIP[ip] - 1; n > 0 {
		cs.byIP[ip] = n
	} else {
		delete(cs.byIP, ip)
	}
	delete(cs.open, key)
}

// state returns the tracked state of c (nil if unknown).
func (cs *conns) state(c net.Conn) *connState {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.open[connKey(c)]
}

// closeIdle closes the connections that are not in a transaction (all of
// them with all set) and returns how many stay open.
func (cs *conns) closeIdle(all bool) int {
	cs.mu.Lock()
	var victims []net.Conn
	for _, st := range cs.open {
		if all || !st.busy.Load() {
			victims = append(victims, st.conn)
		}
	}
	left := len(cs.open)
	cs.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
	return left
}

// count returns the number of open connections.
func (cs *conns) count() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.open)
}

// limitListener enforces the connection limits. A connection over a limit
// gets "421 4.7.0" and is closed at once, without reaching the SMTP server;
// the listener goes on accepting.
type limitListener struct {
	net.Listener
	conns    *conns
	hostname string
	log      *slog.Logger
	metrics  Metrics
	kind     string
}

func newLimitListener(l net.Listener, cs *conns, hostname string, log *slog.Logger, m Metrics, kind string) *limitListener {
	return &limitListener{Listener: l, conns: cs, hostname: hostname, log: log, metrics: m, kind: kind}
}

// Accept returns the next connection within the limits.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, key := remoteIP(c), connKey(c)
		over := l.conns.admit(ip, c, key)
		if over == "" {
			l.metrics.ConnOpened(l.kind)
			return &limitedConn{Conn: c, l: l, ip: ip, key: key}, nil
		}
		l.metrics.ConnRefused(l.kind, over)
		l.log.Warn("connection refused: limit reached", "ip", ip.String(), "limit", over)
		go l.refuse(c, over)
	}
}

func (l *limitListener) refuse(c net.Conn, which string) {
	msg := "421 4.7.0 " + l.hostname + " Too many connections, try again later\r\n"
	if which == "per-ip" {
		msg = "421 4.7.0 " + l.hostname + " Too many connections from your address, try again later\r\n"
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte(msg))
	_ = c.Close()
}

// limitedConn gives its slot back when closed (once).
type limitedConn struct {
	net.Conn
	l    *limitListener
	ip   netip.Addr
	key  string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.metrics.ConnClosed(c.l.kind)
		c.l.conns.release(c.ip, c.key)
	})
	return err
}

// remoteIP returns the client address of c (the zero Addr if unknown).
func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
