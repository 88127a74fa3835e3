package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Limits on a misbehaving client.
const (
	// maxBadCommands is how many unknown, malformed or out-of-state
	// commands a session may send before it is closed.
	maxBadCommands = 10
	// maxLongLines is how many over-long lines a session may send before
	// it is closed.
	maxLongLines = 3
	// maxAuthFailures is how many failed logins a session may make before
	// it is closed.
	maxAuthFailures = 3
	// maxDiscard is how much of one over-long line is read and thrown
	// away before the session is closed instead.
	maxDiscard = 64 << 10
	// maxSASLLine is the longest AUTH continuation line, CRLF included.
	maxSASLLine = 2048
)

// Errors of reading a line.
var (
	// errLineTooLong: the line was over the limit and has been skipped.
	errLineTooLong = errors.New("line too long")
	// errEnd: the session must end; the client has been told why, or
	// the connection is gone.
	errEnd = errors.New("session ends")
)

// state is a POP3 session state (RFC 1939 section 3).
type state int

const (
	stateAuthorization state = iota
	stateTransaction
)

// session is one client connection.
type session struct {
	srv *Server
	lo  ListenerOptions
	log *slog.Logger
	ip  netip.Addr // the client's address, for the login guard

	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex // guards c, which STLS replaces
	c  net.Conn

	r           *bufio.Reader
	w           *bufio.Writer
	tls         bool
	interrupted atomic.Bool
	buf         []byte // scratch for reading messages

	state  state
	user   string // name given by USER, waiting for PASS
	login  string // the authenticated user, in the TRANSACTION state
	unlock func()
	drop   *maildrop

	bad, long, authFails int
}

// newSession prepares a session for c; run serves it.
func newSession(s *Server, c net.Conn, lo ListenerOptions) *session {
	id := s.nextID.Add(1)
	ss := &session{
		srv: s,
		lo:  lo,
		c:   c,
		ip:  addrIP(c.RemoteAddr()),
		log: s.log.With("proto", "pop3", "session", id, "remote", c.RemoteAddr().String()),
	}
	ss.ctx, ss.cancel = context.WithCancel(s.base)
	ss.setConn(c)
	return ss
}

// setConn makes c the session's connection, with fresh buffers: after
// STLS nothing the client sent in clear text may be read as a command.
func (ss *session) setConn(c net.Conn) {
	ss.mu.Lock()
	ss.c = c
	ss.mu.Unlock()
	dc := deadlineConn{Conn: c, s: ss.srv}
	ss.r = bufio.NewReaderSize(dc, 4096)
	ss.w = bufio.NewWriterSize(dc, 32<<10)
}

// conn returns the session's current connection.
func (ss *session) conn() net.Conn {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.c
}

// interrupt makes the session end at its next read (Shutdown).
func (ss *session) interrupt() {
	ss.interrupted.Store(true)
	ss.conn().SetReadDeadline(time.Unix(1, 0))
}

// run serves the session until it ends, then releases everything.
func (ss *session) run() {
	start := ss.srv.now()
	defer func() {
		if p := recover(); p != nil {
			ss.log.Error("pop3: session panic", "panic", fmt.Sprint(p))
		}
		ss.release()
		ss.conn().Close()
		ss.cancel()
		ss.log.Debug("pop3: session ended", "user", ss.login, "duration", ss.srv.now().Sub(start))
	}()
	if ss.lo.ImplicitTLS {
		if err := ss.handshake(); err != nil {
			ss.log.Info("pop3: TLS handshake failed", "err", err)
			return
		}
	}
	ss.log.Debug("pop3: connected", "tls", ss.tls)
	ss.ok("%s POP3 server ready", ss.srv.o.Hostname)
	for {
		line, err := ss.readLine(maxCommandLine)
		if errors.Is(err, errLineTooLong) {
			ss.long++
			if ss.long >= maxLongLines {
				ss.fail("command line too long; closing connection")
				ss.flush()
				return
			}
			ss.fail("command line too long (limit %d octets)", maxCommandLine)
			continue
		}
		if err != nil {
			return
		}
		if ss.command(line) {
			ss.flush()
			return
		}
		if ss.bad >= maxBadCommands {
			ss.fail("too many bad commands; closing connection")
			ss.flush()
			return
		}
	}
}

// release gives up the maildrop without deleting anything.
func (ss *session) release() {
	if ss.unlock != nil {
		ss.unlock()
		ss.unlock = nil
	}
	ss.drop = nil
}

