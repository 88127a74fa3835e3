//go:build e2e

package main_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// sinkMsg is one message the sink accepted.
type sinkMsg struct {
	From  string
	Rcpts []string
	Data  []byte
}

// sink is the downstream MTA: a go-smtp server that records every RCPT it
// is offered and every message it accepts. Recipients in refuse get that
// reply instead of 250.
type sink struct {
	addr   string
	refuse map[string]*smtp.SMTPError

	mu   sync.Mutex
	seen []string // every RCPT TO offered, accepted or not
	msgs []sinkMsg
}

func startSink(t *testing.T, refuse map[string]*smtp.SMTPError) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{addr: ln.Addr().String(), refuse: refuse}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s}, nil
	}))
	srv.Domain = "sink.e2e.test"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 64 << 20
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return s
}

// messages returns a copy of what the sink accepted so far.
func (s *sink) messages() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

// offered returns every recipient moat offered the sink so far.
func (s *sink) offered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// to returns the messages that had rcpt among their recipients.
func (s *sink) to(rcpt string) []sinkMsg {
	var out []sinkMsg
	for _, m := range s.messages() {
		for _, r := range m.Rcpts {
			if strings.EqualFold(r, rcpt) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// envelope is the MAIL/RCPT state every test SMTP session keeps: it gives
// the session Reset, Logout and Mail.
type envelope struct {
	from  string
	rcpts []string
}

func (e *envelope) Reset()        { e.from, e.rcpts = "", nil }
func (e *envelope) Logout() error { return nil }

func (e *envelope) Mail(from string, _ *smtp.MailOptions) error {
	e.from = from
	return nil
}

type sinkSession struct {
	envelope
	sink *sink
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.sink.mu.Lock()
	ss.sink.seen = append(ss.sink.seen, to)
	ss.sink.mu.Unlock()
	if e, ok := ss.sink.refuse[strings.ToLower(to)]; ok {
		return e
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.mu.Lock()
	ss.sink.msgs = append(ss.sink.msgs, sinkMsg{From: ss.from, Rcpts: append([]string(nil), ss.rcpts...), Data: b})
	ss.sink.mu.Unlock()
	return nil
}
