package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/moatmail/moat/store"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("imap: server closed")

// Options configure a Server.
type Options struct {
	// Store holds the users and their mail.
	Store *store.Store
	// TLS enables STARTTLS and implicit-TLS listeners; nil disables both.
	TLS *tls.Config
	// Log receives connection and error events; nothing is logged when nil.
	Log *slog.Logger
	// Guard throttles failed logins; nil means no throttling.
	Guard LoginGuard
	// Hostname names this server in its goodbye message and logs.
	Hostname string
	// CacheBytes bounds the cache of parsed envelopes and body structures
	// shared by all sessions: 0 means 32 MiB, a negative value turns the
	// cache off.
	CacheBytes int64
}

// ListenerOptions configure one listener passed to Serve.
type ListenerOptions struct {
	// ImplicitTLS wraps the listener in TLS (port 993 style); Options.TLS
	// must be set.
	ImplicitTLS bool
	// AllowPlaintext allows LOGIN and AUTHENTICATE PLAIN without TLS on a
	// non-loopback address. Loopback addresses always allow them.
	AllowPlaintext bool
}

// Server serves moat's store over IMAP4rev1 and IMAP4rev2.
type Server struct {
	o      Options
	log    *slog.Logger
	cache  *parsedCache
	ctx    context.Context // store calls; cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[*listenerState]struct{}
	sessions  map[*session]struct{}
	live      sync.WaitGroup // one per session in sessions
}

// listenerState is one Serve call: its listener and the two go-imap servers
// connections are handed to (one allows plaintext logins, one does not).
type listenerState struct {
	l               net.Listener
	plain, secure   *imapserver.Server
	plainL, secureL *chanListener
	done            chan struct{} // closed when Serve has returned
}

// NewServer returns a Server; call Serve for each listener.
func NewServer(o Options) *Server {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cacheBytes := o.CacheBytes
	switch {
	case cacheBytes == 0:
		cacheBytes = defaultCacheBytes
	case cacheBytes < 0:
		cacheBytes = 0
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		o:         o,
		log:       log,
		cache:     newParsedCache(cacheBytes),
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[*listenerState]struct{}),
		sessions:  make(map[*session]struct{}),
	}
}

// capabilities are what the sessions implement; imapserver adds IDLE,
// ENABLE, UNSELECT, SASL-IR, LITERAL-, STARTTLS and AUTH=PLAIN or
// LOGINDISABLED as the connection's state warrants.
func capabilities() imap.CapSet {
	return imap.CapSet{
		imap.CapIMAP4rev1:      {},
		imap.CapIMAP4rev2:      {},
		imap.CapNamespace:      {},
		imap.CapUIDPlus:        {},
		imap.CapESearch:        {},
		imap.CapSearchRes:      {},
		imap.CapListExtended:   {},
		imap.CapListStatus:     {},
		imap.CapMove:           {},
		imap.CapStatusSize:     {},
		imap.CapBinary:         {},
		imap.CapChildren:       {},
		imap.CapSpecialUse:     {},
		imap.CapLiteralPlus:    {},
		imap.CapUnauthenticate: {},
	}
}

func (s *Server) newIMAPServer(insecureAuth bool) *imapserver.Server {
	return imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         capabilities(),
		Logger:       logAdapter{s.log},
		TLSConfig:    s.o.TLS,
		InsecureAuth: insecureAuth,
	})
}

