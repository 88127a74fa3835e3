package courier

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmail/moat/listener/tlsconf"
)

// serverConfig scripts a testServer.
type serverConfig struct {
	// LMTP makes the server speak LMTP (LHLO, one reply per recipient).
	LMTP bool
	// Greeting replaces "220 test.local ESMTP".
	Greeting string
	// Ext are the EHLO keywords; defaultExt when nil.
	Ext []string
	// TLS offers STARTTLS with this configuration.
	TLS *tls.Config
	// Users offers AUTH (after STARTTLS when TLS is set) with AuthMechs,
	// "PLAIN LOGIN" when "".
	Users     map[string]string
	AuthMechs string
	// Mail, Rcpt and Data return reply lines; "250 …" when nil. Data gets
	// the recipient for LMTP and "" for SMTP.
	Mail func(from string) string
	Rcpt func(rcpt string) string
	Data func(rcpt string, data []byte) string
	// Hold, when set, is received from before the answer to the message.
	Hold chan struct{}
	// Arrived, when set, gets a value when a message has been read.
	Arrived chan struct{}
}

var defaultExt = []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 10485760"}

// serverTxn is one message a testServer received.
type serverTxn struct {
	Conn   int
	From   string
	Params string
	Rcpts  []string
	Data   []byte // after dot-unstuffing, with its CRLFs
	TLS    bool
	User   string
}

// testServer is a scripted SMTP/LMTP server on 127.0.0.1:0.
type testServer struct {
	t    testing.TB
	ln   net.Listener
	addr string
	cfg  serverConfig

	mu        sync.Mutex
	conns     int
	active    int
	maxActive int
	open      map[net.Conn]bool
	txns      []serverTxn
	cmds      []string // "VERB" of every command, in order
	rcpts     int
	wg        sync.WaitGroup
}

func startServer(t testing.TB, cfg serverConfig) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ln, cfg)
}

func serveOn(t testing.TB, ln net.Listener, cfg serverConfig) *testServer {
	if cfg.Ext == nil {
		cfg.Ext = defaultExt
	}
	s := &testServer{t: t, ln: ln, addr: ln.Addr().String(), cfg: cfg, open: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		id := s.conns
		s.active++
		s.maxActive = max(s.maxActive, s.active)
		s.open[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c, id)
			c.Close()
			s.mu.Lock()
			s.active--
			delete(s.open, c)
			s.mu.Unlock()
		}()
	}
}

// close stops the server and waits for its connections.
func (s *testServer) close() {
	s.ln.Close()
	s.dropAll()
	s.wg.Wait()
}

// dropAll closes every open connection (as a server's idle timeout does).
func (s *testServer) dropAll() {
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
}

// waitIdle waits until the server has no open connection.
func (s *testServer) waitIdle() {
	s.t.Helper()
	for range 500 {
		s.mu.Lock()
		n := s.active
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.t.Fatal("connections still open")
}

func (s *testServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *testServer) stats() (conns, maxActive, rcpts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.maxActive, s.rcpts
}

func (s *testServer) received() []serverTxn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]serverTxn(nil), s.txns...)
}

