package pop3

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fuzzMessages are alice's messages in FuzzSession. No line of them starts
// with "+OK", "-ERR" or "+ ", so the checker can tell them from replies.
var fuzzMessages = []string{
	"From: a@example.test\nSubject: one\n\nbody\n.\n..two dots\n",
	"Subject: two\r\n\r\nno final newline",
	"",
	"Subject: crlf\r\n\r\n.\r\nend\r\n",
}

// FuzzSession feeds arbitrary bytes to a live session over net.Pipe and
// checks that the session never panics, and that every line it sends ends
// in CRLF and is a status line (+OK, -ERR, or a "+ " continuation) or part
// of a multi-line response closed by ".".
func FuzzSession(f *testing.F) {
	login := "USER " + alice + "\r\nPASS " + secret + "\r\n"
	for _, s := range []string{
		"CAPA\r\n",
		login + "STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 0\r\nDELE 1\r\nRSET\r\nQUIT\r\n",
		login + "RETR 2\r\nRETR 3\r\nTOP 4 1\r\nLIST 9\r\nDELE 1\r\nDELE 1\r\n",
		"AUTH PLAIN\r\n" + alice64 + "\r\nLIST\r\n",
		"AUTH PLAIN\r\n*\r\nAUTH\r\nSTLS\r\n",
		"USER\r\nPASS\r\n\r\n\x00\r\n" + strings.Repeat("x", 300) + "\n",
		login + "TOP 1 99999999999999999999\r\nUIDL 1\r\nNOOP\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		b := newAlice()
		for _, m := range fuzzMessages {
			b.deliver(alice, []byte(m))
		}
		logs := &panicLog{}
		srv := NewServer(Options{Backend: b, Log: slog.New(logs), IdleTimeout: time.Second})
		serverEnd, clientEnd := net.Pipe()
		done := make(chan struct{})
		ss := newSession(srv, serverEnd, ListenerOptions{AllowPlaintext: true})
		go func() {
			defer close(done)
			ss.run()
		}()
		go func() {
			// Whatever state the input leaves the session in, this
			// ends it: a line end, a SASL cancel, QUIT.
			if _, err := clientEnd.Write(input); err == nil {
				io.WriteString(clientEnd, "\r\n*\r\nQUIT\r\n")
			}
		}()
		err := checkReplies(bufio.NewReader(clientEnd))
		clientEnd.Close()
		<-done
		if p := logs.panics(); p != "" {
			t.Fatalf("session panicked: %s", p)
		}
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// checkReplies reads a session's output to its end and checks its shape.
func checkReplies(r *bufio.Reader) error {
	var afterOK, inBlock bool
	for {
		raw, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(raw) > 0 {
				return errors.New("output ends without a line end: " + string(raw))
			}
			if inBlock {
				return errors.New("multi-line response not terminated")
			}
			return nil
		}
		if err != nil {
			return err
		}
		line, ok := bytes.CutSuffix(raw, []byte("\r\n"))
		if !ok || bytes.ContainsAny(line, "\r\n") && !inBlock {
			return errors.New("line without CRLF: " + string(raw))
		}
		switch {
		case inBlock, afterOK && string(line) != "." && !isStatus(line):
			inBlock = true
			if string(line) == "." {
				inBlock, afterOK = false, false
			} else if len(line) > 0 && line[0] == '.' && (len(line) < 2 || line[1] != '.') {
				return errors.New("unstuffed dot line: " + string(raw))
			}
		case bytes.HasPrefix(line, []byte("+OK")):
			if len(raw) > 512 {
				return errors.New("status line over 512 octets")
			}
			afterOK = true
		case bytes.HasPrefix(line, []byte("-ERR")), bytes.HasPrefix(line, []byte("+ ")):
			if len(raw) > 512 {
				return errors.New("status line over 512 octets")
			}
			afterOK = false
		case afterOK && string(line) == ".":
			afterOK = false // an empty multi-line response
		default:
			return errors.New("unexpected line: " + string(raw))
		}
	}
}

// isStatus reports whether line starts like a status line.
func isStatus(line []byte) bool {
	return bytes.HasPrefix(line, []byte("+OK")) || bytes.HasPrefix(line, []byte("-ERR")) || bytes.HasPrefix(line, []byte("+ "))
}

// panicLog is a slog handler that remembers recovered session panics.
type panicLog struct {
	mu sync.Mutex
	p  []string
}

func (h *panicLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *panicLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "panic") {
		return nil
	}
	s := r.Message
	r.Attrs(func(a slog.Attr) bool {
		s += " " + a.String()
		return true
	})
	h.mu.Lock()
	h.p = append(h.p, s)
	h.mu.Unlock()
	return nil
}

func (h *panicLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicLog) WithGroup(string) slog.Handler      { return h }

func (h *panicLog) panics() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.p, "; ")
}

func TestCheckReplies(t *testing.T) {
	tests := []struct {
		name string
		out  string
		ok   bool
	}{
		{"status lines", "+OK hi\r\n-ERR no\r\n+ \r\n+OK bye\r\n", true},
		{"multi-line", "+OK 2 messages\r\n1 10\r\n\r\n..x\r\n.\r\n+OK\r\n", true},
		{"empty multi-line", "+OK\r\n.\r\n-ERR x\r\n", true},
		{"not terminated", "+OK\r\n1 10\r\n", false},
		{"stray line", "-ERR x\r\nhello\r\n", false},
		{"bare LF", "+OK hi\n", false},
		{"unstuffed dot", "+OK\r\n.x\r\n.\r\n", false},
		{"no line end", "+OK", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkReplies(bufio.NewReader(strings.NewReader(tt.out)))
			if (err == nil) != tt.ok {
				t.Errorf("checkReplies(%q) = %v, want ok=%v", tt.out, err, tt.ok)
			}
		})
	}
}
