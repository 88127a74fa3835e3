package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/bayes"
	"github.com/moatmail/moat/filter/greylist"
	"github.com/moatmail/moat/filter/msgauth"
	"github.com/moatmail/moat/policies"
)

// LocalDeliverer stores accepted mail for deliver: local domains. Deliver
// must return nil only once the message is durable on disk.
type LocalDeliverer interface {
	Deliver(ctx context.Context, rcpt string, junk bool, msg io.Reader) error
}

// Options are a Server's dependencies.
type Options struct {
	// Config is the loaded configuration (listeners, limits, domains, TLS,
	// hostname, data_dir).
	Config *policies.Config
	// Pipeline runs the checks.
	Pipeline *filter.Pipeline
	// Policy is the live policy; reload swaps it.
	Policy *policies.Live
	// Local stores mail for deliver: local domains.
	Local LocalDeliverer
	// Greylist, when not nil, is the greylisting the front end answers for:
	// 451 4.7.1 per recipient at RCPT (mode always; the greylist check must
	// also be in the pipeline) or after DATA for a greylist verdict (mode
	// score).
	Greylist *greylist.Greylist
	// Bayes, when not nil, autolearns from verdicts (bayes.autolearn; a
	// no-op unless thresholds are set). Its check is in the pipeline.
	Bayes *bayes.Bayes
	// Auth, when not nil, is sender authentication: moat writes its
	// Authentication-Results and removes forged ones with its authserv-id.
	Auth *msgauth.Auth
	// Signer, when not nil, DKIM-signs mail from trusted networks and
	// authenticated senders.
	Signer *msgauth.Signer
	// Log receives one line per transaction and the errors.
	Log *slog.Logger
	// TLS, when not nil, enables STARTTLS (and is required by the
	// submission listeners). Its GetCertificate may swap certificates.
	TLS *tls.Config
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// Users, when not nil, enables SMTP AUTH (PLAIN, LOGIN; over TLS or on
	// loopback/allow_plaintext listeners) and makes recipients of local
	// domains unknown to it get 550 5.1.1.
	Users Users
	// Guard, when not nil, throttles failed AUTH attempts.
	Guard LoginGuard
	// Limiter, when not nil, applies the ratelimit rules.
	Limiter Limiter
	// Queue, when not nil, takes mail for relayed domains in mode: queue
	// and mail authenticated users send to other domains. Without it every
	// relayed domain is relayed before-queue (mode: proxy).
	Queue Enqueuer
	// Verifier, when not nil, verifies recipients of domains with
	// verify_recipients: true.
	Verifier Verifier
	// Metrics, when not nil, counts connections and transactions.
	Metrics Metrics
	// Wrap, when not nil, wraps each listener before use (the PROXY
	// protocol for listeners that ask for it).
	Wrap func(l net.Listener, opts policies.Listener) (net.Listener, error)
}

// Listener kinds.
const (
	kindMX          = "smtp"
	kindSubmission  = "submission"
	kindSubmissions = "submissions"
)

// boundListener is an open listener and what it is for.
type boundListener struct {
	net.Listener
	kind string
	opts policies.Listener
}

// Server is the SMTP front end.
type Server struct {
	cfg      *policies.Config
	pipeline *filter.Pipeline
	policy   *policies.Live
	local    LocalDeliverer
	greylist *greylist.Greylist
	bayes    *bayes.Bayes
	auth     *msgauth.Auth
	signer   *msgauth.Signer
	log      *slog.Logger
	tls      *tls.Config
	users    Users
	guard    LoginGuard
	limiter  Limiter
	queue    Enqueuer
	verifier Verifier
	metrics  Metrics
	wrap     func(net.Listener, policies.Listener) (net.Listener, error)
	now      func() time.Time
	ids      *idGen
	pool     *pool
	bufs     buffers
	spoolDir string

	ctx    context.Context // cancelled by Shutdown: aborts checks and relays
	cancel context.CancelFunc

	conns    *conns      // open connections of every listener, for limits and shutdown
	stopping atomic.Bool // Shutdown has begun: no new transactions

	mu        sync.Mutex
	listeners []boundListener
	servers   []*smtp.Server
	serving   sync.WaitGroup
}

