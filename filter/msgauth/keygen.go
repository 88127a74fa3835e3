package msgauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeyType is a DKIM key algorithm.
type KeyType string

// The key types moat generates.
const (
	// KeyRSA is an RSA key of RSAKeyBits bits (rsa-sha256), which every
	// verifier understands.
	KeyRSA KeyType = "rsa"
	// KeyEd25519 is an Ed25519 key (ed25519-sha256, RFC 8463): short, but
	// not yet understood by every verifier.
	KeyEd25519 KeyType = "ed25519"
)

// RSAKeyBits is the size of the RSA keys GenerateKey makes.
const RSAKeyBits = 2048

// GenerateKey makes a new private key of type kt.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case KeyRSA:
		return rsa.GenerateKey(rand.Reader, RSAKeyBits)
	case KeyEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("dkim: unknown key type %q (want rsa or ed25519)", kt)
}

// MarshalKey encodes a private key as PKCS #8 PEM ("PRIVATE KEY").
func MarshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteKeyFile writes k to a new file at path (PKCS #8 PEM, mode 0600). It
// never overwrites an existing file.
func WriteKeyFile(path string, k crypto.Signer) error {
	data, err := MarshalKey(k)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("dkim: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("dkim: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("dkim: writing %s: %w", path, err)
	}
	return nil
}

// DNSRecord returns the TXT record that publishes pub for domain and
// selector, in zone file syntax:
//
//	sel._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=MIIB…" "…"
//
// The record's text is split into strings of at most 255 bytes, as DNS
// requires (a resolver joins them again).
func DNSRecord(domain, selector string, pub crypto.PublicKey) (string, error) {
	d := normDomain(domain)
	if !validDomain(d) {
		return "", fmt.Errorf("dkim: %q is not a domain name", domain)
	}
	if !validSelector(selector) {
		return "", fmt.Errorf("dkim: %q is not a valid selector", selector)
	}
	txt, err := keyRecordText(pub)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(selector + "._domainkey." + d + ". IN TXT")
	for len(txt) > 0 {
		n := min(len(txt), 255)
		b.WriteString(` "` + txt[:n] + `"`)
		txt = txt[n:]
	}
	return b.String(), nil
}

// keyRecordText returns the DKIM key record text for pub (RFC 6376
// section 3.6.1; RFC 8463 section 4 for Ed25519).
func keyRecordText(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return "", fmt.Errorf("dkim: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(p), nil
	}
	return "", errors.New("dkim: unsupported public key type")
}

// Keygen makes a key of type kt for domain and selector, writes it to a
// new file at path and returns the DNS TXT record to publish (DNSRecord).
// It is `moat dkim keygen DOMAIN SELECTOR`.
func Keygen(domain, selector string, kt KeyType, path string) (string, error) {
	k, err := GenerateKey(kt)
	if err != nil {
		return "", err
	}
	rec, err := DNSRecord(domain, selector, k.Public())
	if err != nil {
		return "", err
	}
	if err := WriteKeyFile(path, k); err != nil {
		return "", err
	}
	return rec, nil
}
