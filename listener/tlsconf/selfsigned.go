package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// selfSignedValidity is how long a generated certificate is valid.
const selfSignedValidity = 365 * 24 * time.Hour

// ensureSelfSigned generates the certificate and key when both files are
// missing and reports whether it did. One file without the other is an
// error: moat never overwrites a file it did not find missing.
func (r *Reloader) ensureSelfSigned() (bool, error) {
	certOK, err := exists(r.opts.CertFile)
	if err != nil {
		return false, err
	}
	keyOK, err := exists(r.opts.KeyFile)
	if err != nil {
		return false, err
	}
	switch {
	case certOK && keyOK:
		return false, nil
	case certOK || keyOK:
		have, missing := r.opts.CertFile, r.opts.KeyFile
		if keyOK {
			have, missing = r.opts.KeyFile, r.opts.CertFile
		}
		return false, fmt.Errorf("tls: %s: missing while %s exists; supply both files, or remove %s to generate a new self-signed pair",
			missing, have, have)
	}
	certPEM, keyPEM, err := selfSigned(r.opts.Hostnames, r.now())
	if err != nil {
		return false, err
	}
	// The key first: a crash in between leaves a key without certificate,
	// which the next start reports instead of silently replacing.
	if err := writeFileDurable(r.opts.KeyFile, keyPEM, 0o600); err != nil {
		return false, err
	}
	if err := writeFileDurable(r.opts.CertFile, certPEM, 0o644); err != nil {
		return false, err
	}
	return true, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("tls: %w", err)
}

// selfSigned returns a PEM certificate and PKCS #8 key: ECDSA P-256, for
// names (host names or IP addresses), valid from an hour before now for a
// year.
func selfSigned(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tls: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   names[0],
			Organization: []string{"moat self-signed certificate (test setups only)"},
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: create certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}

// writeFileDurable writes data to path atomically and durably (temporary
// file, fsync, rename, fsync of the directory) with permissions perm,
// creating the directory (0750) if needed.
func writeFileDurable(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tls: sync %s: %w", dir, err)
	}
	return nil
}

// GenerateSelfSigned returns a new self-signed certificate (ECDSA P-256)
// for names — host names or IP addresses, the first its subject — and a
// pool that trusts it: for tests and tools that need TLS on loopback. It
// writes nothing; Options.SelfSigned is the persistent kind.
func GenerateSelfSigned(names ...string) (tls.Certificate, *x509.CertPool, error) {
	if len(names) == 0 {
		names = []string{"localhost"}
	}
	certPEM, keyPEM, err := selfSigned(names, time.Now())
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("tls: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return cert, pool, nil
}