// NewServer returns a server configured from opts. Call Listen, then Serve.
func NewServer(opts Options) (*Server, error) {
	cfg := opts.Config
	if cfg == nil || opts.Pipeline == nil || opts.Policy == nil || opts.Log == nil {
		return nil, errors.New("relay: Config, Pipeline, Policy and Log are required")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	spoolDir := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(spoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: spool directory: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		pipeline: opts.Pipeline,
		policy:   opts.Policy,
		local:    opts.Local,
		greylist: opts.Greylist,
		bayes:    opts.Bayes,
		auth:     opts.Auth,
		signer:   opts.Signer,
		log:      opts.Log,
		tls:      opts.TLS,
		users:    opts.Users,
		guard:    opts.Guard,
		limiter:  opts.Limiter,
		queue:    opts.Queue,
		verifier: opts.Verifier,
		metrics:  opts.Metrics,
		wrap:     opts.Wrap,
		now:      now,
		ids:      newIDGen(),
		pool:     newPool(cfg.Hostname, cfg.Limits.RelayTimeout.D(), now),
		spoolDir: spoolDir,
		conns:    newConns(cfg.Limits.Connections, cfg.Limits.ConnectionsPerIP),
		ctx:      ctx,
		cancel:   cancel,
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	return s, nil
}

// newSMTPServer returns the go-smtp server of one listener; l is the
// listener as served (after wrapping), whose address decides whether
// passwords may go in clear (loopback).
func (s *Server) newSMTPServer(bl boundListener, l net.Listener) *smtp.Server {
	cfg := s.cfg
	srv := smtp.NewServer(backend{s: s, kind: bl.kind, opts: bl.opts})
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.Limits.MessageSize
	srv.MaxRecipients = cfg.Limits.Recipients
	srv.MaxLineLength = cfg.Limits.LineLength
	srv.ReadTimeout = cfg.Limits.CommandTimeout.D()
	srv.WriteTimeout = cfg.Limits.CommandTimeout.D()
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true            // RET, ENVID, NOTIFY and ORCPT go with queued mail
	if bl.kind != kindSubmissions { // implicit TLS: the listener does it
		srv.TLSConfig = s.tls
	}
	srv.AllowInsecureAuth = bl.opts.AllowPlaintext || (!bl.opts.ProxyProtocol && isLoopbackListener(l))
	srv.ErrorLog = slogErrorLog{s.log}
	return srv
}

// backend makes the sessions of one listener.
type backend struct {
	s    *Server
	kind string
	opts policies.Listener
}

// NewSession is called by go-smtp at the client's first HELO/EHLO.
func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return b.s.newSession(c, b.kind, b.opts)
}

// Listen opens the configured SMTP listeners: listen.smtp, and
// listen.submission and listen.submissions (which need TLS). It fails if
// any address cannot be bound.
func (s *Server) Listen() error {
	l := s.cfg.Listen
	if len(l.SMTP)+len(l.Submission)+len(l.Submissions) == 0 {
		return errors.New("no SMTP listener: set listen.smtp (for example [\"127.0.0.1:2525\"])")
	}
	if s.tls == nil && len(l.Submission)+len(l.Submissions) > 0 {
		return errors.New("listen.submission and listen.submissions need TLS: set tls.cert and tls.key (or tls.self_signed)")
	}
	for _, group := range []struct {
		kind string
		ls   []policies.Listener
	}{{kindMX, l.SMTP}, {kindSubmission, l.Submission}, {kindSubmissions, l.Submissions}} {
		for _, lo := range group.ls {
			nl, err := net.Listen("tcp", lo.Address)
			if err != nil {
				s.closeListeners()
				return fmt.Errorf("listen %s %s: %w", group.kind, lo.Address, err)
			}
			s.mu.Lock()
			s.listeners = append(s.listeners, boundListener{Listener: nl, kind: group.kind, opts: lo})
			s.mu.Unlock()
		}
	}
	return nil
}

// isLoopbackListener reports whether l listens on a loopback address only.
func isLoopbackListener(l net.Listener) bool {
	ap, err := netip.ParseAddrPort(l.Addr().String())
	return err == nil && ap.Addr().IsLoopback()
}

// Addrs returns the addresses the server listens on (useful with port 0).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.Addr()
	}
	return out
}

