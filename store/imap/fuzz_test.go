package imap

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/store"
)

// panicRecorder is a slog handler that remembers panics imapserver
// recovered from.
type panicRecorder struct {
	mu     sync.Mutex
	panics []string
}

func (p *panicRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicRecorder) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *panicRecorder) WithGroup(string) slog.Handler            { return p }
func (p *panicRecorder) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		p.mu.Lock()
		p.panics = append(p.panics, r.Message)
		p.mu.Unlock()
	}
	return nil
}

func (p *panicRecorder) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.panics
	p.panics = nil
	return out
}

// FuzzSession sends arbitrary commands to a logged-in session with a
// selected mailbox of real messages: the server must neither panic nor
// hang, and the store must stay readable.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"f FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[]<0.10>)\r\n",
		"f UID FETCH 1:* (BINARY.PEEK[1] BINARY.SIZE[1] RFC822.SIZE INTERNALDATE)\r\n",
		"f FETCH 5:2,* BODY[1.2.MIME]\r\n",
		"s SEARCH OR FROM bob NOT SEEN LARGER 10 SMALLER 100000 SINCE 1-Jan-2000 TEXT \"x\"\r\n",
		"s UID SEARCH RETURN (SAVE MIN MAX COUNT) UID 1:*\r\nf FETCH $ FLAGS\r\n",
		"s SEARCH CHARSET UTF-8 SUBJECT caf\xc3\xa9\r\n",
		"t STORE 1:* +FLAGS.SILENT (\\Deleted $Junk kw)\r\nx EXPUNGE\r\n",
		"t UID STORE 2 FLAGS ()\r\nx UID EXPUNGE 1:*\r\n",
		"c COPY 1:2 Junk\r\nm MOVE 1 Trash\r\nm UID MOVE 99 Nope\r\n",
		"a APPEND INBOX (\\Seen) {5+}\r\nhello\r\n",
		"a APPEND INBOX {99999}\r\nshort",
		"i IDLE\r\nDONE\r\nn NOOP\r\n",
		"l LIST \"\" *\r\nl LIST (SPECIAL-USE SUBSCRIBED) \"\" (\"%\" \"INBOX/*\") RETURN (STATUS (MESSAGES SIZE))\r\n",
		"c CREATE a/b/c\r\nr RENAME a/b/c d\r\nd DELETE d\r\nd DELETE INBOX\r\n",
		"e EXAMINE Junk\r\nt STORE 1 +FLAGS (\\Seen)\r\nc CLOSE\r\n",
		"u UNSELECT\r\nf FETCH 1 FLAGS\r\n",
		"f FETCH 4294967295 FLAGS\r\nf FETCH 0 FLAGS\r\n",
	} {
		f.Add([]byte(seed))
	}

	rec := &panicRecorder{}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	if err := st.AddUser(ctx, alice, password); err != nil {
		f.Fatal(err)
	}
	raw := []byte("From: a@example.test\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n--b--\r\n")
	srv := NewServer(Options{Store: st, Log: slog.New(rec)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go func() { _ = srv.Serve(l, ListenerOptions{}) }()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})

	f.Fuzz(func(t *testing.T, input []byte) {
		info, _, err := st.List(ctx, alice, "INBOX")
		if err != nil {
			t.Fatalf("store: %v", err)
		}
		for n := info.Messages; n < 3; n++ {
			if _, _, err := st.Append(ctx, alice, "INBOX", nil, time.Time{}, bytes.NewReader(raw)); err != nil {
				t.Fatal(err)
			}
		}
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		script := "a LOGIN " + alice + " " + password + "\r\nb SELECT INBOX\r\n" + string(input)
		if !bytes.HasSuffix(input, []byte("\n")) {
			script += "\r\n"
		}
		script += "z LOGOUT\r\n"
		go func() {
			_, _ = io.WriteString(conn, script)
			_ = conn.(*net.TCPConn).CloseWrite()
		}()
		if _, err := io.Copy(io.Discard, conn); err != nil {
			t.Fatalf("reading the answers: %v", err)
		}
		if p := rec.take(); len(p) > 0 {
			t.Fatalf("server panicked: %v", p)
		}
		if _, _, err := st.List(ctx, alice, "INBOX"); err != nil {
			t.Fatalf("store after the session: %v", err)
		}
	})
}
