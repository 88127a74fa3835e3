package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf is a log sink safe for concurrent writers.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a PROXY listener on 127.0.0.1 whose accepted connections
// arrive on conns.
type server struct {
	l     net.Listener
	conns chan net.Conn
	log   *syncBuf
}

func newServer(t *testing.T, o Options) *server {
	t.Helper()
	if o.OnRefuse == nil {
		o.OnRefuse = func(string, net.Addr) {}
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{conns: make(chan net.Conn, 16), log: &syncBuf{}}
	o.Log = slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.l = NewListener(inner, o)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := s.l.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				t.Errorf("accept: %v", err)
				return
			}
			s.conns <- c
		}
	}()
	t.Cleanup(func() {
		_ = s.l.Close()
		<-done
		close(s.conns)
		for c := range s.conns {
			_ = c.Close()
		}
	})
	return s
}

// dial connects from the loopback address from (127.0.0.1 or another
// 127/8 address) and writes data.
func (s *server) dial(t *testing.T, from string, data []byte) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if len(data) > 0 {
		if _, err := c.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// next returns the next accepted connection, failing after a bound.
func (s *server) next(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Cleanup(func() { _ = c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

// expectNone asserts nothing was accepted (checked after a refused
// client has seen its connection closed, which the refusal precedes).
func (s *server) expectNone(t *testing.T) {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Fatalf("connection from %v accepted, want refused", c.RemoteAddr())
	default:
	}
}

// expectClosed asserts the server closed c without sending anything.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if n != 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("read = %d, %v; want the connection closed", n, err)
	}
}

func mustMarshal(t *testing.T, h Header) []byte {
	t.Helper()
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func TestListenerAccepts(t *testing.T) {
	tests := []struct {
		name       string
		header     func(t *testing.T) []byte
		wantRemote string // "" means the real address
		wantLocal  string
		wantHeader bool
	}{
		{name: "v1 tcp4",
			header: func(*testing.T) []byte {
				return []byte("PROXY TCP4 192.0.2.7 198.51.100.25 40000 25\r\n")
			},
			wantRemote: "192.0.2.7:40000", wantLocal: "198.51.100.25:25", wantHeader: true},
		{name: "v1 tcp6",
			header: func(*testing.T) []byte {
				return []byte("PROXY TCP6 2001:db8::7 2001:db8::25 40000 25\r\n")
			},
			wantRemote: "[2001:db8::7]:40000", wantLocal: "[2001:db8::25]:25", wantHeader: true},
		{name: "v2 ipv4",
			header: func(t *testing.T) []byte {
				return mustMarshal(t, Header{Version: 2, Command: CommandProxy, Source: ap("203.0.113.9:51000"), Destination: ap("198.51.100.25:587")})
			},
			wantRemote: "203.0.113.9:51000", wantLocal: "198.51.100.25:587", wantHeader: true},
		{name: "v2 ipv6",
			header: func(t *testing.T) []byte {
				return mustMarshal(t, Header{Version: 2, Command: CommandProxy, Source: ap("[2001:db8:1::9]:51000"), Destination: ap("[2001:db8::25]:465")})
			},
			wantRemote: "[2001:db8:1::9]:51000", wantLocal: "[2001:db8::25]:465", wantHeader: true},
		{name: "v2 ipv4 in ipv6 is unmapped",
			header: func(t *testing.T) []byte {
				return mustMarshal(t, Header{Version: 2, Command: CommandProxy, Source: ap("[::ffff:203.0.113.9]:1"), Destination: ap("[::ffff:198.51.100.25]:25")})
			},
			wantRemote: "203.0.113.9:1", wantLocal: "198.51.100.25:25", wantHeader: true},
		{name: "v2 with tlvs and crc",
			header: func(t *testing.T) []byte {
				return mustMarshal(t, Header{Version: 2, Command: CommandProxy, Source: ap("203.0.113.9:51000"), Destination: ap("198.51.100.25:25"),
					TLVs: []TLV{{Type: 0x01, Value: []byte("smtp")}, {Type: TLVTypeCRC32C}, {Type: 0xE0, Value: bytes.Repeat([]byte{7}, 3000)}}})
			},
			wantRemote: "203.0.113.9:51000", wantLocal: "198.51.100.25:25", wantHeader: true},
		{name: "v2 local keeps the proxy address",
			header: func(t *testing.T) []byte {
				return mustMarshal(t, Header{Version: 2, Command: CommandLocal})
			},
			wantHeader: true},
		{name: "v1 unknown keeps the proxy address",
			header:     func(*testing.T) []byte { return []byte("PROXY UNKNOWN\r\n") },
			wantHeader: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{Trusted: loopback})
			hdr := tt.header(t)
			// The client's first bytes travel in the same segment as the
			// header: they must reach the server intact.
			c := s.dial(t, "127.0.0.1", append(hdr, "EHLO client\r\n"...))
			sc := s.next(t)
			wantRemote, wantLocal := tt.wantRemote, tt.wantLocal
			if wantRemote == "" {
				wantRemote, wantLocal = c.LocalAddr().String(), c.RemoteAddr().String()
			}
			if got := sc.RemoteAddr().String(); got != wantRemote {
				t.Errorf("RemoteAddr = %s, want %s", got, wantRemote)
			}
			if got := sc.LocalAddr().String(); got != wantLocal {
				t.Errorf("LocalAddr = %s, want %s", got, wantLocal)
			}
			pc := sc.(*Conn)
			if got := pc.ProxyAddr().String(); got != c.LocalAddr().String() {
				t.Errorf("ProxyAddr = %s, want %s", got, c.LocalAddr())
			}
			if _, ok := pc.Header(); ok != tt.wantHeader {
				t.Errorf("Header ok = %v, want %v", ok, tt.wantHeader)
			}
			buf := make([]byte, len("EHLO client\r\n"))
			_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "EHLO client\r\n" {
				t.Fatalf("data after header = %q, %v", buf, err)
			}
			// And the connection works both ways afterwards.
			if _, err := sc.Write([]byte("250 ok\r\n")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
				t.Fatal(err)
			}
			buf = make([]byte, 6)
			if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "QUIT\r\n" {
				t.Fatalf("later data = %q, %v", buf, err)
			}
		})
	}
}

