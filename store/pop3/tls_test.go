package pop3

import (
	"crypto/tls"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestPlaintextAllowed(t *testing.T) {
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	tests := []struct {
		name  string
		local net.Addr
		tls   bool
		allow bool
		want  bool
	}{
		{"IPv4 loopback", tcp("127.0.0.1:110"), false, false, true},
		{"other 127/8 address", tcp("127.10.20.30:110"), false, false, true},
		{"IPv6 loopback", tcp("[::1]:110"), false, false, true},
		{"IPv4-mapped loopback", tcp("[::ffff:127.0.0.1]:110"), false, false, true},
		{"public IPv4", tcp("192.0.2.1:110"), false, false, false},
		{"public IPv6", tcp("[2001:db8::1]:110"), false, false, false},
		{"unspecified", tcp("0.0.0.0:110"), false, false, false},
		{"IPv4-mapped public", tcp("[::ffff:192.0.2.1]:110"), false, false, false},
		{"unknown address", pipeAddr{}, false, false, false},
		{"no address", nil, false, false, false},
		{"public under TLS", tcp("192.0.2.1:110"), true, false, true},
		{"public, listener allows", tcp("192.0.2.1:110"), false, true, true},
		{"UDP-style string address", stringAddr("127.0.0.1:110"), false, false, true},
		{"public string address", stringAddr("198.51.100.7:110"), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plaintextAllowed(tt.local, tt.tls, tt.allow); got != tt.want {
				t.Errorf("plaintextAllowed(%v, %v, %v) = %v, want %v", tt.local, tt.tls, tt.allow, got, tt.want)
			}
		})
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// startTLS runs STLS on c and returns a client on the TLS connection.
func startTLS(t *testing.T, c *client, cfg *tls.Config) *client {
	t.Helper()
	if r := c.cmd("STLS"); r != "+OK begin TLS negotiation" {
		t.Fatalf("STLS: %q", r)
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.HandshakeContext(t.Context()); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return newClient(t, tc, false)
}

// capa returns the capabilities c is offered.
func (c *client) capa() []string {
	c.t.Helper()
	c.ok("CAPA")
	return c.lines()
}

func TestSTLS(t *testing.T) {
	srvCfg, cliCfg := selfSigned(t)
	b := newAlice([]byte("Subject: 1\n\n.one\n"))
	ts := startServer(t, Options{Backend: b, TLS: srvCfg}, ListenerOptions{})
	c := dial(t, ts.addr)
	if caps := c.capa(); !slices.Contains(caps, "STLS") {
		t.Errorf("CAPA without STLS: %q", caps)
	}
	tc := startTLS(t, c, cliCfg)
	if caps := tc.capa(); slices.Contains(caps, "STLS") || !slices.Contains(caps, "USER") {
		t.Errorf("CAPA under TLS: %q", caps)
	}
	if r := tc.cmd("STLS"); !strings.HasPrefix(r, "-ERR ") {
		t.Errorf("second STLS: %q", r)
	}
	tc.login(alice, secret)
	tc.ok("RETR 1")
	if got := string(tc.multi()); got != "Subject: 1\r\n\r\n.one\r\n" {
		t.Errorf("RETR over TLS = %q", got)
	}
	tc.ok("QUIT")
}

// Commands sent in clear text after STLS, before the handshake, must not
// be run inside the TLS session (the CVE-2011-0411 kind of injection).
func TestSTLSInjection(t *testing.T) {
	srvCfg, cliCfg := selfSigned(t)
	ts := startServer(t, Options{Backend: newAlice(), TLS: srvCfg}, ListenerOptions{})
	c := dial(t, ts.addr)
	if err := c.tp.PrintfLine("STLS\r\nUSER %s", alice); err != nil {
		t.Fatal(err)
	}
	if r := c.line(); r != "+OK begin TLS negotiation" {
		t.Fatalf("STLS: %q", r)
	}
	tc := tls.Client(c.conn, cliCfg)
	if err := tc.HandshakeContext(t.Context()); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	tcc := newClient(t, tc, false)
	if r := tcc.cmd("PASS %s", secret); r != "-ERR USER first" {
		t.Errorf("PASS after an injected USER: %q", r)
	}
}

func TestImplicitTLS(t *testing.T) {
	srvCfg, cliCfg := selfSigned(t)
	msgs := corpus(t, corpusFiles[:3]...)
	b := newAlice(msgs...)
	ts := startServer(t, Options{Backend: b, TLS: srvCfg}, ListenerOptions{ImplicitTLS: true})

	conn, err := tls.Dial("tcp", ts.addr, cliCfg)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn, true)
	if caps := c.capa(); slices.Contains(caps, "STLS") || !slices.Contains(caps, "SASL PLAIN") {
		t.Errorf("CAPA on implicit TLS: %q", caps)
	}
	c.ok("AUTH PLAIN %s", alice64)
	for i, m := range msgs {
		c.ok("RETR %d", i+1)
		if got := c.multi(); string(got) != string(wire(m)) {
			t.Errorf("RETR %d differs", i+1)
		}
	}
	c.ok("QUIT")

	// A client speaking clear text to the TLS port gets nothing, and the
	// server keeps serving.
	plain := dial2(t, ts.addr)
	if _, err := plain.Write([]byte("USER " + alice + "\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	if n, _ := plain.Read(buf); strings.Contains(string(buf[:n]), "+OK") {
		t.Errorf("clear text answered on the TLS port: %q", buf[:n])
	}
	conn2, err := tls.Dial("tcp", ts.addr, cliCfg)
	if err != nil {
		t.Fatal(err)
	}
	newClient(t, conn2, true).ok("QUIT")
}

func dial2(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestImplicitTLSNeedsConfig(t *testing.T) {
	srv := NewServer(Options{Backend: newAlice()})
	if err := srv.Serve(mustListen(t), ListenerOptions{ImplicitTLS: true}); err == nil || strings.Contains(err.Error(), "closed") {
		t.Errorf("Serve: %v, want a configuration error", err)
	}
}

// On a listener that is not on loopback, passwords need TLS unless the
// listener allows plaintext.
func TestPlaintextOnPublicListener(t *testing.T) {
	srvCfg, cliCfg := selfSigned(t)
	tests := []struct {
		name     string
		tls      *tls.Config
		allow    bool
		wantUSER string   // reply prefix to USER
		wantCaps []string // capabilities before login, among USER, SASL PLAIN, STLS
		thenSTLS bool     // after STLS, login works
	}{
		{"refused, STLS offered", srvCfg, false, "-ERR [AUTH] plaintext authentication is disabled on this connection; use STLS first", []string{"STLS"}, true},
		{"refused, no TLS at all", nil, false, "-ERR [AUTH] plaintext authentication is disabled on this connection; use a TLS listener", nil, false},
		{"listener allows plaintext", srvCfg, true, "+OK", []string{"USER", "SASL PLAIN", "STLS"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := otherAddrListener{Listener: mustListen(t), local: publicAddr}
			ts := serveOn(t, Options{Backend: newAlice(), TLS: tt.tls}, ListenerOptions{AllowPlaintext: tt.allow}, l)
			c := dial(t, ts.addr)
			var caps []string
			for _, cp := range c.capa() {
				if cp == "USER" || cp == "SASL PLAIN" || cp == "STLS" {
					caps = append(caps, cp)
				}
			}
			if !slices.Equal(caps, tt.wantCaps) {
				t.Errorf("CAPA offers %q, want %q", caps, tt.wantCaps)
			}
			if r := c.cmd("USER %s", alice); !strings.HasPrefix(r, tt.wantUSER) {
				t.Errorf("USER: %q, want %q", r, tt.wantUSER)
			}
			if tt.allow {
				c.ok("PASS %s", secret)
				return
			}
			for _, cmd := range []string{"PASS " + secret, "AUTH PLAIN " + alice64, "AUTH PLAIN"} {
				if r := c.cmd("%s", cmd); !strings.HasPrefix(r, "-ERR [AUTH] ") {
					t.Errorf("%s: %q, want -ERR [AUTH]", cmd, r)
				}
			}
			c.ok("AUTH")
			if mechs := c.lines(); len(mechs) != 0 {
				t.Errorf("AUTH lists %q without TLS", mechs)
			}
			if !tt.thenSTLS {
				return
			}
			tc := startTLS(t, c, cliCfg)
			if caps := tc.capa(); !slices.Contains(caps, "USER") || !slices.Contains(caps, "SASL PLAIN") {
				t.Errorf("CAPA under TLS: %q", caps)
			}
			tc.login(alice, secret)
		})
	}
}
