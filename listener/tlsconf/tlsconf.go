// Package tlsconf builds the TLS configuration every moat server uses and
// swaps its certificate on reload.
//
// A Reloader holds the current certificate behind an atomic pointer;
// Config returns a *tls.Config whose GetCertificate reads it, so listeners
// and STARTTLS configurations built once keep working across Reload. The
// policy is TLS 1.2 minimum, with only ECDHE and AEAD cipher suites
// (AES-GCM, ChaCha20-Poly1305) for TLS 1.2. For test setups, New can
// generate and persist a self-signed certificate.
package tlsconf

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ExpiryWarning is how close to its NotAfter a certificate makes New and
// Reload log a warning.
const ExpiryWarning = 14 * 24 * time.Hour

// Options configure a Reloader.
type Options struct {
	// CertFile and KeyFile are PEM files: the certificate chain (leaf
	// first) and its private key. Both are required.
	CertFile, KeyFile string
	// SelfSigned: when both files are missing, generate an ECDSA P-256
	// self-signed certificate for Hostnames, write it to CertFile and
	// KeyFile (the key readable by the owner only) so it stays the same
	// across restarts, and warn that it is for tests only. A self-signed
	// certificate is warned about at every start.
	SelfSigned bool
	// Hostnames are the names (or IP addresses) a generated certificate
	// is for; the first is its subject. Default: ["localhost"].
	Hostnames []string
	// Log receives the warnings and the reload messages. Nil discards.
	Log *slog.Logger
	// Now is the clock for expiry warnings and certificate generation.
	// Nil means time.Now.
	Now func() time.Time
}

// Info describes the current certificate.
type Info struct {
	// Subject is the leaf's subject, DNSNames its names.
	Subject  string
	DNSNames []string
	// Serial is the leaf's serial number.
	Serial *big.Int
	// NotBefore and NotAfter bound its validity.
	NotBefore, NotAfter time.Time
	// SHA256 is the hex SHA-256 fingerprint of the leaf's DER encoding.
	SHA256 string
	// SelfSigned is true when the leaf is its own issuer.
	SelfSigned bool
	// Leaf is the parsed leaf certificate.
	Leaf *x509.Certificate
}

// Reloader holds the certificate moat serves and reloads it on demand.
type Reloader struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	mu   sync.Mutex // serialises Reload
	cert atomic.Pointer[tls.Certificate]
}

// New loads the certificate and key (generating them first when
// Options.SelfSigned allows and both files are missing).
func New(o Options) (*Reloader, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("tls: both a certificate file and a key file are required")
	}
	r := &Reloader{opts: o, log: o.Log, now: o.Now}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if len(r.opts.Hostnames) == 0 {
		r.opts.Hostnames = []string{"localhost"}
	}
	if o.SelfSigned {
		generated, err := r.ensureSelfSigned()
		if err != nil {
			return nil, err
		}
		if generated {
			r.log.Warn("TLS: generated a SELF-SIGNED certificate; clients cannot verify it. For test setups only: "+
				"set tls.cert and tls.key to a real certificate in production",
				"cert", o.CertFile, "key", o.KeyFile, "names", r.opts.Hostnames)
		}
	}
	c, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cert.Store(c)
	r.inspect(c)
	return r, nil
}

// Reload re-reads the certificate and key files. On any error the
// current certificate stays in use and the error (naming the file) is
// returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.load()
	if err != nil {
		return err
	}
	old := r.cert.Swap(c)
	info := infoOf(c)
	r.log.Info("TLS certificate reloaded", "cert", r.opts.CertFile, "subject", info.Subject,
		"not_after", info.NotAfter, "sha256", info.SHA256, "changed", old == nil || !old.Leaf.Equal(c.Leaf))
	r.inspect(c)
	return nil
}

// Certificate describes the certificate in use.
func (r *Reloader) Certificate() Info { return infoOf(r.cert.Load()) }

// Config returns a new TLS server configuration serving the current
// certificate (whatever Reload swaps in later). Each call returns a fresh
// value the caller may adjust (NextProtos, ClientAuth).
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites(),
		// X25519MLKEM768 is the post-quantum hybrid that recent clients
		// offer first; X25519 and P-256 serve everyone else.
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
}

// CipherSuites returns the TLS 1.2 suites moat allows: ECDHE key exchange
// with AES-GCM or ChaCha20-Poly1305 (TLS 1.3 suites are not configurable
// and all AEAD).
func CipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// load reads and checks the key pair.
func (r *Reloader) load() (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(r.opts.CertFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	keyPEM, err := os.ReadFile(r.opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: %s, %s: %w", r.opts.CertFile, r.opts.KeyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls: %s: %w", r.opts.CertFile, err)
		}
	}
	return &c, nil
}

// inspect logs what an administrator must know about c.
func (r *Reloader) inspect(c *tls.Certificate) {
	info := infoOf(c)
	now := r.now()
	switch left := info.NotAfter.Sub(now); {
	case left <= 0:
		r.log.Warn("TLS certificate has EXPIRED", "cert", r.opts.CertFile, "not_after", info.NotAfter, "subject", info.Subject)
	case left < ExpiryWarning:
		r.log.Warn("TLS certificate expires soon", "cert", r.opts.CertFile, "not_after", info.NotAfter,
			"days_left", int(left.Hours()/24), "subject", info.Subject)
	}
	if now.Before(info.NotBefore) {
		r.log.Warn("TLS certificate is not valid yet", "cert", r.opts.CertFile, "not_before", info.NotBefore)
	}
	if info.SelfSigned {
		r.log.Warn("TLS certificate is SELF-SIGNED: for test setups only", "cert", r.opts.CertFile, "sha256", info.SHA256)
	}
}

func infoOf(c *tls.Certificate) Info {
	l := c.Leaf
	sum := sha256.Sum256(l.Raw)
	return Info{
		Subject:    l.Subject.String(),
		DNSNames:   l.DNSNames,
		Serial:     l.SerialNumber,
		NotBefore:  l.NotBefore,
		NotAfter:   l.NotAfter,
		SHA256:     hex.EncodeToString(sum[:]),
		SelfSigned: bytes.Equal(l.RawIssuer, l.RawSubject) && l.CheckSignature(l.SignatureAlgorithm, l.RawTBSCertificate, l.Signature) == nil,
		Leaf:       l,
	}
}
