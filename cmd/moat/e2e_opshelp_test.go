//go:build e2e

// Helpers of the operations end-to-end tests: configuration, SMTP and
// PROXY protocol clients, certificates, and a Prometheus text parser.

package main_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/moatmail/moat/listener/proxyproto"
)

// ---- helpers ------------------------------------------------------------

// opsConfig writes a configuration relaying to s (nil: a closed port) whose
// listen: block is listen(p) (nil: the default SMTP listener on p.Port)
// with extra top-level YAML.
func opsConfig(t *testing.T, s *sink, listen func(cfgParams) string, extra string) (cfgParams, string) {
	t.Helper()
	p, cfg := newConfig(t, s, "", "")
	if listen != nil {
		p.Listen = listen(p)
	}
	p.Extra = extra
	writeFile(t, cfg, configYAML(p))
	return p, cfg
}

// opsMessage is a small well-formed message with Message-ID <id@client.e2e.test>.
func opsMessage(id, to string) []byte {
	return []byte("From: Sender <sender@client.e2e.test>\r\nTo: <" + to + ">\r\nSubject: ops test " + id + "\r\n" +
		"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <" + id + "@client.e2e.test>\r\n\r\n" +
		"A short test message for moat's operations tests.\r\n")
}

// opsField returns the first name: field of a message, unfolded.
func opsField(b []byte, name string) string {
	fields, _ := splitMessage(b)
	if v := values(fields, name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// opsDial connects a go-smtp client to addr, every command bounded, and
// says EHLO helo unless helo is ""; the client is closed when the test ends.
func opsDial(t *testing.T, addr, helo string) *smtp.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, startTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout, c.SubmissionTimeout = 20*time.Second, 20*time.Second
	t.Cleanup(func() { c.Close() })
	if helo != "" {
		if err := c.Hello(helo); err != nil {
			t.Fatalf("EHLO to %s: %v", addr, err)
		}
	}
	return c
}

func opsQuit(t *testing.T, c *smtp.Client) {
	t.Helper()
	if err := c.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
}

// opsTxn holds the replies of one transaction as smtpReplyText formats
// them ("250" for a plain success, "250 <text>" at the end of data).
type opsTxn struct {
	Mail  string
	Rcpts []string
	Data  string
}

// hasPrefixes reports whether every reply starts with want's.
func (r opsTxn) hasPrefixes(want opsTxn) bool {
	if !strings.HasPrefix(r.Mail, want.Mail) || !strings.HasPrefix(r.Data, want.Data) || len(r.Rcpts) != len(want.Rcpts) {
		return false
	}
	for i := range want.Rcpts {
		if !strings.HasPrefix(r.Rcpts[i], want.Rcpts[i]) {
			return false
		}
	}
	return true
}

// opsSend runs one transaction: MAIL, each RCPT, and DATA with msg when a
// recipient was accepted and msg is not nil (else RSET). Replies are as
// smtpReplyText formats them, "error: …" for a broken connection.
func opsSend(c *smtp.Client, from string, rcpts []string, msg []byte) opsTxn {
	var r opsTxn
	if r.Mail = smtpReplyText(c.Mail(from, nil)); r.Mail != "250" {
		return r
	}
	ok := false
	for _, rcpt := range rcpts {
		rr := smtpReplyText(c.Rcpt(rcpt, nil))
		r.Rcpts = append(r.Rcpts, rr)
		ok = ok || rr == "250"
	}
	if !ok || msg == nil {
		if err := c.Reset(); err != nil {
			r.Data = smtpReplyText(err)
		}
		return r
	}
	w, err := c.Data()
	if err == nil {
		_, err = w.Write(msg)
	}
	if err != nil {
		r.Data = smtpReplyText(err)
		return r
	}
	if resp, err := w.CloseWithResponse(); err != nil {
		r.Data = smtpReplyText(err)
	} else {
		r.Data = "250 " + resp.StatusText
	}
	return r
}

// opsProxyHeader encodes a PROXY header (version 1 or 2) for a TCP
// connection from client:40007 to 127.0.0.1:port.
func opsProxyHeader(t *testing.T, version int, client string, port int) []byte {
	t.Helper()
	b, err := proxyproto.Header{
		Version: version, Command: proxyproto.CommandProxy,
		Source:      netip.AddrPortFrom(netip.MustParseAddr(client), 40007),
		Destination: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)),
	}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// opsProxyDial connects to a PROXY protocol listener and sends the header.
