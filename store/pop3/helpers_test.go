package pop3

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/listener/tlsconf"
	"github.com/moatmail/moat/store"
)

// memBackend is an in-memory Backend for tests.
type memBackend struct {
	mu       sync.Mutex
	users    map[string]string // name → password
	boxes    map[string]*memBox
	locks    map[string]bool
	released chan string // receives a user name on each unlock

	authErr   error // returned by Authenticate when set
	listErr   error // returned by List when set
	deleteErr error // returned by Delete when set
	deletes   [][]uint32
}

type memBox struct {
	uidValidity uint32
	next        uint32
	msgs        []memMsg
}

type memMsg struct {
	uid  uint32
	data []byte
}

func newMemBackend() *memBackend {
	return &memBackend{
		users:    make(map[string]string),
		boxes:    make(map[string]*memBox),
		locks:    make(map[string]bool),
		released: make(chan string, 100),
	}
}

// addUser adds a user with an empty INBOX.
func (b *memBackend) addUser(name, password string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.users[name] = password
	b.boxes[name] = &memBox{uidValidity: 1700000000, next: 1}
}

// deliver appends a message to a user's INBOX and returns its UID.
func (b *memBackend) deliver(user string, data []byte) uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	box := b.boxes[user]
	uid := box.next
	box.next += 3 // UIDs with gaps, as after expunges
	box.msgs = append(box.msgs, memMsg{uid: uid, data: slices.Clone(data)})
	return uid
}

// uids returns the UIDs in a user's INBOX.
func (b *memBackend) uids(user string) []uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var u []uint32
	for _, m := range b.boxes[user].msgs {
		u = append(u, m.uid)
	}
	return u
}

func (b *memBackend) Authenticate(_ context.Context, user, password string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.authErr != nil {
		return b.authErr
	}
	p, ok := b.users[user]
	if !ok {
		return fmt.Errorf("mem: %w", store.ErrNoSuchUser)
	}
	if p != password {
		return fmt.Errorf("mem: %w", store.ErrAuthFailed)
	}
	return nil
}

func (b *memBackend) LockMaildrop(user string) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.locks[user] {
		return nil, fmt.Errorf("mem: %w", store.ErrLocked)
	}
	b.locks[user] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.locks, user)
			b.mu.Unlock()
			b.released <- user
		})
	}, nil
}

func (b *memBackend) List(_ context.Context, user, mailbox string) (store.MailboxInfo, []store.Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.listErr != nil {
		return store.MailboxInfo{}, nil, b.listErr
	}
	box, ok := b.boxes[user]
	if !ok || mailbox != store.Inbox {
		return store.MailboxInfo{}, nil, store.ErrNoSuchMailbox
	}
	info := store.MailboxInfo{Name: mailbox, UIDValidity: box.uidValidity, UIDNext: box.next, Messages: uint32(len(box.msgs))}
	var msgs []store.Message
	for _, m := range box.msgs {
		msgs = append(msgs, store.Message{UID: m.uid, Size: int64(len(m.data))})
		info.Size += int64(len(m.data))
	}
	return info, msgs, nil
}

func (b *memBackend) OpenMessage(_ context.Context, user, mailbox string, uid uint32) (store.Body, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.boxes[user].msgs {
		if m.uid == uid && mailbox == store.Inbox {
			return memBody{bytes.NewReader(m.data)}, nil
		}
	}
	return nil, store.ErrNoSuchMessage
}

func (b *memBackend) Delete(_ context.Context, user, mailbox string, uids []uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deleteErr != nil {
		return b.deleteErr
	}
	b.deletes = append(b.deletes, slices.Clone(uids))
	box := b.boxes[user]
	box.msgs = slices.DeleteFunc(box.msgs, func(m memMsg) bool { return slices.Contains(uids, m.uid) })
	return nil
}

// memBody is a message opened from a memBackend.
type memBody struct{ *bytes.Reader }

func (memBody) Close() error { return nil }

// waitReleased waits until the user's maildrop lock is released.
func (b *memBackend) waitReleased(t *testing.T, user string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case u := <-b.released:
			if u == user {
				return
			}
		case <-timeout:
			t.Fatalf("maildrop of %s not released", user)
		}
	}
}

// testServer is a running server on a loopback listener.
type testServer struct {
	srv  *Server
	addr string
	done chan error // Serve's result
}

// startServer serves o on 127.0.0.1:0 with lo until the test ends.
func startServer(t testing.TB, o Options, lo ListenerOptions) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, o, lo, l)
}

// serveOn serves o on l until the test ends.
func serveOn(t testing.TB, o Options, lo ListenerOptions, l net.Listener) *testServer {
	t.Helper()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ts := &testServer{srv: NewServer(o), addr: l.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- ts.srv.Serve(l, lo) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ts
}

// client is a POP3 client driving a dialog with net/textproto.
type client struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

// dial connects to addr and reads the greeting.
func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, conn, true)
}

