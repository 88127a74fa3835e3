package msgauth

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/moatmail/moat/filter"
)

// SigningKey names one domain's DKIM signing key, as configured.
type SigningKey struct {
	// Domain is the signing domain (d=). Mail whose From domain is Domain
	// or a subdomain of it is signed with this key.
	Domain string
	// Selector is the key's selector (s=): its public key is published at
	// <Selector>._domainkey.<Domain>.
	Selector string
	// KeyFile is the PEM file of the private key: RSA (PKCS #1 or #8, at
	// least 1024 bits, 2048 recommended) or Ed25519 (PKCS #8).
	KeyFile string
}

// Key is a loaded signing key.
type Key struct {
	Domain, Selector string
	Signer           crypto.Signer
}

// ErrNoKey is returned by Signer.Sign when no key covers the message's
// From domain (or the message has no usable From address).
var ErrNoKey = errors.New("dkim: no signing key for the From domain")

// MinRSABits is the smallest RSA key accepted for signing (RFC 8301).
const MinRSABits = 1024

// Signer DKIM-signs outgoing mail with per-domain keys. It is safe for
// concurrent use.
type Signer struct {
	keys map[string]Key // by signing domain
}

// NewSigner loads the configured keys.
func NewSigner(keys []SigningKey) (*Signer, error) {
	loaded := make([]Key, 0, len(keys))
	for _, k := range keys {
		sg, err := LoadKey(k.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("dkim key for %s: %w", k.Domain, err)
		}
		loaded = append(loaded, Key{Domain: k.Domain, Selector: k.Selector, Signer: sg})
	}
	return NewSignerKeys(loaded)
}

// NewSignerKeys returns a signer over keys already loaded.
func NewSignerKeys(keys []Key) (*Signer, error) {
	s := &Signer{keys: make(map[string]Key, len(keys))}
	for _, k := range keys {
		d := normDomain(k.Domain)
		if !validDomain(d) {
			return nil, fmt.Errorf("dkim: signing domain %q is not a domain name", k.Domain)
		}
		if !validSelector(k.Selector) {
			return nil, fmt.Errorf("dkim: selector %q of %s is not a DNS label sequence", k.Selector, d)
		}
		if _, dup := s.keys[d]; dup {
			return nil, fmt.Errorf("dkim: two keys for %s", d)
		}
		if err := checkKey(k.Signer); err != nil {
			return nil, fmt.Errorf("dkim key for %s: %w", d, err)
		}
		k.Domain = d
		s.keys[d] = k
	}
	return s, nil
}

// Domains returns the signing domains, sorted.
func (s *Signer) Domains() []string {
	out := make([]string, 0, len(s.keys))
	for d := range s.keys {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// KeyFor returns the key that signs mail from domain: the key of domain
// itself, else of its closest parent domain that has one.
func (s *Signer) KeyFor(domain string) (Key, bool) {
	d := normDomain(domain)
	for d != "" {
		if k, ok := s.keys[d]; ok {
			return k, true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return Key{}, false
}

// Sign signs m with the key of its From domain and returns the
// DKIM-Signature field to prepend (name, folded value and final CRLF). It
// returns ErrNoKey when no key covers the From domain. The signature covers
// the body and the header fields of RFC 6376 section 5.4.1 present in m,
// and oversigns the core ones (From, To, Subject, …) so they cannot be
// added later. Fields moat adds or removes on the way (Received,
// X-Spam-*, Authentication-Results) are not signed. Which mail to sign
// (from trusted networks, from authenticated senders) is the caller's
// choice.
func (s *Signer) Sign(m *filter.Message) (string, error) {
	from, problem := authorDomain(&m.Header)
	if problem != "" {
		return "", fmt.Errorf("%w: %s", ErrNoKey, problem)
	}
	k, ok := s.KeyFor(from)
	if !ok {
		return "", ErrNoKey
	}
	return signWith(k, &m.Header, m.Reader())
}

// SignReader signs the message read from r with the key for domain (see
// KeyFor) and returns the DKIM-Signature field to prepend.
func (s *Signer) SignReader(domain string, r io.Reader) (string, error) {
	k, ok := s.KeyFor(domain)
	if !ok {
		return "", ErrNoKey
	}
	br := bufio.NewReader(r)
	var head bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		head.Write(line)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("dkim: reading message: %w", err)
		}
		if err == io.EOF || len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	h, _, err := filter.ParseHeader(head.Bytes())
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	return signWith(k, &h, io.MultiReader(&head, br))
}

// signWith signs the message read from r (whose header is h) with k.
func signWith(k Key, h *filter.Header, r io.Reader) (string, error) {
	sg, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 k.Domain,
		Selector:               k.Selector,
		Signer:                 k.Signer,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             headerKeys(h),
	})
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	if _, err := io.Copy(sg, r); err != nil {
		sg.Close()
		return "", fmt.Errorf("dkim: signing: %w", err)
	}
	if err := sg.Close(); err != nil {
		return "", fmt.Errorf("dkim: signing: %w", err)
	}
	return sg.Signature(), nil
}

// headerKeys returns the h= list for a message with header h: the fields
// of RFC 6376 section 5.4.1 that it holds. The core fields are oversigned
// (listed once more than they occur, so that adding one breaks the
// signature); the others are signed as often as they occur, so that a
// mailing list adding its List-* fields does not break it.
func headerKeys(h *filter.Header) []string {
	oversigned := [...]string{
		"From", "Reply-To", "Sender", "Subject", "Date", "To", "Cc",
		"Message-ID", "In-Reply-To", "References",
		"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	}
	signedIfPresent := [...]string{
		"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Message-ID",
		"Content-ID", "Content-Description", "Content-Language", "Disposition-Notification-To",
		"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe",
		"List-Post", "List-Owner", "List-Archive", "Feedback-ID", "Autocrypt", "OpenPGP",
	}
	var keys []string
	for _, n := range oversigned {
		for range h.Count(n) + 1 {
			keys = append(keys, strings.ToLower(n))
		}
	}
	for _, n := range signedIfPresent {
		for range h.Count(n) {
			keys = append(keys, strings.ToLower(n))
		}
	}
	return keys
}

// LoadKey reads a PEM private key file: RSA (PKCS #1 "RSA PRIVATE KEY" or
// PKCS #8 "PRIVATE KEY") or Ed25519 (PKCS #8).
func LoadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKey parses the first private key in PEM data.
func ParseKey(data []byte) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return nil, errors.New("no PEM private key found")
		}
		var (
			key any
			err error
		)
		switch blk.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		default:
			continue // a certificate or parameters: look further
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", blk.Type, err)
		}
		sg, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", key)
		}
		if err := checkKey(sg); err != nil {
			return nil, err
		}
		return sg, nil
	}
}

// checkKey accepts RSA keys of at least MinRSABits and Ed25519 keys.
func checkKey(k crypto.Signer) error {
	if k == nil {
		return errors.New("no key")
	}
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("RSA key of %d bits is too short (at least %d)", bits, MinRSABits)
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("unsupported key type %T (want RSA or Ed25519)", pub)
	}
	return nil
}

// validSelector reports whether s is a selector: dot-separated labels of
// letters, digits, "-" and "_".
func validSelector(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