func opsProxyDial(t *testing.T, addr string, version int, client string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write(opsProxyHeader(t, version, client, conn.RemoteAddr().(*net.TCPAddr).Port)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// opsExpectClosed connects, sends first, and requires moat to close the
// connection without writing anything (a greeting included).
func opsExpectClosed(t *testing.T, addr string, first []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = conn.Write(first) // may fail if moat was quicker
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after 10s (read %q)", b)
	}
	if len(b) != 0 {
		t.Errorf("moat answered %q; want the connection closed without a greeting", b)
	}
}

// opsWriteCert writes a fresh self-signed ECDSA certificate for
// moat.e2e.test with the given serial, and its key, and returns it.
func opsWriteCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "moat.e2e.test"},
		DNSNames:     []string{"moat.e2e.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{certFile, "CERTIFICATE", der}, {keyFile, "PRIVATE KEY", kder}} {
		tmp := f.path + ".tmp"
		writeFile(t, tmp, string(pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})))
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// opsStartTLS connects, says EHLO, STARTTLS and EHLO again (which runs the
// TLS handshake); the client is closed when the test ends.
func opsStartTLS(t *testing.T, addr string, cfg *tls.Config) (*smtp.Client, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, startTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(clientTimeout))
	t.Cleanup(func() { conn.Close() })
	c, err := smtp.NewClientStartTLS(conn, cfg)
	if err != nil {
		return nil, err
	}
	c.CommandTimeout, c.SubmissionTimeout = 20*time.Second, 20*time.Second
	if err := c.Hello("tls.client.e2e.test"); err != nil {
		return nil, fmt.Errorf("EHLO after STARTTLS: %w", err)
	}
	return c, nil
}

// opsHandshakeSerial does STARTTLS on a new connection, verifying the
// certificate against roots, and returns the leaf's serial number.
func opsHandshakeSerial(t *testing.T, addr string, roots *x509.CertPool) *big.Int {
	t.Helper()
	c, err := opsStartTLS(t, addr, &tls.Config{RootCAs: roots, ServerName: "moat.e2e.test", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	st, ok := c.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		t.Fatal("no TLS state after STARTTLS")
	}
	return st.PeerCertificates[0].SerialNumber
}

// opsHTTPGet fetches a path of the metrics listener.
func opsHTTPGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// opsMetrics is one scrape of /metrics in the Prometheus text format.
type opsMetrics struct {
	text    string
	samples []opsSample
}

type opsSample struct {
	name   string
	labels map[string]string
	value  float64
}

// opsScrape fetches and parses /metrics.
func opsScrape(t *testing.T, addr string) opsMetrics {
	t.Helper()
	code, body := opsHTTPGet(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	ms := opsMetrics{text: body}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := opsParseSample(line)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		ms.samples = append(ms.samples, s)
	}
	return ms
}

var (
	opsSampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	opsLabelRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// opsParseSample parses `name{k="v",…} value` (no timestamp).
func opsParseSample(line string) (opsSample, error) {
	m := opsSampleRE.FindStringSubmatch(line)
	if m == nil {
		return opsSample{}, errors.New("not a sample line")
	}
	v, err := strconv.ParseFloat(m[3], 64)
	if err != nil {
		return opsSample{}, err
	}
	s := opsSample{name: m[1], labels: map[string]string{}, value: v}
	for _, l := range opsLabelRE.FindAllStringSubmatch(m[2], -1) {
		s.labels[l[1]] = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(l[2])
	}
	return s, nil
}

// sum adds the samples of name whose labels include the pairs kv (k1, v1,
// k2, v2, …); ok is false when there is none.
func (ms opsMetrics) sum(name string, kv ...string) (total float64, ok bool) {
next:
	for _, s := range ms.samples {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				continue next
			}
		}
		total += s.value
		ok = true
	}
	return total, ok
}
