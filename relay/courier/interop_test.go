package courier

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// goSMTPBackend is a go-smtp server backend that records messages and
// refuses recipients named "nobody", and, over LMTP, answers 452 for
// recipients named "full".
type goSMTPBackend struct {
	mu   sync.Mutex
	msgs []goSMTPMsg
}

type goSMTPMsg struct {
	from  string
	rcpts []string
	data  []byte
}

func (b *goSMTPBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &goSMTPSession{b: b}, nil
}

type goSMTPSession struct {
	b   *goSMTPBackend
	msg goSMTPMsg
}

func (s *goSMTPSession) Reset()        { s.msg = goSMTPMsg{} }
func (s *goSMTPSession) Logout() error { return nil }
func (s *goSMTPSession) Mail(from string, _ *smtp.MailOptions) error {
	s.msg.from = from
	return nil
}

func (s *goSMTPSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "nobody@example.org" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.msg.rcpts = append(s.msg.rcpts, to)
	return nil
}

func (s *goSMTPSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = data
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.msg)
	s.b.mu.Unlock()
	return nil
}

func (s *goSMTPSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if err := s.Data(r); err != nil {
		return err
	}
	for _, rc := range s.msg.rcpts {
		var err error
		if rc == "full@example.org" {
			err = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "over quota"}
		}
		status.SetStatus(rc, err)
	}
	return nil
}

// TestInteropGoSMTP delivers to go-smtp's server, SMTP and LMTP, as a
// check of the client against an implementation not written here.
func TestInteropGoSMTP(t *testing.T) {
	t.Parallel()
	msg := crlf(readFixture(t, "ham-00060.eml"))
	for _, lmtp := range []bool{false, true} {
		t.Run(map[bool]string{false: "smtp", true: "lmtp"}[lmtp], func(t *testing.T) {
			t.Parallel()
			be := &goSMTPBackend{}
			s := smtp.NewServer(be)
			s.Domain = "gosmtp.test"
			s.LMTP = lmtp
			s.EnableSMTPUTF8 = true
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(ln) }()
			t.Cleanup(func() {
				s.Close()
				if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
					t.Error(err)
				}
			})
			port := ln.Addr().(*net.TCPAddr).Port
			c := newCourier(t, routes{"example.org": {Host: "127.0.0.1", Port: port, LMTP: lmtp}}, nil)
			rcpts := []string{"a@example.org", "nobody@example.org", "full@example.org"}
			for range 3 {
				res, err := deliver(t, c, "s@example.net", rcpts, msg)
				if err != nil {
					t.Fatal(err)
				}
				want := []int{250, 550, 250}
				if lmtp {
					want[2] = 452
				}
				if !slices.Equal(codes(res), want) {
					t.Fatalf("codes = %v, want %v (%v)", codes(res), want, res)
				}
			}
			be.mu.Lock()
			defer be.mu.Unlock()
			if len(be.msgs) != 3 {
				t.Fatalf("server got %d messages, want 3", len(be.msgs))
			}
			for _, m := range be.msgs {
				if !bytes.Equal(m.data, msg) || !slices.Equal(m.rcpts, []string{"a@example.org", "full@example.org"}) {
					t.Errorf("server got %d bytes for %v, want %d bytes for a and full", len(m.data), m.rcpts, len(msg))
				}
			}
		})
	}
}
