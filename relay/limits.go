package relay

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// limitListener enforces the total and per-client-IP connection limits. A
// connection over a limit gets "421 4.7.0" and is closed at once, without
// reaching the SMTP server; the listener goes on accepting.
type limitListener struct {
	net.Listener
	max, perIP int
	hostname   string
	log        *slog.Logger
	metrics    Metrics
	kind       string

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

func newLimitListener(l net.Listener, max, perIP int, hostname string, log *slog.Logger, m Metrics, kind string) *limitListener {
	return &limitListener{Listener: l, max: max, perIP: perIP, hostname: hostname, log: log, metrics: m, kind: kind, byIP: make(map[netip.Addr]int)}
}

// Accept returns the next connection within the limits.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		over := ""
		switch {
		case l.max > 0 && l.total >= l.max:
			over = "total"
		case l.perIP > 0 && l.byIP[ip] >= l.perIP:
			over = "per-ip"
		default:
			l.total++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if over == "" {
			l.metrics.ConnOpened(l.kind)
			return &limitedConn{Conn: c, l: l, ip: ip}, nil
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

func (l *limitListener) release(ip netip.Addr) {
	l.metrics.ConnClosed(l.kind)
	l.mu.Lock()
	l.total--
	if n := l.byIP[ip] - 1; n > 0 {
		l.byIP[ip] = n
	} else {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
}

// limitedConn gives its slot back when closed (once).
type limitedConn struct {
	net.Conn
	l    *limitListener
	ip   netip.Addr
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
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
