package pop3

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/moatmail/moat/store"
)

// openStore opens a real store in a temporary directory with alice and
// the given messages delivered to her INBOX.
func openStore(t testing.TB, msgs [][]byte) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddUser(ctx, alice, secret); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := st.Deliver(ctx, alice, false, bytes.NewReader(m)); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// *store.Store is a Backend.
var _ Backend = (*store.Store)(nil)

func TestStoreMaildrop(t *testing.T) {
	msgs := corpus(t, corpusFiles...)
	msgs = append(msgs, []byte("Subject: no final newline\n\n.last line"))
	st := openStore(t, msgs)
	info, list, err := st.List(t.Context(), alice, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{Backend: st}, ListenerOptions{})
	checkMaildrop(t, ts.addr, msgs, func(i int) string { return fmt.Sprintf("%d.%d", info.UIDValidity, list[i].UID) })
}

func TestStoreDeletions(t *testing.T) {
	msgs := corpus(t, corpusFiles[:4]...)
	st := openStore(t, msgs)
	count := func() int {
		t.Helper()
		_, list, err := st.List(t.Context(), alice, store.Inbox)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}

	// DELE then a dropped connection: nothing goes.
	ts := startServer(t, Options{Backend: st}, ListenerOptions{})
	c := dial(t, ts.addr)
	c.login(alice, secret)
	c.ok("DELE 1")
	c.ok("DELE 2")
	// One session per maildrop.
	other := dial(t, ts.addr)
	other.ok("USER %s", alice)
	if r := other.cmd("PASS %s", secret); !strings.HasPrefix(r, "-ERR [IN-USE] ") {
		t.Errorf("second session: %q", r)
	}
	c.conn.Close()
	if err := ts.srv.Shutdown(t.Context()); err != nil { // waits for the session to end
		t.Fatal(err)
	}
	if n := count(); n != 4 {
		t.Fatalf("after DELE and a dropped connection the INBOX has %d messages, want 4", n)
	}

	// DELE, RSET, DELE, QUIT: exactly the marked one goes.
	ts = startServer(t, Options{Backend: st}, ListenerOptions{})
	c = dial(t, ts.addr)
	c.login(alice, secret)
	c.ok("DELE 1")
	c.ok("RSET")
	c.ok("DELE 2")
	c.ok("DELE 4")
	if r := c.ok("QUIT"); !strings.Contains(r, "(2 messages left)") {
		t.Errorf("QUIT: %q", r)
	}
	_, list, err := st.List(t.Context(), alice, store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("INBOX has %d messages, want 2", len(list))
	}
	for i, want := range [][]byte{msgs[0], msgs[2]} {
		b, err := st.OpenMessage(t.Context(), alice, store.Inbox, list[i].UID)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, b.Size())
		_, err = b.ReadAt(got, 0)
		b.Close()
		if err != nil || !bytes.Equal(wire(got), wire(want)) {
			t.Errorf("message %d left is not the right one (%v)", i+1, err)
		}
	}
	c = dial(t, ts.addr)
	if r := c.login("ALICE@example.test", secret); !strings.HasPrefix(r, "+OK maildrop has 2 messages") {
		t.Errorf("login after QUIT: %q", r)
	}
	if r := c.cmd("PASS x"); !strings.HasPrefix(r, "-ERR ") {
		t.Errorf("PASS after login: %q", r)
	}
}

func TestStoreLoginFailures(t *testing.T) {
	st := openStore(t, nil)
	ts := startServer(t, Options{Backend: st}, ListenerOptions{})
	tests := []struct{ name, user, pass string }{
		{"wrong password", alice, "nope"},
		{"unknown user", "nobody@example.test", secret},
		{"not an address", "alice", secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			c.ok("USER %s", tt.user)
			if r := c.cmd("PASS %s", tt.pass); !strings.HasPrefix(r, "-ERR [AUTH] ") {
				t.Errorf("got %q, want -ERR [AUTH]", r)
			}
		})
	}
}

// TestStoreSizesWithoutReading: with the real store (CRLFBackend) the
// sizes LIST reports equal the octets RETR sends, for messages with and
// without a final line break and with bare LF line ends.
func TestStoreSizesWithoutReading(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddUser(ctx, "u@example.test", "password-1"); err != nil {
		t.Fatal(err)
	}
	msgs := []string{
		"Subject: a\r\n\r\nends with CRLF\r\n",
		"Subject: b\r\n\r\nno final line break",
		"Subject: c\n\nbare LF\n.dot line\n",
	}
	for _, m := range msgs {
		if err := st.Deliver(ctx, "u@example.test", false, strings.NewReader(m)); err != nil {
			t.Fatal(err)
		}
	}
	var b CRLFBackend = st
	if !b.StoresCRLF() {
		t.Fatal("the store does not say it stores CRLF")
	}
	_, list, err := st.List(ctx, "u@example.test", store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Options{Backend: st})
	buf := make([]byte, 4096)
	for _, m := range list {
		fast, err := srv.measure(ctx, "u@example.test", m.UID, buf)
		if err != nil {
			t.Fatal(err)
		}
		body, err := st.OpenMessage(ctx, "u@example.test", store.Inbox, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := wireSize(bodyReader(body), buf)
		body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if fast != slow {
			t.Errorf("message %d: size from the stored size %d, by reading %d", m.UID, fast, slow)
		}
	}
}