func TestListenerRefuses(t *testing.T) {
	v2hdr := func(t *testing.T) []byte {
		return mustMarshal(t, Header{Version: 2, Command: CommandProxy, Source: ap("203.0.113.9:1"), Destination: ap("198.51.100.25:25")})
	}
	tests := []struct {
		name       string
		from       string
		data       func(t *testing.T) []byte
		timeout    time.Duration
		wantLog    string
		wantReason string
	}{
		{name: "untrusted peer with v2 header", wantReason: RefusedUntrusted, from: "127.0.0.2", data: v2hdr,
			wantLog: `level=INFO msg="connection refused: not from a trusted PROXY protocol peer" addr=127.0.0.2:`},
		{name: "untrusted peer without header", wantReason: RefusedUntrusted, from: "127.0.0.2",
			data:    func(*testing.T) []byte { return []byte("EHLO x\r\n") },
			wantLog: "addr=127.0.0.2:"},
		{name: "trusted peer without header", wantReason: RefusedNoHeader, from: "127.0.0.1",
			data:    func(*testing.T) []byte { return []byte("EHLO x\r\n") },
			wantLog: `level=WARN msg="connection refused: trusted peer sent no PROXY header" proxy=127.0.0.1:`},
		{name: "malformed v1", wantReason: RefusedMalformed, from: "127.0.0.1",
			data:    func(*testing.T) []byte { return []byte("PROXY TCP4 192.0.2.1 bogus 1 2\r\n") },
			wantLog: `msg="connection refused: malformed PROXY header"`},
		{name: "malformed v2 version", wantReason: RefusedMalformed, from: "127.0.0.1",
			data: func(t *testing.T) []byte {
				b := v2hdr(t)
				b[12] = 0x31
				return b
			},
			wantLog: `msg="connection refused: malformed PROXY header"`},
		{name: "v2 tlv overrun", wantReason: RefusedMalformed, from: "127.0.0.1",
			data: func(t *testing.T) []byte {
				b := v2hdr(t)
				b[15] += 3
				return append(b, 0x01, 0xff, 0xff)
			},
			wantLog: `msg="connection refused: malformed PROXY header"`},
		{name: "header cut short by close", wantReason: RefusedReadError, from: "127.0.0.1",
			data:    func(t *testing.T) []byte { return v2hdr(t)[:20] },
			wantLog: `msg="connection refused: reading PROXY header failed"`},
		{name: "slow header times out", wantReason: RefusedTimeout, from: "127.0.0.1", timeout: 50 * time.Millisecond,
			data:    func(*testing.T) []byte { return []byte("PROXY TCP4 ") },
			wantLog: `msg="connection refused: no complete PROXY header in time"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reasons := make(chan string, 4)
			s := newServer(t, Options{Trusted: loopback, HeaderTimeout: tt.timeout,
				OnRefuse: func(r string, peer net.Addr) {
					if !strings.HasPrefix(peer.String(), tt.from+":") {
						t.Errorf("OnRefuse peer %v, want %s", peer, tt.from)
					}
					reasons <- r
				}})
			c := s.dial(t, tt.from, tt.data(t))
			if tt.name == "header cut short by close" {
				_ = c.(*net.TCPConn).CloseWrite()
			}
			expectClosed(t, c)
			s.expectNone(t)
			if r := <-reasons; r != tt.wantReason {
				t.Errorf("OnRefuse reason %q, want %q", r, tt.wantReason)
			}
			if !strings.Contains(s.log.String(), tt.wantLog) {
				t.Fatalf("log %q does not contain %q", s.log.String(), tt.wantLog)
			}
			// The listener goes on serving trusted peers.
			s.dial(t, "127.0.0.1", v2hdr(t))
			if got := s.next(t).RemoteAddr().String(); got != "203.0.113.9:1" {
				t.Fatalf("next client %s", got)
			}
		})
	}
}

func TestSlowClientDoesNotBlockOthers(t *testing.T) {
	// A header timeout far beyond the test's bounds: if Accept waited for
	// the slow client's header, the fast client would never be accepted.
	s := newServer(t, Options{Trusted: loopback, HeaderTimeout: time.Hour})
	slow := s.dial(t, "127.0.0.1", []byte("PROXY TCP4 192.0.2.1 "))
	silent := s.dial(t, "127.0.0.1", nil)
	s.dial(t, "127.0.0.1", []byte("PROXY TCP4 192.0.2.2 198.51.100.25 2 25\r\n"))
	if got := s.next(t).RemoteAddr().String(); got != "192.0.2.2:2" {
		t.Fatalf("accepted %s, want the fast client", got)
	}
	// The slow one still completes later.
	if _, err := slow.Write([]byte("198.51.100.25 1 25\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := s.next(t).RemoteAddr().String(); got != "192.0.2.1:1" {
		t.Fatalf("accepted %s, want the slow client", got)
	}
	// Close drops connections still waiting for their header.
	if err := s.l.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, silent)
	if _, err := s.l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

func TestOptionalHeader(t *testing.T) {
	s := newServer(t, Options{Trusted: loopback, Optional: true, HeaderTimeout: 100 * time.Millisecond})
	tests := []struct {
		name       string
		data       string
		wantRemote func(c net.Conn) string
	}{
		{name: "with header", data: "PROXY TCP4 192.0.2.1 198.51.100.25 1 25\r\nNOOP\r\n",
			wantRemote: func(net.Conn) string { return "192.0.2.1:1" }},
		{name: "without header", data: "NOOP\r\n",
			wantRemote: func(c net.Conn) string { return c.LocalAddr().String() }},
		{name: "silent client passes after the timeout", data: "",
			wantRemote: func(c net.Conn) string { return c.LocalAddr().String() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.dial(t, "127.0.0.1", []byte(tt.data))
			sc := s.next(t)
			if got, want := sc.RemoteAddr().String(), tt.wantRemote(c); got != want {
				t.Fatalf("RemoteAddr %s, want %s", got, want)
			}
			// The deadline used for the header is lifted.
			if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
				t.Fatal(err)
			}
			want := "NOOP\r\nQUIT\r\n"
			if tt.data == "" {
				want = "QUIT\r\n"
			}
			buf := make([]byte, len(want))
			_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != want {
				t.Fatalf("read %q, %v; want %q", buf, err, want)
			}
		})
	}
	// Untrusted peers are refused even when the header is optional.
	c := s.dial(t, "127.0.0.2", []byte("NOOP\r\n"))
	expectClosed(t, c)
	s.expectNone(t)
}
