package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/filter/greylist"
	"github.com/moatmail/moat/policies"
)

// sink is a downstream SMTP server for tests: it records what it receives
// and can be told to refuse recipients or data.
type sink struct {
	addr string
	srv  *smtp.Server

	mu       sync.Mutex
	msgs     []sunk
	sessions int
	rcptErr  map[string]*smtp.SMTPError // by recipient
	dataErr  *smtp.SMTPError
}

type sunk struct {
	from  string
	rcpts []string
	data  string
}

func newSink(t testing.TB) *sink {
	t.Helper()
	s := &sink{rcptErr: map[string]*smtp.SMTPError{}}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.EnableSMTPUTF8 = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	s.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	return &sinkSession{s: s}, nil
}

func (s *sink) received() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.msgs...)
}

func (s *sink) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

type sinkSession struct {
	s     *sink
	from  string
	rcpts []string
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	err := ss.s.rcptErr[to]
	ss.s.mu.Unlock()
	if err != nil {
		return err
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.dataErr != nil {
		return ss.s.dataErr
	}
	ss.s.msgs = append(ss.s.msgs, sunk{from: ss.from, rcpts: ss.rcpts, data: string(b)})
	return nil
}

func (ss *sinkSession) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *sinkSession) Logout() error { return nil }

// scoreCheck emits fixed symbols at one stage: the tests' way to drive the
// policy.
type scoreCheck struct {
	stage filter.Stage
	fn    func(t *filter.Txn) []filter.Symbol
}

func (c scoreCheck) Name() string           { return "test" }
func (c scoreCheck) Stages() []filter.Stage { return []filter.Stage{c.stage} }
func (c scoreCheck) Check(_ context.Context, t *filter.Txn, _ filter.Stage) ([]filter.Symbol, error) {
	return c.fn(t), nil
}

// memStore is a LocalDeliverer that keeps messages in memory.
type memStore struct {
	mu   sync.Mutex
	msgs map[string][]string // "rcpt" or "rcpt/Junk" → messages
	fail error
}

func (m *memStore) Deliver(_ context.Context, rcpt string, junk bool, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.msgs == nil {
		m.msgs = map[string][]string{}
	}
	key := rcpt
	if junk {
		key += "/Junk"
	}
	m.msgs[key] = append(m.msgs[key], string(b))
	return nil
}

func (m *memStore) get(key string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs[key]...)
}

