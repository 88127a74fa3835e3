package imap

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/moatmail/moat/listener/tlsconf"
	"github.com/moatmail/moat/store"
)

const (
	alice    = "alice@example.test"
	bob      = "bob@example.test"
	password = "secret"
)

// trainCall is one call to recordingTrainer.
type trainCall struct {
	user string
	spam bool
}

// recordingTrainer records what the store asks to learn.
type recordingTrainer struct {
	mu    sync.Mutex
	calls []trainCall
}

func (r *recordingTrainer) Train(_ context.Context, user string, spam bool, _ []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, trainCall{user, spam})
	return nil
}

func (r *recordingTrainer) take() []trainCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// env is a real store in a temporary directory with alice and bob, and an
// IMAP server on a loopback port.
type env struct {
	st      *store.Store
	trainer *recordingTrainer
	srv     *Server
	addr    string
	tls     *tls.Config // the server's
	client  *tls.Config // trusts the server's certificate
}

type envOptions struct {
	guard    LoginGuard
	listener ListenerOptions
	// wrap, when set, wraps the loopback listener (to make it look like
	// another address).
	wrap func(net.Listener) net.Listener
	// cacheBytes is Options.CacheBytes.
	cacheBytes int64
	// log is Options.Log.
	log *slog.Logger
}

func newEnv(t testing.TB, eo envOptions) *env {
	t.Helper()
	ctx := context.Background()
	tr := &recordingTrainer{}
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Trainer: tr})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, u := range []string{alice, bob} {
		if err := st.AddUser(ctx, u, password); err != nil {
			t.Fatalf("AddUser %s: %v", u, err)
		}
	}
	serverTLS, clientTLS := selfSigned(t)
	e := &env{st: st, trainer: tr, tls: serverTLS, client: clientTLS}
	e.srv = NewServer(Options{Store: st, TLS: serverTLS, Guard: eo.guard, Hostname: "mx.example.test", CacheBytes: eo.cacheBytes, Log: eo.log})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	e.addr = l.Addr().String()
	if eo.wrap != nil {
		l = eo.wrap(l)
	}
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(l, eo.listener) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

// selfSigned makes a certificate for 127.0.0.1 and the configurations of
// a server using it and a client trusting it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	cert, pool, err := tlsconf.GenerateSelfSigned("mx.example.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// dial connects without TLS; the client is closed at cleanup.
func (e *env) dial(t testing.TB, o *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(e.addr, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// login connects and logs in as user.
func (e *env) login(t testing.TB, user string, o *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := e.dial(t, o)
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// corpusMessage reads a message of the shared corpus without its mbox
// "From " line (which an SMTP delivery would not carry).
func corpusMessage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "corpus", "ham", name))
	if err != nil {
		b, err = os.ReadFile(filepath.Join("/work/shared/corpus/ham", name))
	}
	if err != nil {
		t.Skipf("corpus message %s: %v", name, err)
	}
	if bytes.HasPrefix(b, []byte("From ")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}

// crlf turns bare LFs into CRLF, as the store does.
func crlf(b []byte) []byte {
	var out bytes.Buffer
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// appendMsg appends raw to mailbox over IMAP and returns its UID.
func appendMsg(t testing.TB, c *imapclient.Client, mailbox string, raw []byte, o *imap.AppendOptions) imap.UID {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), o)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatalf("append write: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append close: %v", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND %s: %v", mailbox, err)
	}
	return data.UID
}

// simpleMessage is a small message with the given subject and body.
func simpleMessage(subject, body string) []byte {
	return []byte("From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Dec 2002 11:24:20 +0000\r\nMessage-Id: <" + subject + "@example.test>\r\n\r\n" + body + "\r\n")
}

// imapCode returns the response code of an IMAP error, or "".
func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

// otherAddrListener makes connections look as if they arrived on another
// local address, as a PROXY-protocol listener would.
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

// publicAddr is a documentation address standing for a public listener.
func publicAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 143} }

func asPublic(l net.Listener) net.Listener {
	return otherAddrListener{Listener: l, local: publicAddr()}
}

// uidsOf returns the UIDs of the selected mailbox in sequence-number order
// (1:n rather than 1:*, which imapclient cannot match to its command).
func uidsOf(t testing.TB, c *imapclient.Client) []imap.UID {
	t.Helper()
	n := c.Mailbox().NumMessages
	if n == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: n}}, &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatalf("FETCH 1:%d UID: %v", n, err)
	}
	uids := make([]imap.UID, len(msgs))
	for i, m := range msgs {
		if m.SeqNum != uint32(i+1) {
			t.Fatalf("FETCH 1:%d: response %d has sequence number %d", n, i+1, m.SeqNum)
		}
		uids[i] = m.UID
	}
	return uids
}