// ListenerAddrs returns the addresses of the listeners of one kind
// ("smtp", "submission", "submissions").
func (s *Server) ListenerAddrs(kind string) []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, l := range s.listeners {
		if l.kind == kind {
			out = append(out, l.Addr())
		}
	}
	return out
}

// Serve accepts connections on every listener until Shutdown. It returns
// nil after a Shutdown.
func (s *Server) Serve() error {
	s.mu.Lock()
	ls := s.listeners
	s.mu.Unlock()
	if len(ls) == 0 {
		return errors.New("relay: no listeners (call Listen first)")
	}
	errc := make(chan error, len(ls))
	for _, bl := range ls {
		var l net.Listener = bl.Listener
		if s.wrap != nil {
			w, err := s.wrap(l, bl.opts)
			if err != nil {
				s.closeListeners()
				return fmt.Errorf("listen %s %s: %w", bl.kind, bl.opts.Address, err)
			}
			l = w
		}
		l = newLimitListener(l, s.conns, s.cfg.Hostname, s.log, s.metrics, bl.kind)
		if bl.kind == kindSubmissions {
			l = tls.NewListener(l, s.tls)
		}
		srv := s.newSMTPServer(bl, l)
		s.mu.Lock()
		s.servers = append(s.servers, srv)
		s.mu.Unlock()
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			err := srv.Serve(l)
			if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	var first error
	for range ls {
		if err := <-errc; err != nil && first == nil {
			first = err
			s.closeListeners()
		}
	}
	return first
}

// Shutdown stops accepting connections and waits, until ctx ends, for the
// sessions in progress to finish; then it closes them and the downstream
// connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var err error
	var emu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := srv.Shutdown(ctx)
			if e != nil && !errors.Is(e, smtp.ErrServerClosed) {
				emu.Lock()
				err = errors.Join(err, e)
				emu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	// Connections between transactions are closed at once (a client that
	// keeps one open idle would hold the shutdown for the command
	// timeout); those in a transaction finish it (MAIL after this gets
	// 421) until ctx ends, when every connection is closed.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		s.conns.closeIdle(false)
		select {
		case <-done:
			break wait
		case <-ctx.Done():
			s.conns.closeIdle(true)
			<-done
			break wait
		case <-tick.C:
		}
	}
	// Sessions end once their connection is closed: wait (bounded) for
	// them to let go of the store and the queue.
	for deadline := time.Now().Add(5 * time.Second); s.conns.count() > 0 && time.Now().Before(deadline); {
		s.conns.closeIdle(true)
		time.Sleep(20 * time.Millisecond)
	}
	s.cancel()
	s.closeListeners()
	s.serving.Wait()
	s.pool.close()
	return err
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		l.Close()
	}
}

// slogErrorLog adapts slog to go-smtp's Logger.
type slogErrorLog struct{ l *slog.Logger }

func (e slogErrorLog) Printf(format string, v ...any) { e.log(fmt.Sprintf(format, v...)) }

func (e slogErrorLog) Println(v ...any) { e.log(fmt.Sprint(v...)) }

// log logs at debug level what is only a client going away (a reset
// connection, a port probe), at warn level anything else.
func (e slogErrorLog) log(msg string) {
	level := slog.LevelWarn
	for _, s := range []string{"connection reset by peer", "broken pipe", "use of closed network connection"} {
		if strings.Contains(msg, s) {
			level = slog.LevelDebug
		}
	}
	e.l.Log(context.Background(), level, "smtp: "+msg)
}

// dropField reports whether an incoming header field is one moat writes
// itself and so must not pass on: X-Spam-*, and Authentication-Results
// carrying moat's authserv-id (its hostname), whether or not moat checks
// authentication, so nobody can forge its verdict.
func (s *Server) dropField(f filter.Field) bool {
	return isOwnHeader(f.Name) || msgauth.IsOwnAuthResults(f, s.cfg.Hostname)
}