// newClient wraps conn; with greet it reads and checks the greeting.
func newClient(t testing.TB, conn net.Conn, greet bool) *client {
	t.Helper()
	c := &client{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if greet {
		if g := c.line(); !strings.HasPrefix(g, "+OK ") {
			t.Fatalf("greeting %q", g)
		}
	}
	return c
}

// line reads one reply line.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.tp.ReadLine()
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	return l
}

// cmd sends a command and returns the first line of the reply.
func (c *client) cmd(format string, args ...any) string {
	c.t.Helper()
	if err := c.tp.PrintfLine(format, args...); err != nil {
		c.t.Fatalf("sending %q: %v", format, err)
	}
	return c.line()
}

// ok sends a command and fails the test unless the reply is +OK.
func (c *client) ok(format string, args ...any) string {
	c.t.Helper()
	r := c.cmd(format, args...)
	if !strings.HasPrefix(r, "+OK") {
		c.t.Fatalf("%s: got %q, want +OK", fmt.Sprintf(format, args...), r)
	}
	return r
}

// login logs in with USER/PASS.
func (c *client) login(user, pass string) string {
	c.t.Helper()
	c.ok("USER %s", user)
	return c.ok("PASS %s", pass)
}

// multi reads the body of a multi-line reply: the exact bytes after
// dot-unstuffing, every line required to end in CRLF.
func (c *client) multi() []byte {
	c.t.Helper()
	var out []byte
	for {
		l, err := c.tp.R.ReadSlice('\n')
		if err != nil {
			c.t.Fatalf("reading multi-line reply: %v", err)
		}
		if !bytes.HasSuffix(l, []byte("\r\n")) {
			c.t.Fatalf("line without CRLF: %q", l)
		}
		if string(l) == ".\r\n" {
			return out
		}
		if l[0] == '.' {
			if len(l) < 2 || l[1] != '.' {
				c.t.Fatalf("line starting with one dot: %q", l)
			}
			l = l[1:]
		}
		out = append(out, l...)
	}
}

// lines reads a multi-line reply as lines without CRLF.
func (c *client) lines() []string {
	c.t.Helper()
	b := c.multi()
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
}

// closed fails the test unless the server closes the connection before
// sending anything more.
func (c *client) closed() {
	c.t.Helper()
	l, err := c.tp.ReadLine()
	if err == nil {
		c.t.Fatalf("connection still open, got %q", l)
	}
	if !errors.Is(err, io.EOF) {
		c.t.Fatalf("want EOF, got %v", err)
	}
}

// wire is an independent rendering of a stored message as POP3 sends it:
// CRLF line endings, and a final line break.
func wire(data []byte) []byte {
	b := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\r\n")) {
		b = append(b, "\r\n"...)
	}
	return b
}

// corpusFiles are real messages used by the tests: plain ones, ones with
// lines starting with ".", and the largest of the corpus.
var corpusFiles = []string{"00001.eml", "00002.eml", "00003.eml", "00013.eml", "00060.eml", "00067.eml", "00100.eml", "02056.eml"}

// corpusDir is where the shared corpus lives.
const corpusDir = "/work/shared/corpus/ham"

// corpus reads the named corpus messages, skipping the test when the
// corpus is missing (and failing it when CI is set).
func corpus(t testing.TB, names ...string) [][]byte {
	t.Helper()
	var msgs [][]byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(corpusDir, n))
		if errors.Is(err, os.ErrNotExist) {
			if os.Getenv("CI") != "" {
				t.Fatalf("corpus missing: %v", err)
			}
			t.Skipf("corpus not available: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	return msgs
}

// selfSigned returns a server configuration with a fresh self-signed
// certificate for localhost and 127.0.0.1, and a client configuration that
// trusts it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	cert, pool, err := tlsconf.GenerateSelfSigned("localhost", "127.0.0.1", "::1")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// otherAddrListener makes accepted connections report a non-loopback
// local address, as on a public interface, while staying on loopback.
type otherAddrListener struct {
	net.Listener
	local net.Addr
}

func (l otherAddrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return otherAddrConn{Conn: c, local: l.local}, nil
}

type otherAddrConn struct {
	net.Conn
	local net.Addr
}

func (c otherAddrConn) LocalAddr() net.Addr { return c.local }

// publicAddr is a documentation address standing in for a public one.
var publicAddr = net.TCPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.10:110"))

// recordingGuard is a LoginGuard that refuses while refuse is set and
// records calls.
type recordingGuard struct {
	mu     sync.Mutex
	refuse bool
	calls  []string
}

func (g *recordingGuard) record(op string, ip netip.Addr, user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, op+" "+ip.String()+" "+user)
}

func (g *recordingGuard) Allow(_ context.Context, ip netip.Addr, user string) error {
	g.record("allow", ip, user)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refuse {
		return errors.New("throttled")
	}
	return nil
}

func (g *recordingGuard) Failed(_ context.Context, ip netip.Addr, user string) {
	g.record("failed", ip, user)
}

func (g *recordingGuard) Succeeded(_ context.Context, ip netip.Addr, user string) {
	g.record("succeeded", ip, user)
}

func (g *recordingGuard) log() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}