// testServer is a running relay.Server with a sink and a memory store.
type testServer struct {
	addr  string
	srv   *Server
	sink  *sink
	store *memStore
	live  *policies.Live
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startServer starts a server on a random port: domain relay.test relays to
// a sink, local.test is delivered to a memory store. edit may change the
// configuration before the server starts.
func startServer(t testing.TB, checks []filter.Check, edit func(*policies.Config)) *testServer {
	t.Helper()
	return startServerWith(t, setup{checks: checks, edit: edit})
}

// startServerTLS is startServer with STARTTLS offered when tlsCfg is set.
func startServerTLS(t testing.TB, checks []filter.Check, edit func(*policies.Config), tlsCfg *tls.Config) *testServer {
	t.Helper()
	return startServerWith(t, setup{checks: checks, edit: edit, tls: tlsCfg})
}

// setup is what a test server is started with.
type setup struct {
	checks   []filter.Check
	edit     func(*policies.Config)
	tls      *tls.Config
	greylist *greylist.Greylist
	now      func() time.Time
	queue    Enqueuer
	users    Users
	limiter  Limiter
	local    LocalDeliverer // the memStore when nil
	wrap     func(net.Listener, policies.Listener) (net.Listener, error)
}

func startServerWith(t testing.TB, su setup) *testServer {
	t.Helper()
	checks, edit, tlsCfg := su.checks, su.edit, su.tls
	sk := newSink(t)
	cfg := policies.Default()
	cfg.DataDir = t.TempDir()
	cfg.Hostname = "mx.moat.test"
	cfg.Listen.SMTP = policies.Listeners("127.0.0.1:0")
	cfg.Domains = map[string]policies.Domain{
		"relay.test": {Deliver: policies.DeliverRelay, Relay: sk.addr},
		"local.test": {Deliver: policies.DeliverLocal},
	}
	cfg.Limits.RelayTimeout = policies.Duration(5 * time.Second)
	if edit != nil {
		edit(cfg)
	}
	pol, err := policies.NewPolicy(cfg.Policy)
	if err != nil {
		t.Fatal(err)
	}
	live := policies.NewLive(pol)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	st := &memStore{}
	var local LocalDeliverer = st
	if su.local != nil {
		local = su.local
	}
	srv, err := NewServer(Options{
		Config:   cfg,
		Pipeline: filter.NewPipeline(checks, time.Second, log),
		Policy:   live,
		Local:    local,
		Wrap:     su.wrap,
		Log:      log,
		TLS:      tlsCfg,
		Greylist: su.greylist,
		Now:      su.now,
		Queue:    su.queue,
		Users:    su.users,
		Limiter:  su.limiter,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testServer{addr: srv.Addrs()[0].String(), srv: srv, sink: sk, store: st, live: live, logs: logs}
}

// dialog is a raw SMTP client: it sends lines exactly as given and reads
// replies, so tests can send what well-behaved client libraries refuse to.
type dialog struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *dialog {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	d := &dialog{t: t, c: c, br: bufio.NewReader(c)}
	return d
}

// send writes s as is (the caller supplies line endings).
func (d *dialog) send(s string) {
	d.t.Helper()
	if _, err := io.WriteString(d.c, s); err != nil {
		d.t.Fatalf("send: %v", err)
	}
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (d *dialog) reply() string {
	d.t.Helper()
	for {
		line, err := d.br.ReadString('\n')
		if err != nil {
			d.t.Fatalf("reading reply: %v (got %q)", err, line)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

// expect reads a reply and fails unless it starts with prefix.
func (d *dialog) expect(prefix string) string {
	d.t.Helper()
	r := d.reply()
	if !strings.HasPrefix(r, prefix) {
		d.t.Fatalf("got reply %q, want prefix %q", r, prefix)
	}
	return r
}

// cmd sends one command line and checks the reply.
func (d *dialog) cmd(line, prefix string) string {
	d.t.Helper()
	d.send(line + "\r\n")
	return d.expect(prefix)
}

// ehlo sends EHLO and returns the whole multi-line reply.
func (d *dialog) ehlo() string {
	d.t.Helper()
	d.send("EHLO client.example\r\n")
	var b strings.Builder
	for {
		line, err := d.br.ReadString('\n')
		if err != nil {
			d.t.Fatal(err)
		}
		b.WriteString(line)
		if len(line) < 4 || line[3] == ' ' {
			return b.String()
		}
	}
}

// startData runs MAIL FROM:<a@sender.example>, RCPT TO:<rcpt> and DATA,
// expecting each to be accepted; the caller then sends the message.
func (d *dialog) startData(rcpt string) {
	d.t.Helper()
	d.cmd("MAIL FROM:<a@sender.example>", "250 ")
	d.cmd("RCPT TO:<"+rcpt+">", "250 ")
	d.cmd("DATA", "354 ")
}

// greet reads the greeting and sends EHLO.
func (d *dialog) greet() {
	d.t.Helper()
	d.expect("220 ")
	d.cmd("EHLO client.example", "250 ")
}

// message returns a well-formed test message with CRLF line endings.
func message(extraHeaders, body string) string {
	return "From: Alice <alice@sender.example>\r\n" +
		"To: bob@relay.test\r\n" +
		"Subject: test\r\n" +
		"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n" +
		"Message-ID: <1@sender.example>\r\n" +
		extraHeaders +
		"\r\n" + body
}

// sendVia sends one message with go-smtp's client and returns the error of
// the whole exchange.
func sendVia(addr, from string, rcpts []string, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, rcpts, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

func asSMTPError(t *testing.T, err error) *smtp.SMTPError {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("want an SMTP error, got %v", err)
	}
	return se
}

func codeOf(se *smtp.SMTPError) string {
	return fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
}