// plaintextAllowed says whether a connection accepted on local may log in
// before TLS: always on loopback (and Unix sockets), elsewhere only when
// the listener allows it.
func plaintextAllowed(local net.Addr, allow bool) bool {
	if allow {
		return true
	}
	switch a := local.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	case nil:
		return false
	}
	ap, err := netip.ParseAddrPort(local.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// addrIP returns the IP address of a connection's address, or the zero
// Addr.
func addrIP(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Serve accepts IMAP connections on l until l fails or Shutdown is called;
// after Shutdown it returns nil.
func (s *Server) Serve(l net.Listener, lo ListenerOptions) error {
	if lo.ImplicitTLS {
		if s.o.TLS == nil {
			return errors.New("imap: implicit TLS listener without a TLS configuration")
		}
		l = tls.NewListener(l, s.o.TLS)
	}
	ls := &listenerState{
		l:       l,
		plain:   s.newIMAPServer(true),
		secure:  s.newIMAPServer(false),
		plainL:  newChanListener(l.Addr()),
		secureL: newChanListener(l.Addr()),
		done:    make(chan struct{}),
	}

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.listeners[ls] = struct{}{}
	s.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { _ = ls.plain.Serve(ls.plainL) })
	wg.Go(func() { _ = ls.secure.Serve(ls.secureL) })
	defer func() {
		// Stop handing out connections; those already served go on until
		// they end or Shutdown closes them.
		_ = ls.plainL.Close()
		_ = ls.secureL.Close()
		wg.Wait()
		close(ls.done)
	}()

	s.log.Info("imap: listening", "addr", l.Addr().String(), "implicit_tls", lo.ImplicitTLS, "allow_plaintext", lo.AllowPlaintext)
	var delay time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			if retryableAccept(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("imap: accept failed; retrying", "addr", l.Addr().String(), "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("imap: accept on %s: %w", l.Addr(), err)
		}
		delay = 0
		target := ls.secureL
		if plaintextAllowed(conn.LocalAddr(), lo.AllowPlaintext) {
			target = ls.plainL
		}
		if !target.deliver(conn) {
			_ = conn.Close()
		}
	}
}

// retryableAccept reports accept errors that pass (timeouts, running out
// of file descriptors or buffers, a connection aborted before accept).
func retryableAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting connections, says BYE to every session, and
// waits for them to end. When ctx expires first it closes the remaining
// connections, cancels their store calls and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	listeners := make([]*listenerState, 0, len(s.listeners))
	for ls := range s.listeners {
		listeners = append(listeners, ls)
	}
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()

	for _, ls := range listeners {
		_ = ls.l.Close()
	}
	bye := "Server shutting down"
	if s.o.Hostname != "" {
		bye = s.o.Hostname + " shutting down"
	}
	for _, sess := range sessions {
		go func() { _ = sess.conn.Bye(bye) }()
	}

	done := make(chan struct{})
	go func() {
		s.live.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("imap: shutdown: %w", ctx.Err())
	}
	s.cancel()
	for _, ls := range listeners {
		// Once Serve has returned (it does as soon as its listener is
		// closed), Close cannot race with imapserver's Serve; it closes
		// the connections left, including those that never got a session.
		<-ls.done
		_ = ls.plain.Close()
		_ = ls.secure.Close()
	}
	return err
}

func (s *Server) newSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	nc := conn.NetConn()
	sess := &session{
		srv:  s,
		conn: conn,
		ip:   addrIP(nc.RemoteAddr()),
		log:  s.log.With("remote", nc.RemoteAddr().String()),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	s.sessions[sess] = struct{}{}
	s.live.Add(1)
	return sess, nil, nil
}

func (s *Server) endSession(sess *session) {
	s.mu.Lock()
	_, ok := s.sessions[sess]
	delete(s.sessions, sess)
	s.mu.Unlock()
	if ok {
		s.live.Done()
	}
}

// chanListener hands connections accepted by Serve to an imapserver.Server.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept implements net.Listener.
func (c *chanListener) Accept() (net.Conn, error) {
	select {
	case conn := <-c.conns:
		return conn, nil
	case <-c.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (c *chanListener) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// Addr implements net.Listener.
func (c *chanListener) Addr() net.Addr { return c.addr }

func (c *chanListener) deliver(conn net.Conn) bool {
	select {
	case c.conns <- conn:
		return true
	case <-c.done:
		return false
	}
}

// logAdapter sends imapserver's messages (mostly clients that went away)
// to slog.
type logAdapter struct{ log *slog.Logger }

// Printf implements imapserver.Logger.
func (a logAdapter) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(msg, "panic") {
		a.log.Error("imap: " + msg)
		return
	}
	a.log.Debug("imap: " + msg)
}
