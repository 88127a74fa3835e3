package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultIdleTimeout is how long a session may wait for the client's next
// command when Options.IdleTimeout is zero. RFC 1939 asks for at least 10
// minutes.
const DefaultIdleTimeout = 10 * time.Minute

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("pop3: server closed")

// Options configure a Server.
type Options struct {
	// Backend holds the users and their mail; *store.Store is one.
	Backend Backend
	// TLS, when not nil, enables STLS and implicit-TLS listeners.
	TLS *tls.Config
	// Log receives session events; slog.Default() when nil.
	Log *slog.Logger
	// Guard, when not nil, throttles failed logins.
	Guard LoginGuard
	// Hostname is named in the greeting; "localhost" when empty.
	Hostname string
	// IdleTimeout ends a session that sends no command for this long;
	// DefaultIdleTimeout when zero.
	IdleTimeout time.Duration
	// Now is the clock for session timing in logs; time.Now when nil.
	// Network deadlines (IdleTimeout) always follow the wall clock.
	Now func() time.Time
}

// ListenerOptions configure one listener given to Serve.
type ListenerOptions struct {
	// ImplicitTLS makes every connection start with a TLS handshake
	// (POP3S, port 995). It needs Options.TLS.
	ImplicitTLS bool
	// AllowPlaintext accepts USER/PASS and AUTH PLAIN without TLS even
	// when the listener is not on a loopback address.
	AllowPlaintext bool
}

// Server is a POP3 server. Create it with NewServer, give it listeners with
// Serve and stop it with Shutdown. It is safe for concurrent use.
type Server struct {
	o     Options
	log   *slog.Logger
	now   func() time.Time
	idle  time.Duration
	sizes *sizeCache

	// base is the parent of every session's context; cancel ends all
	// backend calls when Shutdown gives up waiting.
	base   context.Context
	cancel context.CancelFunc

	closing  atomic.Bool
	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	sessions map[*session]struct{}
	wg       sync.WaitGroup
	nextID   atomic.Uint64
}

// NewServer returns a server with the given options. o.Backend is
// required.
func NewServer(o Options) *Server {
	s := &Server{
		o:        o,
		log:      o.Log,
		now:      o.Now,
		idle:     o.IdleTimeout,
		sizes:    newSizeCache(),
		lns:      make(map[net.Listener]struct{}),
		sessions: make(map[*session]struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.idle <= 0 {
		s.idle = DefaultIdleTimeout
	}
	if s.o.Hostname == "" {
		s.o.Hostname = "localhost"
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections on l and serves each in its own goroutine
// until Shutdown, when it returns ErrServerClosed. It closes l when it
// returns.
func (s *Server) Serve(l net.Listener, lo ListenerOptions) error {
	if s.o.Backend == nil {
		l.Close()
		return errors.New("pop3: no backend")
	}
	if lo.ImplicitTLS && s.o.TLS == nil {
		l.Close()
		return errors.New("pop3: implicit TLS listener without a TLS configuration")
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.lns[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, l)
		s.mu.Unlock()
		l.Close()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("pop3: accept: %w", err)
			}
			// Out of file descriptors and the like: wait and retry
			// rather than spin or give up the listener.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("pop3: accept failed", "addr", l.Addr().String(), "err", err, "retry_in", backoff)
			if !s.pause(backoff) {
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		if !s.track(c, lo) {
			c.Close()
			return ErrServerClosed
		}
	}
}

// pause waits for d or until the server is shut down; it reports whether
// the server is still running.
func (s *Server) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return !s.closing.Load()
	case <-s.base.Done():
		return false
	}
}

// track registers a session for c and starts it; it reports false when the
// server is shutting down.
func (s *Server) track(c net.Conn, lo ListenerOptions) bool {
	ss := newSession(s, c, lo)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return false
	}
	s.sessions[ss] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.sessions, ss)
			s.mu.Unlock()
			s.wg.Done()
		}()
		ss.run()
	}()
	return true
}

// Shutdown stops accepting connections, tells every session that waits for
// a command that the server is going away (such sessions end without
// entering the UPDATE state, so they delete nothing), lets commands in
// progress finish, and waits for all sessions to end. If ctx ends first it
// cancels the sessions' store calls, closes their connections and returns
// ctx's error without waiting further.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.lns {
		l.Close()
	}
	for ss := range s.sessions {
		ss.interrupt()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for ss := range s.sessions {
		ss.conn().Close()
	}
	s.mu.Unlock()
	return fmt.Errorf("pop3: shutdown: %w", ctx.Err())
}
