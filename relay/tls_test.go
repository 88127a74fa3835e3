package relay

import (
	"crypto/tls"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/filter"
	"github.com/moatmail/moat/listener/tlsconf"
)

// selfSigned returns a server TLS config with a fresh self-signed
// certificate for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	cert, _, err := tlsconf.GenerateSelfSigned("mx.moat.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	ts := startServerTLS(t, nil, nil, selfSigned(t))
	d := dial(t, ts.addr)
	d.expect("220 ")
	ehlo := d.ehlo()
	if !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("STARTTLS not offered with a certificate configured:\n%s", ehlo)
	}
	c, err := smtp.DialStartTLS(ts.addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@sender.example", []string{"bob@relay.test"}, strings.NewReader(message("", "secret\r\n"))); err != nil {
		t.Fatal(err)
	}
	state, ok := c.TLSConnectionState()
	if !ok || state.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %v %v", ok, state.Version)
	}
	got := ts.sink.received()
	if len(got) != 1 || !strings.Contains(got[0].data, "with ESMTPS id ") {
		t.Fatalf("relayed message should say ESMTPS:\n%+v", got)
	}
}

func TestTLS11Refused(t *testing.T) {
	t.Parallel()
	ts := startServerTLS(t, nil, nil, selfSigned(t))
	d := dial(t, ts.addr)
	d.greet()
	d.cmd("STARTTLS", "220 ")
	tc := tls.Client(d.c, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	if err := tc.Handshake(); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

// TestStartTLSKeepsConnectSymbols: the connect-stage checks run once per
// connection; the session after STARTTLS carries their symbols on.
func TestStartTLSKeepsConnectSymbols(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	connect := scoreCheck{stage: filter.StageConnect, fn: func(*filter.Txn) []filter.Symbol {
		runs.Add(1)
		return []filter.Symbol{{Name: "CONNECT_SEEN", Score: 6}}
	}}
	ts := startServerTLS(t, []filter.Check{connect}, nil, selfSigned(t))
	c, err := smtp.DialStartTLS(ts.addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@sender.example", []string{"bob@relay.test"}, strings.NewReader(message("", "x\r\n"))); err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the connect stage ran %d times on one connection, want 1", n)
	}
	got := ts.sink.received()
	if len(got) != 1 || !strings.Contains(got[0].data, "CONNECT_SEEN") {
		t.Errorf("the message after STARTTLS lacks the connect-stage symbol:\n%+v", got)
	}
}