func (s *testServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

func scripted(f func(string) string, arg, def string) string {
	if f == nil {
		return def
	}
	return f(arg)
}

func (s *testServer) serve(c net.Conn, id int) {
	rw := bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
	send := func(lines ...string) bool {
		for _, l := range lines {
			rw.WriteString(l + "\r\n")
		}
		return rw.Flush() == nil
	}
	greet := s.cfg.Greeting
	if greet == "" {
		greet = "220 test.local ESMTP"
	}
	if !send(greet) || !strings.HasPrefix(greet, "220") {
		return
	}
	var (
		helo, tlsOn bool
		user        string
		txn         *serverTxn
	)
	readLine := func() (string, bool) {
		l, err := rw.ReadString('\n')
		if err != nil {
			return "", false
		}
		return strings.TrimRight(l, "\r\n"), true
	}
	for {
		line, ok := readLine()
		if !ok {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.mu.Lock()
		s.cmds = append(s.cmds, verb)
		s.mu.Unlock()
		switch verb {
		case "EHLO", "LHLO", "HELO":
			if (verb == "LHLO") != s.cfg.LMTP && verb != "HELO" || (verb == "HELO" && s.cfg.LMTP) {
				send("500 5.5.1 wrong hello")
				continue
			}
			helo, txn = true, nil
			if verb == "HELO" {
				send("250 test.local")
				continue
			}
			ext := append([]string{"test.local"}, s.cfg.Ext...)
			if s.cfg.TLS != nil && !tlsOn {
				ext = append(ext, "STARTTLS")
			}
			if s.cfg.Users != nil && (tlsOn || s.cfg.TLS == nil) {
				mechs := s.cfg.AuthMechs
				if mechs == "" {
					mechs = "PLAIN LOGIN"
				}
				ext = append(ext, "AUTH "+mechs)
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				rw.WriteString("250" + sep + e + "\r\n")
			}
			rw.Flush()
		case "STARTTLS":
			if s.cfg.TLS == nil || tlsOn {
				send("502 5.5.1 no")
				continue
			}
			send("220 2.0.0 go ahead")
			tc := tls.Server(c, s.cfg.TLS)
			if tc.Handshake() != nil {
				return
			}
			tlsOn, helo, txn = true, false, nil
			rw = bufio.NewReadWriter(bufio.NewReader(tc), bufio.NewWriter(tc))
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			var u, p string
			switch strings.ToUpper(mech) {
			case "PLAIN":
				b, _ := base64.StdEncoding.DecodeString(ir)
				parts := strings.Split(string(b), "\x00")
				if len(parts) == 3 {
					u, p = parts[1], parts[2]
				}
			case "LOGIN":
				send("334 VXNlcm5hbWU6")
				l, _ := readLine()
				b, _ := base64.StdEncoding.DecodeString(l)
				u = string(b)
				send("334 UGFzc3dvcmQ6")
				l, _ = readLine()
				b, _ = base64.StdEncoding.DecodeString(l)
				p = string(b)
			}
			if pw, ok := s.cfg.Users[u]; ok && pw == p && u != "" {
				user = u
				send("235 2.7.0 authenticated")
			} else {
				send("535 5.7.8 bad credentials")
			}
		case "MAIL":
			if !helo {
				send("503 5.5.1 hello first")
				continue
			}
			from, params, _ := strings.Cut(strings.TrimPrefix(arg, "FROM:"), " ")
			from = strings.Trim(from, "<>")
			r := scripted(s.cfg.Mail, from, "250 2.1.0 OK")
			if strings.HasPrefix(r, "2") {
				txn = &serverTxn{Conn: id, From: from, Params: params, TLS: tlsOn, User: user}
			}
			send(r)
		case "RCPT":
			if txn == nil {
				send("503 5.5.1 MAIL first")
				continue
			}
			rcpt := strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>")
			s.mu.Lock()
			s.rcpts++
			s.mu.Unlock()
			r := scripted(s.cfg.Rcpt, rcpt, "250 2.1.5 OK")
			if strings.HasPrefix(r, "2") {
				txn.Rcpts = append(txn.Rcpts, rcpt)
			}
			send(r)
		case "DATA":
			if txn == nil {
				send("503 5.5.1 MAIL first")
				continue
			}
			if len(txn.Rcpts) == 0 {
				send("554 5.5.1 no valid recipients")
				continue
			}
			send("354 go ahead")
			var data bytes.Buffer
			for {
				l, err := rw.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			txn.Data = data.Bytes()
			s.mu.Lock()
			s.txns = append(s.txns, *txn)
			s.mu.Unlock()
			if s.cfg.Arrived != nil {
				s.cfg.Arrived <- struct{}{}
			}
			if s.cfg.Hold != nil {
				<-s.cfg.Hold
			}
			if s.cfg.LMTP {
				for _, r := range txn.Rcpts {
					rw.WriteString(s.dataReply(r, txn.Data) + "\r\n")
				}
				rw.Flush()
			} else {
				send(s.dataReply("", txn.Data))
			}
			txn = nil
		case "RSET":
			txn = nil
			send("250 2.0.0 OK")
		case "NOOP":
			send("250 2.0.0 OK")
		case "QUIT":
			send("221 2.0.0 bye")
			return
		default:
			send("500 5.5.2 unknown command")
		}
	}
}

func (s *testServer) dataReply(rcpt string, data []byte) string {
	if s.cfg.Data == nil {
		return "250 2.0.0 queued"
	}
	return s.cfg.Data(rcpt, data)
}

// selfSigned returns a server certificate for localhost and 127.0.0.1 and
// a pool that trusts it.
func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cert, pool, err := tlsconf.GenerateSelfSigned("localhost", "mx.courier.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, pool
}

// mapDialer connects addresses named in tests to test servers and refuses
// every other address without dialling; it records the attempts.
type mapDialer struct {
	mu    sync.Mutex
	to    map[string]string
	tries []string
}

func (d *mapDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.tries = append(d.tries, addr)
	real, ok := d.to[addr]
	d.mu.Unlock()
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("connection refused (test dialer: %s)", addr)}
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, real)
}

func (d *mapDialer) attempts() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.tries...)
}