// handshake runs the server side of a TLS handshake on the connection and
// switches the session to it.
func (ss *session) handshake() error {
	tc := tls.Server(ss.conn(), ss.srv.o.TLS)
	ctx, cancel := context.WithTimeout(ss.ctx, ss.srv.idle)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("pop3: TLS handshake: %w", err)
	}
	ss.setConn(tc)
	ss.tls = true
	return nil
}

// readLine reads one line of at most limit octets, CRLF included, flushing
// pending replies first when no more input is buffered (so pipelined
// commands are answered in one write). It returns errLineTooLong for a line
// over the limit, which it skips, and errEnd when the session must end:
// the client left, went idle, or the server is shutting down.
func (ss *session) readLine(limit int) ([]byte, error) {
	if ss.r.Buffered() == 0 && !ss.flush() {
		return nil, errEnd
	}
	ss.conn().SetReadDeadline(time.Now().Add(ss.srv.idle))
	if ss.interrupted.Load() {
		return nil, ss.readFailed(os.ErrDeadlineExceeded)
	}
	line, err := ss.r.ReadSlice('\n')
	if err == nil {
		if len(line) > limit {
			return nil, errLineTooLong
		}
		return line, nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, ss.readFailed(err)
	}
	// Skip the rest of the over-long line, up to a point.
	for skipped := len(line); ; {
		line, err = ss.r.ReadSlice('\n')
		skipped += len(line)
		switch {
		case err != nil && !errors.Is(err, bufio.ErrBufferFull):
			return nil, ss.readFailed(err)
		case skipped > maxDiscard:
			ss.fail("command line too long; closing connection")
			ss.flush()
			return nil, errEnd
		case err == nil:
			return nil, errLineTooLong
		}
	}
}

// readFailed says goodbye after a failed read where that makes sense, and
// returns errEnd.
func (ss *session) readFailed(err error) error {
	switch {
	case ss.interrupted.Load():
		ss.fail("[SYS/TEMP] server shutting down; closing connection")
		ss.flush()
	case errors.Is(err, os.ErrDeadlineExceeded):
		ss.log.Info("pop3: idle timeout", "user", ss.login)
		ss.fail("idle for too long; closing connection")
		ss.flush()
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		ss.log.Info("pop3: read failed", "err", err)
	}
	return errEnd
}

// ok queues a positive reply.
func (ss *session) ok(format string, args ...any) {
	if format == "" {
		ss.w.WriteString("+OK\r\n")
		return
	}
	ss.w.WriteString("+OK ")
	fmt.Fprintf(ss.w, format, args...)
	ss.w.WriteString("\r\n")
}

// fail queues a negative reply.
func (ss *session) fail(format string, args ...any) {
	ss.w.WriteString("-ERR ")
	fmt.Fprintf(ss.w, format, args...)
	ss.w.WriteString("\r\n")
}

// badCommand queues a negative reply and counts it as a bad command.
func (ss *session) badCommand(format string, args ...any) {
	ss.bad++
	ss.fail(format, args...)
}

// flush sends the queued replies; it reports whether that worked.
func (ss *session) flush() bool {
	if err := ss.w.Flush(); err != nil {
		ss.log.Debug("pop3: write failed", "err", err)
		return false
	}
	return true
}

// deadlineConn sets a write deadline of one idle timeout before each
// write, so a client that stops reading cannot hold a session forever.
// Deadlines are wall-clock time, whatever Options.Now says.
type deadlineConn struct {
	net.Conn
	s *Server
}

// Write writes p under a fresh deadline.
func (d deadlineConn) Write(p []byte) (int, error) {
	d.Conn.SetWriteDeadline(time.Now().Add(d.s.idle))
	return d.Conn.Write(p)
}

// addrIP returns the IP address of a, or the zero Addr.
func addrIP(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// isLoopback reports whether a is a loopback address (127.0.0.0/8, ::1,
// or an IPv4-mapped loopback address).
func isLoopback(a net.Addr) bool {
	return addrIP(a).IsLoopback()
}

// plaintextAllowed reports whether a password may be sent on a connection
// whose local end is local: on a loopback address, under TLS, or when the
// listener allows it.
func plaintextAllowed(local net.Addr, tlsActive, allow bool) bool {
	return tlsActive || allow || isLoopback(local)
}
