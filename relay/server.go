package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	// TLS, when not nil, enables STARTTLS.
	TLS *tls.Config
	// Now is the clock; time.Now when nil.
	Now func() time.Time
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
	now      func() time.Time
	ids      *idGen
	pool     *pool
	bufs     buffers
	spoolDir string

	smtp *smtp.Server

	ctx    context.Context // cancelled by Shutdown: aborts checks and relays
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners []net.Listener
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
		now:      now,
		ids:      newIDGen(),
		pool:     newPool(cfg.Hostname, cfg.Limits.RelayTimeout.D(), now),
		spoolDir: spoolDir,
		ctx:      ctx,
		cancel:   cancel,
	}
	srv := smtp.NewServer(s)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.Limits.MessageSize
	srv.MaxRecipients = cfg.Limits.Recipients
	srv.MaxLineLength = cfg.Limits.LineLength
	srv.ReadTimeout = cfg.Limits.CommandTimeout.D()
	srv.WriteTimeout = cfg.Limits.CommandTimeout.D()
	srv.EnableSMTPUTF8 = true
	srv.TLSConfig = opts.TLS
	srv.ErrorLog = slogErrorLog{opts.Log}
	s.smtp = srv
	return s, nil
}

// Listen opens the configured SMTP listeners (listen.smtp). It fails if any
// address cannot be bound.
func (s *Server) Listen() error {
	if len(s.cfg.Listen.SMTP) == 0 {
		return errors.New("no SMTP listener: set listen.smtp (for example [\"127.0.0.1:2525\"])")
	}
	for _, addr := range s.cfg.Listen.SMTP {
		l, err := net.Listen("tcp", addr.Address)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listen smtp %s: %w", addr.Address, err)
		}
		s.mu.Lock()
		s.listeners = append(s.listeners, l)
		s.mu.Unlock()
	}
	return nil
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
	for _, l := range ls {
		ll := newLimitListener(l, s.cfg.Limits.Connections, s.cfg.Limits.ConnectionsPerIP, s.cfg.Hostname, s.log)
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			err := s.smtp.Serve(ll)
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
	err := s.smtp.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
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

// NewSession is called by go-smtp at the client's first HELO/EHLO.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return s.newSession(c), nil
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
