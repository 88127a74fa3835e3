package pop3

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	alice   = "alice@example.test"
	secret  = "s3cret pass"
	alice64 = "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQgcGFzcw==" // "\0alice@example.test\0s3cret pass"
)

// newAlice returns a backend where alice has the given messages.
func newAlice(msgs ...[]byte) *memBackend {
	b := newMemBackend()
	b.addUser(alice, secret)
	for _, m := range msgs {
		b.deliver(alice, m)
	}
	return b
}

func TestPlainTestVector(t *testing.T) {
	if got := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + secret)); got != alice64 {
		t.Fatalf("alice64 = %q, want %q", alice64, got)
	}
}

func TestLogin(t *testing.T) {
	b := newAlice([]byte("Subject: one\n\nbody\n"))
	ts := startServer(t, Options{Backend: b}, ListenerOptions{})
	tests := []struct {
		name   string
		dialog []string // commands
		want   []string // reply prefixes, one per command
	}{
		{"user pass", []string{"USER " + alice, "PASS " + secret}, []string{"+OK", "+OK maildrop has 1 messages"}},
		{"user name in upper case", []string{"USER ALICE@Example.TEST", "PASS " + secret}, []string{"+OK", "+OK maildrop has 1"}},
		{"wrong password", []string{"USER " + alice, "PASS nope"}, []string{"+OK", "-ERR [AUTH] "}},
		{"unknown user", []string{"USER bob@example.test", "PASS " + secret}, []string{"+OK", "-ERR [AUTH] "}},
		{"not an address", []string{"USER bob", "PASS " + secret}, []string{"+OK", "-ERR [AUTH] "}},
		{"PASS without USER", []string{"PASS " + secret}, []string{"-ERR "}},
		{"USER is forgotten after a failure", []string{"USER " + alice, "PASS x", "PASS " + secret}, []string{"+OK", "-ERR [AUTH]", "-ERR "}},
		{"retry after failure", []string{"USER " + alice, "PASS x", "USER " + alice, "PASS " + secret}, []string{"+OK", "-ERR [AUTH]", "+OK", "+OK maildrop"}},
		{"AUTH PLAIN initial response", []string{"AUTH PLAIN " + alice64}, []string{"+OK maildrop has 1"}},
		{"AUTH PLAIN continuation", []string{"AUTH PLAIN", alice64}, []string{"+ ", "+OK maildrop has 1"}},
		{"AUTH plain lower case", []string{"auth plain " + alice64}, []string{"+OK maildrop"}},
		{"AUTH PLAIN cancelled", []string{"AUTH PLAIN", "*"}, []string{"+ ", "-ERR "}},
		{"AUTH PLAIN empty initial response", []string{"AUTH PLAIN ="}, []string{"-ERR "}},
		{"AUTH PLAIN bad base64", []string{"AUTH PLAIN !!!"}, []string{"-ERR "}},
		{"AUTH PLAIN wrong password", []string{"AUTH PLAIN " + b64("\x00"+alice+"\x00nope")}, []string{"-ERR [AUTH] "}},
		{"AUTH PLAIN same authzid", []string{"AUTH PLAIN " + b64(alice+"\x00"+alice+"\x00"+secret)}, []string{"+OK maildrop"}},
		{"AUTH PLAIN other authzid", []string{"AUTH PLAIN " + b64("bob@example.test\x00"+alice+"\x00"+secret)}, []string{"-ERR [AUTH] "}},
		{"AUTH PLAIN two NULs missing", []string{"AUTH PLAIN " + b64(alice)}, []string{"-ERR "}},
		{"AUTH other mechanism", []string{"AUTH CRAM-MD5"}, []string{"-ERR "}},
		{"APOP not offered", []string{"APOP " + alice + " c4c9334bac560ecc979e58001b3e22fb"}, []string{"-ERR "}},
		{"transaction command before login", []string{"STAT"}, []string{"-ERR "}},
		{"QUIT before login", []string{"QUIT"}, []string{"+OK "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			for i, cmd := range tt.dialog {
				if r := c.cmd("%s", cmd); !strings.HasPrefix(r, tt.want[i]) {
					t.Fatalf("%q: got %q, want %q…", cmd, r, tt.want[i])
				}
			}
			if strings.HasPrefix(tt.want[len(tt.want)-1], "+OK maildrop") {
				c.ok("QUIT")
				b.waitReleased(t, alice)
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAuthList(t *testing.T) {
	ts := startServer(t, Options{Backend: newAlice()}, ListenerOptions{})
	c := dial(t, ts.addr)
	c.ok("AUTH")
	if got := c.lines(); !slices.Equal(got, []string{"PLAIN"}) {
		t.Errorf("mechanisms %q", got)
	}
}

func TestCapa(t *testing.T) {
	ts := startServer(t, Options{Backend: newAlice()}, ListenerOptions{})
	c := dial(t, ts.addr)
	c.ok("CAPA")
	want := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER", "SASL PLAIN", "IMPLEMENTATION moat"}
	if got := c.lines(); !slices.Equal(got, want) {
		t.Errorf("CAPA before login = %q, want %q", got, want)
	}
	c.login(alice, secret)
	c.ok("CAPA")
	want = []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION moat"}
	if got := c.lines(); !slices.Equal(got, want) {
		t.Errorf("CAPA after login = %q, want %q", got, want)
	}
}

func TestCorpusMessages(t *testing.T) {
	msgs := corpus(t, corpusFiles...)
	b := newAlice(msgs...)
	uids := b.uids(alice)
	ts := startServer(t, Options{Backend: b}, ListenerOptions{})
	checkMaildrop(t, ts.addr, msgs, func(i int) string { return fmt.Sprintf("1700000000.%d", uids[i]) })
}

// checkMaildrop logs in as alice and checks STAT, LIST, UIDL, TOP and RETR
// against msgs, the messages in her INBOX in UID order; uidl gives the
// expected UIDL of message i (from 0). It checks that UIDLs are the same
// in a second session.
func checkMaildrop(t *testing.T, addr string, msgs [][]byte, uidl func(int) string) {
	t.Helper()
	var total int64
	for _, m := range msgs {
		total += int64(len(wire(m)))
	}
	var firstUIDL []string
	for session := range 2 {
		c := dial(t, addr)
		if r, want := c.login(alice, secret), fmt.Sprintf("+OK maildrop has %d messages (%d octets)", len(msgs), total); r != want {
			t.Fatalf("login: %q, want %q", r, want)
		}
		if r, want := c.cmd("STAT"), fmt.Sprintf("+OK %d %d", len(msgs), total); r != want {
			t.Errorf("STAT = %q, want %q", r, want)
		}
		c.ok("LIST")
		list := c.lines()
		c.ok("UIDL")
		ids := c.lines()
		if len(list) != len(msgs) || len(ids) != len(msgs) {
			t.Fatalf("LIST has %d lines, UIDL %d, want %d", len(list), len(ids), len(msgs))
		}
		for i, m := range msgs {
			n := i + 1
			w := wire(m)
			if want := fmt.Sprintf("%d %d", n, len(w)); list[i] != want {
				t.Errorf("LIST line %q, want %q", list[i], want)
			}
			if r, want := c.cmd("LIST %d", n), fmt.Sprintf("+OK %d %d", n, len(w)); r != want {
				t.Errorf("LIST %d = %q, want %q", n, r, want)
			}
			if want := fmt.Sprintf("%d %s", n, uidl(i)); ids[i] != want {
				t.Errorf("UIDL line %q, want %q", ids[i], want)
			}
			if r, want := c.cmd("UIDL %d", n), "+OK "+ids[i]; r != want {
				t.Errorf("UIDL %d = %q, want %q", n, r, want)
			}
			if r, want := c.cmd("RETR %d", n), fmt.Sprintf("+OK %d octets", len(w)); r != want {
				t.Fatalf("RETR %d = %q, want %q", n, r, want)
			}
			if got := c.multi(); !bytes.Equal(got, w) {
				t.Errorf("RETR %d: %d bytes differ from the stored message (%d bytes as sent)", n, len(got), len(w))
			}
			head, body, _ := bytes.Cut(w, []byte("\r\n\r\n"))
			c.ok("TOP %d 0", n)
			if got, want := c.multi(), append(slices.Clone(head), "\r\n\r\n"...); !bytes.Equal(got, want) {
				t.Errorf("TOP %d 0 = %q…, want %q…", n, trunc(got), trunc(want))
			}
			c.ok("TOP %d 2", n)
			bodyLines := bytes.SplitAfter(body, []byte("\r\n"))
			want := append(append(slices.Clone(head), "\r\n\r\n"...), bytes.Join(bodyLines[:min(2, len(bodyLines))], nil)...)
			if got := c.multi(); !bytes.Equal(got, want) {
				t.Errorf("TOP %d 2 = %q, want %q", n, trunc(got), trunc(want))
			}
		}
		if session == 0 {
			firstUIDL = ids
		} else if !slices.Equal(ids, firstUIDL) {
			t.Errorf("UIDL changed between sessions: %q then %q", firstUIDL, ids)
		}
		c.ok("QUIT")
		c.closed()
	}
}

// trunc shortens b for error messages.
func trunc(b []byte) []byte {
	if len(b) > 200 {
		return b[len(b)-200:]
	}
	return b
}

func TestDeleteOnQuit(t *testing.T) {
	b := newAlice([]byte("Subject: 1\n\n1\n"), []byte("Subject: 2\n\n2\n"), []byte("Subject: 3\n\n3\n"))
	uids := b.uids(alice)
	ts := startServer(t, Options{Backend: b}, ListenerOptions{})
	c := dial(t, ts.addr)
	c.login(alice, secret)
	c.ok("DELE 1")
	c.ok("DELE 3")
	for _, cmd := range []string{"DELE 1", "RETR 3", "LIST 3", "UIDL 1", "TOP 1 0"} {
		if r := c.cmd("%s", cmd); !strings.HasPrefix(r, "-ERR ") {
			t.Errorf("%s on a deleted message: %q", cmd, r)
		}
	}
	if r, want := c.cmd("STAT"), "+OK 1 "+strconv.Itoa(len(wire([]byte("Subject: 2\n\n2\n")))); r != want {
		t.Errorf("STAT = %q, want %q", r, want)
	}
	c.ok("LIST")
	if got := c.lines(); len(got) != 1 || !strings.HasPrefix(got[0], "2 ") {
		t.Errorf("LIST after DELE = %q, want message 2 only", got)
	}
	if len(b.deletes) != 0 {
		t.Fatalf("deleted before QUIT: %v", b.deletes)
	}
	if r := c.ok("QUIT"); !strings.Contains(r, "(1 messages left)") {
		t.Errorf("QUIT = %q", r)
	}
	c.closed()
	b.waitReleased(t, alice)
	if got, want := b.uids(alice), []uint32{uids[1]}; !slices.Equal(got, want) {
		t.Errorf("INBOX after QUIT has %v, want %v", got, want)
	}
	c = dial(t, ts.addr)
	if r := c.login(alice, secret); !strings.HasPrefix(r, "+OK maildrop has 1 messages") {
		t.Errorf("second login: %q", r)
	}
}

func TestNothingDeletedWithoutQuit(t *testing.T) {
	tests := []struct {
		name string
		end  func(c *client)
	}{
		{"connection dropped", func(c *client) { c.conn.Close() }},
		{"RSET then QUIT", func(c *client) {
			if r := c.ok("RSET"); !strings.HasPrefix(r, "+OK maildrop has 2 messages") {
				t.Errorf("RSET = %q", r)
			}
			c.ok("RETR 1")
			c.multi()
			c.ok("QUIT")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newAlice([]byte("Subject: 1\n\n1\n"), []byte("Subject: 2\n\n2\n"))
			before := b.uids(alice)
			ts := startServer(t, Options{Backend: b}, ListenerOptions{})
			c := dial(t, ts.addr)
			c.login(alice, secret)
			c.ok("DELE 1")
			c.ok("DELE 2")
			tt.end(c)
			b.waitReleased(t, alice)
			if got := b.uids(alice); !slices.Equal(got, before) {
				t.Errorf("INBOX has %v, want %v", got, before)
			}
			if len(b.deletes) != 0 {
				t.Errorf("Delete called: %v", b.deletes)
			}
		})
	}
}

func TestInUse(t *testing.T) {
	b := newAlice([]byte("Subject: 1\n\n1\n"))
	ts := startServer(t, Options{Backend: b}, ListenerOptions{})
	first := dial(t, ts.addr)
	first.login(alice, secret)
	second := dial(t, ts.addr)
	second.ok("USER %s", alice)
	if r := second.cmd("PASS %s", secret); !strings.HasPrefix(r, "-ERR [IN-USE] ") {
		t.Fatalf("second session: %q, want -ERR [IN-USE]", r)
	}
	if r := second.cmd("STAT"); !strings.HasPrefix(r, "-ERR ") {
		t.Errorf("second session is in TRANSACTION state: STAT = %q", r)
	}
	first.ok("QUIT")
	b.waitReleased(t, alice)
	second.login(alice, secret)
	second.ok("STAT")
}

func TestCommandErrors(t *testing.T) {
	b := newAlice([]byte("Subject: 1\n\n1\n"), []byte("Subject: 2\n\n2\n"))
	ts := startServer(t, Options{Backend: b}, ListenerOptions{})
	tests := []struct {
		name string
		cmds []string
		want []string // reply prefixes
	}{
		{"NOOP", []string{"NOOP", "NOOP x"}, []string{"+OK", "-ERR "}},
		{"STAT argument", []string{"STAT 1"}, []string{"-ERR "}},
		{"message numbers", []string{"LIST 0", "LIST 3", "LIST 99999999999999999999999", "LIST -1", "LIST +1", "UIDL x", "TOP 9 1", "LIST 1 2"},
			[]string{"-ERR no such message", "-ERR no such message", "-ERR no such message", "-ERR invalid message number", "-ERR invalid message number", "-ERR invalid message number", "-ERR no such message", "-ERR "}},
		{"arguments", []string{"RETR", "RETR 1 2", "TOP 1", "TOP 1 -1", "DELE", "RSET now"}, []string{"-ERR ", "-ERR ", "-ERR ", "-ERR invalid line count", "-ERR ", "-ERR "}},
		{"login commands after login", []string{"USER " + alice, "AUTH PLAIN " + alice64, "STLS"}, []string{"-ERR ", "-ERR ", "-ERR "}},
		{"malformed", []string{"XYZZY", "", "RETR\x001", "list 1"}, []string{"-ERR unknown command", "-ERR empty command", "-ERR control character in command", "+OK 1 "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			c.login(alice, secret)
			for i, cmd := range tt.cmds {
				if r := c.cmd("%s", cmd); !strings.HasPrefix(r, tt.want[i]) {
					t.Errorf("%q: got %q, want %q…", cmd, r, tt.want[i])
				}
			}
			// Still usable.
			c.ok("RETR 2")
			if got := string(c.multi()); got != "Subject: 2\r\n\r\n2\r\n" {
				t.Errorf("RETR 2 = %q", got)
			}
			c.ok("QUIT")
			b.waitReleased(t, alice)
		})
	}
}

func TestLimits(t *testing.T) {
	long := "NOOP " + strings.Repeat("x", maxCommandLine)
	tests := []struct {
		name    string
		login   bool
		lines   []string
		replies []string // reply prefixes; the connection is closed after
	}{
		{"bad commands", false, slices.Repeat([]string{"XYZZY"}, maxBadCommands), append(slices.Repeat([]string{"-ERR unknown command"}, maxBadCommands), "-ERR too many bad commands")},
		{"long lines", true, []string{long, "NOOP", long, long}, []string{"-ERR command line too long (limit 255", "+OK", "-ERR command line too long (limit", "-ERR command line too long; closing"}},
		{"huge line", false, []string{strings.Repeat("y", maxDiscard+10)}, []string{"-ERR command line too long; closing"}},
		{"failed logins", false, []string{"USER " + alice, "PASS a", "USER " + alice, "PASS b", "AUTH PLAIN " + b64("\x00"+alice+"\x00c")}, []string{"+OK", "-ERR [AUTH]", "+OK", "-ERR [AUTH]", "-ERR [AUTH]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Options{Backend: newAlice()}, ListenerOptions{})
			c := dial(t, ts.addr)
			if tt.login {
				c.login(alice, secret)
			}
			// Pipelined, as an abusive client would.
			if _, err := io.WriteString(c.conn, strings.Join(tt.lines, "\r\n")+"\r\n"); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.replies {
				if r := c.line(); !strings.HasPrefix(r, want) {
					t.Fatalf("got %q, want %q…", r, want)
				}
			}
			c.closed()
		})
	}
}

// A line exactly at the limit is a command; one octet more is not.
func TestLineLimitBoundary(t *testing.T) {
	ts := startServer(t, Options{Backend: newAlice()}, ListenerOptions{})
	c := dial(t, ts.addr)
	user := strings.Repeat("u", maxCommandLine-len("USER \r\n"))
	if r := c.cmd("USER %s", user); !strings.HasPrefix(r, "+OK") {
		t.Errorf("line of %d octets: %q", maxCommandLine, r)
	}
	if r := c.cmd("USER %sx", user); !strings.HasPrefix(r, "-ERR command line too long") {
		t.Errorf("line of %d octets: %q", maxCommandLine+1, r)
	}
}

func TestPipelining(t *testing.T) {
	b := newAlice([]byte("Subject: 1\n\n.1\n"), []byte("Subject: 2\n\n2\n"))
	ts := startServer(t, Options{Backend: b}, ListenerOptions{})
	c := dial(t, ts.addr)
	cmds := "USER " + alice + "\r\nPASS " + secret + "\r\nSTAT\r\nRETR 1\r\nDELE 1\r\nLIST\r\nUIDL 2\r\nQUIT\r\n"
	if _, err := io.WriteString(c.conn, cmds); err != nil {
		t.Fatal(err)
	}
	var got []string
	got = append(got, c.line(), c.line(), c.line(), c.line())
	got = append(got, string(c.multi()), c.line(), c.line())
	got = append(got, c.lines()...)
	got = append(got, c.line(), c.line())
	want := []string{"+OK send PASS", "+OK maildrop has 2 messages (35 octets)", "+OK 2 35", "+OK 18 octets",
		"Subject: 1\r\n\r\n.1\r\n", "+OK message 1 deleted", "+OK 1 messages (17 octets)", "2 17",
		"+OK 2 1700000000.4", "+OK localhost POP3 server signing off (1 messages left)"}
	if !slices.Equal(got, want) {
		t.Errorf("replies\n%q\nwant\n%q", got, want)
	}
	c.closed()
}

func TestIdleTimeout(t *testing.T) {
	b := newAlice([]byte("Subject: 1\n\n1\n"))
	ts := startServer(t, Options{Backend: b, IdleTimeout: 200 * time.Millisecond}, ListenerOptions{})
	c := dial(t, ts.addr)
	c.login(alice, secret)
	c.ok("DELE 1")
	// Send nothing more: the server gives up on us.
	if r := c.line(); !strings.HasPrefix(r, "-ERR idle for too long") {
		t.Fatalf("got %q", r)
	}
	c.closed()
	b.waitReleased(t, alice)
	if len(b.deletes) != 0 || len(b.uids(alice)) != 1 {
		t.Errorf("idle session deleted mail: %v", b.deletes)
	}
}

func TestShutdown(t *testing.T) {
	b := newAlice([]byte("Subject: 1\n\n1\n"))
	ts := startServer(t, Options{Backend: b}, ListenerOptions{})
	c := dial(t, ts.addr)
	c.login(alice, secret)
	c.ok("DELE 1")
	if err := ts.srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := c.line(); !strings.HasPrefix(r, "-ERR [SYS/TEMP] server shutting down") {
		t.Errorf("got %q", r)
	}
	c.closed()
	if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	ts.done <- ErrServerClosed // for the cleanup
	if len(b.deletes) != 0 {
		t.Errorf("shutdown deleted mail: %v", b.deletes)
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Error("listener still accepts")
	}
	if err := ts.srv.Serve(mustListen(t), ListenerOptions{}); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBackendErrors(t *testing.T) {
	errDisk := errors.New("disk on fire")
	tests := []struct {
		name  string
		setup func(b *memBackend)
		cmds  []string
		want  string // prefix of the reply to the last command
	}{
		{"authenticate", func(b *memBackend) { b.authErr = errDisk }, []string{"USER " + alice, "PASS " + secret}, "-ERR [SYS/TEMP] "},
		{"list", func(b *memBackend) { b.listErr = errDisk }, []string{"USER " + alice, "PASS " + secret}, "-ERR [SYS/TEMP] "},
		{"delete", func(b *memBackend) { b.deleteErr = errDisk }, []string{"USER " + alice, "PASS " + secret, "DELE 1", "QUIT"}, "-ERR [SYS/TEMP] some deleted messages not removed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newAlice([]byte("Subject: 1\n\n1\n"))
			tt.setup(b)
			ts := startServer(t, Options{Backend: b}, ListenerOptions{})
			c := dial(t, ts.addr)
			var r string
			for _, cmd := range tt.cmds {
				r = c.cmd("%s", cmd)
			}
			if !strings.HasPrefix(r, tt.want) {
				t.Fatalf("got %q, want %q…", r, tt.want)
			}
			if len(b.uids(alice)) != 1 {
				t.Error("message lost")
			}
			c.conn.Close()
			if tt.name != "authenticate" {
				b.waitReleased(t, alice) // the lock is not leaked
			}
		})
	}
}

func TestMessageRemovedBySomeoneElse(t *testing.T) {
	b := newAlice([]byte("Subject: 1\n\n1\n"), []byte("Subject: 2\n\n2\n"))
	ts := startServer(t, Options{Backend: b}, ListenerOptions{})
	c := dial(t, ts.addr)
	c.login(alice, secret)
	// An IMAP session expunges message 1 meanwhile.
	b.mu.Lock()
	b.boxes[alice].msgs = b.boxes[alice].msgs[1:]
	b.mu.Unlock()
	if r := c.cmd("RETR 1"); !strings.HasPrefix(r, "-ERR ") {
		t.Errorf("RETR of a removed message: %q", r)
	}
	c.ok("RETR 2")
	c.multi()
}

func TestGuard(t *testing.T) {
	b := newAlice()
	g := &recordingGuard{}
	ts := startServer(t, Options{Backend: b, Guard: g}, ListenerOptions{})
	c := dial(t, ts.addr)
	c.ok("USER " + alice)
	if r := c.cmd("PASS wrong"); !strings.HasPrefix(r, "-ERR [AUTH] ") {
		t.Fatalf("bad password: %q", r)
	}
	g.mu.Lock()
	g.refuse = true
	g.mu.Unlock()
	c.ok("USER " + alice)
	if r := c.cmd("PASS %s", secret); !strings.HasPrefix(r, "-ERR [LOGIN-DELAY] ") {
		t.Fatalf("throttled login: %q", r)
	}
	g.mu.Lock()
	g.refuse = false
	g.mu.Unlock()
	c.login("Alice@Example.test", secret)
	want := []string{
		"allow 127.0.0.1 " + alice, "failed 127.0.0.1 " + alice,
		"allow 127.0.0.1 " + alice,
		"allow 127.0.0.1 " + alice, "succeeded 127.0.0.1 " + alice,
	}
	if got := g.log(); !slices.Equal(got, want) {
		t.Errorf("guard calls %q, want %q", got, want)
	}
}

// blockingAuth is a backend whose Authenticate waits for its context to
// end, like a store stuck on a slow disk.
type blockingAuth struct {
	*memBackend
	entered chan struct{}
}

func (b blockingAuth) Authenticate(ctx context.Context, _, _ string) error {
	close(b.entered)
	<-ctx.Done()
	return ctx.Err()
}

// When Shutdown's context ends first, it cancels the sessions' backend
// calls, closes their connections and reports the context's error.
func TestShutdownForced(t *testing.T) {
	be := blockingAuth{memBackend: newAlice(), entered: make(chan struct{})}
	ts := startServer(t, Options{Backend: be}, ListenerOptions{})
	c := dial(t, ts.addr)
	c.ok("USER %s", alice)
	if err := c.tp.PrintfLine("PASS %s", secret); err != nil {
		t.Fatal(err)
	}
	<-be.entered
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	// The session has ended: its connection is closed.
	if l, err := c.tp.ReadLine(); err == nil && !strings.HasPrefix(l, "-ERR") {
		t.Errorf("got %q after a forced shutdown", l)
	}
}
