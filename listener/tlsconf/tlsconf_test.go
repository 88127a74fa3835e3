package tlsconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
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

func newLog() (*slog.Logger, *syncBuf) {
	b := &syncBuf{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// pair returns a PEM certificate (signed by a throwaway CA, so it is not
// self-signed) and key with the given serial and validity.
func pair(t *testing.T, serial int64, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "mx.test"},
		DNSNames: []string{"mx.test"}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
}

type files struct{ cert, key string }

func writePair(t *testing.T, f files, serial int64) {
	t.Helper()
	now := time.Now()
	c, k := pair(t, serial, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	writeFile(t, f.cert, c)
	writeFile(t, f.key, k)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func tempFiles(t *testing.T) files {
	dir := t.TempDir()
	return files{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
}

// serve runs a TLS server on 127.0.0.1 with cfg (built once) that
// completes each handshake and closes.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				_ = c.Close()
			}()
		}
	}()
	return l.Addr().String()
}

// handshake connects with cfg (InsecureSkipVerify unless RootCAs is set).
func handshake(t *testing.T, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	if cfg.RootCAs == nil {
		cfg.InsecureSkipVerify = true
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

func serialSeen(t *testing.T, addr string) int64 {
	t.Helper()
	st, err := handshake(t, addr, &tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return st.PeerCertificates[0].SerialNumber.Int64()
}

func TestReloadSwapsCertificate(t *testing.T) {
	f := tempFiles(t)
	writePair(t, f, 1001)
	r, err := New(Options{CertFile: f.cert, KeyFile: f.key})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.Config())
	if got := serialSeen(t, addr); got != 1001 {
		t.Fatalf("serial %d, want 1001", got)
	}
	writePair(t, f, 1002)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serialSeen(t, addr); got != 1002 {
		t.Fatalf("after reload: serial %d, want 1002", got)
	}
	if got := r.Certificate().Serial.Int64(); got != 1002 {
		t.Fatalf("Certificate().Serial = %d", got)
	}
}

func TestReloadKeepsOldOnError(t *testing.T) {
	_, otherKey := pair(t, 7, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	tests := []struct {
		name     string
		breakIt  func(t *testing.T, f files)
		wantFile func(f files) string
	}{
		{name: "garbage certificate",
			breakIt:  func(t *testing.T, f files) { writeFile(t, f.cert, []byte("not a certificate\n")) },
			wantFile: func(f files) string { return f.cert }},
		{name: "missing key",
			breakIt: func(t *testing.T, f files) {
				if err := os.Remove(f.key); err != nil {
					t.Fatal(err)
				}
			},
			wantFile: func(f files) string { return f.key }},
		{name: "key of another certificate",
			breakIt:  func(t *testing.T, f files) { writeFile(t, f.key, otherKey) },
			wantFile: func(f files) string { return f.key }},
		{name: "truncated certificate",
			breakIt: func(t *testing.T, f files) {
				b, err := os.ReadFile(f.cert)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, f.cert, b[:len(b)/2])
			},
			wantFile: func(f files) string { return f.cert }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := tempFiles(t)
			writePair(t, f, 2001)
			r, err := New(Options{CertFile: f.cert, KeyFile: f.key})
			if err != nil {
				t.Fatal(err)
			}
			addr := serve(t, r.Config())
			writePair(t, f, 2002)
			tt.breakIt(t, f)
			err = r.Reload()
			if err == nil || !strings.Contains(err.Error(), tt.wantFile(f)) {
				t.Fatalf("Reload error %v, want one naming %s", err, tt.wantFile(f))
			}
			if got := serialSeen(t, addr); got != 2001 {
				t.Fatalf("serial %d after failed reload, want the old 2001", got)
			}
		})
	}
}

func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	f := files{cert: filepath.Join(dir, "tls", "cert.pem"), key: filepath.Join(dir, "tls", "key.pem")}
	log1, buf1 := newLog()
	r, err := New(Options{CertFile: f.cert, KeyFile: f.key, SelfSigned: true, Hostnames: []string{"mx.test", "127.0.0.1"}, Log: log1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf1.String(), "level=WARN") || !strings.Contains(buf1.String(), "generated a SELF-SIGNED certificate") {
		t.Fatalf("no self-signed warning in %q", buf1.String())
	}
	st, err := os.Stat(f.key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
	info := r.Certificate()
	if !info.SelfSigned || !slices.Equal(info.DNSNames, []string{"mx.test"}) {
		t.Fatalf("info %+v", info)
	}
	if _, ok := info.Leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("key type %T, want ECDSA", info.Leaf.PublicKey)
	}

	// A client that trusts the generated certificate verifies it for each name.
	addr := serve(t, r.Config())
	pool := x509.NewCertPool()
	pool.AddCert(info.Leaf)
	for _, name := range []string{"mx.test", "127.0.0.1"} {
		if _, err := handshake(t, addr, &tls.Config{RootCAs: pool, ServerName: name}); err != nil {
			t.Fatalf("verify for %s: %v", name, err)
		}
	}

	// The next start reuses it, and still says it is self-signed.
	log2, buf2 := newLog()
	r2, err := New(Options{CertFile: f.cert, KeyFile: f.key, SelfSigned: true, Hostnames: []string{"other.test"}, Log: log2})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Certificate().SHA256 != info.SHA256 {
		t.Fatal("restart generated a new certificate")
	}
	if strings.Contains(buf2.String(), "generated") || !strings.Contains(buf2.String(), "SELF-SIGNED") {
		t.Fatalf("second start log %q", buf2.String())
	}

	// With only one of the two files, nothing is generated or overwritten.
	if err := os.Remove(f.cert); err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{CertFile: f.cert, KeyFile: f.key, SelfSigned: true})
	if err == nil || !strings.Contains(err.Error(), f.cert) {
		t.Fatalf("New with key only: %v", err)
	}
	if _, err := os.Stat(f.cert); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("certificate recreated: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	f := tempFiles(t)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{name: "no paths", o: Options{}, want: "required"},
		{name: "missing files without self_signed", o: Options{CertFile: f.cert, KeyFile: f.key}, want: f.cert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestProtocolPolicy(t *testing.T) {
	f := tempFiles(t)
	writePair(t, f, 1)
	r, err := New(Options{CertFile: f.cert, KeyFile: f.key})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.Config())
	tests := []struct {
		name        string
		client      *tls.Config
		wantErr     bool
		wantVersion uint16
	}{
		{name: "TLS 1.0 refused", client: &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, wantErr: true},
		{name: "TLS 1.1 refused", client: &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, wantErr: true},
		{name: "TLS 1.2 CBC suite refused", client: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}}, wantErr: true},
		{name: "TLS 1.2 P-384 only refused", client: &tls.Config{MaxVersion: tls.VersionTLS12,
			CurvePreferences: []tls.CurveID{tls.CurveP384}}, wantErr: true},
		{name: "TLS 1.2 AEAD", client: &tls.Config{MaxVersion: tls.VersionTLS12}, wantVersion: tls.VersionTLS12},
		{name: "TLS 1.2 ChaCha20", client: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, wantVersion: tls.VersionTLS12},
		{name: "TLS 1.2 X25519", client: &tls.Config{MaxVersion: tls.VersionTLS12,
			CurvePreferences: []tls.CurveID{tls.X25519}}, wantVersion: tls.VersionTLS12},
		{name: "TLS 1.3", client: &tls.Config{}, wantVersion: tls.VersionTLS13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := handshake(t, addr, tt.client)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("handshake succeeded with %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Version != tt.wantVersion {
				t.Fatalf("version %s, want %s", tls.VersionName(st.Version), tls.VersionName(tt.wantVersion))
			}
			if st.Version == tls.VersionTLS12 && !slices.Contains(CipherSuites(), st.CipherSuite) {
				t.Fatalf("negotiated %s, not in the allowed list", tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
}

func TestCipherSuites(t *testing.T) {
	secure := map[uint16]bool{}
	for _, s := range tls.CipherSuites() {
		secure[s.ID] = true
	}
	for _, id := range CipherSuites() {
		name := tls.CipherSuiteName(id)
		t.Run(name, func(t *testing.T) {
			if !secure[id] {
				t.Errorf("%s is not in Go's secure list", name)
			}
			if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
				t.Errorf("%s is not ECDHE with an AEAD", name)
			}
		})
	}
	cfg := (&Reloader{}).Config()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
}

func TestExpiryWarning(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		want string // "" means no warning
	}{
		{name: "far from expiry", now: base.Add(-30 * 24 * time.Hour)},
		{name: "within 14 days", now: base.Add(-10 * 24 * time.Hour), want: `level=WARN msg="TLS certificate expires soon"`},
		{name: "expired", now: base.Add(time.Hour), want: `level=WARN msg="TLS certificate has EXPIRED"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tempFiles(t)
			c, k := pair(t, 5, base.Add(-365*24*time.Hour), base)
			writeFile(t, f.cert, c)
			writeFile(t, f.key, k)
			log, buf := newLog()
			r, err := New(Options{CertFile: f.cert, KeyFile: f.key, Log: log, Now: func() time.Time { return tt.now }})
			if err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			if tt.want == "" && strings.Contains(got, "WARN") || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("log %q, want %q", got, tt.want)
			}
			if !r.Certificate().NotAfter.Equal(base) {
				t.Fatalf("NotAfter %v", r.Certificate().NotAfter)
			}
		})
	}
}
